// SPDX-License-Identifier: MIT
#include "model/hist.h"

int hist_bucket(uint64_t v)
{
	int shift, sub;

	if (v < (1ull << HIST_MIN_SHIFT))
		return 0;
	shift = 63 - __builtin_clzll(v);
	if (shift > HIST_MAX_SHIFT)
		return HIST_BUCKETS - 1;
	sub = (int)((v >> (shift - 3)) & (HIST_SUB - 1));
	return 1 + (shift - HIST_MIN_SHIFT) * HIST_SUB + sub;
}

uint64_t hist_bucket_low(int i)
{
	int shift, sub;

	if (i <= 0)
		return 0;
	shift = (i - 1) / HIST_SUB + HIST_MIN_SHIFT;
	sub = (i - 1) % HIST_SUB;
	if (shift > 63)
		return UINT64_MAX;
	return (1ull << shift) + ((uint64_t)sub << (shift - 3));
}

void hist_add(struct hist *h, uint64_t v)
{
	int i = hist_bucket(v);

	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	if (h->b[i] != UINT32_MAX)
		h->b[i]++;
}

void hist_merge(struct hist *into, const struct hist *h)
{
	into->count += h->count;
	into->sum += h->sum;
	if (h->max > into->max)
		into->max = h->max;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		uint64_t s = (uint64_t)into->b[i] + h->b[i];

		into->b[i] = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
	}
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	if (q <= 0)
		q = 0;
	if (q > 1)
		q = 1;
	rank = (uint64_t)(q * (double)(h->count - 1)) + 1;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t lo = hist_bucket_low(i), hi = hist_bucket_low(i + 1);
			uint64_t mid = i == 0 ? hi / 2 : lo + (hi - lo) / 2;

			return mid < h->max ? mid : h->max;
		}
	}
	return h->max;
}
