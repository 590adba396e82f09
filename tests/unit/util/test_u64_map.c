// SPDX-License-Identifier: MIT
/* The one hash map: puts, replaces, deletes, key 0, growth, reserve, clear. */
#include <errno.h>
#include "unit.h"
#include "util/u64_map.h"

TEST(put_get_replace_add)
{
	struct u64_map m = {};
	uint32_t v = 0;

	CHECK(!u64_map_get(&m, 5, &v));
	CHECK_EQ_INT(u64_map_put(&m, 5, 50), 0);
	CHECK(u64_map_get(&m, 5, &v));
	CHECK_EQ_INT(v, 50);
	CHECK_EQ_INT(u64_map_put(&m, 5, 51), 0);
	CHECK(u64_map_get(&m, 5, &v));
	CHECK_EQ_INT(v, 51);
	CHECK_EQ_INT(u64_map_add(&m, 5, 52), -EEXIST);
	CHECK(u64_map_get(&m, 5, &v));
	CHECK_EQ_INT(v, 51);
	CHECK_EQ_INT(m.n, 1);
	u64_map_free(&m);
}

TEST(key_zero_is_a_key)
{
	struct u64_map m = {};
	uint32_t v = 9;

	CHECK(!u64_map_get(&m, 0, &v));
	CHECK_EQ_INT(u64_map_add(&m, 0, 7), 0);
	CHECK(u64_map_get(&m, 0, &v));
	CHECK_EQ_INT(v, 7);
	u64_map_del(&m, 0);
	CHECK(!u64_map_get(&m, 0, NULL));
	u64_map_free(&m);
}

TEST(deletes_keep_probe_chains)
{
	struct u64_map m = {};
	uint32_t v;

	/* 1000 keys, every other one deleted: the rest are still found */
	for (uint64_t k = 1; k <= 1000; k++)
		REQUIRE(u64_map_put(&m, k * 64, (uint32_t)k) == 0);
	for (uint64_t k = 1; k <= 1000; k += 2)
		u64_map_del(&m, k * 64);
	CHECK_EQ_INT(m.n, 500);
	for (uint64_t k = 1; k <= 1000; k++) {
		bool there = u64_map_get(&m, k * 64, &v);

		CHECK(there == (k % 2 == 0));
		if (there)
			CHECK_EQ_INT(v, k);
	}
	/* churn: deleting and adding never grows a table of 500 live keys without bound */
	for (uint32_t round = 0; round < 20000; round++) {
		REQUIRE(u64_map_put(&m, 1000000 + round, round) == 0);
		u64_map_del(&m, 1000000 + round);
	}
	CHECK_EQ_INT(m.n, 500);
	CHECK(m.cap <= 4096);
	u64_map_free(&m);
}

TEST(grows_to_many_keys)
{
	struct u64_map m = {};
	uint32_t v;
	uint32_t bad = 0;

	for (uint32_t i = 0; i < 200000; i++)
		REQUIRE(u64_map_add(&m, 0x7f0000000000ull + (uint64_t)i * 16, i) == 0);
	for (uint32_t i = 0; i < 200000; i++)
		if (!u64_map_get(&m, 0x7f0000000000ull + (uint64_t)i * 16, &v) || v != i)
			bad++;
	CHECK_EQ_INT(bad, 0);
	CHECK(!u64_map_get(&m, 0x7f0000000008ull, NULL));
	CHECK_EQ_INT(m.n, 200000);
	CHECK((uint64_t)m.n * 2 <= m.cap);
	u64_map_free(&m);
}

TEST(reserve_then_no_growth_and_clear)
{
	struct u64_map m = {};
	uint32_t cap;

	REQUIRE(u64_map_reserve(&m, 512) == 0);
	cap = m.cap;
	CHECK_EQ_INT(cap, 1024);
	for (uint64_t k = 0; k < 512; k++)
		REQUIRE(u64_map_put(&m, k, 1) == 0);
	CHECK_EQ_INT(m.cap, cap);
	u64_map_clear(&m);
	CHECK_EQ_INT(m.n, 0);
	CHECK_EQ_INT(m.cap, cap);
	CHECK(!u64_map_get(&m, 3, NULL));
	CHECK_EQ_INT(u64_map_reserve(&m, (1u << 30) + 1), -ENOMEM);
	u64_map_free(&m);
	CHECK(m.s == NULL);
}

UNIT_MAIN()
