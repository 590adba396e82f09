/* SPDX-License-Identifier: MIT */
/* Binary search in an array of records sorted by a u64 field. */
#ifndef APS_SEARCH_H
#define APS_SEARCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * The index of the first of n records (size bytes each, sorted by the u64
 * at key_off) whose key is not below key; n if none.
 */
static inline size_t search_u64(const void *base, size_t n, size_t size, size_t key_off,
				uint64_t key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t k;

		memcpy(&k, (const char *)base + mid * size + key_off, sizeof(k));
		if (k < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

#endif
