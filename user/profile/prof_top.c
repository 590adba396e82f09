// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "output/fmt.h"
#include "profile/prof_top.h"

struct row {
	uint32_t name, file;	/* string ids; file 0 for groups */
	uint64_t self, total, weight_ns;
	uint32_t last_stack;	/* +1: the stack last counted in total */
};

struct rows {
	struct row *v;
	uint32_t n;
	struct u64_map index;
};

static struct row *row_of(struct rows *r, uint32_t name, uint32_t file, uint32_t cap)
{
	uint64_t key = (uint64_t)name << 32 | file | 1ULL << 63;
	uint32_t i;

	if (u64_map_get(&r->index, key, &i))
		return &r->v[i];
	if (r->n == cap || u64_map_put(&r->index, key, (uint32_t)r->n))
		return NULL;
	r->v[r->n] = (struct row){ .name = name, .file = file };
	return &r->v[r->n++];
}

static const struct prof_agg *sort_agg;

static int cmp_row(const void *x, const void *y)
{
	const struct row *a = x, *b = y;

	if (a->self != b->self)
		return a->self < b->self ? 1 : -1;
	if (a->total != b->total)
		return a->total < b->total ? 1 : -1;
	return strcmp(sort_agg->strs[a->name], sort_agg->strs[b->name]);
}

static double pct(uint64_t n, uint64_t total)
{
	return total ? 100.0 * (double)n / (double)total : 0.0;
}

int prof_top_print(const struct prof_agg *a, FILE *out, const char *group_title, unsigned rows)
{
	struct rows groups = { 0 }, funcs = { 0 };
	char dur[32];
	int err = 0;

	groups.v = calloc(a->nstacks + 1, sizeof(*groups.v));
	funcs.v = calloc(a->nnodes + 1, sizeof(*funcs.v));
	if (!groups.v || !funcs.v) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (uint32_t i = 0; i < a->nstacks; i++) {
		const struct prof_stack *s = &a->stacks[i];
		struct row *g = row_of(&groups, s->group, 0, a->nstacks + 1);
		int leaf = -1;

		if (!g) {
			err = -ENOMEM;
			goto cleanup;
		}
		g->self += s->count;
		g->weight_ns += s->weight_ns;
		for (uint32_t k = 0; k < s->n; k++) {
			const struct prof_node *n = &a->nodes[a->ids[s->first + k]];
			struct row *f;

			if (n->kind != PROF_N_FRAME)
				continue;
			f = row_of(&funcs, n->name, n->file, a->nnodes + 1);
			if (!f) {
				err = -ENOMEM;
				goto cleanup;
			}
			if (f->last_stack != i + 1) {	/* recursion counts once */
				f->total += s->count;
				f->last_stack = i + 1;
			}
			leaf = (int)(f - funcs.v);
		}
		if (leaf >= 0) {
			funcs.v[leaf].self += s->count;
			funcs.v[leaf].weight_ns += s->weight_ns;
		}
	}
	sort_agg = a;
	qsort(groups.v, groups.n, sizeof(*groups.v), cmp_row);
	qsort(funcs.v, funcs.n, sizeof(*funcs.v), cmp_row);

	fprintf(out, "%10s %7s %10s  %s\n", "SAMPLES", "%", "TIME", group_title);
	for (uint32_t i = 0; i < groups.n && i < rows; i++) {
		const struct row *g = &groups.v[i];

		fprintf(out, "%10" PRIu64 " %6.1f%% %10s  %s\n", g->self, pct(g->self, a->count),
			fmt_dur(g->weight_ns, dur, sizeof(dur)), a->strs[g->name]);
	}
	if (groups.n > rows)
		fprintf(out, "%10s  (%u more)\n", "...", groups.n - rows);
	fprintf(out, "\n%10s %7s %10s %7s  %s\n", "SELF", "SELF%", "TOTAL", "TOTAL%", "FUNCTION");
	for (uint32_t i = 0; i < funcs.n && i < rows; i++) {
		const struct row *f = &funcs.v[i];

		fprintf(out, "%10" PRIu64 " %6.1f%% %10" PRIu64 " %6.1f%%  %s (%s)\n", f->self,
			pct(f->self, a->count), f->total, pct(f->total, a->count), a->strs[f->name],
			a->strs[f->file]);
	}
	if (funcs.n > rows)
		fprintf(out, "%10s  (%u more)\n", "...", funcs.n - rows);
	if (fflush(out))
		err = -EIO;
cleanup:
	free(groups.v);
	free(funcs.v);
	u64_map_free(&groups.index);
	u64_map_free(&funcs.index);
	return err;
}
