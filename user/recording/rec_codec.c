// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "aps_events.h"
#include "recording/rec_codec.h"
#include "recording/varint.h"

/* The id of key in m, or -1. */
static int64_t map_find(const struct u64_map *m, uint64_t key)
{
	uint32_t v;

	return u64_map_get(m, key, &v) ? (int64_t)v : -1;
}

/* ---- codec state ----------------------------------------------------------- */

int rec_codec_init(struct rec_codec *c, bool writer)
{
	memset(c, 0, sizeof(*c));
	c->writer = writer;
	rec_codec_reset(c, 0);
	return 0;
}

void rec_codec_free(struct rec_codec *c)
{
	free(c->threads);
	free(c->ids);
	free(c->free_ids);
	free(c->types);
	free(c->arena);
	free(c->str_off);
	free(c->str_len);
	free(c->str_slots);
	u64_map_free(&c->thread_map);
	u64_map_free(&c->task_map);
	u64_map_free(&c->type_map);
	memset(c, 0, sizeof(*c));
}

void rec_codec_reset(struct rec_codec *c, uint64_t base_ts)
{
	c->base_ts = base_ts;
	c->nthreads = 0;
	c->cur = -1;
	c->nids = c->nfree = 0;
	c->ntypes = 0;
	c->nstrings = 0;
	c->arena_len = 0;
	c->last_lit = c->last_type_lit = 0;
	u64_map_clear(&c->thread_map);
	u64_map_clear(&c->task_map);
	u64_map_clear(&c->type_map);
	if (c->str_slots)
		memset(c->str_slots, 0, sizeof(*c->str_slots) * c->str_slots_cap);
}

bool rec_codec_full(const struct rec_codec *c)
{
	return c->nthreads + 2 > REC_MAX_THREADS || c->nids - c->nfree + 4 > REC_MAX_TASK_IDS ||
	       c->nids + 4 > REC_MAX_TASK_IDS || c->ntypes + 4 > REC_MAX_TYPES ||
	       c->nstrings + 4 > REC_MAX_STRINGS ||
	       c->arena_len + 4 * REC_ENC_MAX > REC_MAX_STRING_BYTES;
}

uint32_t rec_codec_ns_tid(const struct rec_codec *c, uint32_t tid)
{
	for (uint32_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].tid == tid)
			return c->threads[i].ns_tid;
	return tid;
}

/* Room for one more thread / type (the tables grow up to their limits). */
static int grow_threads(struct rec_codec *c)
{
	uint32_t cap = c->threads_cap ? c->threads_cap * 2 : 16;
	struct rec_thread *t;

	if (c->nthreads < c->threads_cap)
		return 0;
	if (c->threads_cap >= REC_MAX_THREADS)
		return -1;
	t = realloc(c->threads, sizeof(*t) * cap);
	if (!t)
		return -ENOMEM;
	c->threads = t;
	c->threads_cap = cap;
	return 0;
}

static int grow_types(struct rec_codec *c)
{
	uint32_t cap = c->types_cap ? c->types_cap * 2 : 32;
	uint64_t *t;

	if (c->ntypes < c->types_cap)
		return 0;
	if (c->types_cap >= REC_MAX_TYPES)
		return -1;
	t = realloc(c->types, sizeof(*t) * cap);
	if (!t)
		return -ENOMEM;
	c->types = t;
	c->types_cap = cap;
	return 0;
}

static int64_t task_id(const struct rec_codec *c, uint64_t addr)
{
	return addr ? map_find(&c->task_map, addr) : -1;
}

