// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "output/escape.h"
#include "recording/rec_tasks.h"
#include "recording/varint.h"

/*
 * Body: t0, t1, flags, major, minor, ntasks, dropped; then per task: addr,
 * loop, tid, state, task flags, name, nframes, frames (qualname, filename,
 * zigzag line), nawaiters, awaiters (addr, zigzag task index). Strings are
 * interned in the record: 0 NULL, 1 a new string (length, bytes) that gets
 * the next id, n >= 2 the string with id n - 2.
 */

#define T_LISTED 1
#define T_STACK_OK 2
#define MAX_STRINGS (1u << 22)

struct str_ids {
	const char **s;		/* by slot: the string, NULL if empty */
	uint32_t *id;
	uint32_t nslots, n;
};

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static int ids_grow(struct str_ids *t)
{
	uint32_t ns = t->nslots ? t->nslots * 2 : 1024;
	const char **s = calloc(ns, sizeof(*s));
	uint32_t *id = calloc(ns, sizeof(*id));

	if (!s || !id) {
		free(s);
		free(id);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < t->nslots; i++) {
		uint32_t j;

		if (!t->s[i])
			continue;
		for (j = hash_str(t->s[i]) & (ns - 1); s[j]; j = (j + 1) & (ns - 1))
			;
		s[j] = t->s[i];
		id[j] = t->id[i];
	}
	free(t->s);
	free(t->id);
	t->s = s;
	t->id = id;
	t->nslots = ns;
	return 0;
}

static int put_str(struct rec_buf *b, struct str_ids *t, const char *str)
{
	size_t len;
	uint32_t j;

	if (rec_buf_reserve(b, VARINT_MAX))
		return -ENOMEM;
	if (!str) {
		b->len += varint_put(b->p + b->len, 0);
		return 0;
	}
	if ((t->n + 1) * 2 > t->nslots && ids_grow(t))
		return -ENOMEM;
	for (j = hash_str(str) & (t->nslots - 1); t->s[j]; j = (j + 1) & (t->nslots - 1)) {
		if (!strcmp(t->s[j], str)) {
			b->len += varint_put(b->p + b->len, (uint64_t)t->id[j] + 2);
			return 0;
		}
	}
	t->s[j] = str;
	t->id[j] = t->n++;
	len = strlen(str);
	if (rec_buf_reserve(b, 2 * VARINT_MAX + len))
		return -ENOMEM;
	b->len += varint_put(b->p + b->len, 1);
	b->len += varint_put(b->p + b->len, len);
	memcpy(b->p + b->len, str, len);
	b->len += len;
	return 0;
}

static int put_u(struct rec_buf *b, uint64_t v)
{
	if (rec_buf_reserve(b, VARINT_MAX))
		return -ENOMEM;
	b->len += varint_put(b->p + b->len, v);
	return 0;
}

static int put_task(struct rec_buf *b, struct str_ids *ids, const struct snap_task *t)
{
	int err = put_u(b, t->addr) ?: put_u(b, t->loop) ?: put_u(b, t->tid) ?: put_u(b, t->state) ?:
		  put_u(b, (t->listed ? T_LISTED : 0) | (t->stack_ok ? T_STACK_OK : 0)) ?:
		  put_str(b, ids, t->name) ?: put_u(b, t->nframes);

	for (uint32_t i = 0; !err && i < t->nframes; i++)
		err = put_str(b, ids, t->frames[i].qualname) ?: put_str(b, ids, t->frames[i].filename) ?:
		      put_u(b, zigzag_enc(t->frames[i].line));
	if (!err)
		err = put_u(b, t->nawaiters);
	for (uint32_t i = 0; !err && i < t->nawaiters; i++)
		err = put_u(b, t->awaiters[i].addr) ?: put_u(b, zigzag_enc(t->awaiters[i].task));
	return err;
}

int rec_tasks_encode(const struct snapshot *s, uint64_t t0, uint64_t t1, uint32_t flags,
		     struct rec_buf *b)
{
	struct str_ids ids = {};
	int err;

	if (s->tids)
		flags |= REC_TASKS_TIDS;
	err = put_u(b, t0) ?: put_u(b, t1) ?: put_u(b, flags) ?: put_u(b, (uint64_t)s->major) ?:
	      put_u(b, (uint64_t)s->minor) ?: put_u(b, s->ntasks) ?: put_u(b, s->dropped);
	for (uint32_t i = 0; !err && i < s->ntasks; i++)
		err = put_task(b, &ids, &s->tasks[i]);
	free(ids.s);
	free(ids.id);
	return err;
}

/* ---- decoding ---------------------------------------------------------------------- */

struct cursor {
	const uint8_t *p, *end;
	struct rec_tasks *t;
	uint32_t strs_cap;
};

static int get_u(struct cursor *c, uint64_t *v)
{
	return varint_get(&c->p, c->end, v);
}

