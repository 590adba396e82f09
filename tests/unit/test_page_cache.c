// SPDX-License-Identifier: MIT
/*
 * The page cache in front of mem_read(), on this very process's memory
 * (process_vm_readv on ourselves): same bytes and same errors as exact
 * reads, unmapped pages (made with mmap + munmap) failing only the reads
 * that touch them, reads at the end of a mapping, and what invalidation
 * and fresh reads see after the memory changed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"
#include "target/layout.h"
#include "memory/memread.h"
#include "memory/page_cache.h"
#include "memory/pyread.h"

#define NBLOCKS 4

static uint64_t A(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* NBLOCKS blocks, aligned to a block, filled with a pattern; pages may be unmapped. */
static uint8_t *region(void)
{
	size_t size = (NBLOCKS + 1) * (size_t)PC_BLOCK;
	uint8_t *raw = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *r;

	if (raw == MAP_FAILED)
		abort();
	r = (uint8_t *)(((uintptr_t)raw + PC_BLOCK - 1) & ~(uintptr_t)(PC_BLOCK - 1));
	for (size_t i = 0; i < NBLOCKS * (size_t)PC_BLOCK; i++)
		r[i] = (uint8_t)(i * 131 + (i >> 12) * 7);
	/* nothing mapped right before or after the blocks */
	if (r > raw)
		munmap(raw, (size_t)(r - raw));
	munmap(r + NBLOCKS * (size_t)PC_BLOCK, (size_t)(raw + size - (r + NBLOCKS * (size_t)PC_BLOCK)));
	return r;
}

static void unmap_page(uint8_t *r, unsigned page)
{
	munmap(r + (size_t)page * PC_PAGE, PC_PAGE);
}

/* A read through the cache gives what an exact read gives: status and bytes. */
static int same_as_exact(struct page_cache *c, uint64_t addr, size_t len)
{
	static uint8_t got[3 * PC_BLOCK], want[3 * PC_BLOCK];
	int rc = page_cache_read(c, addr, got, len), rc2 = mem_read(getpid(), addr, want, len);

	if (rc != rc2) {
		fprintf(stderr, "read of %zu at +%#llx: %d through the cache, %d exact\n", len,
			(unsigned long long)(addr % (4 * PC_BLOCK)), rc, rc2);
		return 0;
	}
	return rc || !memcmp(got, want, len);
}

TEST(cached_reads_equal_exact_reads)
{
	static const size_t lens[] = { 1, 7, 8, 100, 4095, 4096, 4097, 9000, PC_BLOCK,
				       PC_BLOCK + 1, 2 * PC_BLOCK };
	struct page_cache c;
	uint8_t *r = region();
	unsigned seed = 1;

	REQUIRE(page_cache_init(&c, getpid(), 8 * PC_BLOCK) == 0);
	for (int i = 0; i < 2000; i++) {
		size_t len = lens[(unsigned)rand_r(&seed) % (sizeof(lens) / sizeof(lens[0]))];
		size_t off = (unsigned)rand_r(&seed) % (NBLOCKS * (size_t)PC_BLOCK - len + 1);

		CHECK(same_as_exact(&c, A(r) + off, len));
	}
	/* across page and block boundaries, exactly */
	for (unsigned b = 1; b < NBLOCKS; b++)
		for (size_t len = 1; len <= 16; len++)
			CHECK(same_as_exact(&c, A(r) + (uint64_t)b * PC_BLOCK - 8, len));
	/* each block came in one call (plus the exact reads of more than a block) */
	CHECK(c.calls <= NBLOCKS + 2000);
	page_cache_free(&c);
	munmap(r, NBLOCKS * (size_t)PC_BLOCK);
}

TEST(a_block_is_one_call)
{
	struct page_cache c;
	uint8_t *r = region(), buf[64];

	REQUIRE(page_cache_init(&c, getpid(), 8 * PC_BLOCK) == 0);
	for (size_t off = 0; off + sizeof(buf) <= PC_BLOCK; off += 1000) {
		CHECK_EQ_INT(page_cache_read(&c, A(r) + off, buf, sizeof(buf)), 0);
		CHECK(!memcmp(buf, r + off, sizeof(buf)));
	}
	CHECK_EQ_INT(c.calls, 1);
	CHECK_EQ_INT(c.bytes, PC_BLOCK);
	page_cache_free(&c);
	munmap(r, NBLOCKS * (size_t)PC_BLOCK);
}

