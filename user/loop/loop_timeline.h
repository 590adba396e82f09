/* SPDX-License-Identifier: MIT */
/*
 * What an address meant when, in a recording: the target reuses the
 * memory of a finished task (or coroutine) for a new one, so a sample's
 * task address is named by the task read nearest in time that saw that
 * address, not by the last one. Per key, intervals [first, last] of one
 * value, in time order (the reads are added in order); bounded.
 */
#ifndef APS_LOOP_TIMELINE_H
#define APS_LOOP_TIMELINE_H

#include <stdbool.h>
#include <stdint.h>
#include "util/u64_map.h"

#define TIMELINE_MAX 1000000

struct tl_span {
	uint64_t first, last, val;
	uint32_t prev;		/* the key's span before, or UINT32_MAX */
};

struct loop_timeline {
	struct u64_map last;	/* key -> its latest span */
	struct tl_span *s;
	uint32_t n, cap;
};

void loop_timeline_free(struct loop_timeline *t);
/* key had val from first to last (its latest span grows if val is the same). */
int loop_timeline_add(struct loop_timeline *t, uint64_t key, uint64_t first, uint64_t last,
		      uint64_t val);
/*
 * The value of key at ts: the span holding ts, else (nearest) the span
 * nearest in time, or (after) the first span beginning at or after ts.
 * false if none.
 */
bool loop_timeline_at(const struct loop_timeline *t, uint64_t key, uint64_t ts, bool after,
		      uint64_t *val);

#endif
