/* SPDX-License-Identifier: MIT */
/*
 * `record --mode loop` (and `record --flight`, loop mode by default): no
 * uprobe. Records each loop thread's busy spans (poll return -> next poll
 * entry), loop stalls with the stack read while stalled, the sampler's
 * samples (thread, task, symbolised frames through a per-segment frame
 * table) and periodic task reads (TASKS records), to a file or the flight
 * recorder's window. Lost samples and spans are counted and recorded.
 */
#ifndef APS_LOOP_RECORD_H
#define APS_LOOP_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include "live/session.h"
#include "loop/loop_tracer.h"
#include "recording/recorder.h"

struct loop_record_opts {
	unsigned hz;			/* 0: LOOP_DEFAULT_HZ */
	uint64_t min_span;		/* spans shorter are not recorded (0: all) */
	enum loop_poll_hook hook;
	bool verbose;
};

/*
 * The whole command after option parsing: s is a spawned child (spawn) or
 * holds the pid; fd the file (-1 with --flight), committed by commit(ctx)
 * once recording started. The exit code; *why: how the session ended.
 */
int loop_record_run(struct session *s, bool spawn, const struct recorder_opts *o,
		    const struct loop_record_opts *lo, int fd, unsigned duration_ms,
		    int (*commit)(void *ctx), void *commit_ctx, int *why);

#endif
