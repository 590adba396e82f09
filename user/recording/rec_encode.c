// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "aps_events.h"
#include "recording/rec_codec.h"
#include "recording/varint.h"

/* ---- encoding -------------------------------------------------------------- */

struct enc {
	uint8_t *p;
};

static void put8(struct enc *w, uint8_t b)
{
	*w->p++ = b;
}

static void putv(struct enc *w, uint64_t v)
{
	w->p += varint_put(w->p, v);
}

/*
 * A reference: 0 for none, id + 2 for a known one (id >= 0), else 1 and
 * the zigzag delta from *last. True when v went out as such a literal.
 */
static bool put_ref(struct enc *w, uint64_t v, int64_t id, uint64_t *last)
{
	if (!v || id >= 0) {
		putv(w, v ? (uint64_t)id + 2 : 0);
		return false;
	}
	putv(w, 1);
	putv(w, zigzag_delta(v, *last));
	*last = v;
	return true;
}

static int put_task_ref(struct rec_codec *c, struct enc *w, uint64_t addr)
{
	if (!put_ref(w, addr, rec_codec_task_id(c, addr), &c->last_lit))
		return 0;
	return rec_codec_assign_id(c, addr) ? -ENOMEM : 0;
}

static void put_value_ref(struct rec_codec *c, struct enc *w, uint64_t addr)
{
	put_ref(w, addr, rec_codec_task_id(c, addr), &c->last_lit);
}

static int put_type_ref(struct rec_codec *c, struct enc *w, uint64_t type)
{
	int64_t id = type ? rec_codec_map_find(&c->type_map, type) : -1;

	if (!put_ref(w, type, id, &c->last_type_lit))
		return 0;
	if (rec_codec_grow_types(c) || u64_map_put(&c->type_map, type, c->ntypes))
		return -ENOMEM;
	c->types[c->ntypes++] = type;
	return 0;
}

/* A pystr literal (docs/recording-format.md, "Strings"). */
static size_t pystr_literal(const struct aps_pystr *s, uint8_t *out)
{
	struct enc w = { out };
	size_t nb = rec_codec_pystr_nbytes(s->kind, s->is_int, s->nchars);

	if (s->kind <= 7 && s->is_int <= 1 && s->truncated <= 1) {
		put8(&w, (uint8_t)(s->kind | s->is_int << 3 | s->truncated << 4 | (s->value ? 0x20 : 0)));
		if (s->value)
			putv(&w, s->value);
	} else {
		put8(&w, 0xff);
		put8(&w, s->kind);
		put8(&w, s->is_int);
		put8(&w, s->truncated);
		putv(&w, s->value);
	}
	putv(&w, s->nchars);
	memcpy(w.p, s->data, nb);
	return (size_t)(w.p - out) + nb;
}

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return (uint32_t)u64_map_mix(h);
}

/* Writer: id of an interned literal, or -1. */
static int64_t str_find(const struct rec_codec *c, const uint8_t *lit, size_t n, uint32_t h)
{
	uint32_t mask = c->str_slots_cap - 1;

	if (!c->str_slots_cap)
		return -1;
	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t id = c->str_slots[i];

		if (!id)
			return -1;
		id--;
		if (c->str_len[id] == n && !memcmp(c->arena + c->str_off[id], lit, n))
			return id;
	}
}

static int str_slots_add(struct rec_codec *c, uint32_t id, uint32_t h)
{
	uint32_t mask;

	if ((uint64_t)(id + 1) * 2 > c->str_slots_cap) {
		uint32_t cap = c->str_slots_cap ? c->str_slots_cap * 2 : 128;
		uint32_t *s = calloc(cap, sizeof(*s));

		if (!s)
			return -ENOMEM;
		free(c->str_slots);
		c->str_slots = s;
		c->str_slots_cap = cap;
		/* rehash the ids before this one */
		for (uint32_t j = 0; j < id; j++) {
			uint32_t hj = hash_bytes(c->arena + c->str_off[j], c->str_len[j]);

			for (uint32_t i = hj & (cap - 1);; i = (i + 1) & (cap - 1))
				if (!s[i]) {
					s[i] = j + 1;
					break;
				}
		}
	}
	mask = c->str_slots_cap - 1;
	for (uint32_t i = h & mask;; i = (i + 1) & mask)
		if (!c->str_slots[i]) {
			c->str_slots[i] = id + 1;
			return 0;
		}
}

