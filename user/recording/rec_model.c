// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "output/escape.h"
#include "recording/rec_model.h"
#include "recording/varint.h"
#include "util/grow.h"

/* Per-task field bits: a field is written only if its bit is set. */
enum {
	F_CREATOR, F_CREATE_TS, F_FIRST_SEEN_TS, F_CORO, F_TID, F_STEPS, F_BUSY_NS,
	F_MAX_STEP_NS, F_STEP_BEGIN_TS, F_LAST_STEP_END_TS, F_AWAITING, F_AWAIT_SINCE_TS,
	F_DONE_TS, F_STATE, F_RESULT, F_NAME, F_CORO_NAME, F_EXCEPTION,
	F_CANCEL_BY, F_CANCEL_TS, F_CANCEL_REQUESTS,
};

#define SNAP_MAX_STRINGS 65536

int rec_buf_reserve(struct rec_buf *b, size_t more)
{
	return GROW(b->p, b->cap, b->len + more, 4096);
}

void rec_buf_free(struct rec_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void putv(struct rec_buf *b, uint64_t v)
{
	b->len += varint_put(b->p + b->len, v);
}

static void put_bytes(struct rec_buf *b, const void *p, size_t n)
{
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* Per-snapshot string table (coroutine names repeat). */
struct strtab {
	const char **s;
	uint32_t n, cap;
	uint32_t *slots;	/* id + 1 */
	uint32_t nslots;
};

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* The string's id if known (*fresh = false), else a new id, or -1 on ENOMEM. */
static int64_t strtab_id(struct strtab *t, const char *s, bool *fresh)
{
	uint32_t h = hash_str(s), mask;

	*fresh = false;
	if ((t->n + 1) * 2 > t->nslots) {
		uint32_t ns = t->nslots ? t->nslots * 2 : 256;
		uint32_t *slots = calloc(ns, sizeof(*slots));

		if (!slots)
			return -1;
		for (uint32_t i = 0; i < t->n; i++)
			for (uint32_t j = hash_str(t->s[i]) & (ns - 1);; j = (j + 1) & (ns - 1))
				if (!slots[j]) {
					slots[j] = i + 1;
					break;
				}
		free(t->slots);
		t->slots = slots;
		t->nslots = ns;
	}
	mask = t->nslots - 1;
	for (uint32_t j = h & mask;; j = (j + 1) & mask) {
		if (!t->slots[j]) {
			if (t->n == t->cap) {
				uint32_t cap = t->cap ? t->cap * 2 : 256;
				const char **a = realloc(t->s, sizeof(*a) * cap);

				if (!a)
					return -1;
				t->s = a;
				t->cap = cap;
			}
			t->s[t->n] = s;
			t->slots[j] = t->n + 1;
			*fresh = true;
			return t->n++;
		}
		if (!strcmp(t->s[t->slots[j] - 1], s))
			return t->slots[j] - 1;
	}
}

static int cmp_task_addr(const void *a, const void *b)
{
	const struct task *x = *(const struct task *const *)a, *y = *(const struct task *const *)b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/*
 * A string field: 0 and a literal (length, bytes) that takes the next id,
 * 1 and a literal that takes none (the table is full), or 2 + a known id.
 */
static int put_str(struct rec_buf *b, struct strtab *t, const char *s)
{
	bool fresh;
	int64_t id;
	size_t n = strlen(s);

	if (t->n >= SNAP_MAX_STRINGS) {
		putv(b, 1);
	} else {
		id = strtab_id(t, s, &fresh);
		if (id < 0)
			return -ENOMEM;
		if (!fresh) {
			putv(b, (uint64_t)id + 2);
			return 0;
		}
		putv(b, 0);
	}
	putv(b, n);
	put_bytes(b, s, n);
	return 0;
}

#define TASK_MAX_BYTES (28 * VARINT_MAX + 3 * (APS_NAME_MAX + VARINT_MAX))

int rec_model_encode(const struct model *m, uint64_t ts, struct rec_buf *b)
{
	struct strtab st = {};
	const struct task **live;
	uint32_t n = 0, ntypes = m->ntypes < MODEL_TYPE_CACHE ? m->ntypes : MODEL_TYPE_CACHE;
	uint64_t prev = 0;
	int err = -ENOMEM;

	live = malloc(sizeof(*live) * (m->live ? m->live : 1));
	if (!live)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->slots[i].used && !m->slots[i].destroyed && n < m->live)
			live[n++] = &m->slots[i];
	qsort(live, n, sizeof(*live), cmp_task_addr);

	if (rec_buf_reserve(b, 8 * VARINT_MAX + ntypes * (MODEL_TYPE_NAME + 2 * VARINT_MAX)))
		goto out;
	putv(b, ts);
	putv(b, m->tasks_seen);
	putv(b, m->steps);
	putv(b, m->bad_events);
	putv(b, m->ntypes);
	putv(b, ntypes);
	for (uint32_t i = 0; i < ntypes; i++) {
		size_t len = strnlen(m->types[i].name, MODEL_TYPE_NAME - 1);

		putv(b, m->types[i].ptr);
		putv(b, len);
		put_bytes(b, m->types[i].name, len);
	}
	putv(b, n);
	for (uint32_t i = 0; i < n; i++) {
		const struct task *t = live[i];
		uint8_t tmp[TASK_MAX_BYTES];
		struct rec_buf tb = { tmp, 0, sizeof(tmp) };
		uint64_t bits = 0;

#define BIT(f, cond) do { if (cond) bits |= 1ull << (f); } while (0)
		BIT(F_CREATOR, t->creator);
		BIT(F_CREATE_TS, t->create_ts);
		BIT(F_FIRST_SEEN_TS, t->first_seen_ts);
		BIT(F_CORO, t->coro);
		BIT(F_TID, t->tid);
		BIT(F_STEPS, t->steps);
		BIT(F_BUSY_NS, t->busy_ns);
		BIT(F_MAX_STEP_NS, t->max_step_ns);
		BIT(F_STEP_BEGIN_TS, t->step_begin_ts);
		BIT(F_LAST_STEP_END_TS, t->last_step_end_ts);
		BIT(F_AWAITING, t->awaiting);
		BIT(F_AWAIT_SINCE_TS, t->await_since_ts);
		BIT(F_DONE_TS, t->done_ts);
		BIT(F_STATE, t->state);
		BIT(F_RESULT, t->result);
		BIT(F_NAME, t->name[0]);
		BIT(F_CORO_NAME, t->coro_name[0]);
		BIT(F_EXCEPTION, t->exception[0]);
		BIT(F_CANCEL_BY, t->cancel_by);
		BIT(F_CANCEL_TS, t->cancel_ts);
		BIT(F_CANCEL_REQUESTS, t->cancel_requests);
#undef BIT
		putv(&tb, t->addr - prev);
		prev = t->addr;
		putv(&tb, bits);
		/* addresses near the task's own, times back from the snapshot's */
#define ADDR(f, v) do { if (bits & (1ull << (f))) putv(&tb, zigzag_delta((v), t->addr)); } while (0)
#define TS(f, v) do { if (bits & (1ull << (f))) putv(&tb, zigzag_delta(ts, (v))); } while (0)
#define NUM(f, v) do { if (bits & (1ull << (f))) putv(&tb, (v)); } while (0)
		ADDR(F_CREATOR, t->creator);
		TS(F_CREATE_TS, t->create_ts);
		TS(F_FIRST_SEEN_TS, t->first_seen_ts);
		ADDR(F_CORO, t->coro);
		NUM(F_TID, t->tid);
		NUM(F_STEPS, t->steps);
		NUM(F_BUSY_NS, t->busy_ns);
		NUM(F_MAX_STEP_NS, t->max_step_ns);
		TS(F_STEP_BEGIN_TS, t->step_begin_ts);
		TS(F_LAST_STEP_END_TS, t->last_step_end_ts);
		ADDR(F_AWAITING, t->awaiting);
		TS(F_AWAIT_SINCE_TS, t->await_since_ts);
		TS(F_DONE_TS, t->done_ts);
		NUM(F_STATE, t->state);
		NUM(F_RESULT, t->result);
		if (((bits >> F_NAME) & 1) && put_str(&tb, &st, t->name))
			goto out;
		if (((bits >> F_CORO_NAME) & 1) && put_str(&tb, &st, t->coro_name))
			goto out;
		if (((bits >> F_EXCEPTION) & 1) && put_str(&tb, &st, t->exception))
			goto out;
		ADDR(F_CANCEL_BY, t->cancel_by);
		TS(F_CANCEL_TS, t->cancel_ts);
		NUM(F_CANCEL_REQUESTS, t->cancel_requests);
#undef ADDR
#undef TS
#undef NUM
		if (rec_buf_reserve(b, tb.len + VARINT_MAX))
			goto out;
		putv(b, tb.len);
		put_bytes(b, tmp, tb.len);
	}
	err = 0;
out:
	free(st.s);
	free(st.slots);
	free(live);
	return err;
}

/* ---- restore ---------------------------------------------------------------- */

struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t getv(struct rd *r)
{
	uint64_t v = 0;

	if (varint_get(&r->p, r->end, &v)) {
		r->bad = true;
		r->p = r->end;
	}
	return v;
}

/* A string field into out (size outlen); strs: what the snapshot defined so far. */
static void get_str(struct rd *r, const uint8_t **strs, uint32_t *lens, uint32_t *n,
		    uint32_t cap, char *out, size_t outlen)
{
	uint64_t v = getv(r), len;
	const uint8_t *src;

	out[0] = '\0';
	if (r->bad)
		return;
	if (v >= 2) {
		v -= 2;
		if (v >= *n) {
			r->bad = true;
			return;
		}
		src = strs[v];
		len = lens[v];
	} else {
		len = getv(r);
		if (r->bad || len > (uint64_t)(r->end - r->p) || len >= APS_NAME_MAX ||
		    (v == 0 && *n >= cap)) {
			r->bad = true;
			return;
		}
		src = r->p;
		r->p += len;
		if (v == 0) {
			strs[*n] = src;
			lens[*n] = (uint32_t)len;
			(*n)++;
		}
	}
	len = len < outlen - 1 ? len : outlen - 1;
	memcpy(out, src, len);
	out[len] = '\0';
	/* names were escaped when recorded: no NUL or control character inside */
	if (strlen(out) != len || !escape_is_clean(out, len))
		r->bad = true;
}

int rec_model_restore(struct model *m, const uint8_t *body, size_t len, uint64_t *ts_out)
{
	struct rd r = { body, body + len, false };
	const uint8_t **strs = NULL;
	uint32_t *lens = NULL, nstr = 0, cap = 0;
	char buf[APS_NAME_MAX];
	uint64_t ts, ntypes, n, addr = 0;
	int err = -1;

	ts = getv(&r);
	m->tasks_seen = getv(&r);
	m->steps = getv(&r);
	m->bad_events = getv(&r);
	m->ntypes = (unsigned)getv(&r);
	ntypes = getv(&r);
	if (r.bad || ntypes > MODEL_TYPE_CACHE || m->ntypes < ntypes)
		return -1;
	memset(m->types, 0, sizeof(m->types));
	for (uint64_t i = 0; i < ntypes; i++) {
		uint64_t nl;

		m->types[i].ptr = getv(&r);
		nl = getv(&r);
		if (r.bad || nl >= MODEL_TYPE_NAME || nl > (uint64_t)(r.end - r.p))
			return -1;
		memcpy(m->types[i].name, r.p, nl);
		m->types[i].name[nl] = '\0';
		r.p += nl;
	}
	n = getv(&r);
	/* each task takes at least 2 bytes */
	if (r.bad || n > (uint64_t)(r.end - r.p) / 2)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t tlen = getv(&r), bits;
		struct rd t;
		struct task *k;

		/* room for the (at most 3) strings this task may define */
		if (nstr + 3 > cap && cap < SNAP_MAX_STRINGS) {
			uint32_t ncap = cap ? cap * 4 : 256;
			const uint8_t **s2;
			uint32_t *l2;

			ncap = ncap < SNAP_MAX_STRINGS ? ncap : SNAP_MAX_STRINGS;
			s2 = realloc(strs, sizeof(*s2) * ncap);
			if (s2)
				strs = s2;
			l2 = realloc(lens, sizeof(*l2) * ncap);
			if (l2)
				lens = l2;
			if (!s2 || !l2) {
				err = -ENOMEM;
				goto out;
			}
			cap = ncap;
		}

		if (r.bad || tlen > (uint64_t)(r.end - r.p))
			goto out;
		t = (struct rd){ r.p, r.p + tlen, false };
		r.p += tlen;
		addr += getv(&t);
		bits = getv(&t);
		if (t.bad || !addr)
			goto out;
		if (model_find(m, addr)) {
			goto out;	/* twice in one snapshot */
		}
		k = model_get(m, addr);
		if (!k) {
			err = -ENOMEM;
			goto out;
		}
#define HAS(f) ((bits >> (f)) & 1)
#define ADDR(f) (HAS(f) ? zigzag_undelta(addr, getv(&t)) : 0)
#define TS(f) (HAS(f) ? ts - (uint64_t)zigzag_dec(getv(&t)) : 0)
#define NUM(f) (HAS(f) ? getv(&t) : 0)
		k->creator = ADDR(F_CREATOR);
		k->create_ts = TS(F_CREATE_TS);
		k->first_seen_ts = TS(F_FIRST_SEEN_TS);
		k->coro = ADDR(F_CORO);
		k->tid = (uint32_t)NUM(F_TID);
		k->steps = (uint32_t)NUM(F_STEPS);
		k->busy_ns = NUM(F_BUSY_NS);
		k->max_step_ns = NUM(F_MAX_STEP_NS);
		k->step_begin_ts = TS(F_STEP_BEGIN_TS);
		k->last_step_end_ts = TS(F_LAST_STEP_END_TS);
		k->awaiting = ADDR(F_AWAITING);
		k->await_since_ts = TS(F_AWAIT_SINCE_TS);
		k->done_ts = TS(F_DONE_TS);
		k->state = (uint8_t)NUM(F_STATE);
		k->result = (uint8_t)NUM(F_RESULT);
		if (HAS(F_NAME)) {
			get_str(&t, strs, lens, &nstr, cap, buf, APS_NAME_MAX);
			model_set_str(&k->name, buf);
		}
		if (HAS(F_CORO_NAME)) {
			get_str(&t, strs, lens, &nstr, cap, buf, APS_NAME_MAX);
			model_set_str(&k->coro_name, buf);
		}
		if (HAS(F_EXCEPTION)) {
			get_str(&t, strs, lens, &nstr, cap, buf, MODEL_TYPE_NAME);
			model_set_str(&k->exception, buf);
		}
		k->cancel_by = ADDR(F_CANCEL_BY);
		k->cancel_ts = TS(F_CANCEL_TS);
		k->cancel_requests = (uint32_t)NUM(F_CANCEL_REQUESTS);
#undef ADDR
#undef TS
#undef NUM
#undef HAS
		/* later fields, from newer writers, are skipped */
		if (t.bad)
			goto out;
	}
	if (ts_out)
		*ts_out = ts;
	err = 0;
out:
	free(strs);
	free(lens);
	return err;
}