TEST(unmapped_pages_fail_only_the_reads_that_touch_them)
{
	/* holes: page 5 (inside block 0), page 16 (first of block 1), page 31 (last of block 1) */
	static const unsigned holes[] = { 5, 16, 31 };
	static const size_t lens[] = { 1, 8, 64, 4096, 5000, 8192 };
	struct page_cache c;
	uint8_t *r = region(), buf[16];

	for (size_t i = 0; i < sizeof(holes) / sizeof(holes[0]); i++)
		unmap_page(r, holes[i]);
	REQUIRE(page_cache_init(&c, getpid(), 8 * PC_BLOCK) == 0);
	/* a read right after a hole, in a block never read: from the cache */
	CHECK_EQ_INT(page_cache_read(&c, A(r) + 6 * PC_PAGE, buf, 8), 0);
	CHECK(!memcmp(buf, r + 6 * PC_PAGE, 8));
	/* around every hole, from the last bytes before it to the first after */
	for (size_t h = 0; h < sizeof(holes) / sizeof(holes[0]); h++) {
		uint64_t at = A(r) + (uint64_t)holes[h] * PC_PAGE;

		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			for (int64_t d = -(int64_t)lens[l] - 2; d <= (int64_t)PC_PAGE + 2; d += 509)
				CHECK(same_as_exact(&c, at + (uint64_t)d, lens[l]));
			CHECK(same_as_exact(&c, at - lens[l], lens[l]));	/* ends at the hole */
			CHECK(same_as_exact(&c, at + PC_PAGE, lens[l]));	/* starts after it */
			CHECK(same_as_exact(&c, at - 1, lens[l]));		/* one byte before */
		}
	}
	CHECK_EQ_INT(page_cache_read(&c, A(r) + 5 * PC_PAGE - 4, buf, 8), -EFAULT);
	CHECK_EQ_INT(page_cache_read(&c, A(r) + 5 * PC_PAGE - 8, buf, 8), 0);
	CHECK(!memcmp(buf, r + 5 * PC_PAGE - 8, 8));
	page_cache_free(&c);
	munmap(r, NBLOCKS * (size_t)PC_BLOCK);
}

TEST(reads_at_the_end_of_a_mapping)
{
	struct page_cache c;
	uint8_t *r = region(), buf[32];
	/* the mapping ends 3 pages into block 2: the rest of the block is unmapped */
	uint64_t end = A(r) + 2 * (uint64_t)PC_BLOCK + 3 * PC_PAGE;

	munmap(r + (end - A(r)), NBLOCKS * (size_t)PC_BLOCK - (end - A(r)));
	REQUIRE(page_cache_init(&c, getpid(), 8 * PC_BLOCK) == 0);
	CHECK_EQ_INT(page_cache_read(&c, end - 8, buf, 8), 0);
	CHECK(!memcmp(buf, r + (end - A(r)) - 8, 8));
	CHECK_EQ_INT(page_cache_read(&c, end - 8, buf, 9), -EFAULT);
	CHECK_EQ_INT(page_cache_read(&c, end, buf, 1), -EFAULT);
	for (size_t len = 1; len <= 32; len += 3)
		for (uint64_t a = end - 40; a < end + 8; a += 5)
			CHECK(same_as_exact(&c, a, len));
	/* an object that ends right at the mapping end, and one a byte longer */
	CHECK(same_as_exact(&c, end - 300, 300));
	CHECK(same_as_exact(&c, end - 300, 301));
	CHECK(same_as_exact(&c, end - PC_BLOCK, PC_BLOCK));
	page_cache_free(&c);
	munmap(r, end - A(r));
}

