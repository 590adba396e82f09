// SPDX-License-Identifier: MIT
/* `aps-bpf ps` and `aps-bpf pstree`: the tasks alive now, read from memory. */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/outfile.h"
#include "cli/view_opts.h"
#include "target/layout_runtime.h"
#include "target/proc.h"
#include "memory/snapshot.h"
#include "live/session.h"
#include "output/task_view.h"
#include "agent/agent.h"
#include "agent/task_extra.h"
#include "util/monotime.h"

#define EXIT_CYCLE 3	/* pstree --fail-on-cycle: the await graph has a cycle */

static const char ps_usage[] =
	"usage: aps-bpf ps [--format table|csv|json] [--watch DURATION] [-v] PID\n"
	"       aps-bpf pstree [--format text|json] [--watch DURATION] [--collapse N]\n"
	"                      [--fail-on-cycle] [--stuck DURATION] [--no-debuginfod] [-v] PID\n"
	"\n"
	"The asyncio tasks alive in PID now, read from its memory without stopping\n"
	"it: ps, a row per task and awaiter (the columns of Python 3.14's\n"
	"`python -m asyncio ps`, plus state, runtime, waiting); pstree, who awaits whom\n"
	"with each task's coroutine frames (as 3.14's pstree; a task awaited by\n"
	"several is printed once and marked [shown above] elsewhere).\n"
	"  --watch DURATION  keep the probes attached that long first (1.5s, 500ms), so age,\n"
	"                    waiting, busy time, steps and the longest step are known\n"
	"                    for the tasks seen in the window (else shown as ?)\n"
	"  --collapse N      pstree: fold N or more sibling leaf tasks with the same\n"
	"                    frames into one line [\u00d7 N like NAME]\n"
	"  --fail-on-cycle   pstree: exit 3 if the await graph has a cycle (deadlock)\n"
	"  --stuck SECONDS   pstree: mark leaf tasks waiting longer (and say how many)\n"
	"  --agent-socket P  the agent's socket (default " AGENT_SOCK_DEFAULT "): without\n"
	"                    --watch, runtime and waiting come from what a running agent\n"
	"                    has seen (>= marks tasks older than its first look); a task\n"
	"                    in asyncio.sleep shows its timer ([sleeping 0.5 s]) either way\n"
	"Cycles are printed after the tree (3.14 refuses to print any tree).\n"
	"Exit status: 0 ok, 1 error, 2 usage, 3 cycle found with --fail-on-cycle.\n";

static char out_buf[1 << 16];

/*
 * A snapshot of 100k tasks makes tens of MB of small allocations. With
 * 4 KiB pages each first touch of a page is a fault, and faults are slow
 * (very, in some VMs): keep malloc on the heap, grown 64 MiB (of address
 * space) at a time and backed by huge pages where the kernel allows.
 */
