// SPDX-License-Identifier: MIT
#include "recording/varint.h"

size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

int varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	const uint8_t *q = *p;
	uint64_t out = 0;

	for (unsigned shift = 0; q < end; shift += 7) {
		uint8_t b = *q++;

		/* the 10th byte holds bit 63 only */
		if (shift == 63 && b > 1)
			return -1;
		out |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = out;
			*p = q;
			return 0;
		}
		if (shift == 63)
			return -1;
	}
	return -1;
}
