// SPDX-License-Identifier: MIT
/* `aps-bpf check`: a health check for CI and monitoring: exit 1 when a step
 * blocked the loop longer than allowed, or a task waited too long. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/outfile.h"
#include "live/session.h"
#include "target/proc.h"
#include "output/fmt.h"
#include "output/top_view.h"
#include "loop/loop_cmds.h"
#include "agent/agent.h"
#include "agent/agent_client.h"
#include "memory/snapshot.h"
#include "loop/loop_stall.h"
#include "util/monotime.h"

#define CHECK_EXIT_OFFENDERS 1
#define CHECK_EXIT_USAGE 2
#define CHECK_EXIT_ERROR 3
#define MAX_OFFENDERS 1000

static const char check_usage[] =
	"usage: aps-bpf check [--mode loop|step] [--for DURATION] [--max-step DURATION]\n"
	"                     [--max-waiting DURATION] [--poll-hook auto|fentry|tracepoint]\n"
	"                     [--json] [--agent-socket PATH] [--ringbuf-kb N] [--no-debuginfod] [-v] PID\n"
	"\n"
	"--mode loop (default; no uprobe): fail if the event loop stalled longer than\n"
	"--max-step, whatever ran (a task step, a callback, a protocol method).\n"
	"--mode step (a uprobe per step; needed for --max-waiting), and loop stalls\n"
	"outside task steps:\n"
	"Watch a Python process's asyncio tasks for a while (--for, default 10s) and\n"
	"fail if a task step ran longer than --max-step (it blocked the event loop),\n"
	"or a task has been awaiting longer than --max-waiting (a stuck task).\n"
	"Durations: 100ms, 1.5s, 2m, 500us; a bare number is seconds.\n"
	"A wait is only known from when aps-bpf saw it start: for a task suspended\n"
	"before the check began, use --for at least as long as --max-waiting.\n"
	"\n"
	"Exit status: 0 healthy, 1 offenders found (printed), 2 usage error,\n"
	"3 the check could not run (no such process, not Python, permissions...).\n";

struct offender {
	char kind;		/* 's' step too long, 'r' still running, 'w' waiting,
				 * 'l' a loop stall outside task steps (name: its function, on: file:line) */
	uint64_t task, ts, dur;
	uint32_t tid, ns_tid;	/* host tid; the target's own */
	char name[APS_NAME_MAX], coro[APS_NAME_MAX], on[APS_NAME_MAX];
};

struct check_ctx {
	struct session s;
	struct model model;
	uint64_t max_step, max_waiting;
	const char *agent_sock;		/* --max-waiting: the agent's history of older waits */
	struct offender *off;
	size_t noff, more;
	struct loop_side side;
};

static void add_offender(struct check_ctx *c, char kind, const struct task *t, uint64_t addr,
			 uint32_t tid, uint64_t ts, uint64_t dur, const char *on)
{
	struct offender *o;

	if (c->noff == MAX_OFFENDERS) {
		c->more++;
		return;
	}
	o = &c->off[c->noff++];
	o->kind = kind;
	o->task = addr;
	o->tid = tid;
	o->ns_tid = proc_ns_tid(c->s.pid, tid);
	o->ts = ts;
	o->dur = dur;
	snprintf(o->name, sizeof(o->name), "%s", t ? t->name : "?");
	snprintf(o->coro, sizeof(o->coro), "%s", t ? t->coro_name : "?");
	snprintf(o->on, sizeof(o->on), "%s", on ? on : "");
}

static void on_model_event(void *ctx, const struct model_event *ev)
{
	struct check_ctx *c = ctx;

	if (ev->kind == MEV_STEP_END && c->max_step && ev->duration_ns > c->max_step &&
	    ev->result != APS_RES_UNKNOWN)
		add_offender(c, 's', ev->task, ev->addr, ev->tid, ev->ts, ev->duration_ns, NULL);
}

