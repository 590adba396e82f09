// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "live/session.h"
#include "loop/loop_cmds.h"
#include "loop/loop_stall.h"
#include "memory/snapshot.h"
#include "output/escape.h"
#include "output/fmt.h"
#include "target/proc.h"
#include "util/monotime.h"

void loop_stall_init(struct loop_stall_watch *w, struct loop_session *s, uint64_t threshold,
		     void (*on_stall)(void *ctx, const struct loop_stall *st), void *ctx)
{
	memset(w, 0, sizeof(*w));
	w->s = s;
	w->threshold = threshold;
	w->on_stall = on_stall;
	w->ctx = ctx;
}

static bool in_asyncio(const struct stack_frame *f)
{
	return strstr(f->file, "/asyncio/") != NULL;
}

static bool is_dispatch(const struct stack_frame *f)
{
	/* Handle._run calls each callback (3.10's co_name: _run) */
	return in_asyncio(f) && (!strcmp(f->func, "Handle._run") || !strcmp(f->func, "_run"));
}

static bool is_loop_runner(const struct stack_frame *f)
{
	static const char *const names[] = {
		"BaseEventLoop._run_once", "_run_once", "BaseEventLoop.run_forever", "run_forever",
		"BaseEventLoop.run_until_complete", "run_until_complete", "Runner.run", "run",
	};

	if (strstr(f->file, "/uvloop/"))
		return true;
	if (!in_asyncio(f))
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(f->func, names[i]))
			return true;
	return false;
}

int loop_stall_dispatch_frame(const struct thread_stack *st)
{
	int h = -1, i;

	for (i = 0; i < (int)st->n && h < 0; i++)
		if (is_dispatch(&st->f[i]))
			h = i;
	/* no Python Handle (uvloop's are Cython): the innermost loop runner */
	for (i = 0; i < (int)st->n && h < 0; i++)
		if (is_loop_runner(&st->f[i]))
			h = i;
	if (h <= 0)
		return -1;
	/* inward past asyncio's own frames (a transport calling data_received) */
	for (i = h - 1; i >= 0; i--)
		if (!in_asyncio(&st->f[i]))
			return i;
	return h - 1;
}

/* The task whose coroutine is coro: a snapshot, then each task's coroutine. */
static void find_task(struct loop_stall_watch *w, uint64_t coro, struct loop_stall *st)
{
	struct loop_session *s = w->s;
	struct snapshot snap;
	char err[256];
	uint64_t c;

	if (snapshot_take(&s->ip, &s->layout, &snap, err, sizeof(err)) == 0) {
		for (uint32_t i = 0; i < snap.ntasks; i++) {
			if (pyread_ptr(&s->reader->r, snap.tasks[i].addr + s->layout.bpf.task_coro, &c) ||
			    c != coro)
				continue;
			st->task = snap.tasks[i].addr;
			snprintf(st->task_name, sizeof(st->task_name), "%s",
				 snap.tasks[i].name ? snap.tasks[i].name : "?");
			break;
		}
	}
	snapshot_free(&snap);
}

static void take(struct loop_stall_watch *w, struct loop_stall *st, uint32_t tid,
		 uint64_t begin_ts, uint64_t now)
{
	struct loop_session *s = w->s;
	const struct stack_frame *f;

	memset(st, 0, sizeof(*st));
	st->used = true;
	st->tid = tid;
	st->begin_ts = begin_ts;
	st->fn_frame = -1;
	blocked_capture_take(s->reader, s->pid, tid, 0, begin_ts, now, &st->cap);
	st->ns_tid = st->cap.ns_tid;
	st->stack_taken = true;
	if (st->cap.stack_err)
		return;
	st->fn_frame = loop_stall_dispatch_frame(&st->cap.stack);
	if (st->fn_frame < 0) {
		/* busy since its last poll, but no loop runs on it now */
		for (uint32_t i = 0; i < st->cap.stack.n; i++)
			if (is_dispatch(&st->cap.stack.f[i]) || is_loop_runner(&st->cap.stack.f[i]))
				return;
		st->dismissed = true;
		return;
	}
	f = &st->cap.stack.f[st->fn_frame];
	if (!f->gen) {
		st->kind = STALL_CALLBACK;
		return;
	}
	st->kind = STALL_TASK;
	snprintf(st->coro, sizeof(st->coro), "%s", f->func);
	find_task(w, f->gen, st);
}

