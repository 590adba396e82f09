/* SPDX-License-Identifier: MIT */
/*
 * The TASKS record: every task alive in the target, read from its memory
 * (user/memory/snapshot.h) at attach and then periodically while recording, so a
 * replay can show ps/pstree at an instant with the coroutine stacks and
 * edges that events alone do not carry (docs/recording-format.md, "Tasks").
 */
#ifndef APS_REC_TASKS_H
#define APS_REC_TASKS_H

#include <stddef.h>
#include <stdint.h>
#include "recording/rec_model.h"
#include "memory/snapshot.h"

#define REC_TASKS_ATTACH 1	/* flags: the read made when the recording began */
#define REC_TASKS_TIDS 2	/* snapshot.tids */

/* A decoded TASKS record: the snapshot, and what it owns. */
struct rec_tasks {
	uint64_t t0, t1;	/* CLOCK_MONOTONIC: the read began, ended */
	uint32_t flags;
	struct snapshot snap;	/* frames point into strs */
	char **strs;
	uint32_t nstrs;
};

/* Append the body of a TASKS record for s, read over [t0, t1], to b. 0 or -ENOMEM. */
int rec_tasks_encode(const struct snapshot *s, uint64_t t0, uint64_t t1, uint32_t flags,
		     struct rec_buf *b);
/* Decode a body; 0, -1 if malformed, -ENOMEM. Free with rec_tasks_free() either way. */
int rec_tasks_decode(const uint8_t *body, size_t len, struct rec_tasks *out);
void rec_tasks_free(struct rec_tasks *t);
/* The times of a body without decoding it: 0, or -1 if malformed. */
int rec_tasks_times(const uint8_t *body, size_t len, uint64_t *t0, uint64_t *t1);

#endif