static void heap_on_huge_pages(void)
{
	const uintptr_t huge = 2 << 20;
	uintptr_t lo, hi;
	void *volatile p;	/* not optimized away */

	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
	lo = (uintptr_t)sbrk(0);
	p = malloc(1 << 20);	/* more than the heap has left: it grows by the pad */
	hi = (uintptr_t)sbrk(0);
	free(p);
	lo = (lo + huge - 1) & ~(huge - 1);
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

static int on_record(void *ctx, const void *data, size_t len)
{
	model_apply(ctx, data, len, NULL, NULL);
	return 0;
}

/* Attach for the watch window, feeding the model. */
static int watch(struct session *s, struct model *m, uint64_t window)
{
	enum session_end why;
	int err;

	s->quiet = true;
	err = session_load(s, on_record, m);
	if (!err)
		err = session_resolve(s, false);
	if (!err)
		err = session_attach(s);
	if (err)
		return err;
	fprintf(stderr, "aps-bpf: watching pid %d for %.1fs\n", s->pid, (double)window / 1e9);
	why = session_run(s, (unsigned)(window / 1000000));
	if (why == SESSION_ERROR)
		return -EIO;
	if (why == SESSION_TARGET_EXITED || why == SESSION_TARGET_EXECED) {
		snprintf(s->err, sizeof(s->err), "process %d %s during --watch", s->pid,
			 why == SESSION_TARGET_EXITED ? "exited" : "executed a new program");
		return -ESRCH;
	}
	return 0;
}

static int resolve_only(struct session *s)
{
	int err = interp_detect(s->pid, &s->ip);

	if (err == -EAGAIN) {
		snprintf(s->err, sizeof(s->err), "no asyncio tasks: process %d (Python %d.%d) has not imported asyncio",
			 s->pid, s->ip.major, s->ip.minor);
		return -EAGAIN;
	}
	if (err) {
		session_explain(s, err);
		return err;
	}
	if (!s->ip.asyncio_mapped) {
		snprintf(s->err, sizeof(s->err), "no asyncio tasks: process %d (Python %d.%d) has not imported asyncio",
			 s->pid, s->ip.major, s->ip.minor);
		return -EAGAIN;
	}
	err = layout_for_target(&s->ip, &s->layout, s->err, sizeof(s->err));
	if (err == -EACCES || err == -EPERM)
		session_explain(s, err);	/* which capability is missing */
	return err;
}

enum { PS_STUCK = 0x200 };	/* long-only */

struct ps_opts {
	struct task_view_opts o;
	uint64_t window;
	const char *agent_sock;
	bool tree, fail_on_cycle;
};

static int ps_opt(struct cli *c, int opt, const char *arg, void *ctx)
{
	struct ps_opts *p = ctx;
	unsigned long v;

	switch (opt) {
	case 'f':
		if (task_view_parse_format(arg, p->tree, &p->o.format))
			return cli_bad(c, "--format", p->tree ? "text or json" : "table, csv or json", arg);
		return 0;
	case 'w':
		return cli_duration(c, "--watch", arg, CLI_MS, CLI_MAX_DURATION, &p->window);
	case 'c':
		if (!p->tree)
			return cli_usage(c, "--collapse goes with pstree");
		if (cli_uint(c, "--collapse", arg, 2, 100000000, &v))
			return 2;
		p->o.collapse = (unsigned)v;
		return 0;
	case 'F':
		if (!p->tree)
			return cli_usage(c, "--fail-on-cycle goes with pstree");
		p->fail_on_cycle = true;
		return 0;
	case PS_STUCK:
		if (!p->tree)
			return cli_usage(c, "--stuck goes with pstree");
		return cli_duration(c, "--stuck", arg, CLI_MS, CLI_MAX_DURATION, &p->o.stuck_ns);
	case CLI_AGENT_SOCKET:
		p->agent_sock = arg;
		return 0;
	default: return -1;
	}
}

static int run(int argc, char **argv, bool tree)
{
	static const struct option opts[] = {
		VIEW_OPTS_TASKS,
		{ "watch", required_argument, NULL, 'w' },
		{ "stuck", required_argument, NULL, PS_STUCK },
		CLI_OPT_AGENT_SOCKET, CLI_OPT_VERBOSE, CLI_OPT_NO_DEBUGINFOD, CLI_OPT_HELP,
		{},
	};
	struct cli cli = { .cmd = tree ? "pstree" : "ps", .usage = ps_usage, .target = CLI_PID };
	struct ps_opts po = { .o = { .format = VIEW_TABLE }, .tree = tree,
			      .agent_sock = AGENT_SOCK_DEFAULT };
	struct agent_tasks hist = {};
	struct task_extra *extra = NULL;
	bool have_hist = false;
	struct task_view_opts o;
	struct session s = {};
	struct snapshot snap = {};
	struct model m;
	uint64_t window, t0;
	bool fail_on_cycle, have_model = false;
	int err, rc = 1;

	if (!cli_parse(&cli, argc, argv, "f:w:c:Fvh", opts, ps_opt, &po, &rc))
		return rc;
	cli_apply(&cli, &s);
	o = po.o;
	window = po.window;
	fail_on_cycle = po.fail_on_cycle;
	cli_signals(NULL);
	heap_on_huge_pages();
	/* 100k tasks make megabytes of output: fewer, larger writes */
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));
	if (window) {
		if (model_init(&m, 4096)) {
			fprintf(stderr, "aps-bpf: out of memory\n");
			return 1;
		}
		have_model = true;
		err = watch(&s, &m, window);
		o.timing = &m;
	} else {
		err = resolve_only(&s);
	}
	if (err == -EAGAIN) {
		/* no tasks at all: the table says so; json/csv stay parseable (empty) */
		if (o.format == VIEW_TABLE) {
			printf("%s\n", s.err);
		} else {
			fprintf(stderr, "aps-bpf: %s\n", s.err);
			snap.major = s.ip.major;
			snap.minor = s.ip.minor;
			if (tree)
				pstree_view(stdout, &snap, &o);
			else
				ps_view(stdout, &snap, &o);
		}
		rc = 0;
		goto cleanup;
	}
	if (err) {
		fprintf(stderr, "aps-bpf: %s\n", s.err[0] ? s.err : strerror(-err));
		goto cleanup;
	}
	t0 = monotime_ns();
	err = snapshot_take(&s.ip, &s.layout, &snap, s.err, sizeof(s.err));
	if (err == -EACCES || err == -EPERM)
		session_explain(&s, err);
	if (err) {
		fprintf(stderr, "aps-bpf: %s\n", s.err[0] ? s.err : strerror(-err));
		goto cleanup;
	}
	if (!window) {
		/* what a running agent has seen of this process; else today's ? */
		char msg[256];
		int e = agent_client_tasks(po.agent_sock, s.pid, &hist, msg, sizeof(msg));

		if (!e)
			have_hist = true;
		else if (e == -ESRCH)
			fprintf(stderr, "aps-bpf: the agent does not watch pid %d: runtime and waiting are "
				"known with --watch\n", s.pid);
		else
			fprintf(stderr, "aps-bpf: %s: runtime and waiting are known with --watch\n", msg);
	}
	o.now = monotime_ns();
	/* a task whose loop thread the read did not find: the thread seen stepping it */
	for (uint32_t i = 0; have_model && i < snap.ntasks; i++) {
		const struct task *k = snap.tasks[i].tid ? NULL : model_find(&m, snap.tasks[i].addr);

		if (k && k->tid) {
			snap.tasks[i].tid = k->tid;	/* host id, as BPF sees it */
			snap.tasks[i].ns_tid = proc_ns_tid(s.pid, k->tid);
			snap.tids = true;
		}
	}
	extra = calloc(snap.ntasks ? snap.ntasks : 1, sizeof(*extra));
	if (extra && !window) {
		task_extra_fill(&snap, s.pid, &s.layout, have_hist ? &hist : NULL, o.now, extra);
		o.extra = extra;
	}
	if (s.verbose)
		fprintf(stderr, "aps-bpf: snapshot: %u tasks, %" PRIu64 " reads, %" PRIu64
			" process_vm_readv calls, %.3fs\n", snap.ntasks, snap.reads, snap.calls,
			(double)(o.now - t0) / 1e9);
	if (!snap.ntasks && o.format == VIEW_TABLE) {
		printf("no asyncio tasks in process %d\n", s.pid);
		rc = 0;
		goto cleanup;
	}
	if (tree) {
		int cycles = pstree_view(stdout, &snap, &o);

		rc = cycles < 0 ? 1 : fail_on_cycle && cycles > 0 ? EXIT_CYCLE : 0;
		if (o.stuck_ns && o.stuck) {
			char d[32];

			fprintf(stderr, "aps-bpf: warning: %u leaf task%s stuck > %s\n", o.stuck,
				o.stuck == 1 ? "" : "s", cli_fmt_duration(o.stuck_ns, d, sizeof(d)));
		}
	} else {
		ps_view(stdout, &snap, &o);
		rc = 0;
	}
	if (snap.dropped)
		fprintf(stderr, "aps-bpf: %u task%s changed while read and %s left out\n", snap.dropped,
			snap.dropped == 1 ? "" : "s", snap.dropped == 1 ? "was" : "were");
cleanup:
	if (outfile_close_stream(stdout, "stdout"))
		rc = 1;
	free(extra);
	agent_tasks_free(&hist);
	snapshot_free(&snap);
	session_close(&s);
	if (have_model)
		model_free(&m);
	return rc;
}

int cmd_ps(int argc, char **argv)
{
	return run(argc, argv, false);
}

int cmd_pstree(int argc, char **argv)
{
	return run(argc, argv, true);
}