/* A loop stall outside task steps (a callback): an offender too. */
static void on_stall(void *ctx, const struct loop_stall *st)
{
	struct check_ctx *c = ctx;
	const struct stack_frame *f = st->fn_frame >= 0 ? &st->cap.stack.f[st->fn_frame] : NULL;
	char where[sizeof(((struct stack_frame *)0)->file) + 16];

	/* a task step is judged as a step; one not caught in time (unknown)
	 * overlaps one as often as not: callbacks only */
	if (st->kind != STALL_CALLBACK)
		return;
	snprintf(where, sizeof(where), "%s:%d", f ? f->file : "?", f ? f->line : -1);
	add_offender(c, 'l', NULL, 0, st->tid, st->begin_ts, st->duration_ns, where);
	snprintf(c->off[c->noff - 1].name, sizeof(c->off[0].name), "%s", f ? f->func : "?");
	snprintf(c->off[c->noff - 1].coro, sizeof(c->off[0].coro), "%s",
		 st->kind == STALL_CALLBACK ? "callback" : "unknown");
}

static void on_tick(struct session *s, void *ctx)
{
	(void)s;
	loop_side_tick(&((struct check_ctx *)ctx)->side);
}

static int on_record(void *ctx, const void *data, size_t len)
{
	struct check_ctx *c = ctx;

	model_apply(&c->model, data, len, on_model_event, c);
	return 0;
}

/*
 * --max-waiting for the tasks that did not step during --for: how long they
 * have waited comes from the agent's history (they wait where it last saw
 * them move), so the check needs no --for as long as the wait.
 */
static void agent_waits(struct check_ctx *c, uint64_t now)
{
	struct agent_tasks h = {};
	struct snapshot snap = {};
	char msg[256], err[256];
	int rc = agent_client_tasks(c->agent_sock, c->s.pid, &h, msg, sizeof(msg));

	if (rc) {
		fprintf(stderr, "aps-bpf check: %s: --max-waiting sees only the waits that began in --for\n",
			rc == -ESRCH ? "the agent does not watch this process" : msg);
		return;
	}
	if (snapshot_take(&c->s.ip, &c->s.layout, &snap, err, sizeof(err))) {
		fprintf(stderr, "aps-bpf check: reading tasks: %s\n", err);
		goto out;
	}
	for (uint32_t i = 0; i < snap.ntasks; i++) {
		const struct snap_task *t = &snap.tasks[i];
		const struct agent_task_info *a = agent_tasks_find(&h, t->addr);
		const struct task *m = model_find(&c->model, t->addr);
		struct task pseudo = {
			.name = t->name ? t->name : "?",
			.coro_name = t->nframes && t->frames[t->nframes - 1].qualname ?
					     t->frames[t->nframes - 1].qualname : "?",
		};

		/* a task that stepped in the window is judged from the events */
		if (!t->listed || t->state != APS_FUT_PENDING || !a || (m && m->steps) ||
		    now <= a->wait_ns || now - a->wait_ns <= c->max_waiting)
			continue;
		add_offender(c, 'w', &pseudo, t->addr, t->tid, a->wait_ns, now - a->wait_ns,
			     t->nframes && t->frames[0].qualname ? t->frames[0].qualname : "?");
	}
out:
	snapshot_free(&snap);
	agent_tasks_free(&h);
}

/* At the end: steps still running too long, tasks waiting too long. */
static void final_offenders(struct check_ctx *c, uint64_t now)
{
	for (uint32_t i = 0; i < c->model.cap; i++) {
		const struct task *t = &c->model.slots[i];

		if (!t->used || t->destroyed)
			continue;
		if (c->max_step && t->step_begin_ts && now - t->step_begin_ts > c->max_step)
			add_offender(c, 'r', t, t->addr, t->tid, t->step_begin_ts, now - t->step_begin_ts, NULL);
		if (c->max_waiting && t->state == TASK_AWAITING && now - t->await_since_ts > c->max_waiting) {
			const struct task *w = model_find(&c->model, t->awaiting);

			add_offender(c, 'w', t, t->addr, t->tid, t->await_since_ts,
				     now - t->await_since_ts, w ? w->name : "a future");
		}
	}
}

static const char *kind_name(char k)
{
	return k == 's' ? "step" : k == 'r' ? "running" : k == 'l' ? "stall" : "waiting";
}