static struct loop_stall *find(struct loop_stall_watch *w, uint32_t tid, uint64_t begin_ts)
{
	for (int i = 0; i < STALL_MAX_PENDING; i++)
		if (w->pending[i].used && w->pending[i].tid == tid &&
		    w->pending[i].begin_ts == begin_ts)
			return &w->pending[i];
	return NULL;
}

/* The thread's runqueue wait so far, ns (/proc schedstat: sched_info.run_delay). */
static uint64_t thread_run_delay(pid_t pid, uint32_t tid)
{
	unsigned long long run = 0, wait = 0;
	char path[96];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%u/schedstat", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &run, &wait) != 2)
		wait = 0;
	fclose(f);
	return wait;
}

static void on_thread(void *ctx, uint32_t tid, const struct aps_loop_thread *lt)
{
	struct loop_stall_watch *w = ctx;
	uint64_t now = monotime_ns(), wait = 0;
	struct loop_stall *st;

	if (!lt->busy_since || now < lt->busy_since || now - lt->busy_since < w->threshold ||
	    find(w, tid, lt->busy_since))
		return;
	/* busy that long only because other threads had the CPU: not yet a stall */
	if (lt->run_delay_at_busy) {
		wait = thread_run_delay(w->s->pid, tid) - lt->run_delay_at_busy;
		if (wait < now - lt->busy_since && now - lt->busy_since - wait < w->threshold)
			return;
	}
	for (st = w->pending; st < w->pending + STALL_MAX_PENDING && st->used; st++)
		;
	if (st == w->pending + STALL_MAX_PENDING)
		return;		/* that many at once: the next look retries */
	take(w, st, tid, lt->busy_since, now);
}

void loop_stall_look(struct loop_stall_watch *w)
{
	loop_tracer_threads(w->s->lt, w->s->pid, on_thread, w);
}

void loop_stall_span(struct loop_stall_watch *w, const struct aps_ev_loop_span *e)
{
	static struct loop_stall missed;
	uint64_t d = e->hdr.ts_ns - e->begin_ts_ns;
	struct loop_stall *st;

	if (e->hdr.ts_ns < e->begin_ts_ns || d < w->threshold)
		return;
	st = find(w, e->hdr.tid, e->begin_ts_ns);
	if (e->run_delay_ns >= d || d - e->run_delay_ns < w->threshold) {
		if (st)		/* off the CPU for others' sake, mostly: not a stall */
			st->used = false;
		return;
	}
	if (st && st->dismissed) {
		st->used = false;
		return;
	}
	if (!st) {
		memset(&missed, 0, sizeof(missed));
		missed.tid = e->hdr.tid;
		missed.ns_tid = proc_ns_tid(w->s->pid, e->hdr.tid);
		missed.begin_ts = e->begin_ts_ns;
		missed.fn_frame = -1;
		st = &missed;
		w->missed_stacks++;
	}
	st->duration_ns = d;
	st->run_delay_ns = e->run_delay_ns;
	st->ended = true;
	w->reported++;
	w->on_stall(w->ctx, st);
	st->used = false;
}

void loop_stall_finish(struct loop_stall_watch *w, uint64_t now)
{
	for (int i = 0; i < STALL_MAX_PENDING; i++) {
		struct loop_stall *st = &w->pending[i];

		/* unreadable at the end: the interpreter was exiting */
		if (!st->used || st->dismissed || st->cap.stack_err)
			continue;
		st->duration_ns = now > st->begin_ts ? now - st->begin_ts : 0;
		st->ended = false;
		w->reported++;
		w->on_stall(w->ctx, st);
		st->used = false;
	}
}

static const char *kind_name(enum stall_kind k)
{
	return k == STALL_TASK ? "task" : k == STALL_CALLBACK ? "callback" : "unknown";
}

