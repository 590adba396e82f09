/* SPDX-License-Identifier: MIT */
/*
 * The agent in loop mode (user/loop/): one loop tracer for the host, each
 * watched process added to its pid map. Per process: busy time per loop
 * thread (the tracer's thread map), a histogram of long busy spans, stalls
 * (with the stack read while stalled: a BLOCKED record in the flight
 * recorder, then a dump), and CPU samples per coroutine.
 */
#ifndef APS_AGENT_LOOP_H
#define APS_AGENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "loop/loop_session.h"
#include "loop/loop_stall.h"

struct agent;
struct agent_proc;

#define LOOP_HIST_BUCKETS 8		/* plus +Inf */
#define LOOP_CORO_MAX 128		/* coroutines counted per process; then "(other)" */

extern const double agent_loop_buckets[LOOP_HIST_BUCKETS];

struct loop_coro {
	uint64_t code;			/* 0: "(other)" or "(no coroutine)" */
	uint64_t samples;
	char name[160];
};

struct agent_proc_loop {
	bool on;
	struct loop_session ls;		/* lt shared; reader its own */
	struct loop_stall_watch *sw;	/* made at its first crossing of the threshold (650 KB) */
	bool stall_watch;
	uint64_t last_sync;
	/* busy spans >= the lowest bucket */
	uint64_t hist[LOOP_HIST_BUCKETS + 1];
	uint64_t spans;
	double span_sum;
	uint64_t stalls;		/* over --dump-on-stall, stack taken */
	uint64_t samples;
	struct loop_coro coros[LOOP_CORO_MAX];
	unsigned ncoros;
	uint64_t no_coro, other;	/* samples outside any coroutine, past the table */
};

/* Open the host's loop tracer (a message on failure: then no loop mode). */
int agent_loop_open(struct agent *a, char *err, size_t errlen);
void agent_loop_close(struct agent *a);
/* Add / remove a process. */
int agent_loop_add(struct agent *a, struct agent_proc *p);
void agent_loop_remove(struct agent *a, struct agent_proc *p);
/* Each main-loop turn: records, stall looks, thread sync. */
void agent_loop_tick(struct agent *a, uint64_t now);
/* The loop-mode metric families (caller holds a->lock). */
void agent_loop_metrics(struct agent *a, FILE *out,
			void (*labels)(FILE *out, const struct agent_proc *p));

#endif
