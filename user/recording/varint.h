/* SPDX-License-Identifier: MIT */
/*
 * LEB128 varints (7 bits a byte, low bits first, high bit = more) and
 * zigzag signed integers, as the recording format uses them
 * (docs/recording-format.md). Pure functions, no allocation.
 */
#ifndef APS_VARINT_H
#define APS_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX 10	/* bytes of the longest uint64_t */

/* Write v at p (room for VARINT_MAX bytes); the number of bytes written. */
size_t varint_put(uint8_t *p, uint64_t v);
/* Bytes varint_put would write. */
size_t varint_len(uint64_t v);
/*
 * Read a varint from *p (not past end) and advance *p. 0, or -1 if the
 * input ends inside it or it does not fit 64 bits (*p is then unchanged).
 */
int varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v);

static inline uint64_t zigzag_enc(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t zigzag_dec(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* a - b as a zigzag varint value, wrapping: exact for any a, b. */
static inline uint64_t zigzag_delta(uint64_t a, uint64_t b)
{
	return zigzag_enc((int64_t)(a - b));
}

static inline uint64_t zigzag_undelta(uint64_t base, uint64_t z)
{
	return base + (uint64_t)zigzag_dec(z);
}

#endif
