// SPDX-License-Identifier: MIT
/*
 * `aps-bpf blocked`: steps that held the event loop longer than a threshold,
 * with the Python stack of the thread at the moment the threshold was
 * crossed, while the step was still running. The BPF side keeps each
 * thread's open step in a map; userspace looks at it every few ms and reads
 * the thread's frames from memory the moment a step gets too old. Steps
 * that stay under the threshold cost nothing extra.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memory/blocked_capture.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/outfile.h"
#include "target/proc.h"
#include "live/session.h"
#include "memory/thread_stack.h"
#include "model/model.h"
#include "output/fmt.h"
#include "loop/loop_cmds.h"
#include "loop/loop_stall.h"
#include "util/monotime.h"

#define MAX_PENDING 64		/* steps over the threshold, not ended yet */

static const char blocked_usage[] =
	"usage: aps-bpf blocked [--mode loop|step] [--threshold DURATION] [--duration DURATION]\n"
	"                       [--poll-hook auto|fentry|tracepoint] [--hz N] [--json]\n"
	"                       [--ringbuf-kb N] [--no-debuginfod] [-v] PID\n"
	"\n"
	"--mode loop (default): every loop stall of PID, a loop thread busy longer\n"
	"than --threshold (default 100ms) between two polls, whatever ran: a task\n"
	"step, a callback or a protocol method, named with its function; no uprobe.\n"
	"--mode step: every asyncio task step longer than --threshold, by task and\n"
	"coroutine (a uprobe per step), and the loop stalls outside task steps.\n"
	"Either way with the thread's Python stack taken while it was still running,\n"
	"just after it crossed the threshold. Runs until Ctrl-C, --duration, or the\n"
	"target exits. Loop mode: --hz N also runs the stack sampler (-v: its BPF\n"
	"cost per sample, record bytes/s).\n";

struct blocked_step {
	struct blocked_capture cap;
	bool used;
};

struct blocked_ctx {
	struct session s;
	struct model model;
	struct thread_stack_reader reader;
	uint64_t threshold;
	bool json;
	struct blocked_step pending[MAX_PENDING];
	uint64_t reported, missed_stacks;
	uint64_t stalls;	/* loop stalls outside task steps */
	struct loop_side side;
	FILE *out;
};

static struct blocked_step *find_pending(struct blocked_ctx *c, uint64_t task, uint64_t begin_ts)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (c->pending[i].used && c->pending[i].cap.task == task &&
		    c->pending[i].cap.begin_ts == begin_ts)
			return &c->pending[i];
	return NULL;
}

static void report(struct blocked_ctx *c, const struct model_event *ev, struct blocked_step *b)
{
	const struct task *t = ev->task;
	struct blocked_report r = {
		.begin_ts = ev->ts - ev->duration_ns,
		.duration_ns = ev->duration_ns,
		.task = ev->addr,
		.tid = ev->tid,
		.ns_tid = proc_ns_tid(c->s.pid, ev->tid),
		.name = t ? t->name : NULL,
		.coro = t ? t->coro_name : NULL,
		.ended = ev->result != APS_RES_UNKNOWN,
	};

	c->reported++;
	if (!b)
		c->missed_stacks++;
	blocked_print(c->out, c->json, &r, b ? &b->cap : NULL);
	fflush(c->out);
	if (b)
		b->used = false;
}

static void on_model_event(void *ctx, const struct model_event *ev)
{
	struct blocked_ctx *c = ctx;

	if (ev->kind != MEV_STEP_END || ev->duration_ns < c->threshold)
		return;
	report(c, ev, find_pending(c, ev->addr, ev->ts - ev->duration_ns));
}

static int on_record(void *ctx, const void *data, size_t len)
{
	struct blocked_ctx *c = ctx;

	model_apply(&c->model, data, len, on_model_event, c);
	return 0;
}

/* A step is running on tid: if it just got too old, take the stack now. */
static void on_open_step(void *ctx, uint32_t tid, uint64_t task, uint64_t begin_ts)
{
	struct blocked_ctx *c = ctx;
	uint64_t now = monotime_ns();
	struct blocked_step *b;

	if (now < begin_ts || now - begin_ts < c->threshold || find_pending(c, task, begin_ts))
		return;
	for (b = c->pending; b < c->pending + MAX_PENDING && b->used; b++)
		;
	if (b == c->pending + MAX_PENDING)
		return;		/* that many at once: the next look will retry */
	b->used = true;
	blocked_capture_take(&c->reader, c->s.pid, tid, task, begin_ts, now, &b->cap);
	if (c->s.verbose)
		fprintf(stderr, "aps-bpf: task 0x%" PRIx64 " over the threshold on thread %u: stack taken\n",
			task, tid);
}