void loop_stall_print(FILE *out, bool json, const struct loop_stall *st)
{
	const struct stack_frame *f = st->fn_frame >= 0 ? &st->cap.stack.f[st->fn_frame] : NULL;
	char d[32], t[40], esc[4][1024];

	if (json) {
		json_escape(f ? f->func : "?", esc[0], sizeof(esc[0]));
		json_escape(f ? f->file : "?", esc[1], sizeof(esc[1]));
		json_escape(st->task_name[0] ? st->task_name : "?", esc[2], sizeof(esc[2]));
		json_escape(st->coro[0] ? st->coro : "?", esc[3], sizeof(esc[3]));
		fprintf(out, "{\"event\":\"stall\",\"ts_ns\":%" PRIu64 ",", st->begin_ts);
		fmt_json_tid(out, st->tid, st->ns_tid);
		fprintf(out, ",\"duration_ns\":%" PRIu64
			",\"run_delay_ns\":%" PRIu64 ",\"ended\":%s,\"kind\":\"%s\",\"function\":\"%s\","
			"\"file\":\"%s\",\"line\":%d", st->duration_ns,
			st->run_delay_ns, st->ended ? "true" : "false",
			kind_name(st->kind), esc[0], esc[1], f ? f->line : -1);
		if (st->kind == STALL_TASK)
			fprintf(out, ",\"task\":\"0x%" PRIx64 "\",\"name\":\"%s\",\"coro\":\"%s\"",
				st->task, esc[2], esc[3]);
		blocked_print_stack(out, true, st->stack_taken ? &st->cap : NULL);
		fputs("}\n", out);
		return;
	}
	fprintf(out, "stall %s: loop thread %s busy", fmt_dur(st->duration_ns, d, sizeof(d)),
		fmt_tid(st->tid, st->ns_tid, t, sizeof(t)));
	if (st->kind == STALL_TASK)
		fprintf(out, " in task %s (%s) at %s:%d", st->task_name[0] ? st->task_name : "?",
			st->coro, f->file, f->line);
	else if (st->kind == STALL_CALLBACK)
		fprintf(out, " in callback %s at %s:%d", f->func, f->file, f->line);
	else
		fprintf(out, " (what ran is unknown)");
	fprintf(out, "%s\n", st->ended ? "" : ", still running at exit");
	if (!st->stack_taken)
		fprintf(out, "    (stack not taken: the stall ended before aps-bpf looked)\n");
	else
		blocked_print_stack(out, false, &st->cap);
}

int loop_stall_record(void *w, const void *data, size_t len)
{
	const struct aps_event_hdr *h = data;

	if (len >= sizeof(struct aps_ev_loop_span) && h->type == APS_EV_LOOP_SPAN)
		loop_stall_span(w, data);
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	session_stop = 1;
}

int loop_stall_start(struct loop_stall_watch *w, struct loop_session *s, const struct loop_opts *o,
		     unsigned flags, void (*on_stall)(void *ctx, const struct loop_stall *st),
		     loop_event_fn fn, void *ctx)
{
	int err;

	s->pid = o->pid;
	s->verbose = o->verbose;
	s->hook = o->hook;
	s->flags = flags;
	s->span_min_ns = o->threshold;
	s->poll_ms = (int)(o->threshold / 4000000);
	if (s->poll_ms > 20)
		s->poll_ms = 20;
	if (s->poll_ms < 1)
		s->poll_ms = 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	loop_stall_init(w, s, o->threshold, on_stall, ctx);
	err = fn ? loop_session_open(s, fn, ctx) : loop_session_open(s, loop_stall_record, w);
	if (err)
		fprintf(stderr, "aps-bpf: %s\n", s->err[0] ? s->err : strerror(-err));
	return err;
}

int loop_side_open(struct loop_side *ls, pid_t pid, uint64_t threshold, bool verbose,
		   void (*on_stall)(void *ctx, const struct loop_stall *st), void *ctx)
{
	int err;

	memset(ls, 0, sizeof(*ls));
	ls->s.pid = pid;
	ls->s.verbose = verbose;
	ls->s.quiet = true;
	ls->s.flags = APS_LOOP_SPANS;
	ls->s.span_min_ns = threshold;
	loop_stall_init(&ls->w, &ls->s, threshold, on_stall, ctx);
	err = loop_session_open(&ls->s, loop_stall_record, &ls->w);
	if (err) {
		fprintf(stderr, "aps-bpf: warning: loop stalls outside task steps not watched: %s\n",
			ls->s.err[0] ? ls->s.err : strerror(-err));
		loop_session_close(&ls->s);
		return err;
	}
	ls->open = true;
	return 0;
}

void loop_side_tick(struct loop_side *ls)
{
	if (!ls->open)
		return;
	loop_tracer_poll(ls->s.lt, 0);
	if (monotime_ns() - ls->s.last_sync_ns >= 500000000ull)
		loop_session_sync_threads(&ls->s);
	loop_stall_look(&ls->w);
}

void loop_side_close(struct loop_side *ls)
{
	if (!ls->open)
		return;
	loop_tracer_drain(ls->s.lt);
	loop_stall_finish(&ls->w, monotime_ns());
	loop_session_close(&ls->s);
	ls->open = false;
}
