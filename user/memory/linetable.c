// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include "memory/linetable.h"

#define LINE_LIMIT (1 << 30)	/* lines beyond this mean a corrupt table */

enum {
	LOC_ONE_LINE0 = 10,
	LOC_NO_COLUMNS = 13,
	LOC_LONG = 14,
	LOC_NONE = 15,
};

void linetable_init(struct linetable_iter *it, int minor, const uint8_t *table, size_t len, int firstlineno)
{
	it->p = table;
	it->end = table ? table + len : table;
	it->minor = minor;
	it->line = firstlineno;
	it->addr = 0;
}

static bool read_byte(struct linetable_iter *it, unsigned *v)
{
	if (it->p >= it->end)
		return false;
	*v = *it->p++;
	return true;
}

/* 6 bits a byte, low bits first, 0x40 = more follows */
static bool read_varint(struct linetable_iter *it, unsigned *v)
{
	unsigned b, shift = 0;

	if (!read_byte(it, &b))
		return false;
	*v = b & 63;
	while (b & 64) {
		shift += 6;
		if (shift > 24 || !read_byte(it, &b))
			return false;
		*v |= (b & 63) << shift;
	}
	return true;
}

static bool read_svarint(struct linetable_iter *it, int *v)
{
	unsigned u;

	if (!read_varint(it, &u))
		return false;
	*v = u & 1 ? -(int)(u >> 1) : (int)(u >> 1);
	return true;
}

static bool add_line(struct linetable_iter *it, int delta)
{
	long long line = (long long)it->line + delta;

	if (line < -LINE_LIMIT || line > LINE_LIMIT)
		return false;
	it->line = (int)line;
	return true;
}

/* 3.10: pairs of (unsigned byte delta, signed line delta; -128: no line) */
static int next_310(struct linetable_iter *it, struct linetable_range *r)
{
	int ldelta;

	if (it->end - it->p < 2)
		return 0;
	r->start = it->addr;
	it->addr += it->p[0];
	r->end = it->addr;
	ldelta = (int8_t)it->p[1];
	it->p += 2;
	if (ldelta == -128) {
		r->line = -1;
	} else {
		if (!add_line(it, ldelta))
			return -1;
		r->line = it->line;
	}
	r->end_line = r->col = r->end_col = -1;
	return 1;
}

/* 3.11+: advance_with_locations() of Objects/codeobject.c */
static int next_pep626(struct linetable_iter *it, struct linetable_range *r)
{
	unsigned first, code, a, b, c;
	int delta;

	if (!read_byte(it, &first))
		return 0;
	if (!(first & 0x80))
		return -1;
	code = (first >> 3) & 15;
	r->start = it->addr;
	it->addr += ((first & 7) + 1) * 2;
	r->end = it->addr;
	switch (code) {
	case LOC_NONE:
		r->line = r->end_line = r->col = r->end_col = -1;
		return 1;
	case LOC_LONG:
		if (!read_svarint(it, &delta) || !add_line(it, delta) ||
		    !read_varint(it, &a) || !read_varint(it, &b) || !read_varint(it, &c) ||
		    a > LINE_LIMIT)
			return -1;
		r->line = it->line;
		r->end_line = it->line + (int)a;
		r->col = (int)b - 1;
		r->end_col = (int)c - 1;
		return 1;
	case LOC_NO_COLUMNS:
		if (!read_svarint(it, &delta) || !add_line(it, delta))
			return -1;
		r->line = r->end_line = it->line;
		r->col = r->end_col = -1;
		return 1;
	case LOC_ONE_LINE0:
	case LOC_ONE_LINE0 + 1:
	case LOC_ONE_LINE0 + 2:
		if (!add_line(it, (int)code - LOC_ONE_LINE0) || !read_byte(it, &a) ||
		    !read_byte(it, &b))
			return -1;
		r->line = r->end_line = it->line;
		r->col = (int)a;
		r->end_col = (int)b;
		return 1;
	default:
		/* short form: column code<<3 | hi nibble, width lo nibble */
		if (!read_byte(it, &a) || (a & 0x80))
			return -1;
		r->line = r->end_line = it->line;
		r->col = (int)(code << 3 | a >> 4);
		r->end_col = r->col + (int)(a & 15);
		return 1;
	}
}

int linetable_next(struct linetable_iter *it, struct linetable_range *r)
{
	if (!it->p)
		return 0;
	return it->minor <= 10 ? next_310(it, r) : next_pep626(it, r);
}

int linetable_addr2line(int minor, const uint8_t *table, size_t len, int firstlineno, int64_t addr)
{
	struct linetable_iter it;
	struct linetable_range r;

	if (addr < 0)
		return firstlineno;
	linetable_init(&it, minor, table, len, firstlineno);
	while (linetable_next(&it, &r) == 1) {
		if ((int64_t)r.start <= addr && addr < (int64_t)r.end)
			return r.line;
	}
	return -1;
}