static int put_str_ref(struct rec_codec *c, struct enc *w, const struct aps_pystr *s)
{
	uint8_t lit[APS_STR_MAX + 32];
	size_t n;
	uint32_t h;
	int64_t id;

	if (rec_codec_pystr_empty(s)) {
		putv(w, 0);
		return 0;
	}
	n = pystr_literal(s, lit);
	h = hash_bytes(lit, n);
	id = str_find(c, lit, n, h);
	if (id >= 0) {
		putv(w, (uint64_t)id + 2);
		return 0;
	}
	putv(w, 1);
	memcpy(w->p, lit, n);
	w->p += n;
	if (rec_codec_intern(c, lit, n) || str_slots_add(c, c->nstrings - 1, h))
		return -ENOMEM;
	return 0;
}

static int thread_slot(struct rec_codec *c, uint32_t tid)
{
	return (int)rec_codec_map_find(&c->thread_map, (uint64_t)tid);
}

/* The kind's flags of e, predicted from the state the decoder will have. */
static void predict(const struct rec_codec *c, const union rec_any *e, const struct rec_thread *th,
		    int64_t id, uint8_t *op, uint32_t *x)
{
	const struct aps_event_hdr *h = &e->hdr;

	switch (h->type) {
	case APS_EV_TASK_NEW:
		if (e->tn.create_ts_ns)
			*op |= REC_OP_K1;
		if (e->tn.create_tid == h->tid)
			*op |= REC_OP_K2;
		break;
	case APS_EV_STEP_BEGIN:
		if (e->sb.waiter == (id >= 0 ? c->ids[id].last_waiter : 0))
			*op |= REC_OP_K1;
		if (e->sb.exc)
			*op |= REC_OP_K2;
		if (e->sb.depth)
			*x |= REC_X_DEPTH;
		break;
	case APS_EV_STEP_END: {
		bool same = h->task && h->task == th->last_task;
		uint64_t pred = same ? th->last_begin_ts : id >= 0 ? c->ids[id].last_begin_ts : 0;

		if (same)
			*op |= REC_OP_K1;
		if (e->se.begin_ts_ns != pred)
			*x |= REC_X_BEGIN;
		if (e->se.result > 15 || e->se.boundary > 15)
			*x |= REC_X_RAWRB;
		if (e->se.waiter || e->se.waiter_type)
			*op |= REC_OP_K2;
		if (e->se.exc_type)
			*x |= REC_X_EXC;
		break;
	}
	case APS_EV_TASK_DESTROY:
		if (e->td.stepped == 1)
			*op |= REC_OP_K1;
		else if (e->td.stepped)
			*x |= REC_X_STEPPED;
		break;
	case APS_EV_CANCEL:
		if (!rec_codec_pystr_empty(&e->ca.msg))
			*x |= REC_X_MSG;
		break;
	}
}

