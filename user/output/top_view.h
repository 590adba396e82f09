/* SPDX-License-Identifier: MIT */
/* Rendering `top` snapshots from the model and the stats: text or JSON. */
#ifndef APS_TOP_VIEW_H
#define APS_TOP_VIEW_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include "model/model.h"
#include "model/stats.h"

enum top_sort { SORT_BUSY, SORT_MAX, SORT_STEPS, SORT_AGE, SORT_WAITING };

struct top_view {
	pid_t pid;
	char interp[64];
	bool json, by_coro;
	enum top_sort sort;
	unsigned limit;		/* rows of tasks/coroutines; 0 = all (batch) */
	unsigned rows, cols;	/* terminal size; 0 = not a terminal */
	uint64_t lost_events;
};

void top_view_init(struct top_view *v);
/* 'b' 'm' 's' 'a' 'w' -> sort; -EINVAL for other keys. */
int top_view_sort_key(char key, enum top_sort *s);
int top_view_sort_name(const char *name, enum top_sort *s);
/* A sparkline of a histogram over 1us..10s in 8 log bins (UTF-8 blocks). */
const char *top_view_sparkline(const struct hist *h, char *buf, size_t len);
void top_view_draw(FILE *out, const struct top_view *v, struct model *m, struct stats *st,
		uint64_t now);

#endif
