// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "recording/rec_blocked.h"
#include "recording/rec_field.h"
#include "recording/varint.h"

/*
 * Body: crossed_ts, tid, ns_tid, task, begin_ts, zigzag stack_err, state,
 * wchan, nframes, truncated; per frame: func, file, zigzag line, source.
 * Strings: length, bytes (cut to the field on reading).
 */

int rec_blocked_encode(const struct blocked_capture *b, struct rec_buf *out)
{
	uint32_t n = b->stack.n < STACK_MAX_FRAMES ? b->stack.n : STACK_MAX_FRAMES;

	if (rec_buf_reserve(out, 16 * VARINT_MAX + sizeof(b->wchan) +
				       n * (sizeof(b->stack.f[0]) + BLOCKED_SRC_MAX + 4 * VARINT_MAX)))
		return -ENOMEM;
	rec_field_put_u(out, b->crossed_ts);
	rec_field_put_u(out, b->tid);
	rec_field_put_u(out, b->ns_tid);
	rec_field_put_u(out, b->task);
	rec_field_put_u(out, b->begin_ts);
	rec_field_put_u(out, zigzag_enc(b->stack_err));
	rec_field_put_u(out, (uint8_t)b->state);
	rec_field_put_s(out, b->wchan, sizeof(b->wchan) - 1);
	rec_field_put_u(out, n);
	rec_field_put_u(out, b->stack.truncated);
	for (uint32_t i = 0; i < n; i++) {
		rec_field_put_s(out, b->stack.f[i].func, sizeof(b->stack.f[i].func) - 1);
		rec_field_put_s(out, b->stack.f[i].file, sizeof(b->stack.f[i].file) - 1);
		rec_field_put_u(out, zigzag_enc(b->stack.f[i].line));
		rec_field_put_s(out, b->src[i], BLOCKED_SRC_MAX - 1);
	}
	return 0;
}

int rec_blocked_decode(const uint8_t *body, size_t len, struct blocked_capture *b)
{
	const uint8_t *p = body, *end = body + len;
	uint64_t v[10];

	memset(b, 0, sizeof(*b));
	if (rec_field_get_u(&p, end, &b->crossed_ts, UINT64_MAX) || rec_field_get_u(&p, end, &v[0], UINT32_MAX) ||
	    rec_field_get_u(&p, end, &v[1], UINT32_MAX) || rec_field_get_u(&p, end, &b->task, UINT64_MAX) ||
	    rec_field_get_u(&p, end, &b->begin_ts, UINT64_MAX) || rec_field_get_u(&p, end, &v[2], 1u << 20) ||
	    rec_field_get_u(&p, end, &v[3], 255) || rec_field_get_s(&p, end, b->wchan, sizeof(b->wchan)) ||
	    rec_field_get_u(&p, end, &v[4], STACK_MAX_FRAMES) || rec_field_get_u(&p, end, &v[5], 1))
		return -1;
	b->tid = (uint32_t)v[0];
	b->ns_tid = (uint32_t)v[1];
	b->stack_err = (int)zigzag_dec(v[2]);
	b->state = v[3] >= 0x20 && v[3] < 0x7f ? (char)v[3] : '?';
	b->stack.n = (uint32_t)v[4];
	b->stack.truncated = v[5];
	for (uint32_t i = 0; i < b->stack.n; i++) {
		struct stack_frame *f = &b->stack.f[i];

		if (rec_field_get_s(&p, end, f->func, sizeof(f->func)) || rec_field_get_s(&p, end, f->file, sizeof(f->file)) ||
		    rec_field_get_u(&p, end, &v[6], UINT32_MAX) || rec_field_get_s(&p, end, b->src[i], BLOCKED_SRC_MAX))
			return -1;
		f->line = (int)zigzag_dec(v[6]);
	}
	return p == end ? 0 : -1;
}
