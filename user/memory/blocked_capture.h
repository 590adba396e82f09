/* SPDX-License-Identifier: MIT */
/*
 * A step that blocks the event loop, caught while it still runs: the
 * thread's Python stack with source lines and its kernel wait state, taken
 * the moment the step crossed the threshold; and the report printed when
 * the step ends. Shared by `blocked`, `record --blocked` and `replay blocked`.
 */
#ifndef APS_BLOCKED_CAPTURE_H
#define APS_BLOCKED_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "memory/thread_stack.h"

#define BLOCKED_SRC_MAX 200

struct blocked_capture {
	uint32_t tid;			/* kernel tid */
	uint32_t ns_tid;		/* as the target sees it */
	uint64_t task, begin_ts, crossed_ts;
	struct thread_stack stack;
	int stack_err;			/* 0, or -errno: unreadable */
	char state;			/* scheduler state then: R running, S sleeping... */
	char wchan[64];			/* where the kernel had it waiting, if it was */
	char src[STACK_MAX_FRAMES][BLOCKED_SRC_MAX];	/* each frame's source line, or "" */
};

/* Take the stack of tid (kernel tid) of pid now, in the step begun at begin_ts. */
void blocked_capture_take(struct thread_stack_reader *rd, pid_t pid, uint32_t tid, uint64_t task,
			  uint64_t begin_ts, uint64_t now, struct blocked_capture *b);

/* One blocking step, as reported. */
struct blocked_report {
	uint64_t begin_ts, duration_ns, task;
	uint32_t tid, ns_tid;		/* host tid; the target's own */
	const char *name, *coro;	/* NULL: unknown */
	bool ended;			/* false: still running when the trace ended */
};

/* A text block or a JSON line; b NULL: no stack was taken. */
void blocked_print(FILE *out, bool json, const struct blocked_report *r,
		   const struct blocked_capture *b);

/* Just the stack part: text lines, or `,"stack":[...]` and the wait state. */
void blocked_print_stack(FILE *out, bool json, const struct blocked_capture *b);

#endif
