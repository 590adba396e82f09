/* SPDX-License-Identifier: MIT */
/*
 * A cache of a target's memory for one snapshot, in front of mem_read():
 * whole pages, fetched a block (PC_BLOCK_PAGES aligned pages) per
 * process_vm_readv, so the objects next to the one read come with it.
 *
 * What it holds is only as fresh as its fetch. page_cache_invalidate()
 * forgets everything at once: reads after it see the memory as it is then
 * (a read that checks an earlier one goes after an invalidation, or past
 * the cache). A page that fails to read (unmapped) fails only the reads
 * that touch it, and those are made again exactly as mem_read() makes
 * them, so reads at the end of a mapping behave as without the cache.
 */
#ifndef APS_PAGE_CACHE_H
#define APS_PAGE_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "util/u64_map.h"

#define PC_PAGE 4096
#define PC_BLOCK_PAGES 8
#define PC_BLOCK (PC_PAGE * PC_BLOCK_PAGES)

struct pc_block {
	uint64_t key;		/* address / PC_BLOCK */
	uint32_t valid;		/* pages read (bit i: page i of the block) */
	uint32_t tried;		/* pages read or failed */
};

struct page_cache {
	pid_t pid;
	uint8_t *data;			/* max_blocks blocks of PC_BLOCK bytes */
	struct pc_block *blocks;
	struct u64_map index;		/* block number -> index in blocks */
	uint32_t max_blocks, nblocks;
	struct pc_block *last;		/* the block of the last read, or NULL */
	uint64_t calls;			/* process_vm_readv calls made */
	uint64_t bytes;			/* bytes they fetched */
};

/* Up to max_bytes of cache (at least one block); 0, or -ENOMEM. */
int page_cache_init(struct page_cache *c, pid_t pid, size_t max_bytes);
void page_cache_free(struct page_cache *c);
/* Forget all that was read: later reads fetch the memory again. */
void page_cache_invalidate(struct page_cache *c);
/* As mem_read(): 0 when all len bytes were read, else -errno. */
int page_cache_read(struct page_cache *c, uint64_t addr, void *buf, size_t len);

#endif
