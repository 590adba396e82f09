// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/u64_map.h"
#include "recording/replay_tasks.h"

/* What the events after the read say about one address. */
struct fact {
	uint64_t addr;
	uint64_t created_ts;		/* a task was created there */
	uint64_t destroyed_ts;		/* a task there was freed */
	bool stepped, renamed;
};

struct facts {
	struct model *m;
	struct u64_map index;
	struct fact *v;
	uint32_t n, cap;
	int err;
};

static struct fact *fact_of(struct facts *f, uint64_t addr, bool add)
{
	uint32_t i;

	if (u64_map_get(&f->index, addr, &i))
		return &f->v[i];
	if (!add || f->err)
		return NULL;
	if (f->n == f->cap) {
		uint32_t ncap = f->cap ? f->cap * 2 : 1024;
		struct fact *v = realloc(f->v, sizeof(*v) * ncap);

		if (!v || ncap > INT32_MAX) {
			free(v == f->v ? NULL : v);
			f->err = -ENOMEM;
			return NULL;
		}
		f->v = v;
		f->cap = ncap;
	}
	if (u64_map_put(&f->index, addr, (uint32_t)f->n)) {
		f->err = -ENOMEM;
		return NULL;
	}
	memset(&f->v[f->n], 0, sizeof(f->v[0]));
	f->v[f->n].addr = addr;
	return &f->v[f->n++];
}

static void on_model_event(void *ctx, const struct model_event *ev)
{
	struct facts *f = ctx;
	struct fact *x = fact_of(f, ev->addr, true);

	if (!x)
		return;
	switch (ev->kind) {
	case MEV_CREATED:
		x->created_ts = ev->ts;
		x->destroyed_ts = 0;
		x->stepped = x->renamed = false;
		break;
	case MEV_RENAMED: x->renamed = true; break;
	case MEV_WOKEN:
	case MEV_STEP:
	case MEV_STEP_END:
	case MEV_DONE:
	case MEV_SEEN: x->stepped = true; break;
	case MEV_DESTROYED: x->destroyed_ts = ev->ts; break;
	case MEV_CANCEL_REQUESTED: break;	/* the task's state changes when it steps */
	}
}

static int on_record(void *ctx, const void *data, size_t len)
{
	struct facts *f = ctx;

	model_apply(f->m, data, len, on_model_event, f);
	return f->err;
}

/* ---- building the view's tasks ------------------------------------------------------- */

struct builder {
	struct replay_tasks *rt;
	struct facts *facts;
	struct rec_player *pl;
	struct snapshot *out;
	int32_t *base_to_out;		/* base index -> out index, -1: gone */
	bool *stale;			/* out index: stack and edges from events */
	struct u64_map out_index;	/* task address -> out index */
	uint32_t cap;
};

static int grow(struct builder *b)
{
	uint32_t ncap = b->cap ? b->cap * 2 : 256;
	struct snap_task *t = realloc(b->out->tasks, sizeof(*t) * ncap);
	bool *s;

	if (!t)
		return -ENOMEM;
	b->out->tasks = t;
	s = realloc(b->stale, sizeof(*s) * ncap);
	if (!s)
		return -ENOMEM;
	b->stale = s;
	b->cap = ncap;
	return 0;
}

static uint8_t fut_state(const struct task *k)
{
	if (k->state != TASK_DONE)
		return APS_FUT_PENDING;
	return k->result == APS_RES_CANCELLED ? APS_FUT_CANCELLED : APS_FUT_FINISHED;
}

/* 3.10-3.13 list pending tasks only (all_tasks()); 3.14 every task not yet freed. */
static bool listed_when_done(const struct snapshot *s)
{
	return s->major > 3 || (s->major == 3 && s->minor >= 14);
}