static void print_offenders(struct check_ctx *c, bool json, FILE *out)
{
	char d[32], t[40], esc[3][APS_NAME_MAX * 2];

	if (json) {
		fprintf(out, "{\"pid\":%d,\"healthy\":%s,\"offenders\":[", c->s.pid,
			c->noff ? "false" : "true");
		for (size_t i = 0; i < c->noff; i++) {
			const struct offender *o = &c->off[i];

			json_escape(o->name, esc[0], sizeof(esc[0]));
			json_escape(o->coro, esc[1], sizeof(esc[1]));
			json_escape(o->on, esc[2], sizeof(esc[2]));
			fprintf(out, "%s{\"kind\":\"%s\",\"task\":\"0x%" PRIx64 "\",\"name\":\"%s\","
				"\"coro\":\"%s\",", i ? "," : "", kind_name(o->kind), o->task, esc[0], esc[1]);
			fmt_json_tid(out, o->tid, o->ns_tid);
			fprintf(out, ",\"duration_ns\":%" PRIu64 ",\"since_ts_ns\":%" PRIu64, o->dur, o->ts);
			if (o->kind == 'w')
				fprintf(out, ",\"awaiting\":\"%s\"", esc[2]);
			if (o->kind == 'l')
				fprintf(out, ",\"function\":\"%s\",\"ran\":\"%s\",\"at\":\"%s\"", esc[0],
					esc[1], esc[2]);
			fputc('}', out);
		}
		fprintf(out, "],\"more_offenders\":%zu}\n", c->more);
		return;
	}
	if (!c->noff) {
		fprintf(out, "aps-bpf check: pid %d healthy\n", c->s.pid);
		return;
	}
	fprintf(out, "aps-bpf check: pid %d: %zu offender%s\n", c->s.pid, c->noff + c->more,
		c->noff + c->more == 1 ? "" : "s");
	for (size_t i = 0; i < c->noff; i++) {
		const struct offender *o = &c->off[i];
		uint64_t longest = o->dur;
		size_t count = 0;

		if (o->kind == 's') {
			/* one line per task: how many steps, the longest */
			bool first = true;

			for (size_t j = 0; j < c->noff; j++) {
				const struct offender *p = &c->off[j];

				if (p->kind != 's' || p->task != o->task || strcmp(p->name, o->name))
					continue;
				if (j < i)
					first = false;
				count++;
				if (p->dur > longest)
					longest = p->dur;
			}
			if (!first)
				continue;
			fprintf(out, "  %s (%s, tid %s): %zu step%s over --max-step, longest %s\n", o->name,
				o->coro, fmt_tid(o->tid, o->ns_tid, t, sizeof(t)), count, count == 1 ? "" : "s",
				fmt_dur(longest, d, sizeof(d)));
		} else if (o->kind == 'l') {
			fprintf(out, "  loop stall %s > --max-step in %s %s at %s, tid %s\n",
				fmt_dur(o->dur, d, sizeof(d)), o->coro, o->name, o->on,
				fmt_tid(o->tid, o->ns_tid, t, sizeof(t)));
		} else if (o->kind == 'r') {
			fprintf(out, "  step of %s (%s, tid %s) still running after %s > --max-step\n",
				o->name, o->coro, fmt_tid(o->tid, o->ns_tid, t, sizeof(t)),
				fmt_dur(o->dur, d, sizeof(d)));
		} else {
			fprintf(out, "  %s (%s, tid %s) awaiting %s for %s > --max-waiting\n", o->name,
				o->coro, fmt_tid(o->tid, o->ns_tid, t, sizeof(t)), o->on,
				fmt_dur(o->dur, d, sizeof(d)));
		}
	}
	if (c->more)
		fprintf(out, "  ... and %zu more\n", c->more);
}

struct check_opts {
	struct check_ctx *c;
	uint64_t window;
};