static int assign_id(struct rec_codec *c, uint64_t addr)
{
	uint32_t id;

	if (c->nfree) {
		id = c->free_ids[--c->nfree];
	} else {
		if (c->nids >= REC_MAX_TASK_IDS)
			return -1;
		if (c->nids == c->ids_cap) {
			uint32_t cap = c->ids_cap ? c->ids_cap * 2 : 256;
			struct rec_taskid *ids = realloc(c->ids, sizeof(*ids) * cap);
			uint32_t *fr;

			if (!ids)
				return -ENOMEM;
			c->ids = ids;
			fr = realloc(c->free_ids, sizeof(*fr) * cap);
			if (!fr)
				return -ENOMEM;
			c->free_ids = fr;
			c->ids_cap = cap;
		}
		id = c->nids++;
	}
	if (u64_map_put(&c->task_map, addr, id))
		return -ENOMEM;
	c->ids[id] = (struct rec_taskid){ .addr = addr, .live = true };
	return 0;
}

static void free_id(struct rec_codec *c, uint64_t addr)
{
	int64_t id = task_id(c, addr);

	if (id < 0)
		return;
	u64_map_del(&c->task_map, addr);
	c->ids[id].live = false;
	c->free_ids[c->nfree++] = (uint32_t)id;
}

/* ---- canonical records ----------------------------------------------------- */

union rec_any {
	struct aps_event_hdr hdr;
	struct aps_ev_task_new tn;
	struct aps_ev_step_begin sb;
	struct aps_ev_step_end se;
	struct aps_ev_task_destroy td;
	struct aps_ev_type_name ty;
	struct aps_ev_cancel ca;
};

_Static_assert(sizeof(union rec_any) <= REC_EVENT_MAX, "REC_EVENT_MAX too small");

static size_t event_size(unsigned type)
{
	switch (type) {
	case APS_EV_TASK_NEW: return sizeof(struct aps_ev_task_new);
	case APS_EV_STEP_BEGIN: return sizeof(struct aps_ev_step_begin);
	case APS_EV_STEP_END: return sizeof(struct aps_ev_step_end);
	case APS_EV_TASK_DESTROY: return sizeof(struct aps_ev_task_destroy);
	case APS_EV_TYPE_NAME: return sizeof(struct aps_ev_type_name);
	case APS_EV_CANCEL: return sizeof(struct aps_ev_cancel);
	}
	return 0;
}

/* Bytes of data a pystr carries. */
static size_t pystr_nbytes(uint8_t kind, uint8_t is_int, uint32_t nchars)
{
	uint64_t n;

	if (is_int || (kind != 1 && kind != 2 && kind != 4))
		return 0;
	n = (uint64_t)nchars * kind;
	return n < APS_STR_MAX ? (size_t)n : APS_STR_MAX;
}

static void canon_pystr(struct aps_pystr *s)
{
	size_t nb = pystr_nbytes(s->kind, s->is_int, s->nchars);

	s->pad = 0;
	memset(s->data + nb, 0, sizeof(s->data) - nb);
}

int rec_canonical(const void *data, size_t len, void *out)
{
	const struct aps_event_hdr *h = data;
	union rec_any *e = out;
	size_t want;

	if (len < sizeof(*h))
		return -1;
	want = event_size(h->type);
	if (!want || len < want)
		return -1;
	memcpy(e, data, want);
	switch (h->type) {
	case APS_EV_TASK_NEW:
		e->tn.pad = 0;
		canon_pystr(&e->tn.name);
		canon_pystr(&e->tn.coro_qualname);
		break;
	case APS_EV_STEP_BEGIN:
		e->sb.pad = 0;
		break;
	case APS_EV_STEP_END:
		memset(e->se.pad, 0, sizeof(e->se.pad));
		break;
	case APS_EV_TYPE_NAME: {
		size_t n = strnlen(e->ty.name, sizeof(e->ty.name));

		memset(e->ty.name + n, 0, sizeof(e->ty.name) - n);
		break;
	}
	case APS_EV_CANCEL:
		canon_pystr(&e->ca.msg);
		break;
	}
	return (int)want;
}

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

