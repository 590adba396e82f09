/* SPDX-License-Identifier: MIT */
/* The one clock of timestamps and intervals: CLOCK_MONOTONIC in ns. */
#ifndef APS_MONOTIME_H
#define APS_MONOTIME_H

#include <stdint.h>
#include <time.h>

static inline uint64_t monotime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
