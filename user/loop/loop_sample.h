/* SPDX-License-Identifier: MIT */
/*
 * A sample from the loop sampler (APS_EV_SAMPLE), checked and decoded:
 * the thread, on/off CPU, whether its loop was busy, the running task (3.14:
 * the thread state's; 3.10-3.13: set by the caller from the coroutine), and
 * its Python frames as code object + instruction offset, innermost first,
 * entry frames dropped. A profiler symbolises them with
 * thread_stack_symbolize() and attributes them with the task table.
 */
#ifndef APS_LOOP_SAMPLE_H
#define APS_LOOP_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "aps_events.h"
#include "memory/thread_stack.h"

struct loop_sample_frame {
	uint64_t code;		/* PyCodeObject * in the target */
	uint32_t instr;		/* byte offset of the instruction */
	bool in_generator;	/* the frame runs a coroutine / generator */
};

struct loop_sample {
	uint32_t pid, tid;	/* kernel ids */
	uint64_t ts;		/* CLOCK_MONOTONIC ns */
	bool on_cpu, loop_busy, truncated, no_tstate;
	uint64_t busy_since;	/* loop_busy: the poll returned then */
	uint64_t task;		/* running task; 0: none known */
	uint64_t coro;		/* outermost coroutine/generator on the stack; 0: none */
	uint32_t nframes;
	struct loop_sample_frame f[APS_SAMPLE_MAX_FRAMES];
};

/* Check and decode one record (minor: the target's 3.x); 0 or -EINVAL. */
int loop_sample_decode(const void *data, size_t len, int minor, struct loop_sample *out);
/* Name, file and line of each frame (unreadable code objects left out);
 * gen: 0 for a plain frame, else non-zero (the outermost: s->coro). */
void loop_sample_symbolize(struct thread_stack_reader *r, const struct loop_sample *s,
			   struct thread_stack *out);

#endif