/* A task known from events: its coroutine as its one frame, its last thread. */
static int add_event_task(struct builder *b, const struct task *k, const struct snap_task *from)
{
	struct snap_task *t;
	int err;

	if (b->out->ntasks == b->cap && (err = grow(b)))
		return err;
	t = &b->out->tasks[b->out->ntasks];
	memset(t, 0, sizeof(*t));
	if (from) {
		t->addr = from->addr;
		t->loop = from->loop;
		t->tid = from->tid;
		t->listed = from->listed;
		t->name = from->name;
	} else {
		t->name = "";
		t->addr = k->addr;
		t->listed = true;
		t->tid = b->out->tids ? rec_cursor_ns_tid(&b->pl->cur, k->tid) : 0;
	}
	if (k) {
		if (k->name[0] && (!from || fact_of(b->facts, k->addr, false)->renamed))
			t->name = k->name;	/* the model outlives the view */
		if (b->out->tids && k->tid)
			t->tid = rec_cursor_ns_tid(&b->pl->cur, k->tid);
		t->state = fut_state(k);
	}
	t->stack_ok = true;
	if (k && k->coro_name[0]) {
		struct snap_frame *f = calloc(1, sizeof(*f));

		if (!f)
			return -ENOMEM;
		*f = (struct snap_frame){ .qualname = k->coro_name, .filename = NULL, .line = -1 };
		t->frames = f;
		t->nframes = 1;
	}
	b->stale[b->out->ntasks] = true;
	b->rt->from_events++;
	return u64_map_put(&b->out_index, t->addr, (uint32_t)b->out->ntasks++);
}

static int copy_base_task(struct builder *b, const struct snap_task *from)
{
	struct snap_task *t;
	int err;

	if (b->out->ntasks == b->cap && (err = grow(b)))
		return err;
	t = &b->out->tasks[b->out->ntasks];
	*t = *from;
	t->nawaiters = 0;
	t->awaiters = NULL;
	if (from->nframes) {
		struct snap_frame *f = malloc(sizeof(*f) * from->nframes);

		if (!f)
			return -ENOMEM;
		memcpy(f, from->frames, sizeof(*f) * from->nframes);
		t->frames = f;
	}
	b->stale[b->out->ntasks] = false;
	return u64_map_put(&b->out_index, t->addr, (uint32_t)b->out->ntasks++);
}

static int add_awaiter(struct snap_task *t, uint64_t addr, int32_t task)
{
	struct snap_awaiter *v;

	for (uint32_t i = 0; i < t->nawaiters; i++)
		if (t->awaiters[i].addr == addr)
			return 0;
	v = realloc(t->awaiters, sizeof(*v) * (t->nawaiters + 1));
	if (!v)
		return -ENOMEM;
	v[t->nawaiters++] = (struct snap_awaiter){ .addr = addr, .task = task };
	t->awaiters = v;
	return 0;
}

/* The base's tasks still there, then the tasks created since. */
static int collect_tasks(struct builder *b, const struct snapshot *base)
{
	struct model *m = &b->rt->model;
	int err = 0;

	for (uint32_t i = 0; !err && i < base->ntasks; i++) {
		const struct snap_task *from = &base->tasks[i];
		struct fact *x = fact_of(b->facts, from->addr, false);
		struct task *k = model_find(m, from->addr);

		b->base_to_out[i] = -1;
		if (x && (x->destroyed_ts || x->created_ts))
			continue;	/* freed after the read (its address may hold a newer task) */
		if (x && x->stepped && k && k->state == TASK_DONE && !listed_when_done(base))
			continue;
		b->base_to_out[i] = (int32_t)b->out->ntasks;
		err = x && x->stepped ? add_event_task(b, k, from) : copy_base_task(b, from);
	}
	for (uint32_t i = 0; !err && i < b->facts->n; i++) {
		const struct fact *x = &b->facts->v[i];
		struct task *k = model_find(m, x->addr);

		if (!x->created_ts || x->destroyed_ts || !k || k->destroyed ||
		    (k->state == TASK_DONE && !listed_when_done(base)))
			continue;
		err = add_event_task(b, k, NULL);
	}
	return err;
}

/*
 * Who awaits whom: an edge of the read holds while its awaiter has not
 * stepped since; a task that stepped awaits what its last step ended on.
 */