static int put_task_ref(struct rec_codec *c, struct enc *w, uint64_t addr)
{
	int64_t id = task_id(c, addr);

	if (!addr) {
		putv(w, 0);
		return 0;
	}
	if (id >= 0) {
		putv(w, (uint64_t)id + 2);
		return 0;
	}
	putv(w, 1);
	putv(w, zigzag_delta(addr, c->last_lit));
	c->last_lit = addr;
	return assign_id(c, addr) ? -ENOMEM : 0;
}

static void put_value_ref(struct rec_codec *c, struct enc *w, uint64_t addr)
{
	int64_t id = task_id(c, addr);

	if (!addr) {
		putv(w, 0);
	} else if (id >= 0) {
		putv(w, (uint64_t)id + 2);
	} else {
		putv(w, 1);
		putv(w, zigzag_delta(addr, c->last_lit));
		c->last_lit = addr;
	}
}

static int put_type_ref(struct rec_codec *c, struct enc *w, uint64_t type)
{
	int64_t id = type ? map_find(&c->type_map, type) : -1;

	if (!type) {
		putv(w, 0);
		return 0;
	}
	if (id >= 0) {
		putv(w, (uint64_t)id + 2);
		return 0;
	}
	putv(w, 1);
	putv(w, zigzag_delta(type, c->last_type_lit));
	c->last_type_lit = type;
	if (grow_types(c) || u64_map_put(&c->type_map, type, c->ntypes))
		return -ENOMEM;
	c->types[c->ntypes++] = type;
	return 0;
}

static bool pystr_empty(const struct aps_pystr *s)
{
	return !s->nchars && !s->kind && !s->is_int && !s->truncated && !s->value;
}

