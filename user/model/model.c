// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/model.h"
#include "util/grow.h"
#include "util/u64_map.h"

static const char empty_str[] = "";

int model_set_str(const char **field, const char *s)
{
	char *copy = NULL;

	if (s && *s) {
		copy = strdup(s);
		if (!copy)
			s = NULL;
	}
	if (*field && *field != empty_str)
		free((char *)*field);
	*field = copy ? copy : empty_str;
	return s && *s && !copy ? -ENOMEM : 0;
}

/* A slot's own memory: its strings and histogram. */
static void task_release(struct task *t)
{
	model_set_str(&t->name, NULL);
	model_set_str(&t->coro_name, NULL);
	model_set_str(&t->exception, NULL);
	free(t->hist);
	t->hist = NULL;
}

static void task_reset(struct task *t, uint64_t addr)
{
	memset(t, 0, sizeof(*t));
	t->used = true;
	t->addr = addr;
	t->name = t->coro_name = t->exception = empty_str;
}

int model_init(struct model *m, uint32_t cap_hint)
{
	memset(m, 0, sizeof(*m));
	m->cap = cap_hint < 1024 ? 1024 : cap_hint;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots || u64_map_reserve(&m->index, m->cap)) {
		model_free(m);
		return -ENOMEM;
	}
	return 0;
}

void model_free(struct model *m)
{
	for (uint32_t i = 0; i < m->live; i++)
		task_release(&m->slots[i]);
	free(m->slots);
	u64_map_free(&m->index);
	memset(m, 0, sizeof(*m));
}

struct task *model_find(struct model *m, uint64_t addr)
{
	uint32_t i;

	return u64_map_get(&m->index, addr, &i) ? &m->slots[i] : NULL;
}

static bool keep_recent(const struct task *t, uint64_t cutoff)
{
	return !t->destroyed || t->destroyed_ts >= cutoff;
}

int model_sweep(struct model *m, uint64_t ts, uint64_t keep_ns)
{
	uint64_t cutoff = ts > keep_ns ? ts - keep_ns : 0;
	uint32_t n = 0;

	if (m->destroyed < 1024 || m->destroyed * 4 < m->live)
		return 0;
	/* the kept tasks move down, in order; the index follows */
	u64_map_clear(&m->index);
	m->destroyed = 0;
	for (uint32_t i = 0; i < m->live; i++) {
		struct task *t = &m->slots[i];

		if (!keep_recent(t, cutoff)) {
			task_release(t);
			continue;
		}
		if (n != i)
			m->slots[n] = *t;	/* the strings move with it */
		m->destroyed += t->destroyed;
		if (u64_map_put(&m->index, t->addr, n++))
			return -ENOMEM;	/* cannot happen: the map only shrank */
	}
	memset(m->slots + n, 0, (size_t)(m->live - n) * sizeof(*m->slots));
	m->live = n;
	return 0;
}

struct task *model_get(struct model *m, uint64_t addr)
{
	struct task *t = model_find(m, addr);

