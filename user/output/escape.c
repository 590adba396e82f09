// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "output/escape.h"

static const char cut_mark[] = "\xe2\x80\xa6";	/* U+2026 */

/* Append s to out at *pos if it fits (leaving room for the cut mark). */
static int put(char *out, size_t len, size_t *pos, const char *s, size_t n)
{
	if (*pos + n + sizeof(cut_mark) > len)
		return -1;
	memcpy(out + *pos, s, n);
	*pos += n;
	return 0;
}

/* Characters that print as nothing or reorder text: format (Cf) characters
 * (zero-width, bidi controls, BOM, tags), line/paragraph separators, fillers. */
static bool invisible(uint32_t cp)
{
	static const struct { uint32_t lo, hi; } ranges[] = {
		{ 0x00ad, 0x00ad }, { 0x034f, 0x034f }, { 0x061c, 0x061c }, { 0x115f, 0x1160 },
		{ 0x17b4, 0x17b5 }, { 0x180e, 0x180e }, { 0x200b, 0x200f }, { 0x2028, 0x202e },
		{ 0x2060, 0x206f }, { 0x3164, 0x3164 }, { 0xfeff, 0xfeff },
		{ 0xffa0, 0xffa0 }, { 0xfff0, 0xfffb }, { 0x1d173, 0x1d17a }, { 0xe0000, 0xe007f },
	};

	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (cp >= ranges[i].lo && cp <= ranges[i].hi)
			return true;
	return false;
}

static int put_cp(char *out, size_t len, size_t *pos, uint32_t cp)
{
	char buf[16];
	size_t n;

	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
		n = (size_t)snprintf(buf, sizeof(buf), "\\x%02x", cp);
	} else if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || invisible(cp)) {
		/* surrogates, out of range, invisible and bidi format characters */
		n = (size_t)snprintf(buf, sizeof(buf), cp > 0xffff ? "\\U%08x" : "\\u%04x", cp);
	} else if (cp == '\\') {
		n = 2;
		memcpy(buf, "\\\\", 2);
	} else if (cp < 0x80) {
		buf[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		buf[0] = (char)(0xc0 | (cp >> 6));
		buf[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		buf[0] = (char)(0xe0 | (cp >> 12));
		buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		buf[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		buf[0] = (char)(0xf0 | (cp >> 18));
		buf[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		buf[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		buf[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return put(out, len, pos, buf, n);
}

void pystr_to_utf8(const struct aps_pystr *s, const char *int_prefix, char *out, size_t len)
{
	size_t pos = 0, avail, nchars;
	bool cut;

	if (len < sizeof(cut_mark) + 2) {
		if (len)
			out[0] = '\0';
		return;
	}
	if (s->is_int) {
		snprintf(out, len, "%s%llu", int_prefix ? int_prefix : "",
			 (unsigned long long)s->value);
		return;
	}
	if (s->kind != 1 && s->kind != 2 && s->kind != 4) {
		snprintf(out, len, "?");
		return;
	}
	avail = APS_STR_MAX / s->kind;
	nchars = s->nchars < avail ? s->nchars : avail;
	cut = s->truncated || nchars < s->nchars;
	for (size_t i = 0; i < nchars; i++) {
		uint32_t cp;

		if (s->kind == 1) {
			cp = s->data[i];
		} else if (s->kind == 2) {
			uint16_t v;

			memcpy(&v, s->data + 2 * i, 2);
			cp = v;
		} else {
			memcpy(&cp, s->data + 4 * i, 4);
		}
		if (put_cp(out, len, &pos, cp)) {
			cut = true;
			break;
		}
	}
	if (cut) {
		memcpy(out + pos, cut_mark, sizeof(cut_mark) - 1);
		pos += sizeof(cut_mark) - 1;
	}
	out[pos] = '\0';
}

void json_escape(const char *in, char *out, size_t len)
{
	size_t pos = 0;

	if (!len)
		return;
	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;
		char buf[8];
		size_t n;

		if (c == '"' || c == '\\') {
			buf[0] = '\\';
			buf[1] = (char)c;
			n = 2;
		} else if (c < 0x20 || c == 0x7f) {
			n = (size_t)snprintf(buf, sizeof(buf), "\\u%04x", c);
		} else {
			buf[0] = (char)c;
			n = 1;
		}
		if (pos + n + 1 > len)
			break;
		memcpy(out + pos, buf, n);
		pos += n;
	}
	out[pos] = '\0';
}

int escape_is_clean(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}
