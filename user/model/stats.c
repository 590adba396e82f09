// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/stats.h"

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

int stats_init(struct stats *st, uint64_t start_ts)
{
	memset(st, 0, sizeof(*st));
	st->coro_cap = 256;
	st->coros = calloc(st->coro_cap, sizeof(*st->coros));
	if (!st->coros)
		return -ENOMEM;
	st->start_ts = st->mark_ts = start_ts;
	return 0;
}

void stats_free(struct stats *st)
{
	free(st->coros);
	memset(st, 0, sizeof(*st));
}

static struct coro_stat *find_slot(struct coro_stat *v, uint32_t cap, const char *name)
{
	for (uint32_t i = hash_str(name) & (cap - 1), n = 0; n < cap; i = (i + 1) & (cap - 1), n++)
		if (!v[i].used || !strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

static int grow(struct stats *st)
{
	uint32_t cap = st->coro_cap * 2;
	struct coro_stat *v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < st->coro_cap; i++)
		if (st->coros[i].used)
			*find_slot(v, cap, st->coros[i].name) = st->coros[i];
	free(st->coros);
	st->coros = v;
	st->coro_cap = cap;
	return 0;
}

struct coro_stat *stats_coro(struct stats *st, const char *name)
{
	struct coro_stat *c;

	if ((st->ncoros + 1) * 2 > st->coro_cap && st->coro_cap < (1u << 20) && grow(st))
		return NULL;
	c = find_slot(st->coros, st->coro_cap, name);
	if (c && !c->used) {
		c->used = true;
		snprintf(c->name, sizeof(c->name), "%s", name);
		st->ncoros++;
	}
	return c;
}

struct thread_stat *stats_thread(struct stats *st, uint32_t tid)
{
	for (int i = 0; i < st->nthreads; i++)
		if (st->threads[i].tid == tid)
			return &st->threads[i];
	if (st->nthreads == STATS_MAX_THREADS)
		return NULL;
	st->threads[st->nthreads].tid = tid;
	return &st->threads[st->nthreads++];
}

void stats_on_event(struct stats *st, const struct model_event *ev)
{
	struct coro_stat *c = ev->task ? stats_coro(st, ev->task->coro_name) : NULL;
	struct thread_stat *t;

	switch (ev->kind) {
	case MEV_CREATED:
	case MEV_SEEN:
		if (c) {
			c->tasks++;
			c->live++;
		}
		break;
	case MEV_STEP_END:
		t = stats_thread(st, ev->tid);
		if (t) {
			t->steps++;
			t->busy_ns += ev->duration_ns;
		}
		if (c && ev->result != APS_RES_UNKNOWN) {
			c->steps++;
			c->busy_ns += ev->duration_ns;
			hist_add(&c->h, ev->duration_ns);
		}
		break;
	case MEV_DESTROYED:
		if (c && c->live)
			c->live--;
		break;
	default:
		break;
	}
}

void stats_mark(struct stats *st, uint64_t ts)
{
	for (int i = 0; i < st->nthreads; i++) {
		st->threads[i].last_steps = st->threads[i].steps;
		st->threads[i].last_busy_ns = st->threads[i].busy_ns;
	}
	st->mark_ts = ts;
}
