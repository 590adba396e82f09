/* SPDX-License-Identifier: MIT */
/*
 * The loop-mode top report, live (`top --mode loop`) or from a recording
 * (`replay FILE top`): each loop thread's busy %, stalls and where they
 * stalled, CPU % per task, coroutine and callback from samples, tasks by
 * state from the last task read. One renderer, text or a JSON line.
 */
#ifndef APS_LOOP_TOP_VIEW_H
#define APS_LOOP_TOP_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "loop/loop_stall.h"
#include "util/u64_map.h"

#define LTV_MAX_ROWS 4096
#define LTV_MAX_THREADS 64

struct ltv_row {
	char name[160];
	uint64_t task;
	uint64_t samples;	/* or stalls, for the stall rows */
};

struct ltv_rows {
	struct ltv_row *r;	/* LTV_MAX_ROWS */
	uint32_t n;
	struct u64_map idx;	/* key -> index */
};

struct ltv_thread {
	uint32_t tid;
	double busy_pct;	/* < 0: not known yet */
	uint64_t polls;
};

struct loop_top_report {
	int pid;
	double secs;
	unsigned hz;
	struct ltv_thread threads[LTV_MAX_THREADS];
	uint32_t nthreads;
	uint64_t stalls, stalls_total;
	char last_stall[400];
	uint64_t samples, lost_samples, other;
	struct ltv_rows tasks, coros, callbacks, stalled_in;
	bool have_snap;
	uint32_t states[3];	/* pending, cancelled, finished */
	double snapshot_ms;
	bool replay;		/* from a recording */
};

int ltv_rows_init(struct ltv_rows *rs);
void ltv_rows_free(struct ltv_rows *rs);
/* One more for key (first seen: named name, of task). */
void ltv_rows_add(struct ltv_rows *rs, uint64_t key, const char *name, uint64_t task);
void ltv_rows_reset(struct ltv_rows *rs);
/* A key for rows keyed by a name. */
uint64_t ltv_name_key(const char *s);
/* A stall into the report: counts, where it stalled, the last one. */
void loop_top_stall(struct loop_top_report *t, const struct loop_stall *st);
void loop_top_view_print(FILE *out, bool json, struct loop_top_report *t);

#endif
