/* SPDX-License-Identifier: MIT */
/*
 * `ps` and `pstree` from a snapshot (and, with --watch, the model's
 * timing): the rows and the tree that Python 3.14's `python -m asyncio
 * ps|pstree` prints, plus state and durations, in linear size.
 */
#ifndef APS_TASK_VIEWS_H
#define APS_TASK_VIEWS_H

#include <stdbool.h>
#include <stdio.h>
#include "model/model.h"
#include "memory/snapshot.h"

enum view_format { VIEW_TABLE, VIEW_CSV, VIEW_JSON };

/* --format ARG of ps (table, csv, json) or pstree (text, json); -EINVAL if not one. */
int view_parse_format(const char *arg, bool tree, enum view_format *f);

struct view_opts {
	enum view_format format;
	uint64_t now;			/* CLOCK_MONOTONIC, for ages */
	const struct model *timing;	/* NULL: no --watch, nothing timed */
	unsigned collapse;		/* pstree: fold >= this many alike siblings; 0 off */
};

/* Cycles of the task await graph, as index paths (first == last). */
struct view_cycles {
	uint32_t n;
	uint32_t *len;
	uint32_t **path;
};

int views_find_cycles(const struct snapshot *s, struct view_cycles *out);
void views_cycles_free(struct view_cycles *c);

void view_ps(FILE *out, const struct snapshot *s, const struct view_opts *o);
/* Returns the number of cycles found (printed in a deadlock section). */
int view_pstree(FILE *out, const struct snapshot *s, const struct view_opts *o);

/* "func file:line", as 3.14's _format_stack_entry. */
void view_frame_label(const struct snap_frame *f, char *buf, size_t len);

#endif
