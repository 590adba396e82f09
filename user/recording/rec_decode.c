// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "aps_events.h"
#include "recording/rec_codec.h"
#include "recording/varint.h"

/* ---- decoding -------------------------------------------------------------- */

struct dec {
	const uint8_t *p, *end;
	int err;		/* -1 malformed, -ENOMEM */
};

static uint8_t get8(struct dec *r)
{
	if (r->p >= r->end) {
		r->err = r->err ? r->err : -1;
		return 0;
	}
	return *r->p++;
}

static uint64_t getv(struct dec *r)
{
	uint64_t v = 0;

	if (varint_get(&r->p, r->end, &v)) {
		r->err = r->err ? r->err : -1;
		r->p = r->end;
		return 0;
	}
	return v;
}

static uint64_t getv_max(struct dec *r, uint64_t max)
{
	uint64_t v = getv(r);

	if (v > max) {
		r->err = r->err ? r->err : -1;
		return 0;
	}
	return v;
}

/* The inverse of zigzag_delta(ts, t): t. */
static uint64_t before(uint64_t ts, uint64_t z)
{
	return ts - (uint64_t)zigzag_dec(z);
}

static void bad(struct dec *r)
{
	if (!r->err)
		r->err = -1;
}

enum ref { REF_NONE, REF_LITERAL, REF_ID };

/* A reference as put_ref() wrote it: *v the literal (*last follows it) or the id. */
static enum ref get_ref(struct dec *r, uint64_t *last, uint64_t *v)
{
	uint64_t k = getv(r);

	*v = 0;
	if (r->err || k == 0)
		return REF_NONE;
	if (k > 1) {
		*v = k - 2;
		return REF_ID;
	}
	*v = *last = zigzag_undelta(*last, getv(r));
	return REF_LITERAL;
}

/* A table's growth (0, -1 full, or -ENOMEM) into r->err: true when it grew. */
static bool grew(struct dec *r, int rc)
{
	if (rc == -1)
		bad(r);
	else if (rc)
		r->err = -ENOMEM;
	return !rc;
}

static uint64_t get_task_ref(struct rec_codec *c, struct dec *r, bool assign)
{
	uint64_t v;

	switch (get_ref(r, &c->last_lit, &v)) {
	case REF_NONE: return 0;
	case REF_ID:
		if (v >= c->nids || !c->ids[v].live) {
			bad(r);
			return 0;
		}
		return c->ids[v].addr;
	case REF_LITERAL: break;
	}
	if (!assign || r->err)
		return v;
	if (!v || rec_codec_task_id(c, v) >= 0) {
		bad(r);	/* the writer names a known task by its id */
		return 0;
	}
	return grew(r, rec_codec_assign_id(c, v)) ? v : 0;
}

static uint64_t get_type_ref(struct rec_codec *c, struct dec *r)
{
	uint64_t v;

	switch (get_ref(r, &c->last_type_lit, &v)) {
	case REF_NONE: return 0;
	case REF_ID:
		if (v >= c->ntypes) {
			bad(r);
			return 0;
		}
		return c->types[v];
	case REF_LITERAL: break;
	}
	if (r->err)
		return 0;
	if (!v || rec_codec_map_find(&c->type_map, v) >= 0) {
		bad(r);
		return 0;
	}
	if (!grew(r, rec_codec_grow_types(c)))
		return 0;
	if (u64_map_put(&c->type_map, v, c->ntypes)) {
		r->err = -ENOMEM;
		return 0;
	}
	c->types[c->ntypes++] = v;
	return v;
}

static void get_pystr_literal(struct dec *r, struct aps_pystr *s)
{
	uint8_t b = get8(r);
	size_t nb;

	if (b == 0xff) {
		s->kind = get8(r);
		s->is_int = get8(r);
		s->truncated = get8(r);
		s->value = getv(r);
	} else if (b < 0x40) {
		s->kind = b & 7;
		s->is_int = (b >> 3) & 1;
		s->truncated = (b >> 4) & 1;
		s->value = (b & 0x20) ? getv(r) : 0;
	} else {
		bad(r);
	}
	s->nchars = (uint32_t)getv_max(r, UINT32_MAX);
	if (r->err)
		return;
	nb = rec_codec_pystr_nbytes(s->kind, s->is_int, s->nchars);
	if ((size_t)(r->end - r->p) < nb) {
		bad(r);
		return;
	}
	memcpy(s->data, r->p, nb);
	r->p += nb;
}

static void get_str_ref(struct rec_codec *c, struct dec *r, struct aps_pystr *s)
{
	uint64_t v = getv(r);

	memset(s, 0, sizeof(*s));
	if (r->err || v == 0)
		return;
	if (v == 1) {
		const uint8_t *start = r->p;
		int rc;

		get_pystr_literal(r, s);
		if (r->err)
			return;
		rc = rec_codec_intern(c, start, (size_t)(r->p - start));
		if (rc == -1)
			bad(r);
		else if (rc)
			r->err = rc;
		return;
	}
	v -= 2;
	if (v >= c->nstrings) {
		bad(r);
		return;
	}
	struct dec a = { c->arena + c->str_off[v], c->arena + c->str_off[v] + c->str_len[v], 0 };

	get_pystr_literal(&a, s);
	if (a.err)
		bad(r);
}

