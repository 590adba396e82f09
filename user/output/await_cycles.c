// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "output/task_view.h"

/* ---- cycles ---------------------------------------------------------------- */

void await_cycles_free(struct await_cycles *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		free(c->path[i]);
	free(c->path);
	free(c->len);
	memset(c, 0, sizeof(*c));
}

static int add_cycle(struct await_cycles *c, const uint32_t *path, uint32_t from, uint32_t to,
		     uint32_t back)
{
	uint32_t n = to - from + 1;
	uint32_t **pv;
	uint32_t *lv;

	if (c->n >= 1000)	/* enough to show */
		return 0;
	pv = realloc(c->path, (c->n + 1) * sizeof(*pv));
	if (!pv)
		return -ENOMEM;
	c->path = pv;
	lv = realloc(c->len, (c->n + 1) * sizeof(*lv));
	if (!lv)
		return -ENOMEM;
	c->len = lv;
	c->path[c->n] = malloc((n + 1) * sizeof(uint32_t));
	if (!c->path[c->n])
		return -ENOMEM;
	memcpy(c->path[c->n], path + from, n * sizeof(uint32_t));
	c->path[c->n][n] = back;
	c->len[c->n++] = n + 1;
	return 0;
}

/* Iterative DFS with white/grey/black colours (3.14's _find_cycles), over
 * awaiter -> awaited task edges. */
int await_cycles_find(const struct snapshot *s, struct await_cycles *out)
{
	uint32_t n = s->ntasks, *first = NULL, *kids = NULL, *fill = NULL, *path = NULL,
		 *next = NULL, *pos = NULL;
	uint8_t *colour = NULL;
	size_t nedges = 0;
	int err = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!n)
		return 0;
	for (uint32_t c = 0; c < n; c++)
		nedges += s->tasks[c].nawaiters;
	/* children lists, parent (awaiter) -> child (awaited): parent p's
	 * children are kids[first[p]] to kids[first[p + 1] - 1] */
	first = calloc((size_t)n + 1, sizeof(*first));
	kids = malloc((nedges ? nedges : 1) * sizeof(*kids));
	fill = calloc(n, sizeof(*fill));
	colour = calloc(n, 1);
	path = calloc(n, sizeof(*path));
	next = calloc(n, sizeof(*next));
	pos = calloc(n, sizeof(*pos));
	if (!first || !kids || !fill || !colour || !path || !next || !pos)
		goto cleanup;
	for (uint32_t c = 0; c < n; c++)
		for (uint32_t k = 0; k < s->tasks[c].nawaiters; k++) {
			int32_t p = s->tasks[c].awaiters[k].task;

			if (p >= 0 && (uint32_t)p < n)
				first[p + 1]++;
		}
	for (uint32_t p = 0; p < n; p++)
		first[p + 1] += first[p];
	for (uint32_t c = 0; c < n; c++)
		for (uint32_t k = 0; k < s->tasks[c].nawaiters; k++) {
			int32_t p = s->tasks[c].awaiters[k].task;

			if (p >= 0 && (uint32_t)p < n)
				kids[first[p] + fill[p]++] = c;
		}
	for (uint32_t root = 0; root < n; root++) {
		uint32_t depth = 0;

		if (colour[root])
			continue;
		path[depth] = root;
		next[depth] = 0;
		pos[root] = depth;
		colour[root] = 1;
		depth = 1;
		while (depth) {
			uint32_t v = path[depth - 1];

			if (next[depth - 1] < first[v + 1] - first[v]) {
				uint32_t w = kids[first[v] + next[depth - 1]++];

				if (colour[w] == 0) {
					colour[w] = 1;
					pos[w] = depth;
					path[depth] = w;
					next[depth] = 0;
					depth++;
				} else if (colour[w] == 1) {
					err = add_cycle(out, path, pos[w], depth - 1, w);
					if (err)
						goto cleanup;
				}
			} else {
				colour[v] = 2;
				depth--;
			}
		}
	}
	err = 0;
cleanup:
	free(first);
	free(kids);
	free(fill);
	free(colour);
	free(path);
	free(next);
	free(pos);
	if (err)
		await_cycles_free(out);
	return err;
}
