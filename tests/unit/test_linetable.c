// SPDX-License-Identifier: MIT
/* Line tables: real tables of 3.10-3.14 against CPython's own decoding. */
#include <stdint.h>
#include <stdlib.h>
#include "unit.h"
#include "memory/linetable.h"
#include "linetable_fixtures.h"

#define NFIX (sizeof(lt_fixtures) / sizeof(lt_fixtures[0]))

/* Expand the run-length expectations: one position per code unit. */
static struct lt_fixture_run *expand(const struct lt_fixture *f)
{
	struct lt_fixture_run *v = calloc(f->nunits, sizeof(*v));
	uint32_t u = 0;

	for (size_t i = 0; v && i < f->nruns; i++) {
		for (uint32_t k = 0; k < f->runs[i].count && u < f->nunits; k++)
			v[u++] = f->runs[i];
	}
	return v;
}

TEST(fixtures_cover_every_version)
{
	int seen[15] = { 0 };

	for (size_t i = 0; i < NFIX; i++)
		seen[lt_fixtures[i].minor]++;
	for (int m = 10; m <= 14; m++)
		CHECK(seen[m] >= 4);
}

/* PyCode_Addr2Line for every code unit of every fixture */
TEST(addr2line_matches_cpython)
{
	for (size_t i = 0; i < NFIX; i++) {
		const struct lt_fixture *f = &lt_fixtures[i];
		struct lt_fixture_run *want = expand(f);
		int bad = 0;

		REQUIRE(want);
		for (uint32_t u = 0; u < f->nunits; u++) {
			int got = linetable_addr2line(f->minor, f->table, f->table_len, f->firstlineno, 2 * u);

			if (got != want[u].line && bad++ < 3)
				fprintf(stderr, "%s %s unit %u: line %d, CPython says %d\n",
					f->python, f->name, u, got, want[u].line);
		}
		CHECK_EQ_INT(bad, 0);
		free(want);
	}
}

/* co_positions() (3.11+): line, end line and columns of every code unit */
TEST(positions_match_cpython)
{
	for (size_t i = 0; i < NFIX; i++) {
		const struct lt_fixture *f = &lt_fixtures[i];
		struct lt_fixture_run *want;
		struct linetable_iter it;
		struct linetable_range r;
		uint32_t covered = 0;
		int bad = 0, rc;

		if (f->minor < 11)
			continue;
		want = expand(f);
		REQUIRE(want);
		linetable_init(&it, f->minor, f->table, f->table_len, f->firstlineno);
		while ((rc = linetable_next(&it, &r)) == 1) {
			CHECK_EQ_INT(r.start, covered);
			for (uint32_t a = r.start; a < r.end && a / 2 < f->nunits; a += 2) {
				const struct lt_fixture_run *w = &want[a / 2];

				if ((r.line != w->line || r.end_line != w->end_line ||
				     r.col != w->col || r.end_col != w->end_col) && bad++ < 3)
					fprintf(stderr, "%s %s unit %u: %d %d %d %d, CPython says %d %d %d %d\n",
						f->python, f->name, a / 2, r.line, r.end_line, r.col,
						r.end_col, w->line, w->end_line, w->col, w->end_col);
			}
			covered = r.end;
		}
		CHECK_EQ_INT(rc, 0);
		CHECK_EQ_INT(covered, 2 * f->nunits);
		CHECK_EQ_INT(bad, 0);
		free(want);
	}
}

TEST(edges_of_the_address_space)
{
	const struct lt_fixture *f = &lt_fixtures[0];

	CHECK_EQ_INT(linetable_addr2line(f->minor, f->table, f->table_len, f->firstlineno, -2),
		     f->firstlineno);
	CHECK_EQ_INT(linetable_addr2line(f->minor, f->table, f->table_len, f->firstlineno,
				  1 << 20), -1);
	CHECK_EQ_INT(linetable_addr2line(12, NULL, 0, 7, 0), -1);
}

