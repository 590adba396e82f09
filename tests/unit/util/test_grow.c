// SPDX-License-Identifier: MIT
/* The growable array (util/grow.h) and the binary search (util/search.h). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "unit.h"
#include "util/grow.h"
#include "util/search.h"

TEST(grow_doubles_from_first)
{
	uint64_t *v = NULL;
	uint32_t cap = 0;

	CHECK_EQ_INT(GROW(v, cap, 1, 16), 0);
	CHECK_EQ_INT(cap, 16);
	CHECK_EQ_INT(GROW(v, cap, 16, 16), 0);	/* fits: unchanged */
	CHECK_EQ_INT(cap, 16);
	CHECK_EQ_INT(GROW(v, cap, 17, 16), 0);
	CHECK_EQ_INT(cap, 32);
	CHECK_EQ_INT(GROW(v, cap, 1000, 16), 0);	/* doubles until it fits */
	CHECK_EQ_INT(cap, 1024);
	v[999] = 7;		/* under ASan: really that big */
	CHECK_EQ_INT(v[999], 7);
	free(v);
}

TEST(grow_refuses_past_the_capacity_type)
{
	uint8_t *v = NULL;
	uint8_t cap = 0;
	size_t big = 0;
	char *p = NULL;

	CHECK_EQ_INT(GROW(v, cap, 200, 16), -ENOMEM);	/* 256 does not fit a uint8_t */
	CHECK(v == NULL);
	CHECK_EQ_INT(cap, 0);
	CHECK_EQ_INT(GROW(v, cap, 128, 16), 0);
	CHECK_EQ_INT(cap, 128);
	CHECK_EQ_INT(GROW(v, cap, 129, 16), -ENOMEM);	/* unchanged on failure */
	CHECK_EQ_INT(cap, 128);
	CHECK(v != NULL);
	free(v);
	CHECK_EQ_INT(grow_array((void **)&p, &big, SIZE_MAX / 2 + 2, 8, 16, SIZE_MAX), -ENOMEM);
	CHECK(p == NULL);
	CHECK_EQ_INT(big, 0);
}

struct rec {
	uint32_t pad;
	uint64_t key;
};

TEST(search_finds_the_first_not_below)
{
	static const struct rec v[] = { { 0, 10 }, { 0, 20 }, { 0, 20 }, { 0, 30 } };
	size_t n = sizeof(v) / sizeof(v[0]);

	CHECK_EQ_INT(search_u64(v, n, sizeof(v[0]), offsetof(struct rec, key), 5), 0);
	CHECK_EQ_INT(search_u64(v, n, sizeof(v[0]), offsetof(struct rec, key), 10), 0);
	CHECK_EQ_INT(search_u64(v, n, sizeof(v[0]), offsetof(struct rec, key), 20), 1);
	CHECK_EQ_INT(search_u64(v, n, sizeof(v[0]), offsetof(struct rec, key), 21), 3);
	CHECK_EQ_INT(search_u64(v, n, sizeof(v[0]), offsetof(struct rec, key), 31), 4);
	CHECK_EQ_INT(search_u64(v, 0, sizeof(v[0]), offsetof(struct rec, key), 1), 0);
}

UNIT_MAIN()
