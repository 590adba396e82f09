// SPDX-License-Identifier: MIT
/* Varints and zigzag integers of the recording format. */
#include <stdint.h>
#include "unit.h"
#include "recording/varint.h"

static int roundtrip(uint64_t v)
{
	uint8_t buf[VARINT_MAX + 2];
	const uint8_t *p = buf;
	uint64_t got = ~v;
	size_t n = varint_put(buf, v);

	if (n != varint_len(v) || n > VARINT_MAX)
		return 0;
	if (varint_get(&p, buf + n, &got) || got != v || p != buf + n)
		return 0;
	/* every shorter input is refused and leaves p alone */
	for (size_t cut = 0; cut < n; cut++) {
		p = buf;
		if (!varint_get(&p, buf + cut, &got) || p != buf)
			return 0;
	}
	return 1;
}

TEST(varint_roundtrip_edges)
{
	static const uint64_t vals[] = {
		0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 0x1fffff, 0x200000, 0xffffffff,
		0x100000000ull, (1ull << 56) - 1, 1ull << 56, (1ull << 63) - 1, 1ull << 63,
		UINT64_MAX,
	};

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		CHECK(roundtrip(vals[i]));
	for (unsigned s = 0; s < 64; s++) {
		CHECK(roundtrip(1ull << s));
		CHECK(roundtrip((1ull << s) - 1));
		CHECK(roundtrip((1ull << s) + 1));
	}
}

TEST(varint_lengths)
{
	CHECK_EQ_INT(varint_len(0), 1);
	CHECK_EQ_INT(varint_len(127), 1);
	CHECK_EQ_INT(varint_len(128), 2);
	CHECK_EQ_INT(varint_len(16383), 2);
	CHECK_EQ_INT(varint_len(16384), 3);
	CHECK_EQ_INT(varint_len(UINT64_MAX), 10);
}

TEST(varint_refuses_overflow)
{
	/* 10 bytes whose last holds more than bit 63 */
	uint8_t over[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
	/* 11 bytes: too long whatever they hold */
	uint8_t longer[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00 };
	uint8_t max[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	const uint8_t *p = over;
	uint64_t v = 0;

	CHECK(varint_get(&p, over + sizeof(over), &v) == -1);
	CHECK(p == over);
	p = longer;
	CHECK(varint_get(&p, longer + sizeof(longer), &v) == -1);
	p = max;
	CHECK(varint_get(&p, max + sizeof(max), &v) == 0);
	CHECK(v == UINT64_MAX);
	p = max;
	CHECK(varint_get(&p, max, &v) == -1);	/* empty input */
}

TEST(varint_pseudo_random)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (!roundtrip(x >> (x & 63))) {
			CHECK(!"roundtrip");
			break;
		}
	}
}

TEST(zigzag)
{
	CHECK_EQ_INT(zigzag_enc(0), 0);
	CHECK_EQ_INT(zigzag_enc(-1), 1);
	CHECK_EQ_INT(zigzag_enc(1), 2);
	CHECK_EQ_INT(zigzag_enc(-2), 3);
	CHECK(zigzag_enc(INT64_MAX) == UINT64_MAX - 1);
	CHECK(zigzag_enc(INT64_MIN) == UINT64_MAX);
	CHECK(zigzag_dec(UINT64_MAX) == INT64_MIN);
	CHECK(zigzag_dec(UINT64_MAX - 1) == INT64_MAX);
	for (int64_t v = -1000; v <= 1000; v++)
		CHECK(zigzag_dec(zigzag_enc(v)) == v);
	/* deltas wrap: exact for any pair */
	CHECK(zigzag_undelta(5, zigzag_delta(UINT64_MAX, 5)) == UINT64_MAX);
	CHECK(zigzag_undelta(UINT64_MAX, zigzag_delta(3, UINT64_MAX)) == 3);
	CHECK(zigzag_undelta(1000, zigzag_delta(990, 1000)) == 990);
	CHECK_EQ_INT(zigzag_delta(990, 1000), 19);
}

UNIT_MAIN()
