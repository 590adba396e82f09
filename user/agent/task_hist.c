// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "agent/task_hist.h"

#define FNV_OFF 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv_str(uint64_t h, const char *s)
{
	for (unsigned i = 0; s && s[i] && i < 4096; i++)
		h = (h ^ (uint8_t)s[i]) * FNV_PRIME;
	return (h ^ 0xff) * FNV_PRIME;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		h = (h ^ (v & 0xff)) * FNV_PRIME;
	return h;
}

void task_hist_init(struct task_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void task_hist_free(struct task_hist *h)
{
	free(h->v);
	u64_map_free(&h->index);
	memset(h, 0, sizeof(*h));
}

void task_hist_idle(struct task_hist *h, uint64_t t)
{
	if (h->prev_t0 && t > h->prev_t0)
		h->prev_t0 = t;
}

const struct th_task *task_hist_find(const struct task_hist *h, uint64_t addr)
{
	uint32_t i;

	if (!addr || !u64_map_get(&h->index, addr, &i) || i >= h->n)
		return NULL;
	return &h->v[i];
}

static void sigs(const struct snap_task *t, uint64_t *sig, uint64_t *wait_sig)
{
	uint64_t s = fnv_str(FNV_OFF, t->name), w;

	if (t->stack_ok && t->nframes)
		s = fnv_str(s, t->frames[t->nframes - 1].qualname);
	w = s;
	for (uint32_t i = 0; t->stack_ok && i < t->nframes; i++) {
		w = fnv_str(w, t->frames[i].qualname);
		w = fnv_u64(w, (uint64_t)(int64_t)t->frames[i].line);
	}
	*sig = s;
	*wait_sig = t->stack_ok ? w : 0;
}

/* Drop the tasks the last snapshot did not list; rebuild the index. */
static int compact(struct task_hist *h)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < h->n; i++) {
		if (h->v[i].gen != h->gen) {
			h->gone++;
			continue;
		}
		h->v[k++] = h->v[i];
	}
	h->n = k;
	u64_map_free(&h->index);
	if (u64_map_reserve(&h->index, k))
		return -ENOMEM;
	for (uint32_t i = 0; i < k; i++)
		if (u64_map_put(&h->index, h->v[i].addr, i))
			return -ENOMEM;
	return 0;
}

int task_hist_update(struct task_hist *h, const struct snapshot *s, uint64_t t0, uint64_t t1)
{
	bool primed = h->prev_t0 != 0;
	/* it appeared (or moved) between the previous read's start and this read's end */
	uint64_t mid = primed ? h->prev_t0 + (t1 - h->prev_t0) / 2 : t1;
	uint32_t idx;

	h->gen++;
	memset(h->by_state, 0, sizeof(h->by_state));
	for (uint32_t i = 0; i < s->ntasks; i++) {
		const struct snap_task *st = &s->tasks[i];
		struct th_task *t;
		uint64_t sig, wsig;

		if (!st->listed || !st->addr)
			continue;
		if (st->state < 3)
			h->by_state[st->state]++;
		sigs(st, &sig, &wsig);
		if (u64_map_get(&h->index, st->addr, &idx) && idx < h->n &&
		    h->v[idx].gen != h->gen) {
			t = &h->v[idx];
			if (t->sig != sig) {
				/* the address now holds another task */
				h->gone++;
				goto fresh;
			}
			t->gen = h->gen;
			t->state = st->state;
			/* an unreadable stack keeps the wait as it was */
			if (wsig && wsig != t->wait_sig) {
				t->wait_sig = wsig;
				t->wait_ns = mid;
				t->flags |= TH_WAIT_SEEN;
			}
			continue;
		}
		if (h->n == h->cap) {
			uint32_t cap = h->cap ? h->cap * 2 : 64;
			struct th_task *v = realloc(h->v, sizeof(*v) * cap);

			if (!v)
				return -ENOMEM;
			h->v = v;
			h->cap = cap;
		}
		idx = h->n++;
		if (u64_map_put(&h->index, st->addr, idx))
			return -ENOMEM;
		t = &h->v[idx];
fresh:
		memset(t, 0, sizeof(*t));
		t->addr = st->addr;
		t->sig = sig;
		t->wait_sig = wsig;
		t->gen = h->gen;
		t->state = st->state;
		t->first_ns = t->wait_ns = mid;
		if (primed) {
			t->flags = TH_CREATED_SEEN | TH_WAIT_SEEN;
			h->created++;
		}
	}
	h->prev_t0 = t0;
	return compact(h);
}
