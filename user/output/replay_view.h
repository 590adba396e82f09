/* SPDX-License-Identifier: MIT */
/* `replay FILE ps|pstree|top|blocked`: the live views, computed from a recording. */
#ifndef APS_REPLAY_VIEW_H
#define APS_REPLAY_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "recording/rec_reader.h"
#include "output/task_view.h"
#include "output/top_view.h"

/* ps (tree false) or pstree at ts. 0 ok, 1 error, 3 a cycle with fail_on_cycle. */
int replay_view_tasks(const struct rec_reader *r, FILE *out, bool tree, uint64_t ts,
		      const struct task_view_opts *o, bool fail_on_cycle);
/* A top report over [from, to]; v: sort, by_coro, json. */
int replay_view_top(const struct rec_reader *r, FILE *out, struct top_view *v, uint64_t from,
		    uint64_t to);
/* The steps in [from, to] that ran threshold or longer, with stacks the recorder kept. */
int replay_view_blocked(const struct rec_reader *r, FILE *out, bool json, uint64_t threshold,
			uint64_t from, uint64_t to);
/* The end of the recorded data: the END record's time, else the last event's. */
uint64_t replay_view_end_ts(const struct rec_reader *r);

#endif
