// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/outfile.h"
#include "target/layout_runtime.h"
#include "live/forks.h"
#include "live/session.h"
#include "output/trace_view.h"
#include "util/monotime.h"

static const char trace_usage[] =
	"usage: aps-bpf trace [--json] [-o FILE] [--duration D] [--ringbuf-kb N] [-f] [-v] PID\n"
	"       aps-bpf trace [--json] [-o FILE] [--duration D [--kill]] [--ringbuf-kb N] [-v] -- CMD [ARGS...]\n"
	"\n"
	"Print every asyncio task event of a running Python process (3.10-3.14):\n"
	"created, step, step_end, done, destroyed. --json prints JSON lines\n"
	"(docs/trace-json.md). Ends on Ctrl-C, --duration, or when the target exits.\n"
	"Durations: 100ms, 1.5s, 2m, 500us; a bare number is seconds.\n"
	"-o FILE: write the events to FILE instead of stdout (CMD keeps stdout); an\n"
	"existing FILE is replaced only once tracing started.\n"
	"--duration with -- CMD: CMD keeps running, detached, when the duration ends;\n"
	"--kill kills it then.\n"
	"--ringbuf-kb: ring buffer size, a power of two >= 4 (default 16384); events\n"
	"that do not fit are counted and shown as lost.\n"
	"-f, --follow-forks: trace the processes the target forks too (the default\n"
	"with -- CMD); each line names its process (pid), each process ends with\n"
	"its own summary. Without it, a fork is announced once.\n"
	"--no-debuginfod: never fetch debug files from the DEBUGINFOD_URLS servers.\n";

/* Following forks: a printer per process, on the same output. */
struct trace_forks {
	struct forks f;
	struct trace_view *main;
};

static void *open_child(void *ctx, pid_t pid, void *parent_ctx)
{
	struct trace_forks *tf = ctx;
	const struct trace_view *parent = parent_ctx;
	struct trace_view *p = malloc(sizeof(*p));

	if (!p || trace_view_init(p, tf->main->out, tf->main->json, pid)) {
		free(p);
		return NULL;
	}
	p->show_pid = true;
	p->t0 = tf->main->t0;
	/* BPF names each type once: the child knows its parent's */
	memcpy(p->model.types, parent->model.types, sizeof(p->model.types));
	p->model.ntypes = parent->model.ntypes;
	return p;
}

static void close_child(void *ctx, void *proc_ctx, pid_t pid, const char *reason, uint64_t ts)
{
	struct trace_view *p = proc_ctx;

	(void)ctx;
	(void)pid;
	trace_view_finish(p, reason, ts, p->last_lost, 0, NULL, 0);
	trace_view_free(p);
	free(p);
}

static int check_first_task(void *ctx, uint64_t task)
{
	struct session *s = ctx;

	return layout_validate_task(s->pid, &s->layout, task, s->err, sizeof(s->err));
}

/* Each poll: lost events are shown as they happen; old dead tasks dropped. */
static void show_lost(struct session *s, void *ctx)
{
	struct trace_view *p = ctx;
	struct aps_counters c;

	tracer_counters(s->tracer, &c);
	if (c.lost_events > p->last_lost) {
		trace_view_lost(p, c.lost_events, monotime_ns());
		fflush(p->out);
	}
	/* tasks destroyed a minute ago are not named by new events any more */
	model_sweep(&p->model, monotime_ns(), 60ull * 1000000000);
	if (s->fork_ctx)
		forks_tick(s->fork_ctx, monotime_ns());
}

/* Where the events go: stdout, or -o FILE (replaced once attached). */
static FILE *open_output(struct outfile *o, const char *path)
{
	static char outbuf[1 << 20];
	FILE *out = stdout;

	if (path) {
		if (outfile_open(o, path))
			return NULL;
		out = outfile_stream(o);
		if (!out)
			return NULL;
	}
	if (!isatty(fileno(out)))
		setvbuf(out, outbuf, _IOFBF, sizeof(outbuf));
	return out;
}