/* A pystr literal (docs/recording-format.md, "Strings"). */
static size_t pystr_literal(const struct aps_pystr *s, uint8_t *out)
{
	struct enc w = { out };
	size_t nb = pystr_nbytes(s->kind, s->is_int, s->nchars);

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

static int intern(struct rec_codec *c, const uint8_t *lit, size_t n)
{
	if (c->nstrings >= REC_MAX_STRINGS || c->arena_len + n > REC_MAX_STRING_BYTES)
		return -1;
	if (c->arena_len + n > c->arena_cap) {
		size_t cap = c->arena_cap ? c->arena_cap : 4096;
		uint8_t *a;

		while (cap < c->arena_len + n)
			cap *= 2;
		a = realloc(c->arena, cap);
		if (!a)
			return -ENOMEM;
		c->arena = a;
		c->arena_cap = cap;
	}
	if (c->nstrings == c->str_cap) {
		uint32_t cap = c->str_cap ? c->str_cap * 2 : 64;
		uint32_t *o = realloc(c->str_off, sizeof(*o) * cap), *l;

		if (!o)
			return -ENOMEM;
		c->str_off = o;
		l = realloc(c->str_len, sizeof(*l) * cap);
		if (!l)
			return -ENOMEM;
		c->str_len = l;
		c->str_cap = cap;
	}
	memcpy(c->arena + c->arena_len, lit, n);
	c->str_off[c->nstrings] = (uint32_t)c->arena_len;
	c->str_len[c->nstrings] = (uint32_t)n;
	c->arena_len += n;
	c->nstrings++;
	return 0;
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

	if (pystr_empty(s)) {
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
	if (intern(c, lit, n) || str_slots_add(c, c->nstrings - 1, h))
		return -ENOMEM;
	return 0;
}

static int thread_slot(struct rec_codec *c, uint32_t tid)
{
	return (int)map_find(&c->thread_map, (uint64_t)tid);
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

	/* the kind's flags, predicted from the state the decoder will have */
	id = task_id(c, h->task);
	switch (h->type) {
	case APS_EV_TASK_NEW:
		if (e.tn.create_ts_ns)
			op |= REC_OP_K1;
		if (e.tn.create_tid == h->tid)
			op |= REC_OP_K2;
		break;
	case APS_EV_STEP_BEGIN:
		if (e.sb.waiter == (id >= 0 ? c->ids[id].last_waiter : 0))
			op |= REC_OP_K1;
		if (e.sb.exc)
			op |= REC_OP_K2;
		if (e.sb.depth)
			x |= REC_X_DEPTH;
		break;
	case APS_EV_STEP_END: {
		bool same = h->task && h->task == th->last_task;
		uint64_t pred = same ? th->last_begin_ts : id >= 0 ? c->ids[id].last_begin_ts : 0;

		if (same)
			op |= REC_OP_K1;
		if (e.se.begin_ts_ns != pred)
			x |= REC_X_BEGIN;
		if (e.se.result > 15 || e.se.boundary > 15)
			x |= REC_X_RAWRB;
		if (e.se.waiter || e.se.waiter_type)
			op |= REC_OP_K2;
		if (e.se.exc_type)
			x |= REC_X_EXC;
		break;
	}
	case APS_EV_TASK_DESTROY:
		if (e.td.stepped == 1)
			op |= REC_OP_K1;
		else if (e.td.stepped)
			x |= REC_X_STEPPED;
		break;
	case APS_EV_CANCEL:
		if (!pystr_empty(&e.ca.msg))
			x |= REC_X_MSG;
		break;
	}
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

			if (grow_threads(c))
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
		id = task_id(c, h->task);
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
		id = task_id(c, h->task);
		if (id >= 0)
			c->ids[id].last_waiter = e.se.waiter;
		break;
	case APS_EV_TASK_DESTROY:
		if (put_task_ref(c, &w, h->task))
			return -ENOMEM;
		putv(&w, e.td.state);
		if (x & REC_X_STEPPED)
			putv(&w, e.td.stepped);
		free_id(c, h->task);
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

static uint64_t get_task_ref(struct rec_codec *c, struct dec *r, bool assign)
{
	uint64_t v = getv(r), addr;

	if (r->err || v == 0)
		return 0;
	if (v == 1) {
		addr = zigzag_undelta(c->last_lit, getv(r));
		c->last_lit = addr;
		if (!assign || r->err)
			return addr;
		if (!addr || task_id(c, addr) >= 0) {
			bad(r);	/* the writer names a known task by its id */
			return 0;
		}
		switch (assign_id(c, addr)) {
		case 0: return addr;
		case -1: bad(r); return 0;
		default: r->err = -ENOMEM; return 0;
		}
	}
	v -= 2;
	if (v >= c->nids || !c->ids[v].live) {
		bad(r);
		return 0;
	}
	return c->ids[v].addr;
}

static uint64_t get_type_ref(struct rec_codec *c, struct dec *r)
{
	uint64_t v = getv(r), type;

	if (r->err || v == 0)
		return 0;
	if (v == 1) {
		type = zigzag_undelta(c->last_type_lit, getv(r));
		c->last_type_lit = type;
		if (r->err)
			return 0;
		if (!type || map_find(&c->type_map, type) >= 0) {
			bad(r);
			return 0;
		}
		switch (grow_types(c)) {
		case 0: break;
		case -1: bad(r); return 0;
		default: r->err = -ENOMEM; return 0;
		}
		if (u64_map_put(&c->type_map, type, c->ntypes)) {
			r->err = -ENOMEM;
			return 0;
		}
		c->types[c->ntypes++] = type;
		return type;
	}
	v -= 2;
	if (v >= c->ntypes) {
		bad(r);
		return 0;
	}
	return c->types[v];
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
	nb = pystr_nbytes(s->kind, s->is_int, s->nchars);
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
		rc = intern(c, start, (size_t)(r->p - start));
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
	memset(e, 0, event_size(kind));
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
			switch (grow_threads(c)) {
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
		id = task_id(c, h->task);
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
		id = task_id(c, h->task);
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
			free_id(c, h->task);
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
			if (!r.err && pystr_empty(&e->ca.msg))
				return -1;	/* the writer sends no empty msg */
		}
		break;
	}
	if (r.err)
		return r.err;
	*len = event_size(kind);
	*p = r.p;
	return 0;
}