static int collect_edges(struct builder *b, const struct snapshot *base)
{
	struct snapshot *out = b->out;
	int err = 0;

	for (uint32_t i = 0; !err && i < base->ntasks; i++) {
		int32_t to = b->base_to_out[i];

		if (to < 0)
			continue;
		for (uint32_t j = 0; !err && j < base->tasks[i].nawaiters; j++) {
			const struct snap_awaiter *a = &base->tasks[i].awaiters[j];
			int32_t from = a->task >= 0 ? b->base_to_out[a->task] : -1;

			if (a->task >= 0 && (from < 0 || b->stale[from]))
				continue;	/* that awaiter moved on, or is gone */
			err = add_awaiter(&out->tasks[to], a->addr, from);
		}
	}
	for (uint32_t i = 0; !err && i < out->ntasks; i++) {
		const struct task *k;
		uint32_t to;

		if (!b->stale[i])
			continue;
		k = model_find(&b->rt->model, out->tasks[i].addr);
		if (!k || k->state != TASK_AWAITING || !u64_map_get(&b->out_index, k->awaiting, &to))
			continue;
		err = add_awaiter(&out->tasks[to], out->tasks[i].addr, (int32_t)i);
	}
	return err;
}

static int build(struct replay_tasks *rt, struct facts *facts, struct rec_player *pl)
{
	const struct snapshot *base = &rt->base.snap;
	struct builder b = { .rt = rt, .facts = facts, .pl = pl, .out = &rt->snap };
	int err = -ENOMEM;

	rt->snap.major = base->major;
	rt->snap.minor = base->minor;
	rt->snap.tids = base->tids;
	b.base_to_out = calloc(base->ntasks ? base->ntasks : 1, sizeof(*b.base_to_out));
	if (b.base_to_out)
		err = collect_tasks(&b, base);
	if (!err)
		err = collect_edges(&b, base);
	free(b.base_to_out);
	free(b.stale);
	u64_map_free(&b.out_index);
	return err;
}

/* The recorded Python version, for a recording without a memory read. */
static void version_of(const struct rec_reader *r, struct snapshot *s)
{
	if (sscanf(r->hdr.python, "%d.%d", &s->major, &s->minor) != 2)
		s->major = s->minor = 0;
	s->tids = s->major == 3 && s->minor >= 11;
}

int replay_tasks_at(const struct rec_reader *r, uint64_t ts, struct replay_tasks *out, char *err,
		    size_t errlen)
{
	struct facts facts = { .m = &out->model };
	struct rec_player pl;
	uint64_t from = 0;
	int64_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (model_init(&out->model, 4096))
		goto nomem;
	i = rec_reader_tasks_before(r, ts);
	if (i >= 0) {
		const uint8_t *body;
		size_t len;

		if (rec_reader_tasks_body(r, (uint32_t)i, &body, &len) ||
		    (rc = rec_tasks_decode(body, len, &out->base)) == -1) {
			snprintf(err, errlen, "malformed TASKS record in the frame at offset %zu",
				 r->tasks[i].off);
			return -1;
		}
		if (rc)
			goto nomem;
		out->have_read = true;
		from = out->base.t0;
	}
	if (rec_player_init(&pl, r, &out->model))
		goto nomem;
	rc = rec_player_seek(&pl, from);
	if (!rc)
		rc = rec_player_run(&pl, ts, on_record, NULL, &facts);
	if (!rc && facts.err)
		rc = facts.err;
	if (rc) {
		snprintf(err, errlen, "%s", pl.cur.problem[0] ? pl.cur.problem : strerror(rc < 0 ? -rc : EIO));
		goto out;
	}
	out->lost = pl.lost;
	if (!out->have_read)
		version_of(r, &out->base.snap);
	rc = build(out, &facts, &pl);
	if (rc)
		snprintf(err, errlen, "out of memory");
out:
	rec_player_free(&pl);
	free(facts.v);
	u64_map_free(&facts.index);
	return rc;
nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

void replay_tasks_free(struct replay_tasks *rt)
{
	for (uint32_t i = 0; i < rt->snap.ntasks; i++) {
		free((void *)rt->snap.tasks[i].frames);
		free(rt->snap.tasks[i].awaiters);
	}
	free(rt->snap.tasks);
	rec_tasks_free(&rt->base);
	model_free(&rt->model);
	memset(rt, 0, sizeof(*rt));
}
