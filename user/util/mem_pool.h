/* SPDX-License-Identifier: MIT */
/*
 * Many small allocations carved from large chunks and freed all at once:
 * no malloc (nor its overhead) per string or array.
 */
#ifndef APS_MEM_POOL_H
#define APS_MEM_POOL_H

#include <stddef.h>

#define MEM_POOL_CHUNK 65536

struct mem_pool {
	char **chunks;
	size_t n, cap;		/* chunks */
	size_t used;		/* bytes used in the last chunk */
};

/* size bytes (8-byte aligned, at most MEM_POOL_CHUNK), zeroed; NULL: no memory. */
void *mem_pool_alloc(struct mem_pool *p, size_t size);
/* A copy of s; NULL when out of memory or longer than a chunk. */
const char *mem_pool_strdup(struct mem_pool *p, const char *s);
void mem_pool_free(struct mem_pool *p);

#endif
