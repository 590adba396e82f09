/* SPDX-License-Identifier: MIT */
/* Log-linear histograms of durations (ns), like HDR histograms: 8 linear
 * sub-buckets per power of two, from 256 ns to ~1.2 days; <= 12.5% error. */
#ifndef APS_HIST_H
#define APS_HIST_H

#include <stdint.h>

#define HIST_MIN_SHIFT 8	/* values below 2^8 ns share bucket 0 */
#define HIST_MAX_SHIFT 47
#define HIST_SUB 8
#define HIST_BUCKETS (1 + (HIST_MAX_SHIFT - HIST_MIN_SHIFT + 1) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t sum;
	uint64_t max;
	uint32_t b[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t v);
void hist_merge(struct hist *into, const struct hist *h);
/* Bucket of v, and the lower bound of bucket i. */
int hist_bucket(uint64_t v);
uint64_t hist_bucket_low(int i);
/* Value at quantile q (0..1): the midpoint of its bucket, capped at max. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
