/* SPDX-License-Identifier: MIT */
/*
 * What the agent has seen of one process's tasks, from its periodic task
 * snapshots (user/memory/snapshot.h): when each task was first seen, and
 * since when it has waited at the same point (the same coroutine frames
 * and lines). A task that appeared between two snapshots was created in
 * that interval: its creation time is known to half the interval ("seen");
 * a task already there at the first snapshot has a lower bound only.
 */
#ifndef APS_TASK_HIST_H
#define APS_TASK_HIST_H

#include <stdbool.h>
#include <stdint.h>
#include "memory/snapshot.h"
#include "util/u64_map.h"

#define TH_CREATED_SEEN 1	/* first_ns: its creation, within half a period */
#define TH_WAIT_SEEN 2		/* wait_ns: when it moved to this point, idem */

struct th_task {
	uint64_t addr;
	uint64_t sig;		/* name and outermost coroutine: tells a reused address */
	uint64_t wait_sig;	/* frames and lines */
	uint64_t first_ns;	/* CLOCK_MONOTONIC: created (TH_CREATED_SEEN) or first seen */
	uint64_t wait_ns;	/* at this point since (TH_WAIT_SEEN) or at least since */
	uint32_t gen;		/* the last snapshot that listed it */
	uint8_t flags;
	uint8_t state;		/* enum aps_fut_state */
};

struct task_hist {
	struct th_task *v;
	uint32_t n, cap;
	struct u64_map index;	/* addr -> index in v */
	uint32_t gen;		/* snapshots applied */
	uint64_t prev_t0;	/* the previous snapshot's start (0: none yet) */
	uint64_t created;	/* tasks that appeared after the first snapshot */
	uint64_t gone;		/* tasks no longer listed */
	uint32_t by_state[3];	/* tasks listed in the last snapshot, by enum aps_fut_state */
};

void task_hist_init(struct task_hist *h);
void task_hist_free(struct task_hist *h);
/* Apply a snapshot read over [t0, t1]. 0 or -ENOMEM. */
int task_hist_update(struct task_hist *h, const struct snapshot *s, uint64_t t0, uint64_t t1);
/* The process did not run since the last snapshot up to t: nothing appeared before t. */
void task_hist_idle(struct task_hist *h, uint64_t t);
/* The task at addr, or NULL. */
const struct th_task *task_hist_find(const struct task_hist *h, uint64_t addr);

#endif
