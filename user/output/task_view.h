/* SPDX-License-Identifier: MIT */
/*
 * `ps` and `pstree` from a snapshot (and, with --watch, the model's
 * timing): the rows and the tree that Python 3.14's `python -m asyncio
 * ps|pstree` prints, plus state and durations, in linear size.
 */
#ifndef APS_TASK_VIEW_H
#define APS_TASK_VIEW_H

#include <stdbool.h>
#include <stdio.h>
#include "model/model.h"
#include "memory/snapshot.h"

enum task_view_format { VIEW_TABLE, VIEW_CSV, VIEW_JSON };

/* --format ARG of ps (table, csv, json) or pstree (text, json); -EINVAL if not one. */
int task_view_parse_format(const char *arg, bool tree, enum task_view_format *f);

/*
 * What is known of a task besides the snapshot: from the agent's history
 * (user/agent/) or from the timer of the asyncio.sleep it is in.
 */
struct task_extra {
	int64_t age_ns, wait_ns;	/* -1: unknown */
	bool age_lower, wait_lower;	/* "since first seen": lower bounds (shown >=) */
	int64_t sleep_left_ns;		/* in asyncio.sleep: until its timer fires; -1: not */
	uint32_t child_tasks;		/* tasks it awaits (TaskGroup, gather) */
};

struct task_view_opts {
	enum task_view_format format;
	uint64_t now;			/* CLOCK_MONOTONIC, for ages */
	const struct model *timing;	/* NULL: no --watch, nothing timed */
	const struct task_extra *extra;	/* per snapshot task, or NULL */
	unsigned collapse;		/* pstree: fold >= this many alike siblings; 0 off */
	uint64_t stuck_ns;		/* pstree --stuck: mark leaves waiting longer; 0 off */
	uint32_t stuck;			/* out: leaves so marked */
};

/* Cycles of the task await graph, as index paths (first == last). */
struct await_cycles {
	uint32_t n;
	uint32_t *len;
	uint32_t **path;
};

int await_cycles_find(const struct snapshot *s, struct await_cycles *out);
void await_cycles_free(struct await_cycles *c);

void ps_view(FILE *out, const struct snapshot *s, const struct task_view_opts *o);
/* Returns the number of cycles found (printed in a deadlock section). */
int pstree_view(FILE *out, const struct snapshot *s, const struct task_view_opts *o);

/* "func file:line", as 3.14's _format_stack_entry. */
void task_view_frame_label(const struct snap_frame *f, char *buf, size_t len);

/* ---- shared by ps_view.c and pstree_view.c ---- */

const struct task *task_view_timing_of(const struct task_view_opts *o, const struct snap_task *t);
const char *task_view_state_of(const struct task_view_opts *o, const struct snap_task *t);
/* age / waiting in ns, or -1 when not known (never invented); *lower: a
 * lower bound (the agent saw the task first, not its start). s may be NULL:
 * then only the watched model counts. */
int64_t task_view_age_of(const struct task_view_opts *o, const struct snapshot *s,
			 const struct snap_task *t, bool *lower);
int64_t task_view_waiting_of(const struct task_view_opts *o, const struct snapshot *s,
			     const struct snap_task *t, bool *lower);
const struct task_extra *task_view_extra_of(const struct task_view_opts *o,
					    const struct snapshot *s, const struct snap_task *t);
/* "12.4s", "\u226512.4s" for a lower bound, "?" when unknown */
const char *task_view_fmt_bound(int64_t ns, bool lower, char *buf, size_t len);
/* ,"age_ns":..,"age_lower_bound":..,"waiting_ns":..,... */
void task_view_json_bounds(FILE *out, const struct task_view_opts *o, const struct snapshot *s,
			   const struct snap_task *t);
void task_view_json_opt_ns(FILE *out, const char *key, int64_t v);

#endif
