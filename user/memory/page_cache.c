// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include "memory/memread.h"
#include "memory/page_cache.h"

_Static_assert(PC_BLOCK_PAGES <= 32, "page bitmaps are 32 bits");

int page_cache_init(struct page_cache *c, pid_t pid, size_t max_bytes)
{
	size_t max = max_bytes / PC_BLOCK;
	void *data;

	memset(c, 0, sizeof(*c));
	if (max < 1)
		max = 1;
	if (max > (1u << 24))
		max = 1u << 24;
	c->pid = pid;
	c->max_blocks = (uint32_t)max;
	/* reserved, not committed: only what is read gets memory */
	data = mmap(NULL, max * PC_BLOCK, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	c->blocks = malloc(max * sizeof(*c->blocks));
	if (data == MAP_FAILED || !c->blocks || u64_map_reserve(&c->index, c->max_blocks)) {
		if (data != MAP_FAILED)
			munmap(data, max * PC_BLOCK);
		free(c->blocks);
		u64_map_free(&c->index);
		memset(c, 0, sizeof(*c));
		return -ENOMEM;
	}
	/* huge pages: a fault per 2 MiB filled, not per page */
	madvise(data, max * PC_BLOCK, MADV_HUGEPAGE);
	c->data = data;
	return 0;
}

void page_cache_free(struct page_cache *c)
{
	if (c->data)
		munmap(c->data, (size_t)c->max_blocks * PC_BLOCK);
	free(c->blocks);
	u64_map_free(&c->index);
	memset(c, 0, sizeof(*c));
}

void page_cache_invalidate(struct page_cache *c)
{
	c->nblocks = 0;
	c->last = NULL;
	u64_map_clear(&c->index);
}

/* The block of key, a new empty one if not cached (forgetting all when full). */
static struct pc_block *block_of(struct page_cache *c, uint64_t key)
{
	struct pc_block *b;
	uint32_t i;

	if (c->last && c->last->key == key)
		return c->last;
	if (u64_map_get(&c->index, key, &i))
		return c->last = &c->blocks[i];
	if (c->nblocks == c->max_blocks)
		page_cache_invalidate(c);
	if (u64_map_put(&c->index, key, c->nblocks))
		return NULL;	/* not expected: room for max_blocks is reserved */
	b = &c->blocks[c->nblocks++];
	b->key = key;
	b->valid = b->tried = 0;
	return c->last = b;
}

static uint8_t *data_of(const struct page_cache *c, const struct pc_block *b)
{
	return c->data + (size_t)(b - c->blocks) * PC_BLOCK;
}

/* Pages first..last of a block as a bitmap. */
static uint32_t pages(unsigned first, unsigned last)
{
	return (uint32_t)(((2ULL << last) - 1) & ~((1ULL << first) - 1));
}

/*
 * Fetch the untried pages of need: the run of untried pages from the first
 * of them, in one call. A page that fails is marked tried, not valid (the
 * pages after it stay untried). 0, or -errno when the target is unreadable
 * as a whole (gone: -ESRCH; not allowed: -EPERM).
 */
static int fetch(struct page_cache *c, struct pc_block *b, uint32_t need)
{
	uint32_t todo = need & ~b->tried;
	unsigned first, end;
	struct iovec local, remote;
	ssize_t n;
	size_t got;

	if (!todo)
		return 0;
	first = (unsigned)__builtin_ctz(todo);
	for (end = first; end < PC_BLOCK_PAGES && !(b->tried >> end & 1); end++)
		;
	local.iov_base = data_of(c, b) + (size_t)first * PC_PAGE;
	local.iov_len = (size_t)(end - first) * PC_PAGE;
	remote.iov_base = (void *)(uintptr_t)(b->key * PC_BLOCK + (uint64_t)first * PC_PAGE);
	remote.iov_len = local.iov_len;
	c->calls++;
	n = process_vm_readv(c->pid, &local, 1, &remote, 1, 0);
	if (n < 0 && errno != EFAULT)
		return -errno;
	got = n < 0 ? 0 : (size_t)n / PC_PAGE;
	c->bytes += got * PC_PAGE;
	if (got)
		b->valid |= pages(first, first + (unsigned)got - 1);
	b->tried |= pages(first, first + (unsigned)(got < end - first ? got : got - 1));
	return 0;
}

/* The read as mem_read() makes it: past the cache, exactly len bytes. */
static int exact(struct page_cache *c, uint64_t addr, void *buf, size_t len)
{
	c->calls++;
	return mem_read(c->pid, addr, buf, len);
}

int page_cache_read(struct page_cache *c, uint64_t addr, void *buf, size_t len)
{
	uint8_t *out = buf;
	uint64_t a = addr;
	size_t left = len;

	if (!addr)
		return -EFAULT;
	if (len > PC_BLOCK || addr + len < addr)
		return exact(c, addr, buf, len);
	while (left) {
		size_t off = a % PC_BLOCK;
		size_t n = left < PC_BLOCK - off ? left : PC_BLOCK - off;
		uint32_t need = pages((unsigned)(off / PC_PAGE), (unsigned)((off + n - 1) / PC_PAGE));
		struct pc_block *b = block_of(c, a / PC_BLOCK);

		if (!b)
			return exact(c, addr, buf, len);
		if ((b->valid & need) != need) {
			int err = fetch(c, b, need);

			if (err)
				return err;
			/* a page of it is unreadable: the whole read as without the cache */
			if ((b->valid & need) != need)
				return exact(c, addr, buf, len);
		}
		memcpy(out, data_of(c, b) + off, n);
		out += n;
		a += n;
		left -= n;
	}
	return 0;
}
