/* SPDX-License-Identifier: MIT */
/*
 * user/loop/: loop mode: poll boundaries and a perf-event sampler, no uprobe;
 * loop stalls, samples and the loop-mode halves of blocked, check and top.
 *
 * One target in loop mode: find its interpreter and layout, load the loop
 * probes (no uprobe), keep the sampler's thread-state map current, and run
 * the poll loop. The commands' loop-mode halves build on it.
 */
#ifndef APS_LOOP_SESSION_H
#define APS_LOOP_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "loop/loop_tracer.h"
#include "memory/thread_stack.h"
#include "target/interp.h"
#include "target/layout.h"

#define LOOP_DEFAULT_HZ 99

struct loop_session {
	pid_t pid;
	uint64_t start_time;
	bool verbose;
	bool quiet;			/* no "attached" line */
	enum loop_poll_hook hook;	/* asked for */
	unsigned hz;			/* sampler rate; 0: no sampler */
	uint32_t flags;			/* APS_LOOP_* */
	uint64_t span_min_ns;
	struct interp ip;
	struct py_layout layout;
	struct aps_loop_target cfg;
	struct loop_tracer *lt;
	struct thread_stack_reader *reader;	/* heap: large */
	uint64_t last_sync_ns;
	int poll_ms;			/* tick period; 0: 100 */
	void (*on_tick)(struct loop_session *s, void *ctx);
	void *tick_ctx;
	char err[2048];
};

/* The frame-walk part of the BPF config for ip/l; 0 or -EPROTONOSUPPORT. */
int loop_target_config(const struct interp *ip, const struct py_layout *l,
		       struct aps_loop_target *cfg);
/* Detect, load, attach; 0 or -errno with s->err. */
int loop_session_open(struct loop_session *s, loop_event_fn fn, void *ctx);
/* Thread states -> tstates map (new threads), dead threads dropped. */
void loop_session_sync_threads(struct loop_session *s);
/* Poll until session_stop, duration_ms (0: none) or the target exits; a
 * session_end value. */
int loop_session_run(struct loop_session *s, unsigned duration_ms);
void loop_session_close(struct loop_session *s);

#endif
