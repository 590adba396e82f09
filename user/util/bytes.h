/* SPDX-License-Identifier: MIT */
/* Reading fields out of a byte buffer (host order) and hashing them. */
#ifndef APS_BYTES_H
#define APS_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t bytes_u64(const uint8_t *buf, size_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static inline uint32_t bytes_u32(const uint8_t *buf, size_t off)
{
	uint32_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static inline int32_t bytes_i32(const uint8_t *buf, size_t off)
{
	return (int32_t)bytes_u32(buf, off);
}

/* One step of an FNV-style running hash h over the values v. */
static inline uint64_t bytes_mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x100000001b3ULL;
	return h ^ (h >> 29);
}

#endif
