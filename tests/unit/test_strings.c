// SPDX-License-Identifier: MIT
/* Untrusted strings from the target: decoding, bounds, escaping. */
#include <stdint.h>
#include "unit.h"
#include "output/escape.h"

static struct aps_pystr latin1(const char *s)
{
	struct aps_pystr p = { .kind = 1 };
	size_t n = strlen(s);

	p.nchars = (uint32_t)n;
	if (n > APS_STR_MAX) {
		n = APS_STR_MAX;
		p.truncated = 1;
	}
	memcpy(p.data, s, n);
	return p;
}

TEST(plain_ascii)
{
	struct aps_pystr p = latin1("worker-7");
	char out[APS_NAME_MAX];

	pystr_to_utf8(&p, NULL, out, sizeof(out));
	CHECK_EQ_STR(out, "worker-7");
}

TEST(escape_sequences_are_escaped)
{
	struct aps_pystr p = latin1("\x1b]0;pwned\x07");
	char out[APS_NAME_MAX];

	pystr_to_utf8(&p, NULL, out, sizeof(out));
	CHECK_EQ_STR(out, "\\x1b]0;pwned\\x07");
	p = latin1("a\nb\x7f\\");
	pystr_to_utf8(&p, NULL, out, sizeof(out));
	CHECK_EQ_STR(out, "a\\x0ab\\x7f\\\\");
}

TEST(latin1_and_c1_controls)
{
	struct aps_pystr p = latin1("caf\xe9\x9b");
	char out[APS_NAME_MAX];

	pystr_to_utf8(&p, NULL, out, sizeof(out));
	CHECK_EQ_STR(out, "caf\xc3\xa9\\x9b");
}

TEST(ucs2_and_ucs4)
{
	struct aps_pystr p = { .kind = 2, .nchars = 2 };
	uint16_t u2[2] = { 0x4e2d, 0x202e };	/* CJK, then a bidi override */
	uint32_t u4[2] = { 0x1f600, 0xd800 };	/* emoji, then a lone surrogate */
	char out[APS_NAME_MAX];

	memcpy(p.data, u2, sizeof(u2));
	pystr_to_utf8(&p, NULL, out, sizeof(out));
	CHECK_EQ_STR(out, "\xe4\xb8\xad\\u202e");
	p.kind = 4;
	memcpy(p.data, u4, sizeof(u4));
	pystr_to_utf8(&p, NULL, out, sizeof(out));
	CHECK_EQ_STR(out, "\xf0\x9f\x98\x80\\ud800");
}

/* Invisible and bidi format characters are escaped like U+202E (issue 15, item 15). */
TEST(invisible_format_chars)
{
	static const uint32_t cps[] = { 0x200b, 0xfeff, 0x200e, 0x2066, 0x2060, 0x00ad, 0x061c, 0xe0041 };
	static const char *const want[] = { "\\u200b", "\\ufeff", "\\u200e", "\\u2066", "\\u2060",
					    "\\u00ad", "\\u061c", "\\U000e0041" };
	struct aps_pystr p = { .kind = 4, .nchars = 3 };
	char out[APS_NAME_MAX], exp[64];

	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		uint32_t u4[3] = { 'a', cps[i], 'b' };

		memcpy(p.data, u4, sizeof(u4));
		pystr_to_utf8(&p, NULL, out, sizeof(out));
		snprintf(exp, sizeof(exp), "a%sb", want[i]);
		CHECK_EQ_STR(out, exp);
	}
	/* visible neighbours stay raw: an emoji with its variation selector, a no-break space */
	{
		uint32_t u4[3] = { 0x2764, 0xfe0f, 0xa0 };

		memcpy(p.data, u4, sizeof(u4));
		pystr_to_utf8(&p, NULL, out, sizeof(out));
		CHECK_EQ_STR(out, "\xe2\x9d\xa4\xef\xb8\x8f\xc2\xa0");
	}
}

TEST(deferred_int_name)
{
	struct aps_pystr p = { .kind = 1, .is_int = 1, .value = 42 };
	char out[64];

	pystr_to_utf8(&p, "Task-", out, sizeof(out));
	CHECK_EQ_STR(out, "Task-42");
}

TEST(long_names_are_cut_with_a_mark)
{
	char big[300];
	struct aps_pystr p;
	char out[APS_NAME_MAX], small[16];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	p = latin1(big);
	CHECK_EQ_INT(p.nchars, 299);
	pystr_to_utf8(&p, NULL, out, sizeof(out));
	CHECK_EQ_INT(strlen(out), APS_STR_MAX + 3);
	CHECK(!strcmp(out + APS_STR_MAX, "\xe2\x80\xa6"));
	/* an output buffer smaller than the name also cuts, and stays terminated */
	pystr_to_utf8(&p, NULL, small, sizeof(small));
	CHECK(strlen(small) < sizeof(small));
	CHECK(strstr(small, "\xe2\x80\xa6") != NULL);
}

TEST(lying_length_is_bounded)
{
	struct aps_pystr p = latin1("abc");
	char out[APS_NAME_MAX];

	p.nchars = 0xffffffff;	/* the target says 4G chars; we copied 3 */
	p.kind = 4;
	pystr_to_utf8(&p, NULL, out, sizeof(out));
	CHECK(strlen(out) < sizeof(out));
	p.kind = 3;		/* not a valid kind */
	pystr_to_utf8(&p, NULL, out, sizeof(out));
	CHECK_EQ_STR(out, "?");
}

TEST(json_escaping)
{
	char out[64];

	json_escape("a\"b\\c\x01", out, sizeof(out));
	CHECK_EQ_STR(out, "a\\\"b\\\\c\\u0001");
	json_escape("abcdefgh", out, 5);
	CHECK_EQ_STR(out, "abcd");
}

UNIT_MAIN()