int rec_decode_event(struct rec_codec *c, const uint8_t **p, const uint8_t *end, void *out,
		     size_t *len)
{
	union rec_any *e = out;
	struct aps_event_hdr *h = &e->hdr;
	struct dec r = { *p, end, 0 };
	struct rec_thread *th;
	uint8_t op = get8(&r), kind = op & REC_OP_KIND;
	uint64_t x = 0;
	int64_t id;

	if (r.err || kind < APS_EV_TASK_NEW || kind > APS_EV_CANCEL)
		return -1;
	memset(e, 0, rec_codec_event_size(kind));
	h->type = kind;
	if (op & REC_OP_X)
		x = getv_max(&r, 0x7f);
	if (op & REC_OP_THREAD) {
		uint64_t s = getv(&r);

		if (r.err || s > c->nthreads || s >= REC_MAX_THREADS)
			return -1;
		if (s == c->nthreads) {
			uint32_t tid = (uint32_t)getv_max(&r, UINT32_MAX);
			int64_t ns = (int64_t)tid + zigzag_dec(getv(&r));

			if (r.err || ns < 0 || ns > UINT32_MAX)
				return -1;
			switch (rec_codec_grow_threads(c)) {
			case 0: break;
			case -1: return -1;
			default: return -ENOMEM;
			}
			c->threads[s] = (struct rec_thread){ .tid = tid, .ns_tid = (uint32_t)ns,
							     .last_ts = c->base_ts };
			c->nthreads++;
		}
		c->cur = (int32_t)s;
	}
	if (c->cur < 0)
		return -1;
	th = &c->threads[c->cur];
	h->tid = th->tid;
	if (x & REC_X_HFLAGS)
		h->flags = (uint16_t)getv_max(&r, UINT16_MAX);
	if (!(x & REC_X_TS_ZERO)) {
		h->ts_ns = zigzag_undelta(th->last_ts, getv(&r));
		th->last_ts = h->ts_ns;
	}
	if (r.err)
		return r.err;

	switch (kind) {
	case APS_EV_TASK_NEW:
		h->task = get_task_ref(c, &r, true);
		if (op & REC_OP_K1)
			e->tn.create_ts_ns = before(h->ts_ns, getv(&r));
		e->tn.create_tid = (op & REC_OP_K2) ? h->tid : (uint32_t)getv_max(&r, UINT32_MAX);
		e->tn.creator = get_task_ref(c, &r, true);
		e->tn.coro = get_task_ref(c, &r, false);
		get_str_ref(c, &r, &e->tn.name);
		get_str_ref(c, &r, &e->tn.coro_qualname);
		break;
	case APS_EV_STEP_BEGIN:
		h->task = get_task_ref(c, &r, true);
		id = rec_codec_task_id(c, h->task);
		if (op & REC_OP_K1)
			e->sb.waiter = id >= 0 ? c->ids[id].last_waiter : 0;
		else
			e->sb.waiter = get_task_ref(c, &r, false);
		if (op & REC_OP_K2)
			e->sb.exc = get_task_ref(c, &r, false);
		if (x & REC_X_DEPTH)
			e->sb.depth = (uint32_t)getv_max(&r, UINT32_MAX);
		th->last_task = h->task;
		th->last_begin_ts = h->ts_ns;
		if (id >= 0)
			c->ids[id].last_begin_ts = h->ts_ns;
		break;
	case APS_EV_STEP_END: {
		uint64_t pred;

		if (op & REC_OP_K1)
			h->task = th->last_task;
		else
			h->task = get_task_ref(c, &r, true);
		id = rec_codec_task_id(c, h->task);
		pred = (op & REC_OP_K1) ? th->last_begin_ts : id >= 0 ? c->ids[id].last_begin_ts : 0;
		e->se.begin_ts_ns = (x & REC_X_BEGIN) ? before(h->ts_ns, getv(&r)) : pred;
		if (x & REC_X_RAWRB) {
			e->se.result = get8(&r);
			e->se.boundary = get8(&r);
		} else {
			uint8_t rb = get8(&r);

			e->se.result = rb & 15;
			e->se.boundary = rb >> 4;
		}
		if (op & REC_OP_K2) {
			e->se.waiter = get_task_ref(c, &r, false);
			e->se.waiter_type = get_type_ref(c, &r);
		}
		if (x & REC_X_EXC)
			e->se.exc_type = get_type_ref(c, &r);
		if (id >= 0)
			c->ids[id].last_waiter = e->se.waiter;
		break;
	}
	case APS_EV_TASK_DESTROY:
		h->task = get_task_ref(c, &r, true);
		e->td.state = (uint32_t)getv_max(&r, UINT32_MAX);
		if (op & REC_OP_K1)
			e->td.stepped = 1;
		if (x & REC_X_STEPPED)
			e->td.stepped = (uint32_t)getv_max(&r, UINT32_MAX);
		if (!r.err)
			rec_codec_free_id(c, h->task);
		break;
	case APS_EV_TYPE_NAME: {
		uint64_t nl;

		h->task = get_type_ref(c, &r);
		nl = getv_max(&r, sizeof(e->ty.name));
		if (r.err || (uint64_t)(r.end - r.p) < nl)
			return r.err ? r.err : -1;
		memcpy(e->ty.name, r.p, nl);
		if (strnlen(e->ty.name, nl) != nl)
			return -1;	/* a NUL inside */
		r.p += nl;
		break;
	}
	case APS_EV_CANCEL:
		h->task = get_task_ref(c, &r, true);
		e->ca.requester = get_task_ref(c, &r, true);
		if (x & REC_X_MSG) {
			get_str_ref(c, &r, &e->ca.msg);
			if (!r.err && rec_codec_pystr_empty(&e->ca.msg))
				return -1;	/* the writer sends no empty msg */
		}
		break;
	}
	if (r.err)
		return r.err;
	*len = rec_codec_event_size(kind);
	*p = r.p;
	return 0;
}
