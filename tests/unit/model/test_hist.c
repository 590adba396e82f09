// SPDX-License-Identifier: MIT
/* Log-linear histograms: bucket bounds, quantiles, merging. */
#include <stdint.h>
#include "unit.h"
#include "model/hist.h"

TEST(buckets_are_monotonic_and_contain_their_values)
{
	for (uint64_t v = 1; v < (1ull << 40); v = v * 3 / 2 + 1) {
		int i = hist_bucket(v);

		CHECK(i >= 0 && i < HIST_BUCKETS);
		CHECK(hist_bucket_low(i) <= v);
		if (i + 1 < HIST_BUCKETS)
			CHECK(v < hist_bucket_low(i + 1));
	}
	for (int i = 1; i < HIST_BUCKETS; i++)
		CHECK(hist_bucket_low(i) > hist_bucket_low(i - 1));
	/* the first power of two opens its own bucket */
	CHECK_EQ_INT(hist_bucket(255), 0);
	CHECK_EQ_INT(hist_bucket(256), 1);
	CHECK_EQ_INT(hist_bucket_low(1), 256);
}

TEST(quantiles_within_bucket_error)
{
	static struct hist h;
	uint64_t p50, p99;

	/* 1..1000 us, uniform */
	for (uint64_t us = 1; us <= 1000; us++)
		hist_add(&h, us * 1000);
	CHECK_EQ_INT(h.count, 1000);
	CHECK_EQ_INT(h.max, 1000000);
	CHECK_EQ_INT(h.sum, 500500000);
	p50 = hist_quantile(&h, 0.5);
	p99 = hist_quantile(&h, 0.99);
	CHECK(p50 > 500000 * 0.875 && p50 < 500000 * 1.125);
	CHECK(p99 > 990000 * 0.875 && p99 <= 1000000);
	CHECK_EQ_INT(hist_quantile(&h, 1.0), 1000000);
}

TEST(merge_and_huge_values)
{
	static struct hist a, b;

	hist_add(&a, 100);
	hist_add(&b, UINT64_MAX);
	hist_merge(&a, &b);
	CHECK_EQ_INT(a.count, 2);
	CHECK(a.max == UINT64_MAX);
	CHECK_EQ_INT(a.b[0], 1);
	CHECK_EQ_INT(a.b[HIST_BUCKETS - 1], 1);
	CHECK_EQ_INT(hist_quantile(&a, 0), 128);	/* bucket 0's midpoint */
}

UNIT_MAIN()