int rec_encode_event(struct rec_codec *c, const void *data, size_t len, uint8_t *out)
{
	union rec_any e;
	struct aps_event_hdr *h = &e.hdr;
	struct enc w = { out };
	struct rec_thread fresh = { .last_ts = c->base_ts }, *th;
	uint8_t op;
	uint32_t x = 0;
	int slot, n = rec_canonical(data, len, &e);
	int64_t id;

	if (n < 0)
		return -1;
	op = (uint8_t)h->type;
	slot = thread_slot(c, h->tid);
	th = slot >= 0 ? &c->threads[slot] : &fresh;
	if (slot < 0 || slot != c->cur)
		op |= REC_OP_THREAD;
	if (h->flags)
		x |= REC_X_HFLAGS;
	if (!h->ts_ns)
		x |= REC_X_TS_ZERO;

	id = rec_codec_task_id(c, h->task);
	predict(c, &e, th, id, &op, &x);
	if (x)
		op |= REC_OP_X;
	put8(&w, op);
	if (x)
		putv(&w, x);
	if (op & REC_OP_THREAD) {
		if (slot >= 0) {
			putv(&w, (uint64_t)slot);
		} else {
			uint32_t ns = c->ns_tid ? c->ns_tid(c->ns_ctx, h->tid) : h->tid;

			if (rec_codec_grow_threads(c))
				return -ENOMEM;	/* rec_codec_full() was not heeded */
			putv(&w, c->nthreads);
			putv(&w, h->tid);
			putv(&w, zigzag_enc((int64_t)ns - (int64_t)h->tid));
			slot = (int)c->nthreads;
			if (u64_map_put(&c->thread_map, h->tid, (uint32_t)slot))
				return -ENOMEM;
			c->threads[slot] = fresh;
			c->threads[slot].tid = h->tid;
			c->threads[slot].ns_tid = ns;
			c->nthreads++;
		}
		th = &c->threads[slot];
	}
	c->cur = slot;
	if (x & REC_X_HFLAGS)
		putv(&w, h->flags);
	if (!(x & REC_X_TS_ZERO)) {
		putv(&w, zigzag_delta(h->ts_ns, th->last_ts));
		th->last_ts = h->ts_ns;
	}

	switch (h->type) {
	case APS_EV_TASK_NEW:
		if (put_task_ref(c, &w, h->task))
			return -ENOMEM;
		if (op & REC_OP_K1)
			putv(&w, zigzag_delta(h->ts_ns, e.tn.create_ts_ns));
		if (!(op & REC_OP_K2))
			putv(&w, e.tn.create_tid);
		if (put_task_ref(c, &w, e.tn.creator))
			return -ENOMEM;
		put_value_ref(c, &w, e.tn.coro);
		if (put_str_ref(c, &w, &e.tn.name) || put_str_ref(c, &w, &e.tn.coro_qualname))
			return -ENOMEM;
		break;
	case APS_EV_STEP_BEGIN:
		if (put_task_ref(c, &w, h->task))
			return -ENOMEM;
		if (!(op & REC_OP_K1))
			put_value_ref(c, &w, e.sb.waiter);
		if (op & REC_OP_K2)
			put_value_ref(c, &w, e.sb.exc);
		if (x & REC_X_DEPTH)
			putv(&w, e.sb.depth);
		id = rec_codec_task_id(c, h->task);
		th->last_task = h->task;
		th->last_begin_ts = h->ts_ns;
		if (id >= 0)
			c->ids[id].last_begin_ts = h->ts_ns;
		break;
	case APS_EV_STEP_END:
		if (!(op & REC_OP_K1) && put_task_ref(c, &w, h->task))
			return -ENOMEM;
		if (x & REC_X_BEGIN)
			putv(&w, zigzag_delta(h->ts_ns, e.se.begin_ts_ns));
		if (x & REC_X_RAWRB) {
			put8(&w, e.se.result);
			put8(&w, e.se.boundary);
		} else {
			put8(&w, (uint8_t)(e.se.result | e.se.boundary << 4));
		}
		if (op & REC_OP_K2) {
			put_value_ref(c, &w, e.se.waiter);
			if (put_type_ref(c, &w, e.se.waiter_type))
				return -ENOMEM;
		}
		if ((x & REC_X_EXC) && put_type_ref(c, &w, e.se.exc_type))
			return -ENOMEM;
		id = rec_codec_task_id(c, h->task);
		if (id >= 0)
			c->ids[id].last_waiter = e.se.waiter;
		break;
	case APS_EV_TASK_DESTROY:
		if (put_task_ref(c, &w, h->task))
			return -ENOMEM;
		putv(&w, e.td.state);
		if (x & REC_X_STEPPED)
			putv(&w, e.td.stepped);
		rec_codec_free_id(c, h->task);
		break;
	case APS_EV_TYPE_NAME: {
		size_t nl = strnlen(e.ty.name, sizeof(e.ty.name));

		if (put_type_ref(c, &w, h->task))
			return -ENOMEM;
		putv(&w, nl);
		memcpy(w.p, e.ty.name, nl);
		w.p += nl;
		break;
	}
	case APS_EV_CANCEL:
		if (put_task_ref(c, &w, h->task) || put_task_ref(c, &w, e.ca.requester))
			return -ENOMEM;
		if ((x & REC_X_MSG) && put_str_ref(c, &w, &e.ca.msg))
			return -ENOMEM;
		break;
	}
	return (int)(w.p - out);
}