struct trace_opts {
	bool json, follow;
	const char *out_path;
};

static int trace_opt(struct cli *c, int opt, const char *arg, void *ctx)
{
	struct trace_opts *t = ctx;

	(void)c;
	(void)arg;
	switch (opt) {
	case 'f': t->follow = true; return 0;
	default: return -1;
	}
}

int cmd_trace(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPT_JSON, CLI_OPT_OUTPUT,
		{ "follow-forks", no_argument, NULL, 'f' },
		CLI_OPT_DURATION, CLI_OPT_KILL, CLI_OPT_VERBOSE, CLI_OPT_RINGBUF_KB,
		CLI_OPT_NO_DEBUGINFOD, CLI_OPT_HELP,
		{},
	};
	struct cli cli = { .cmd = "trace", .usage = trace_usage, .target = CLI_PID_OR_CMD };
	struct trace_opts t = {};
	struct session s = {};
	struct trace_view p;
	struct aps_counters c;
	struct prog_stat stats[TRACER_NPROGS];
	struct outfile o = { .fd = -1 };
	static struct trace_forks tf;
	enum session_end why;
	FILE *out;
	int err, rc = 1;

	if (!cli_parse(&cli, argc, argv, "jo:fvh", opts, trace_opt, &t, &rc))
		return rc;
	t.json = cli.json;
	t.out_path = cli.output;
	cli_apply(&cli, &s);
	s.hooks.opts.cancel = &session_stop;	/* Ctrl-C stops a debuginfod download */
	out = open_output(&o, t.out_path);
	if (!out)
		goto cleanup_nop;
	cli_signals(NULL);
	if (cli_spawn(&cli, &s))
		goto cleanup_nop;
	if (trace_view_init(&p, out, t.json, s.pid)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		goto cleanup_nop;
	}
	t.follow |= cli.spawn != NULL;
	p.show_pid = t.follow;
	p.on_first_task = check_first_task;
	p.first_task_ctx = &s;
	s.on_tick = show_lost;
	s.tick_ctx = &p;
	tf.main = &p;
	if (t.follow)
		forks_init(&tf.f, &s, trace_view_event, &p, open_child, close_child, &tf);
	err = t.follow ? session_load(&s, forks_event, &tf.f) : session_load(&s, trace_view_event, &p);
	if (!err)
		err = session_release_child(&s);
	if (!err)
		err = session_resolve(&s, cli.spawn != NULL);
	if (!err)
		err = session_attach(&s);
	if (err)
		goto fail;
	if (t.out_path && outfile_commit(&o))
		goto cleanup;
	why = session_run(&s, (unsigned)(cli.duration_ns / CLI_MS));
	cli_end_child(&cli, &s, why);
	if (p.fatal) {
		fprintf(stderr, "aps-bpf: %s\n", s.err);
		goto cleanup;
	}
	if (why == SESSION_ERROR)
		goto fail;
	tracer_counters(s.tracer, &c);
	if (tracer_prog_stats(s.tracer, stats))
		memset(stats, 0, sizeof(stats));
	if (t.follow)
		forks_finish(&tf.f, session_end_name(why), monotime_ns());
	trace_view_finish(&p, session_end_name(why), monotime_ns(), c.lost_events, c.read_errors,
			     stats, TRACER_NPROGS);
	if (why == SESSION_TARGET_EXECED)
		fprintf(stderr, "aps-bpf: process %d executed a new program; trace ended\n", s.pid);
	rc = 0;
	goto cleanup;
fail:
	fprintf(stderr, "aps-bpf: %s\n", s.err[0] ? s.err : strerror(-err));
cleanup:
	trace_view_free(&p);
cleanup_nop:
	session_close(&s);
	if (t.out_path) {
		if (outfile_close(&o))
			rc = 1;
	} else if (outfile_close_stream(stdout, "stdout")) {
		rc = 1;
	}
	return rc;
}