static int check_opt(struct cli *cli, int opt, const char *arg, void *ctx)
{
	struct check_opts *o = ctx;

	switch (opt) {
	case 'f': return cli_duration(cli, "--for", arg, CLI_MS, CLI_MAX_DURATION, &o->window);
	case 's': return cli_duration(cli, "--max-step", arg, 1000, CLI_MAX_DURATION, &o->c->max_step);
	case 'w':
		return cli_duration(cli, "--max-waiting", arg, 1000, CLI_MAX_DURATION, &o->c->max_waiting);
	case CLI_AGENT_SOCKET: o->c->agent_sock = arg; return 0;
	default: return -1;
	}
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "for", required_argument, NULL, 'f' },
		{ "max-step", required_argument, NULL, 's' },
		{ "max-waiting", required_argument, NULL, 'w' },
		CLI_OPT_JSON, CLI_OPT_MODE, CLI_OPT_POLL_HOOK, CLI_OPT_AGENT_SOCKET, CLI_OPT_VERBOSE,
		CLI_OPT_RINGBUF_KB, CLI_OPT_NO_DEBUGINFOD, CLI_OPT_HELP,
		{},
	};
	struct cli cli = { .cmd = "check", .usage = check_usage, .target = CLI_PID };
	struct check_ctx c = { .agent_sock = AGENT_SOCK_DEFAULT };
	struct check_opts co = { .c = &c, .window = 10ull * 1000000000 };
	uint64_t window;
	bool json;
	int err, rc = CHECK_EXIT_ERROR;

	if (!cli_parse(&cli, argc, argv, "jvh", opts, check_opt, &co, &rc))
		return rc == 2 ? CHECK_EXIT_USAGE : rc;
	window = co.window;
	json = cli.json;
	if (!c.max_step && !c.max_waiting)
		return cli_usage(&cli, "give --max-step and/or --max-waiting");
	cli_apply(&cli, &c.s);
	/* --max-waiting needs the steps: step mode unless loop was asked for */
	if (c.max_waiting && !cli.mode)
		cli.mode = MODE_STEP;
	if (cli.mode != MODE_STEP && c.max_waiting)
		return cli_usage(&cli, "--max-waiting needs --mode step");
	if (cli.mode != MODE_STEP)
		return loop_check_run(&(struct loop_opts){ .pid = cli.pid, .threshold = c.max_step,
			.duration = window, .hook = cli.hook, .json = json, .verbose = cli.verbose });
	/* look at the loop often enough to take a stall's stack while it lasts */
	c.s.poll_ms = c.max_step ? (int)(c.max_step / 4000000) : 100;
	if (c.s.poll_ms > 100)
		c.s.poll_ms = 100;
	if (c.s.poll_ms < 1)
		c.s.poll_ms = 1;
	c.off = calloc(MAX_OFFENDERS, sizeof(*c.off));
	if (!c.off || model_init(&c.model, 4096)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		free(c.off);
		return CHECK_EXIT_ERROR;
	}
	cli_signals(NULL);
	err = session_load(&c.s, on_record, &c);
	if (!err)
		err = session_resolve(&c.s, false);
	if (!err && c.max_step)	/* callbacks stall the loop too */
		loop_side_open(&c.side, c.s.pid, c.max_step, c.s.verbose, on_stall, &c);
	if (!err)
		err = session_attach(&c.s);
	if (err) {
		fprintf(stderr, "aps-bpf: %s\n", c.s.err[0] ? c.s.err : strerror(-err));
		goto cleanup;
	}
	c.s.on_tick = on_tick;
	c.s.tick_ctx = &c;
	enum session_end why = session_run(&c.s, (unsigned)(window / 1000000));
	/* the window's end: steps still open are judged as of now, not after teardown */
	uint64_t end = monotime_ns();
	if (why == SESSION_ERROR) {
		fprintf(stderr, "aps-bpf: %s\n", c.s.err);
		goto cleanup;
	}
	if (why == SESSION_INTERRUPTED) {
		fprintf(stderr, "aps-bpf check: interrupted before --for ended\n");
		goto cleanup;
	}
	if (why == SESSION_TARGET_EXITED || why == SESSION_TARGET_EXECED)
		fprintf(stderr, "aps-bpf check: process %d %s during the check; judging what was seen\n",
			c.s.pid, why == SESSION_TARGET_EXITED ? "exited" : "executed a new program");
	loop_side_close(&c.side);
	final_offenders(&c, end);
	if (c.max_waiting && why != SESSION_TARGET_EXITED && why != SESSION_TARGET_EXECED)
		agent_waits(&c, end);
	print_offenders(&c, json, stdout);
	rc = c.noff ? CHECK_EXIT_OFFENDERS : 0;
	if (outfile_close_stream(stdout, "stdout"))
		rc = CHECK_EXIT_ERROR;
cleanup:
	loop_side_close(&c.side);
	session_close(&c.s);
	model_free(&c.model);
	free(c.off);
	return rc;
}