TEST(hand_made_pep626_entries)
{
	/* LONG: +200 lines (svarint 400 = 0x50 0x06), end +0, col 300+1, end 302+1 */
	static const uint8_t t[] = {
		0xf0, 0x50, 0x06, 0x00, 0x6d, 0x04, 0x6f, 0x04,
		0xf8,			/* NONE, 1 unit */
		0xe8, 0x03,		/* NO_COLUMNS, -1 line */
		0xe1, 0x05, 0x09,	/* ONE_LINE2: +2 lines, 2 units, cols 5-9 */
		0x88, 0x23,		/* short code 1: col 8|2=10, end 13 */
	};
	struct linetable_iter it;
	struct linetable_range r;

	linetable_init(&it, 13, t, sizeof(t), 10);
	REQUIRE(linetable_next(&it, &r) == 1);
	CHECK_EQ_INT(r.line, 210);
	CHECK_EQ_INT(r.end_line, 210);
	CHECK_EQ_INT(r.col, 300);
	CHECK_EQ_INT(r.end_col, 302);
	REQUIRE(linetable_next(&it, &r) == 1);
	CHECK_EQ_INT(r.line, -1);
	REQUIRE(linetable_next(&it, &r) == 1);
	CHECK_EQ_INT(r.line, 209);
	CHECK_EQ_INT(r.col, -1);
	REQUIRE(linetable_next(&it, &r) == 1);
	CHECK_EQ_INT(r.line, 211);
	CHECK_EQ_INT(r.end - r.start, 4);
	CHECK_EQ_INT(r.col, 5);
	CHECK_EQ_INT(r.end_col, 9);
	REQUIRE(linetable_next(&it, &r) == 1);
	CHECK_EQ_INT(r.line, 211);
	CHECK_EQ_INT(r.col, 10);
	CHECK_EQ_INT(r.end_col, 13);
	CHECK_EQ_INT(linetable_next(&it, &r), 0);
	CHECK_EQ_INT(linetable_addr2line(13, t, sizeof(t), 10, 2), -1);
	CHECK_EQ_INT(linetable_addr2line(13, t, sizeof(t), 10, 4), 209);
}

TEST(malformed_tables_stop)
{
	static const uint8_t no_start_bit[] = { 0x70, 0x01 };
	static const uint8_t endless_varint[] = { 0xf0, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f };
	static const uint8_t short_bad_second[] = { 0x80, 0x80 };
	struct linetable_iter it;
	struct linetable_range r;

	linetable_init(&it, 11, no_start_bit, sizeof(no_start_bit), 1);
	CHECK_EQ_INT(linetable_next(&it, &r), -1);
	linetable_init(&it, 11, endless_varint, sizeof(endless_varint), 1);
	CHECK_EQ_INT(linetable_next(&it, &r), -1);
	linetable_init(&it, 11, short_bad_second, sizeof(short_bad_second), 1);
	CHECK_EQ_INT(linetable_next(&it, &r), -1);
	/* 3.10: an odd trailing byte is ignored */
	linetable_init(&it, 10, short_bad_second, 1, 1);
	CHECK_EQ_INT(linetable_next(&it, &r), 0);
}

/* Every prefix of every real table, and random bytes: bounded, no overrun. */
TEST(truncated_and_random_tables_are_safe)
{
	uint32_t seed = 12345;

	for (size_t i = 0; i < NFIX; i++) {
		const struct lt_fixture *f = &lt_fixtures[i];

		for (size_t n = 0; n < f->table_len; n++) {
			uint8_t *copy = malloc(n ? n : 1);

			REQUIRE(copy);
			memcpy(copy, f->table, n);
			(void)linetable_addr2line(f->minor, copy, n, f->firstlineno, 1 << 30);
			free(copy);
		}
	}
	for (int round = 0; round < 2000; round++) {
		size_t n = round % 64;
		uint8_t *buf = malloc(n ? n : 1);
		struct linetable_iter it;
		struct linetable_range r;
		int steps = 0;

		REQUIRE(buf);
		for (size_t k = 0; k < n; k++) {
			seed = seed * 1103515245 + 12345;
			buf[k] = (uint8_t)(seed >> 16);
		}
		linetable_init(&it, 10 + round % 5, buf, n, 1);
		while (linetable_next(&it, &r) == 1)
			steps++;
		CHECK(steps <= (int)n);
		free(buf);
	}
}

UNIT_MAIN()
