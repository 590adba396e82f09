/* SPDX-License-Identifier: MIT */
/* Aggregates over the model's events: per coroutine function and per
 * thread (event loop), kept across task deaths. */
#ifndef APS_STATS_H
#define APS_STATS_H

#include <stdint.h>
#include "model/hist.h"
#include "model/model.h"

#define STATS_MAX_THREADS 256

struct coro_stat {
	char name[APS_NAME_MAX];
	uint64_t tasks, live, steps, busy_ns;
	struct hist h;
	bool used;
};

struct thread_stat {
	uint32_t tid;
	uint64_t steps, busy_ns;
	uint64_t last_steps, last_busy_ns;	/* at the previous stats_mark() */
	uint64_t live;				/* tasks whose last step ran here */
};

struct stats {
	struct coro_stat *coros;	/* open addressing by name */
	uint32_t coro_cap, ncoros;
	struct thread_stat threads[STATS_MAX_THREADS];
	int nthreads;
	uint64_t start_ts, mark_ts;
};

int stats_init(struct stats *st, uint64_t start_ts);
void stats_free(struct stats *st);
/* Feed every model event (after the model applied it). */
void stats_on_event(struct stats *st, const struct model_event *ev);
struct coro_stat *stats_coro(struct stats *st, const char *name);
struct thread_stat *stats_thread(struct stats *st, uint32_t tid);
/* Start a new rate interval (steps/s, loop busy fraction since the mark). */
void stats_mark(struct stats *st, uint64_t ts);

#endif
