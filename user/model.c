// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

static uint32_t hash_addr(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdULL;
	a ^= a >> 33;
	return (uint32_t)a;
}

int model_init(struct model *m, uint32_t cap_hint)
{
	uint32_t cap = 1024;

	memset(m, 0, sizeof(*m));
	while (cap < cap_hint * 2 && cap < (1u << 24))
		cap <<= 1;
	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots)
		return -ENOMEM;
	m->cap = cap;
	return 0;
}

void model_free(struct model *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

struct task *model_find(struct model *m, uint64_t addr)
{
	uint32_t mask = m->cap - 1;

	for (uint32_t i = hash_addr(addr) & mask, n = 0; n < m->cap; i = (i + 1) & mask, n++) {
		if (!m->slots[i].used)
			return NULL;
		if (m->slots[i].addr == addr)
			return &m->slots[i];
	}
	return NULL;
}

static int grow(struct model *m)
{
	struct model bigger;
	int err = model_init(&bigger, m->cap);

	if (err)
		return err;
	for (uint32_t i = 0; i < m->cap; i++) {
		struct task *t = &m->slots[i], *n;

		if (!t->used)
			continue;
		n = model_get(&bigger, t->addr);
		*n = *t;
	}
	bigger.tasks_seen = m->tasks_seen;
	bigger.steps = m->steps;
	bigger.bad_events = m->bad_events;
	free(m->slots);
	*m = bigger;
	return 0;
}

struct task *model_get(struct model *m, uint64_t addr)
{
	struct task *t = model_find(m, addr);
	uint32_t mask;

	if (t) {
		if (t->destroyed) {
			memset(t, 0, sizeof(*t));
			t->used = true;
			t->addr = addr;
		}
		return t;
	}
	if ((m->live + 1) * 4 > m->cap * 3 && grow(m))
		return NULL;
	mask = m->cap - 1;
	for (uint32_t i = hash_addr(addr) & mask;; i = (i + 1) & mask) {
		t = &m->slots[i];
		if (t->used)
			continue;
		memset(t, 0, sizeof(*t));
		t->used = true;
		t->addr = addr;
		m->live++;
		return t;
	}
}

int event_check(const void *data, size_t len)
{
	const struct aps_event_hdr *h = data;
	size_t want;

	if (len < sizeof(*h))
		return -1;
	switch (h->type) {
	case APS_EV_TASK_NEW: want = sizeof(struct aps_ev_task_new); break;
	case APS_EV_STEP_BEGIN: want = sizeof(struct aps_ev_step_begin); break;
	case APS_EV_STEP_END: want = sizeof(struct aps_ev_step_end); break;
	case APS_EV_TASK_DESTROY: want = sizeof(struct aps_ev_task_destroy); break;
	case APS_EV_TYPE_NAME: want = sizeof(struct aps_ev_type_name); break;
	default: return -1;
	}
	if (len < want)
		return -1;
	if (h->type == APS_EV_STEP_END) {
		const struct aps_ev_step_end *e = data;

		if (e->result > APS_RES_CANCELLED || e->boundary < APS_BND_NEXT_STEP ||
		    e->boundary > APS_BND_THREAD_EXIT)
			return -1;
	}
	return h->type;
}