static int get_u32(struct cursor *c, uint32_t *v, uint64_t max)
{
	uint64_t x;

	if (get_u(c, &x) || x > max)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* A string reference: *s is NULL or owned by c->t->strs. */
static int get_str(struct cursor *c, const char **s)
{
	struct rec_tasks *t = c->t;
	uint64_t ref, len;
	char *copy;

	if (get_u(c, &ref))
		return -1;
	if (ref == 0) {
		*s = NULL;
		return 0;
	}
	if (ref >= 2) {
		if (ref - 2 >= t->nstrs)
			return -1;
		*s = t->strs[ref - 2];
		return 0;
	}
	if (get_u(c, &len) || len > (uint64_t)(c->end - c->p) || t->nstrs >= MAX_STRINGS ||
	    !escape_is_clean((const char *)c->p, (size_t)len))
		return -1;
	if (t->nstrs == c->strs_cap) {
		uint32_t ncap = c->strs_cap ? c->strs_cap * 2 : 256;
		char **v = realloc(t->strs, sizeof(*v) * ncap);

		if (!v)
			return -ENOMEM;
		t->strs = v;
		c->strs_cap = ncap;
	}
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, c->p, len);
	copy[len] = '\0';
	c->p += len;
	t->strs[t->nstrs++] = copy;
	*s = copy;
	return 0;
}

static int get_task(struct cursor *c, struct snap_task *t, uint32_t ntasks)
{
	uint64_t v;
	uint32_t tflags;
	const char *name;
	struct snap_frame *frames = NULL;
	int err;

	if (get_u(c, &t->addr) || get_u(c, &t->loop) || get_u32(c, &t->tid, UINT32_MAX) ||
	    get_u(c, &v) || v > APS_FUT_FINISHED || get_u32(c, &tflags, 3))
		return -1;
	t->state = (uint8_t)v;
	t->listed = tflags & T_LISTED;
	t->stack_ok = tflags & T_STACK_OK;
	err = get_str(c, &name);
	if (err)
		return err;
	t->name = name ? name : "";
	/* every frame takes at least 3 bytes, every awaiter 2: bounded by the body */
	if (get_u32(c, &t->nframes, SNAP_MAX_FRAMES))
		return -1;
	if (t->nframes) {
		frames = calloc(t->nframes, sizeof(*frames));
		if (!frames)
			return -ENOMEM;
		t->frames = frames;
	}
	for (uint32_t i = 0; i < t->nframes; i++) {
		err = get_str(c, &frames[i].qualname);
		if (!err)
			err = get_str(c, &frames[i].filename);
		if (!err && get_u(c, &v))
			err = -1;
		if (err)
			return err;
		frames[i].line = (int)zigzag_dec(v);
	}
	if (get_u32(c, &t->nawaiters, (uint64_t)(c->end - c->p) / 2))
		return -1;
	if (t->nawaiters) {
		t->awaiters = calloc(t->nawaiters, sizeof(*t->awaiters));
		if (!t->awaiters)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < t->nawaiters; i++) {
		int64_t k;

		if (get_u(c, &t->awaiters[i].addr) || get_u(c, &v))
			return -1;
		k = zigzag_dec(v);
		if (k < -1 || k >= (int64_t)ntasks)
			return -1;
		t->awaiters[i].task = (int32_t)k;
	}
	return 0;
}

int rec_tasks_decode(const uint8_t *body, size_t len, struct rec_tasks *out)
{
	struct cursor c = { .p = body, .end = body + len, .t = out };
	uint64_t major, minor;
	uint32_t n;
	int err;

	memset(out, 0, sizeof(*out));
	if (get_u(&c, &out->t0) || get_u(&c, &out->t1) || get_u32(&c, &out->flags, UINT32_MAX) ||
	    get_u(&c, &major) || major > 9 || get_u(&c, &minor) || minor > 99 ||
	    /* a task takes at least 8 bytes */
	    get_u32(&c, &n, len / 8) || get_u32(&c, &out->snap.dropped, UINT32_MAX))
		return -1;
	out->snap.major = (int)major;
	out->snap.minor = (int)minor;
	out->snap.tids = out->flags & REC_TASKS_TIDS;
	if (n) {
		out->snap.tasks = calloc(n, sizeof(*out->snap.tasks));
		if (!out->snap.tasks)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		out->snap.ntasks = i + 1;	/* freed with what it holds so far */
		err = get_task(&c, &out->snap.tasks[i], n);
		if (err)
			return err;
	}
	return c.p == c.end ? 0 : -1;
}

void rec_tasks_free(struct rec_tasks *t)
{
	for (uint32_t i = 0; i < t->snap.ntasks; i++) {
		free((void *)t->snap.tasks[i].frames);
		free(t->snap.tasks[i].awaiters);
	}
	free(t->snap.tasks);
	for (uint32_t i = 0; i < t->nstrs; i++)
		free(t->strs[i]);
	free(t->strs);
	memset(t, 0, sizeof(*t));
}

int rec_tasks_times(const uint8_t *body, size_t len, uint64_t *t0, uint64_t *t1)
{
	const uint8_t *p = body;

	return varint_get(&p, body + len, t0) || varint_get(&p, body + len, t1) ? -1 : 0;
}
