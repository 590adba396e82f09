// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "loop/loop_rec.h"
#include "recording/rec_blocked.h"
#include "recording/rec_field.h"
#include "recording/varint.h"

static int head(struct rec_buf *b, unsigned sub, uint64_t base, uint64_t ts, size_t more)
{
	if (rec_buf_reserve(b, 1 + VARINT_MAX + more))
		return -ENOMEM;
	b->p[b->len++] = (uint8_t)sub;
	rec_field_put_u(b, zigzag_delta(ts, base));
	return 0;
}

int loop_rec_info_enc(struct rec_buf *b, uint64_t base, uint64_t ts, const struct loop_rec_info *i)
{
	if (head(b, REC_LOOP_INFO, base, ts, 4 * VARINT_MAX + sizeof(i->hook)))
		return -ENOMEM;
	rec_field_put_u(b, i->hz);
	rec_field_put_u(b, i->threshold);
	rec_field_put_u(b, i->min_span);
	rec_field_put_s(b, i->hook, sizeof(i->hook) - 1);
	return 0;
}

int loop_rec_frame_enc(struct rec_buf *b, uint64_t base, uint64_t ts, uint32_t id, const struct stack_frame *f)
{
	if (head(b, REC_LOOP_FRAME, base, ts, 4 * VARINT_MAX + sizeof(f->func) + sizeof(f->file)))
		return -ENOMEM;
	rec_field_put_u(b, id);
	rec_field_put_u(b, zigzag_enc(f->line));
	rec_field_put_s(b, f->func, sizeof(f->func) - 1);
	rec_field_put_s(b, f->file, sizeof(f->file) - 1);
	return 0;
}

int loop_rec_span_enc(struct rec_buf *b, uint64_t base, const struct loop_rec_span *s)
{
	if (head(b, REC_LOOP_SPAN, base, s->end, 4 * VARINT_MAX))
		return -ENOMEM;
	rec_field_put_u(b, s->end >= s->begin ? s->end - s->begin : 0);
	rec_field_put_u(b, s->tid);
	rec_field_put_u(b, zigzag_enc((int64_t)s->tid - (int64_t)s->ns_tid));	/* 0: the same namespace */
	rec_field_put_u(b, s->run_delay);
	return 0;
}

int loop_rec_sample_enc(struct rec_buf *b, uint64_t base, const struct loop_rec_sample *s)
{
	uint32_t n = s->n < APS_SAMPLE_MAX_FRAMES ? s->n : APS_SAMPLE_MAX_FRAMES;

	if (head(b, REC_LOOP_SAMPLE, base, s->ts, (6 + n) * VARINT_MAX))
		return -ENOMEM;
	rec_field_put_u(b, s->tid);
	rec_field_put_u(b, zigzag_enc((int64_t)s->tid - (int64_t)s->ns_tid));
	rec_field_put_u(b, s->flags);
	rec_field_put_u(b, s->task);
	if (s->flags & LOOP_REC_CORO)
		rec_field_put_u(b, s->coro);
	rec_field_put_u(b, n);
	for (uint32_t i = 0; i < n; i++)
		rec_field_put_u(b, s->ids[i]);
	return 0;
}

int loop_rec_stall_enc(struct rec_buf *b, uint64_t base, const struct loop_stall *st)
{
	if (head(b, REC_LOOP_STALL, base, st->begin_ts + st->duration_ns,
		 10 * VARINT_MAX + sizeof(st->task_name) + sizeof(st->coro)))
		return -ENOMEM;
	rec_field_put_u(b, st->tid);
	rec_field_put_u(b, st->ns_tid);
	rec_field_put_u(b, st->begin_ts);
	rec_field_put_u(b, st->duration_ns);
	rec_field_put_u(b, st->run_delay_ns);
	rec_field_put_u(b, (unsigned)st->kind);
	rec_field_put_u(b, (uint64_t)(st->fn_frame + 1));
	rec_field_put_u(b, st->task);
	rec_field_put_u(b, (st->ended ? 1u : 0) | (st->stack_taken ? 2u : 0));
	rec_field_put_s(b, st->task_name, sizeof(st->task_name) - 1);
	rec_field_put_s(b, st->coro, sizeof(st->coro) - 1);
	return st->stack_taken ? rec_blocked_encode(&st->cap, b) : 0;
}

