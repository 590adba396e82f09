// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>
#include "util/mem_pool.h"

static void *carve(struct mem_pool *p, size_t size, size_t align)
{
	size_t at = (p->used + align - 1) & ~(align - 1);
	char *chunk;

	if (size > MEM_POOL_CHUNK)
		return NULL;
	if (!p->n || at + size > MEM_POOL_CHUNK) {
		if (p->n == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 16;
			char **v = realloc(p->chunks, cap * sizeof(*v));

			if (!v)
				return NULL;
			p->chunks = v;
			p->cap = cap;
		}
		chunk = malloc(MEM_POOL_CHUNK);
		if (!chunk)
			return NULL;
		p->chunks[p->n++] = chunk;
		at = 0;
	}
	p->used = at + size;
	return p->chunks[p->n - 1] + at;
}

void *mem_pool_alloc(struct mem_pool *p, size_t size)
{
	void *v = carve(p, size, 8);

	if (v)
		memset(v, 0, size);
	return v;
}

const char *mem_pool_strdup(struct mem_pool *p, const char *s)
{
	size_t len = strlen(s) + 1;
	char *v = carve(p, len, 1);

	if (v)
		memcpy(v, s, len);
	return v;
}

void mem_pool_free(struct mem_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->chunks[i]);
	free(p->chunks);
	memset(p, 0, sizeof(*p));
}
