/* SPDX-License-Identifier: MIT */
/* `trace` output: one line per event, as text or JSON (docs/trace-json.md). */
#ifndef APS_TRACE_VIEW_H
#define APS_TRACE_VIEW_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include "model/model.h"

#define TID_CACHE 64

struct trace_view {
	FILE *out;
	bool json;
	pid_t pid;
	uint64_t t0;			/* ts of the attach, for relative text times */
	struct model model;
	uint64_t last_lost;
	struct { uint32_t tid, ns_tid; } tids[TID_CACHE];
	unsigned ntids;
	/* called once with the first task seen, to validate the layout */
	int (*on_first_task)(void *ctx, uint64_t task);
	void *first_task_ctx;
	bool first_task_checked;
	unsigned layout_checks;
	int fatal;			/* non-zero: stop (layout mismatch) */
};

int trace_view_init(struct trace_view *p, FILE *out, bool json, pid_t pid);
void trace_view_free(struct trace_view *p);
/* Ring-buffer callback. */
int trace_view_event(void *ctx, const void *data, size_t len);
void trace_view_lost(struct trace_view *p, uint64_t lost_total, uint64_t ts);
/* Close steps still open at the end (boundary "exit") and print the summary. */
struct prog_stat;
void trace_view_finish(struct trace_view *p, const char *reason, uint64_t ts,
			  uint64_t lost, uint64_t read_errors,
			  const struct prog_stat *stats, int nstats);

#endif