int loop_rec_lost_enc(struct rec_buf *b, uint64_t base, uint64_t ts, const struct loop_rec_lost *l)
{
	if (head(b, REC_LOOP_LOST, base, ts, 3 * VARINT_MAX))
		return -ENOMEM;
	rec_field_put_u(b, l->samples);
	rec_field_put_u(b, l->spans);
	rec_field_put_u(b, l->read_errors);
	return 0;
}

/* ---- decoding ---------------------------------------------------------------- */

int loop_rec_head(const uint8_t *body, size_t len, uint64_t base, unsigned *sub, uint64_t *ts)
{
	const uint8_t *p = body, *end = body + len;
	uint64_t z;

	if (!len)
		return -1;
	*sub = *p++;
	if (varint_get(&p, end, &z))
		return -1;
	*ts = zigzag_undelta(base, z);
	return 0;
}

/* Past the head of a body of sub-type sub: 0 and *p, or -1. */
static int open_body(const uint8_t *body, size_t len, uint64_t base, unsigned sub,
		     const uint8_t **p, uint64_t *ts)
{
	uint64_t z;

	*p = body;
	if (!len || body[0] != sub)
		return -1;
	(*p)++;
	if (varint_get(p, body + len, &z))
		return -1;
	*ts = zigzag_undelta(base, z);
	return 0;
}

int loop_rec_info_dec(const uint8_t *body, size_t len, uint64_t base, struct loop_rec_info *i)
{
	const uint8_t *p, *end = body + len;
	uint64_t ts, v;

	memset(i, 0, sizeof(*i));
	if (open_body(body, len, base, REC_LOOP_INFO, &p, &ts) || rec_field_get_u(&p, end, &v, 100000) ||
	    rec_field_get_u(&p, end, &i->threshold, UINT64_MAX) || rec_field_get_u(&p, end, &i->min_span, UINT64_MAX) ||
	    rec_field_get_s(&p, end, i->hook, sizeof(i->hook)))
		return -1;
	i->hz = (uint32_t)v;
	return 0;	/* a newer writer may add fields */
}

int loop_rec_frame_dec(const uint8_t *body, size_t len, uint64_t base, uint32_t *id, struct stack_frame *f)
{
	const uint8_t *p, *end = body + len;
	uint64_t ts, v, line;

	memset(f, 0, sizeof(*f));
	if (open_body(body, len, base, REC_LOOP_FRAME, &p, &ts) ||
	    rec_field_get_u(&p, end, &v, LOOP_REC_MAX_FRAMES - 1) || rec_field_get_u(&p, end, &line, UINT32_MAX) ||
	    rec_field_get_s(&p, end, f->func, sizeof(f->func)) || rec_field_get_s(&p, end, f->file, sizeof(f->file)))
		return -1;
	*id = (uint32_t)v;
	f->line = (int)zigzag_dec(line);
	return 0;
}

int loop_rec_span_dec(const uint8_t *body, size_t len, uint64_t base, struct loop_rec_span *s)
{
	const uint8_t *p, *end = body + len;
	uint64_t dur, tid, ns_tid;

	memset(s, 0, sizeof(*s));
	if (open_body(body, len, base, REC_LOOP_SPAN, &p, &s->end) || rec_field_get_u(&p, end, &dur, s->end) ||
	    rec_field_get_u(&p, end, &tid, UINT32_MAX) || rec_field_get_u(&p, end, &ns_tid, 1ull << 33) ||
	    rec_field_get_u(&p, end, &s->run_delay, dur))
		return -1;
	s->begin = s->end - dur;
	s->tid = (uint32_t)tid;
	s->ns_tid = (uint32_t)((int64_t)tid - zigzag_dec(ns_tid));
	return 0;
}

