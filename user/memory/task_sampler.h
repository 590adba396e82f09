/* SPDX-License-Identifier: MIT */
/*
 * Reading every task from the target's memory (snapshot_take) on a thread
 * of its own, so a recorder keeps draining the ring buffer while a big
 * process is read. One read at a time; the caller polls for it.
 */
#ifndef APS_TASK_SAMPLER_H
#define APS_TASK_SAMPLER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "target/interp.h"
#include "target/layout.h"
#include "memory/snapshot.h"

struct task_sampler {
	const struct interp *ip;
	const struct py_layout *l;
	pthread_t thread;
	bool running;			/* a read was started and not yet collected */
	atomic_bool done;		/* the thread finished it */
	/* the result, valid once done */
	struct snapshot snap;
	int err;
	char errmsg[256];
	uint64_t t0, t1;		/* CLOCK_MONOTONIC: the read began, ended */
};

void task_sampler_init(struct task_sampler *s, const struct interp *ip, const struct py_layout *l);
/* Start a read now. -EBUSY if one runs, or -errno. */
int task_sampler_start(struct task_sampler *s);
/*
 * 1 if a read finished: s->snap (the caller frees it with snapshot_free),
 * s->err, s->t0, s->t1; 0 if none finished. wait: block until it does.
 */
int task_sampler_collect(struct task_sampler *s, bool wait);

#endif