/* Step mode: a stall of the loop outside any task step (a callback). */
static void on_stall(void *ctx, const struct loop_stall *st)
{
	struct blocked_ctx *c = ctx;

	/* a task step is reported as a step; one not caught in time (unknown)
	 * overlaps one as often as not: callbacks only */
	if (st->kind != STALL_CALLBACK)
		return;
	c->stalls++;
	loop_stall_print(c->out, c->json, st);
	fflush(c->out);
}

static void on_tick(struct session *s, void *ctx)
{
	struct blocked_ctx *c = ctx;

	loop_side_tick(&c->side);
	tracer_open_steps(s->tracer, on_open_step, c);
	model_sweep(&c->model, monotime_ns(), 60ull * 1000000000);
}

static int blocked_opt(struct cli *c, int opt, const char *arg, void *ctx)
{
	struct blocked_ctx *b = ctx;

	switch (opt) {
	case 't': return cli_duration(c, "--threshold", arg, CLI_MS, CLI_MAX_DURATION, &b->threshold);
	default: return -1;
	}
}

int cmd_blocked(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "threshold", required_argument, NULL, 't' },
		CLI_OPT_JSON, CLI_OPT_MODE, CLI_OPT_POLL_HOOK, CLI_OPT_HZ, CLI_OPT_DURATION,
		CLI_OPT_VERBOSE, CLI_OPT_RINGBUF_KB, CLI_OPT_NO_DEBUGINFOD, CLI_OPT_HELP,
		{},
	};
	struct cli cli = { .cmd = "blocked", .usage = blocked_usage, .target = CLI_PID };
	static struct blocked_ctx c;
	int err, rc = 1;

	memset(&c, 0, sizeof(c));
	c.threshold = 100ull * 1000000;
	c.out = stdout;
	if (!cli_parse(&cli, argc, argv, "t:jvh", opts, blocked_opt, &c, &rc))
		return rc;
	cli_apply(&cli, &c.s);
	c.json = cli.json;
	if (cli.mode != MODE_STEP)
		return loop_blocked_run(&(struct loop_opts){ .pid = cli.pid, .threshold = c.threshold,
			.duration = cli.duration_ns, .hook = cli.hook, .json = c.json,
			.verbose = cli.verbose, .hz = cli.hz });
	/* look often enough to catch a step soon after it crosses the threshold */
	c.s.poll_ms = c.threshold / 4000000 < 20 ? (int)(c.threshold / 4000000) : 20;
	if (c.s.poll_ms < 1)
		c.s.poll_ms = 1;
	cli_signals(NULL);
	if (model_init(&c.model, 4096)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		return 1;
	}
	err = session_load(&c.s, on_record, &c);
	if (!err)
		err = session_resolve(&c.s, false);
	if (!err)
		err = thread_stack_reader_init(&c.reader, &c.s.ip, &c.s.layout, c.s.err, sizeof(c.s.err));
	if (!err)	/* before "attached": stalls are watched from then on too */
		loop_side_open(&c.side, c.s.pid, c.threshold, c.s.verbose, on_stall, &c);
	if (!err)
		err = session_attach(&c.s);
	if (err) {
		fprintf(stderr, "aps-bpf: %s\n", c.s.err[0] ? c.s.err : strerror(-err));
		goto cleanup;
	}
	c.s.on_tick = on_tick;
	c.s.tick_ctx = &c;
	enum session_end why = session_run(&c.s, (unsigned)(cli.duration_ns / CLI_MS));
	loop_side_close(&c.side);
	if (why == SESSION_ERROR) {
		fprintf(stderr, "aps-bpf: %s\n", c.s.err);
		goto cleanup;
	}
	/* steps still running when we stop: report them with their stacks; an
	 * exec ended the old program's steps then (not a block) */
	model_close_open_steps(&c.model, why == SESSION_TARGET_EXECED && c.s.exec_ts ? c.s.exec_ts :
			       monotime_ns(), on_model_event, &c);
	fprintf(stderr, "aps-bpf: %" PRIu64 " blocking step%s, %" PRIu64 " loop stall%s outside steps "
		"(threshold %s)%s\n", c.reported, c.reported == 1 ? "" : "s", c.stalls,
		c.stalls == 1 ? "" : "s", fmt_dur(c.threshold, (char[32]){0}, 32),
		c.missed_stacks ? ", some ended before their stack could be taken" : "");
	if (why == SESSION_TARGET_EXECED)
		fprintf(stderr, "aps-bpf: process %d executed a new program; blocked ended\n", c.s.pid);
	rc = outfile_close_stream(stdout, "stdout");
cleanup:
	loop_side_close(&c.side);
	thread_stack_reader_free(&c.reader);
	session_close(&c.s);
	model_free(&c.model);
	return rc;
}