int loop_rec_sample_dec(const uint8_t *body, size_t len, uint64_t base, struct loop_rec_sample *s)
{
	const uint8_t *p, *end = body + len;
	uint64_t v[4];

	s->n = 0;
	if (open_body(body, len, base, REC_LOOP_SAMPLE, &p, &s->ts) || rec_field_get_u(&p, end, &v[0], UINT32_MAX) ||
	    rec_field_get_u(&p, end, &v[1], 1ull << 33) || rec_field_get_u(&p, end, &v[2], UINT32_MAX) ||
	    rec_field_get_u(&p, end, &s->task, UINT64_MAX))
		return -1;
	s->coro = 0;
	if ((v[2] & LOOP_REC_CORO) && rec_field_get_u(&p, end, &s->coro, UINT64_MAX))
		return -1;
	if (rec_field_get_u(&p, end, &v[3], APS_SAMPLE_MAX_FRAMES))
		return -1;
	s->tid = (uint32_t)v[0];
	s->ns_tid = (uint32_t)((int64_t)v[0] - zigzag_dec(v[1]));
	s->flags = (uint32_t)v[2];
	for (uint32_t i = 0; i < v[3]; i++) {
		uint64_t id;

		if (rec_field_get_u(&p, end, &id, 2 * LOOP_REC_MAX_FRAMES - 1))
			return -1;
		s->ids[i] = (uint32_t)id;
	}
	s->n = (uint32_t)v[3];
	return 0;
}

int loop_rec_stall_dec(const uint8_t *body, size_t len, uint64_t base, struct loop_stall *st)
{
	const uint8_t *p, *end = body + len;
	uint64_t ts, v[6];

	memset(st, 0, sizeof(*st));
	st->fn_frame = -1;
	if (open_body(body, len, base, REC_LOOP_STALL, &p, &ts) || rec_field_get_u(&p, end, &v[0], UINT32_MAX) ||
	    rec_field_get_u(&p, end, &v[1], UINT32_MAX) || rec_field_get_u(&p, end, &st->begin_ts, ts) ||
	    rec_field_get_u(&p, end, &st->duration_ns, UINT64_MAX) ||
	    rec_field_get_u(&p, end, &st->run_delay_ns, st->duration_ns) || rec_field_get_u(&p, end, &v[2], STALL_TASK) ||
	    rec_field_get_u(&p, end, &v[3], STACK_MAX_FRAMES) || rec_field_get_u(&p, end, &st->task, UINT64_MAX) ||
	    rec_field_get_u(&p, end, &v[4], 3) || rec_field_get_s(&p, end, st->task_name, sizeof(st->task_name)) ||
	    rec_field_get_s(&p, end, st->coro, sizeof(st->coro)))
		return -1;
	st->used = true;
	st->tid = (uint32_t)v[0];
	st->ns_tid = (uint32_t)v[1];
	st->kind = (enum stall_kind)v[2];
	st->ended = v[4] & 1;
	st->stack_taken = v[4] & 2;
	if (st->stack_taken) {
		if (rec_blocked_decode(p, (size_t)(end - p), &st->cap))
			return -1;
	} else if (p != end) {
		return -1;
	}
	/* the function's frame must be in the stack read */
	if (v[3] && st->stack_taken && v[3] - 1 < st->cap.stack.n)
		st->fn_frame = (int)(v[3] - 1);
	else if (st->kind != STALL_UNKNOWN)
		st->kind = STALL_UNKNOWN;
	return 0;
}

int loop_rec_lost_dec(const uint8_t *body, size_t len, uint64_t base, struct loop_rec_lost *l)
{
	const uint8_t *p, *end = body + len;
	uint64_t ts;

	return open_body(body, len, base, REC_LOOP_LOST, &p, &ts) ||
	       rec_field_get_u(&p, end, &l->samples, UINT64_MAX) || rec_field_get_u(&p, end, &l->spans, UINT64_MAX) ||
	       rec_field_get_u(&p, end, &l->read_errors, UINT64_MAX) ? -1 : 0;
}

int loop_rec_coro_enc(struct rec_buf *b, uint64_t base, uint64_t ts, uint64_t coro, uint64_t task)
{
	if (head(b, REC_LOOP_CORO, base, ts, 2 * VARINT_MAX))
		return -ENOMEM;
	rec_field_put_u(b, coro);
	rec_field_put_u(b, task);
	return 0;
}

int loop_rec_coro_dec(const uint8_t *body, size_t len, uint64_t base, uint64_t *coro, uint64_t *task)
{
	const uint8_t *p, *end = body + len;
	uint64_t ts;

	return open_body(body, len, base, REC_LOOP_CORO, &p, &ts) || rec_field_get_u(&p, end, coro, UINT64_MAX) ||
	       rec_field_get_u(&p, end, task, UINT64_MAX) ? -1 : 0;
}
