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

struct task_view_opts {
	enum task_view_format format;
	uint64_t now;			/* CLOCK_MONOTONIC, for ages */
	const struct model *timing;	/* NULL: no --watch, nothing timed */
	unsigned collapse;		/* pstree: fold >= this many alike siblings; 0 off */
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

#endif