TEST(invalidation_and_fresh_reads_see_changes)
{
	struct pyreader pr;
	struct page_cache c;
	uint64_t *word = aligned_alloc(64, 4096), v = 0;

	REQUIRE(word != NULL);
	REQUIRE(page_cache_init(&c, getpid(), 8 * PC_BLOCK) == 0);
	pyread_init(&pr, getpid(), layout_table_lookup(3, 13), 1000);
	pr.cache = &c;
	*word = 1;
	CHECK_EQ_INT(pyread_ptr(&pr, A(word), &v), 0);
	CHECK_EQ_INT(v, 1);
	*word = 2;
	/* a cached read still sees what was fetched: a re-read agrees with it */
	CHECK_EQ_INT(pyread_ptr(&pr, A(word), &v), 0);
	CHECK_EQ_INT(v, 1);
	/* past the cache: what the memory holds now */
	CHECK_EQ_INT(pyread_read_fresh(&pr, A(word), &v, sizeof(v)), 0);
	CHECK_EQ_INT(v, 2);
	pr.fresh = true;
	*word = 3;
	CHECK_EQ_INT(pyread_ptr(&pr, A(word), &v), 0);
	CHECK_EQ_INT(v, 3);
	pr.fresh = false;
	CHECK_EQ_INT(pyread_ptr(&pr, A(word), &v), 0);
	CHECK_EQ_INT(v, 1);
	/* after invalidation: fetched again */
	pyread_refresh(&pr);
	CHECK_EQ_INT(pyread_ptr(&pr, A(word), &v), 0);
	CHECK_EQ_INT(v, 3);
	/* a torn object: its two halves in two blocks fetched at different times */
	{
		uint8_t *r = region();
		uint64_t pair[2], *lo = (uint64_t *)(r + PC_BLOCK - 8), *hi = (uint64_t *)(r + PC_BLOCK);

		*lo = 10;
		*hi = 10;
		CHECK_EQ_INT(pyread_ptr(&pr, A(hi), &v), 0);		/* block 1 fetched */
		*lo = 11;
		*hi = 11;
		CHECK_EQ_INT(pyread_read(&pr, A(lo), pair, sizeof(pair)), 0);	/* block 0 now */
		CHECK(pair[0] == 11 && pair[1] == 10);
		/* read again after invalidation, it no longer agrees: a check catches it */
		pyread_refresh(&pr);
		CHECK_EQ_INT(pyread_read(&pr, A(lo), pair, sizeof(pair)), 0);
		CHECK(pair[0] == 11 && pair[1] == 11);
		munmap(r, NBLOCKS * (size_t)PC_BLOCK);
	}
	CHECK_EQ_INT(pyread_calls(&pr), (int64_t)c.calls + 2);	/* the two fresh reads */
	page_cache_free(&c);
	free(word);
}

TEST(a_full_cache_forgets_and_goes_on)
{
	struct page_cache c;
	uint8_t *r = region(), buf[64];

	REQUIRE(page_cache_init(&c, getpid(), 1) == 0);	/* one block */
	CHECK_EQ_INT(c.max_blocks, 1);
	for (int i = 0; i < 10; i++) {
		size_t off = (size_t)(i % NBLOCKS) * PC_BLOCK + 100;

		CHECK_EQ_INT(page_cache_read(&c, A(r) + off, buf, sizeof(buf)), 0);
		CHECK(!memcmp(buf, r + off, sizeof(buf)));
	}
	CHECK_EQ_INT(c.calls, 10);
	/* a read over two blocks with room for one */
	CHECK(same_as_exact(&c, A(r) + PC_BLOCK - 10, 20));
	CHECK(same_as_exact(&c, A(r) + PC_BLOCK - 10, PC_BLOCK));
	page_cache_free(&c);
	munmap(r, NBLOCKS * (size_t)PC_BLOCK);
}

TEST(edges_null_empty_and_gone)
{
	struct page_cache c;
	uint8_t buf[8];
	pid_t child;
	int status;

	REQUIRE(page_cache_init(&c, getpid(), 8 * PC_BLOCK) == 0);
	CHECK_EQ_INT(page_cache_read(&c, 0, buf, 8), -EFAULT);
	CHECK_EQ_INT(page_cache_read(&c, A(buf), buf, 0), 0);
	CHECK_EQ_INT(page_cache_read(&c, UINT64_MAX - 4, buf, 8), -EFAULT);
	page_cache_free(&c);
	/* a process that is gone: the error of an exact read */
	child = fork();
	if (child == 0)
		_exit(0);
	REQUIRE(child > 0);
	waitpid(child, &status, 0);
	REQUIRE(page_cache_init(&c, child, 8 * PC_BLOCK) == 0);
	CHECK_EQ_INT(page_cache_read(&c, A(buf), buf, 8), -ESRCH);
	CHECK_EQ_INT(mem_read(child, A(buf), buf, 8), -ESRCH);
	page_cache_free(&c);
}

UNIT_MAIN()