	if (t) {
		if (t->destroyed) {
			task_release(t);
			task_reset(t, addr);
			m->destroyed--;
		}
		return t;
	}
	if (m->live == m->cap) {
		uint32_t old = m->cap;

		if (GROW(m->slots, m->cap, m->live + 1, 1024))
			return NULL;
		memset(m->slots + old, 0, (size_t)(m->cap - old) * sizeof(*m->slots));
	}
	if (u64_map_add(&m->index, addr, m->live))
		return NULL;
	t = &m->slots[m->live++];
	task_reset(t, addr);
	return t;
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
	case APS_EV_CANCEL: want = sizeof(struct aps_ev_cancel); break;
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

const char *model_type_name(const struct model *m, uint64_t type)
{
	if (!type)
		return NULL;
	for (unsigned i = 0; i < m->ntypes && i < MODEL_TYPE_CACHE; i++)
		if (m->types[i].ptr == type)
			return m->types[i].name[0] ? m->types[i].name : NULL;
	return NULL;
}

static void apply_type_name(struct model *m, const struct aps_ev_type_name *e)
{
	unsigned slot = MODEL_TYPE_CACHE;
	size_t j = 0;
	char *out;

	for (unsigned i = 0; i < m->ntypes && i < MODEL_TYPE_CACHE; i++)
		if (m->types[i].ptr == e->hdr.task)
			slot = i;
	if (slot == MODEL_TYPE_CACHE)
		slot = m->ntypes++ % MODEL_TYPE_CACHE;
	m->types[slot].ptr = e->hdr.task;
	out = m->types[slot].name;
	/* tp_name is untrusted: printable ASCII, the rest escaped */
	for (size_t i = 0; i < sizeof(e->name) && e->name[i] && j + 5 < MODEL_TYPE_NAME; i++) {
		unsigned char c = (unsigned char)e->name[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			j += (size_t)snprintf(out + j, MODEL_TYPE_NAME - j, "\\x%02x", c);
		else
			out[j++] = (char)c;
	}
	out[j] = '\0';
}

static void emit(model_event_fn fn, void *ctx, struct model_event *ev)
{
	if (fn)
		fn(ctx, ev);
}

static void apply_task_new(struct model *m, const struct aps_ev_task_new *e,
			   model_event_fn fn, void *ctx)
{
	struct model_event ev = { .ts = e->hdr.ts_ns, .tid = e->hdr.tid, .addr = e->hdr.task };
	char name[APS_NAME_MAX], old[APS_NAME_MAX];
	struct task *t;

	if (e->hdr.flags & APS_TASK_RENAMED) {
		t = model_find(m, e->hdr.task);
		if (!t || t->destroyed)
			return;
		pystr_to_utf8(&e->name, "Task-", name, sizeof(name));
		if (!strcmp(name, t->name))
			return;	/* 3.12+: the int name became the same "Task-N" str */
		snprintf(old, sizeof(old), "%s", t->name);
		model_set_str(&t->name, name);
		ev.kind = MEV_RENAMED;
		ev.task = t;
		ev.old_name = old;
		emit(fn, ctx, &ev);
		return;
	}
	t = model_get(m, e->hdr.task);
	if (!t) {
		m->bad_events++;
		return;
	}
	m->tasks_seen++;
	t->creator = e->creator;
	t->create_ts = e->create_ts_ns;
	t->first_seen_ts = e->hdr.ts_ns;
	t->coro = e->coro;
	t->tid = e->create_ts_ns ? e->create_tid : e->hdr.tid;
	t->state = TASK_SCHEDULED;
	pystr_to_utf8(&e->name, "Task-", name, sizeof(name));
	model_set_str(&t->name, name);
	pystr_to_utf8(&e->coro_qualname, NULL, name, sizeof(name));
	model_set_str(&t->coro_name, name);
	ev.kind = e->create_ts_ns ? MEV_CREATED : MEV_SEEN;
	ev.ts = e->create_ts_ns ? e->create_ts_ns : e->hdr.ts_ns;
	ev.tid = t->tid;
	ev.task = t;
	ev.other_addr = e->creator;
	ev.other = e->creator ? model_find(m, e->creator) : NULL;
	emit(fn, ctx, &ev);
}

static void apply_step_begin(struct model *m, const struct aps_ev_step_begin *e,
			     model_event_fn fn, void *ctx)
{
	struct model_event ev = { .ts = e->hdr.ts_ns, .tid = e->hdr.tid, .addr = e->hdr.task };
	struct task *t = model_find(m, e->hdr.task);

	m->steps++;
	if (t) {
		t->steps++;
		t->step_begin_ts = e->hdr.ts_ns;
		t->tid = e->hdr.tid;
		t->state = TASK_RUNNING;
		t->awaiting = 0;
	}
	ev.task = t;
	ev.throw_ = e->exc != 0;
	ev.nested = e->depth != 0;
	ev.other_addr = e->waiter;
	ev.other = e->waiter ? model_find(m, e->waiter) : NULL;
	if (e->waiter) {
		ev.kind = MEV_WOKEN;
		emit(fn, ctx, &ev);
	}
	ev.kind = MEV_STEP;
	emit(fn, ctx, &ev);
}

static bool finished(uint8_t r)
{
	return r == APS_RES_RETURNED || r == APS_RES_RAISED || r == APS_RES_CANCELLED;
}

static void end_step(struct model *m, const struct aps_ev_step_end *e, model_event_fn fn, void *ctx)
{
	struct model_event ev = { .ts = e->hdr.ts_ns, .tid = e->hdr.tid, .addr = e->hdr.task };
	struct task *t = model_find(m, e->hdr.task);
	uint64_t dur = e->hdr.ts_ns >= e->begin_ts_ns ? e->hdr.ts_ns - e->begin_ts_ns : 0;

	ev.task = t;
	ev.duration_ns = dur;
	ev.result = e->result;
	ev.boundary = e->boundary;
	ev.exception = e->result == APS_RES_RAISED ? model_type_name(m, e->exc_type) : NULL;
	if (e->result == APS_RES_AWAITING) {
		ev.other_addr = e->waiter;
		ev.other = model_find(m, e->waiter);
		ev.other_type = model_type_name(m, e->waiter_type);
	}
	if (t) {
		t->busy_ns += dur;
		if (dur > t->max_step_ns)
			t->max_step_ns = dur;
		if (m->keep_hists && e->result != APS_RES_UNKNOWN) {
			if (!t->hist)
				t->hist = calloc(1, sizeof(*t->hist));
			if (t->hist)
				hist_add(t->hist, dur);
		}
		t->step_begin_ts = 0;
		t->last_step_end_ts = e->hdr.ts_ns;
		t->result = e->result;
		switch (e->result) {
		case APS_RES_AWAITING:
			t->state = TASK_AWAITING;
			t->awaiting = e->waiter;
			t->await_since_ts = e->hdr.ts_ns;
			break;
		case APS_RES_YIELDED:
			t->state = TASK_SCHEDULED;
			break;
		case APS_RES_UNKNOWN:
			t->state = TASK_UNKNOWN;
			break;
		default:
			t->state = TASK_DONE;
			t->done_ts = e->hdr.ts_ns;
			model_set_str(&t->exception, ev.exception ? ev.exception
							: e->result == APS_RES_RAISED ? "?" : "");
		}
	}
	ev.kind = MEV_STEP_END;
	emit(fn, ctx, &ev);
	if (finished(e->result)) {
		ev.kind = MEV_DONE;
		emit(fn, ctx, &ev);
	}
}

static void apply_destroy(struct model *m, const struct aps_ev_task_destroy *e,
			  model_event_fn fn, void *ctx)
{
	struct model_event ev = { .kind = MEV_DESTROYED, .ts = e->hdr.ts_ns, .tid = e->hdr.tid,
				  .addr = e->hdr.task };
	struct task *t = model_find(m, e->hdr.task);

	ev.task = t;
	emit(fn, ctx, &ev);
	if (t && !t->destroyed) {
		m->destroyed++;
		t->destroyed = true;
		t->destroyed_ts = e->hdr.ts_ns;
		t->step_begin_ts = 0;
	}
}

static void apply_cancel(struct model *m, const struct aps_ev_cancel *e, model_event_fn fn,
			 void *ctx)
{
	struct model_event ev = { .kind = MEV_CANCEL_REQUESTED, .ts = e->hdr.ts_ns, .tid = e->hdr.tid,
				  .addr = e->hdr.task, .other_addr = e->requester,
				  .cancel_flags = e->hdr.flags };
	struct task *t = model_find(m, e->hdr.task);
	char msg[APS_NAME_MAX];

	if (t && t->destroyed)
		t = NULL;
	ev.task = t;
	ev.other = e->requester ? model_find(m, e->requester) : NULL;
	if (e->msg.kind) {
		pystr_to_utf8(&e->msg, NULL, msg, sizeof(msg));
		ev.cancel_msg = msg;
	}
	/* cancel() of a finished task does nothing (returns False) */
	if (t && !(e->hdr.flags & APS_CANCEL_DONE)) {
		t->cancel_by = e->requester;
		t->cancel_ts = e->hdr.ts_ns;
		t->cancel_requests++;
	}
	emit(fn, ctx, &ev);
}

int model_apply(struct model *m, const void *data, size_t len, model_event_fn fn, void *ctx)
{
	switch (event_check(data, len)) {
	case APS_EV_TASK_NEW: apply_task_new(m, data, fn, ctx); break;
	case APS_EV_STEP_BEGIN: apply_step_begin(m, data, fn, ctx); break;
	case APS_EV_STEP_END: end_step(m, data, fn, ctx); break;
	case APS_EV_TASK_DESTROY: apply_destroy(m, data, fn, ctx); break;
	case APS_EV_TYPE_NAME: apply_type_name(m, data); break;
	case APS_EV_CANCEL: apply_cancel(m, data, fn, ctx); break;
	default:
		m->bad_events++;
		return -EINVAL;
	}
	return 0;
}

void model_close_open_steps(struct model *m, uint64_t ts, model_event_fn fn, void *ctx)
{
	for (uint32_t i = 0; i < m->cap; i++) {
		struct task *t = &m->slots[i];
		struct aps_ev_step_end e = {};

		if (!t->used || !t->step_begin_ts || t->destroyed)
			continue;
		e.hdr.type = APS_EV_STEP_END;
		e.hdr.tid = t->tid;
		e.hdr.ts_ns = ts > t->step_begin_ts ? ts : t->step_begin_ts;
		e.hdr.task = t->addr;
		e.begin_ts_ns = t->step_begin_ts;
		e.result = APS_RES_UNKNOWN;
		e.boundary = APS_BND_THREAD_EXIT;
		end_step(m, &e, fn, ctx);
	}
}
