/* SPDX-License-Identifier: MIT */
/*
 * Decoding a code object's line table (co_linetable), copied from the
 * target: untrusted bytes, every read bounded by the table's length.
 *
 * 3.10: (byte delta, signed line delta) pairs, line delta -128 = no line.
 * 3.11+: the PEP 626 location table (Objects/locations.md): entries of
 * (first byte 1CCCCLLL: code C, length L+1 code units) + varint data.
 */
#ifndef APS_LINETABLE_H
#define APS_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

/* One address range of the table; -1 means "none" (Python's None). */
struct linetable_range {
	uint32_t start, end;	/* byte offsets in the bytecode, end exclusive */
	int line, end_line;
	int col, end_col;	/* 3.10: always -1 */
};

struct linetable_iter {
	const uint8_t *p, *end;
	int minor;		/* Python 3.<minor>: selects the format */
	int line;		/* line computed so far */
	uint32_t addr;
};

void linetable_init(struct linetable_iter *it, int minor, const uint8_t *table, size_t len, int firstlineno);
/* Next range: 1, 0 at the end, -1 if the table is malformed (stop there). */
int linetable_next(struct linetable_iter *it, struct linetable_range *r);

/*
 * Line of the instruction at byte offset addr (2 x code-unit index), as
 * PyCode_Addr2Line computes it: -1 when the range has no line or addr is
 * past the table. A negative addr gives firstlineno.
 */
int linetable_addr2line(int minor, const uint8_t *table, size_t len, int firstlineno, int64_t addr);

#endif
