/* SPDX-License-Identifier: MIT */
/*
 * Loop stalls: a loop thread busy longer than the threshold since its poll
 * returned. The watcher looks at each loop thread's "busy since" every few
 * ms and reads its Python stack the moment a stall crosses the threshold,
 * while it still runs; the stall is reported when its span ends (a span
 * record) or when watching stops. What ran: the task whose coroutine owns
 * the outermost frame under the loop's dispatch, else a callback, named by
 * its function (Handle._run -> the function).
 */
#ifndef APS_LOOP_STALL_H
#define APS_LOOP_STALL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "loop/loop_session.h"
#include "memory/blocked_capture.h"

#define STALL_NAME_MAX 128

enum stall_kind {
	STALL_UNKNOWN = 0,	/* no stack, or no frame under the loop's dispatch */
	STALL_CALLBACK,
	STALL_TASK,
};

struct loop_stall {
	bool used, ended, stack_taken;
	bool dismissed;		/* the stack shows no running loop (closed, exiting): not a stall */
	uint32_t tid, ns_tid;
	uint64_t begin_ts, duration_ns;
	uint64_t run_delay_ns;	/* of duration_ns, waiting for a CPU (not the program's doing) */
	enum stall_kind kind;
	int fn_frame;		/* index in cap.stack of the callback's / coroutine's frame; -1 */
	uint64_t task;		/* STALL_TASK: the task, 0 if not found */
	char task_name[STALL_NAME_MAX], coro[STALL_NAME_MAX];
	struct blocked_capture cap;
};

#define STALL_MAX_PENDING 16

struct loop_stall_watch {
	struct loop_session *s;
	uint64_t threshold;
	struct loop_stall pending[STALL_MAX_PENDING];
	uint64_t reported, missed_stacks;
	void (*on_stall)(void *ctx, const struct loop_stall *st);
	void *ctx;
};

void loop_stall_init(struct loop_stall_watch *w, struct loop_session *s, uint64_t threshold,
		     void (*on_stall)(void *ctx, const struct loop_stall *st), void *ctx);
/*
 * A record of a session watched by w (a loop_event_fn, ctx the watch):
 * a span record reports the stall it ends.
 */
int loop_stall_record(void *w, const void *data, size_t len);
/*
 * The start of a loop-mode command: s on o->pid (o's verbose and poll hook;
 * spans from o->threshold; a look every threshold/4, 1 to 20 ms), w on its
 * stalls, SIGINT/SIGTERM stop it (session_stop), SIGPIPE is ignored; then
 * the session opens with fn(ctx) (NULL: loop_stall_record). 0, or -errno
 * printed.
 */
struct loop_opts;
int loop_stall_start(struct loop_stall_watch *w, struct loop_session *s, const struct loop_opts *o,
		     unsigned flags, void (*on_stall)(void *ctx, const struct loop_stall *st),
		     loop_event_fn fn, void *ctx);
/* Look at every loop thread now (call every threshold/4 or so). */
void loop_stall_look(struct loop_stall_watch *w);
/* A span record: reports the stall it ends, if it is one. */
void loop_stall_span(struct loop_stall_watch *w, const struct aps_ev_loop_span *e);
/* Watching stops: report stalls still running. */
void loop_stall_finish(struct loop_stall_watch *w, uint64_t now);
/* Which code ran, from a stack read during the stall (innermost first):
 * the frame index of the callback's or coroutine's function, or -1. */
int loop_stall_dispatch_frame(const struct thread_stack *st);
/* Text block or a JSON line. */
void loop_stall_print(FILE *out, bool json, const struct loop_stall *st);

/*
 * Stalls beside step mode: the loop probes loaded next to the step tracer
 * (no sampler), polled from its tick. on_stall hears every stall; step mode
 * reports those that are not task steps (kind != STALL_TASK).
 */
struct loop_side {
	struct loop_session s;
	struct loop_stall_watch w;
	bool open;
};

int loop_side_open(struct loop_side *ls, pid_t pid, uint64_t threshold, bool verbose,
		   void (*on_stall)(void *ctx, const struct loop_stall *st), void *ctx);
void loop_side_tick(struct loop_side *ls);
/* Drain, report the stalls still running, unload. */
void loop_side_close(struct loop_side *ls);

#endif
