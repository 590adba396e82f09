// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "profile/prof_folded.h"

#define NODE_TEXT 1024

struct line {
	char *text;
	uint64_t count;
};

static int cmp_line(const void *x, const void *y)
{
	return strcmp(((const struct line *)x)->text, ((const struct line *)y)->text);
}

/* The stack as `root;…;leaf` in a new string. */
static char *stack_text(const struct prof_agg *a, const struct prof_stack *s)
{
	char node[NODE_TEXT];
	size_t len = 0, cap = 256;
	char *p = malloc(cap);

	if (!p)
		return NULL;
	p[0] = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		size_t n;

		prof_node_text(a, &a->nodes[a->ids[s->first + i]], node, sizeof(node));
		n = strlen(node);
		while (len + n + 2 > cap) {
			char *q = realloc(p, cap *= 2);

			if (!q) {
				free(p);
				return NULL;
			}
			p = q;
		}
		if (i)
			p[len++] = ';';
		memcpy(p + len, node, n + 1);
		len += n;
	}
	return p;
}

int prof_folded_write(const struct prof_agg *a, FILE *out)
{
	struct line *lines = calloc(a->nstacks ? a->nstacks : 1, sizeof(*lines));
	uint32_t n = 0;
	int err = 0;

	if (!lines)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->nstacks; i++) {
		if (!a->stacks[i].n || !a->stacks[i].count)
			continue;
		lines[n].text = stack_text(a, &a->stacks[i]);
		if (!lines[n].text) {
			err = -ENOMEM;
			goto cleanup;
		}
		lines[n++].count = a->stacks[i].count;
	}
	qsort(lines, n, sizeof(*lines), cmp_line);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t count = lines[i].count;

		/* stacks told apart only by what the text leaves out: one line */
		while (i + 1 < n && !strcmp(lines[i].text, lines[i + 1].text))
			count += lines[++i].count;
		if (fprintf(out, "%s %" PRIu64 "\n", lines[i].text, count) < 0) {
			err = -EIO;
			goto cleanup;
		}
	}
	if (fflush(out))
		err = -EIO;
cleanup:
	for (uint32_t i = 0; i < n; i++)
		free(lines[i].text);
	free(lines);
	return err;
}
