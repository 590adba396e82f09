// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memory/asyncio_registry.h"
#include "memory/awaiters.h"
#include "memory/py_runtime.h"
#include "memory/snapshot.h"
#include "target/proc.h"
#include "util/bytes.h"
#include "util/grow.h"

#define READ_BUDGET 64000000	/* memory reads for one snapshot (~30 per task) */
#define CACHE_BYTES (16ULL << 20)	/* of the target's memory cached at once */
#define TASK_RETRIES 3		/* reads of a task that keeps moving */
#define MAX_LOOPS 256
#define BATCH 2048		/* tasks read per pair of passes (read_listed) */

/* The fields of a TaskObj we use, from one read. */
struct raw_task {
	uint64_t loop, waiter, coro, name;
	uint32_t state;
};

/* Errors that end the snapshot (others drop one object). */
static bool fatal(int err)
{
	return err == -ENOMEM || err == -E2BIG || err == -ESRCH;
}

struct snap_ctx {
	struct pyreader *r;
	struct snapshot *s;
	uint32_t cap;
	struct u64_map index;		/* task address -> index in s->tasks */
	uint64_t *waiters;		/* fut_waiter of each task (3.10-3.13) */
	struct u64_map stack_index;	/* hash of frames -> stacks[] */
	struct kept_stack {
		const struct snap_frame *v;
		uint32_t n;
	} *stacks;
	uint32_t nstacks, stacks_cap;
};

static bool same_frames(const struct snap_frame *a, const struct snap_frame *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (a[i].qualname != b[i].qualname || a[i].filename != b[i].filename ||
		    a[i].line != b[i].line)
			return false;
	}
	return true;
}

/* Frames kept in the pool, once per distinct stack (tasks share theirs). */
static const struct snap_frame *keep_frames(struct snap_ctx *c, const struct snap_frame *f,
					    uint32_t n)
{
	struct snap_frame *v;
	uint64_t h = 0xcbf29ce484222325ULL;
	bool taken = false;
	uint32_t idx;

	for (uint32_t i = 0; i < n; i++)
		h = bytes_mix(bytes_mix(bytes_mix(h, (uintptr_t)f[i].qualname), (uintptr_t)f[i].filename),
			(uint64_t)(uint32_t)f[i].line);
	if (u64_map_get(&c->stack_index, h, &idx)) {
		if (c->stacks[idx].n == n && same_frames(c->stacks[idx].v, f, n))
			return c->stacks[idx].v;
		taken = true;	/* another stack with that hash: this one kept apart */
	}
	v = mem_pool_alloc(&c->s->pool, n * sizeof(*v));
	if (!v)
		return NULL;
	memcpy(v, f, n * sizeof(*v));
	/* tasks share the frames: the coroutine of each is the task's (inner_coro) */
	for (uint32_t i = 0; i < n; i++)
		v[i].gen = 0;
	if (taken)
		return v;
	if (GROW(c->stacks, c->stacks_cap, c->nstacks + 1, 64))
		return v;	/* kept, not shared */
	if (!u64_map_put(&c->stack_index, h, (uint32_t)c->nstacks))
		c->stacks[c->nstacks++] = (struct kept_stack){ v, n };
	return v;
}

static int read_task(struct pyreader *r, uint64_t addr, struct raw_task *t)
{
	const struct aps_layout *b = &r->l->bpf;
	uint8_t buf[512];
	struct pytype type;
	int err;

	if (b->task_size > sizeof(buf))
		return -EINVAL;
	err = pyread_typeof(r, addr, &type);
	if (err)
		return err;
	if (!(type.kind & PYR_TASK))
		return -EINVAL;
	err = pyread_read(r, addr, buf, b->task_size);
	if (err)
		return err;
	t->loop = bytes_u64(buf, r->l->fut_loop);
	memcpy(&t->state, buf + b->fut_state, sizeof(t->state));
	t->waiter = bytes_u64(buf, b->task_fut_waiter);
	t->coro = bytes_u64(buf, b->task_coro);
	t->name = bytes_u64(buf, b->task_name);
	if (t->state > APS_FUT_FINISHED)
		return -EINVAL;
	/* a pending task has a loop and a coroutine, unless half made or unmade */
	return t->state != APS_FUT_PENDING || (t->loop && t->coro) ? 0 : -EAGAIN;
}

static bool same_task(const struct raw_task *a, const struct raw_task *b)
{
	return a->loop == b->loop && a->waiter == b->waiter && a->coro == b->coro &&
	       a->name == b->name && a->state == b->state;
}

/* A str, or (3.12+, until get_name()) the int of "Task-<n>" */
static int task_name(struct pyreader *r, uint64_t obj, char *out, size_t len)
{
	struct pytype t;
	int64_t v;
	int err = pyread_typeof(r, obj, &t);

	if (err)
		return err;
	if (t.flags & PYR_TPF_UNICODE)
		return pyread_str(r, obj, out, len);
	if ((t.flags & PYR_TPF_LONG) && !(err = pyread_long(r, obj, &v))) {
		snprintf(out, len, "Task-%" PRId64, v);
		return 0;
	}
	return err ? err : -EINVAL;
}

/*
 * The task and its coroutine stack, read twice: the task must read the
 * same before and after (its name is read in between: the task holds it),
 * and its stack must too, else it is read again. A task that stays put
 * but whose stack keeps moving is kept without frames.
 */
static int read_one(struct snap_ctx *c, uint64_t addr, struct snap_task *st, struct raw_task *raw)
{
	struct snap_frame frames[SNAP_MAX_FRAMES], again[SNAP_MAX_FRAMES];
	char name[APS_NAME_MAX], keep[APS_NAME_MAX];
	struct raw_task a, b;
	uint64_t sig1, sig2;
	uint32_t n = 0, n2;
	bool stable = false;
	int err;

	memset(st, 0, sizeof(*st));
	st->addr = addr;
	for (int attempt = 0; attempt < TASK_RETRIES && !st->stack_ok; attempt++) {
		err = read_task(c->r, addr, &a);
		if (err)
			return err;
		/* a task without a readable name is being made or destroyed */
		if (task_name(c->r, a.name, name, sizeof(name)))
			continue;
		err = coro_stack_read(c->s->codes, a.coro, frames, SNAP_MAX_FRAMES, &n, &sig1);
		if (fatal(err))
			return err;
		if (read_task(c->r, addr, &b) || !same_task(&a, &b))
			continue;
		stable = true;
		*raw = a;
		memcpy(keep, name, sizeof(keep));
		if (!err)
			err = coro_stack_read(c->s->codes, a.coro, again, SNAP_MAX_FRAMES, &n2, &sig2);
		if (fatal(err))
			return err;
		st->stack_ok = !err && sig1 == sig2 && n == n2;
	}
	if (!stable)
		return -EAGAIN;
	st->name = mem_pool_strdup(&c->s->pool, keep);
	if (!st->name)
		return -ENOMEM;
	st->loop = raw->loop;
	st->coro = raw->coro;
	st->waiter = raw->waiter;
	st->state = (uint8_t)raw->state;
	if (!st->stack_ok || !n)
		return 0;
	st->inner_coro = frames[0].gen;
	st->frames = keep_frames(c, frames, n);
	if (!st->frames)
		return -ENOMEM;
	st->nframes = n;
	return 0;
}

/* read_one() past the cache: each read sees the target as it is then. */
static int read_alone(struct snap_ctx *c, uint64_t addr, struct snap_task *st,
		      struct raw_task *raw)
{
	bool was = c->r->fresh;
	int err;

	c->r->fresh = true;
	err = read_one(c, addr, st, raw);
	c->r->fresh = was;
	return err;
}

/* One read of a task through the cache: its fields, name and stack. */
struct task_view {
	struct raw_task raw;
	uint64_t sig;		/* of the stack, the name and (3.14) the awaiters */
	uint32_t n;
	int err;
};

/* What a task read gives besides its view: name, frames, 3.14 awaiters. */
struct task_read {
	char name[APS_NAME_MAX];
	struct snap_frame frames[SNAP_MAX_FRAMES];
	uint64_t awaiters[AWAITERS_MAX];
	size_t nawaiters;
};

static void view_read(struct snap_ctx *c, uint64_t addr, struct task_view *v,
		      struct task_read *t)
{
	int err;

	v->n = 0;
	t->nawaiters = 0;
	v->err = read_task(c->r, addr, &v->raw);
	if (!v->err)
		v->err = task_name(c->r, v->raw.name, t->name, sizeof(t->name));
	if (!v->err)
		v->err = coro_stack_read(c->s->codes, v->raw.coro, t->frames, SNAP_MAX_FRAMES,
					 &v->n, &v->sig);
	if (v->err)
		return;
	for (const char *p = t->name; *p; p++)
		v->sig = bytes_mix(v->sig, (uint8_t)*p);
	/* 3.14 records its awaiters in the task: read with it, checked with it */
	if (c->s->minor >= 14) {
		err = awaiters_recorded(c->r, addr, t->awaiters, AWAITERS_MAX, &t->nawaiters);
		if (fatal(err))
			v->err = err;
		v->sig = bytes_mix(bytes_mix(v->sig, (uint64_t)err), t->nawaiters);
		for (size_t k = 0; k < t->nawaiters; k++)
			v->sig = bytes_mix(v->sig, t->awaiters[k]);
	}
}

/* A task's awaiters by address, their indexes found once all are listed. */
static int keep_awaiters(struct snap_ctx *c, struct snap_task *st, const uint64_t *addrs,
			 size_t n)
{
	struct snap_awaiter *v;

	if (!n)
		return 0;
	v = mem_pool_alloc(&c->s->pool, n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++)
		v[k] = (struct snap_awaiter){ .addr = addrs[k], .task = -1 };
	st->awaiters = v;
	st->nawaiters = (uint32_t)n;
	return 0;
}

/* read_alone(), and (3.14) the task's awaiters past the cache too. */
static int read_alone_awaited(struct snap_ctx *c, uint64_t addr, struct snap_task *st,
			      struct raw_task *raw, struct task_read *t)
{
	bool was = c->r->fresh;
	int err = read_alone(c, addr, st, raw);

	if (err || c->s->minor < 14)
		return err;
	c->r->fresh = true;
	err = awaiters_recorded(c->r, addr, t->awaiters, AWAITERS_MAX, &t->nawaiters);
	c->r->fresh = was;
	if (fatal(err))
		return err;
	return keep_awaiters(c, st, t->awaiters, err ? 0 : t->nawaiters);
}

static bool same_view(const struct task_view *a, const struct task_view *b)
{
	return !a->err && !b->err && same_task(&a->raw, &b->raw) && a->sig == b->sig &&
	       a->n == b->n;
}

/*
 * A listed task from its two views (first: before the cache was emptied,
 * second: after). Alike, the task, its name, its stack (and on 3.14 its
 * awaiters) each held still from a read in the first pass to one in the
 * second, and every read of the first pass came before every read of the
 * second: the second is taken. Else the task changed under us and is read
 * alone (read_one).
 */
static int task_of_views(struct snap_ctx *c, uint64_t addr, const struct task_view *first,
			 const struct task_view *second, struct task_read *t,
			 struct snap_task *st, struct raw_task *raw)
{
	if (!same_view(first, second))
		return read_alone_awaited(c, addr, st, raw, t);
	memset(st, 0, sizeof(*st));
	st->addr = addr;
	st->stack_ok = true;
	*raw = second->raw;
	st->loop = raw->loop;
	st->coro = raw->coro;
	st->waiter = raw->waiter;
	st->state = (uint8_t)raw->state;
	st->name = mem_pool_strdup(&c->s->pool, t->name);
	if (!st->name)
		return -ENOMEM;
	if (second->n) {
		st->inner_coro = t->frames[0].gen;
		st->frames = keep_frames(c, t->frames, second->n);
		if (!st->frames)
			return -ENOMEM;
		st->nframes = second->n;
	}
	return keep_awaiters(c, st, t->awaiters, t->nawaiters);
}

/* Room for cap tasks. */
static int reserve(struct snap_ctx *c, uint32_t cap)
{
	struct snap_task *v = realloc(c->s->tasks, cap * sizeof(*v));
	uint64_t *w = realloc(c->waiters, cap * sizeof(*w));

	if (v)
		c->s->tasks = v;
	if (w)
		c->waiters = w;
	if (!v || !w)
		return -ENOMEM;
	c->cap = cap;
	return 0;
}

static int append(struct snap_ctx *c, const struct snap_task *st, uint64_t waiter)
{
	struct snapshot *s = c->s;
	int err;

	if (s->ntasks == c->cap && (err = reserve(c, c->cap ? c->cap * 2 : 64)))
		return err;
	err = u64_map_add(&c->index, st->addr, (uint32_t)s->ntasks);
	if (err)
		return err == -EEXIST ? 0 : err;	/* listed twice: the first counts */
	c->waiters[s->ntasks] = waiter;
	s->tasks[s->ntasks++] = *st;
	return 0;
}

/* The index of an awaiter; a task not listed is added (listed = false). */
static int awaiter_index(struct snap_ctx *c, uint64_t addr, int32_t *idx)
{
	uint32_t found;
	struct snap_task st;
	struct raw_task raw;
	int err;

	if (u64_map_get(&c->index, addr, &found)) {
		*idx = (int32_t)found;
		return 0;
	}
	*idx = -1;
	err = read_alone(c, addr, &st, &raw);
	if (fatal(err))
		return err;
	if (err)
		return 0;	/* a Future, or gone */
	err = append(c, &st, raw.waiter);
	if (err)
		return err;
	*idx = (int32_t)c->s->ntasks - 1;
	return 0;
}

/* One read of a task's awaiters: compared between the two passes. */
struct await_view {
	int err;
	size_t n;
	uint64_t sig;
};

static void awaiters_read(struct snap_ctx *c, struct await_index *ix, uint32_t i,
			  uint64_t *addrs, struct await_view *v)
{
	uint64_t task = c->s->tasks[i].addr;

	v->n = 0;
	if (c->s->minor >= 14)
		v->err = awaiters_recorded(c->r, task, addrs, AWAITERS_MAX, &v->n);
	else
		v->err = awaiters_derived(c->r, ix, task, addrs, AWAITERS_MAX, &v->n);
	v->sig = 0xcbf29ce484222325ULL;
	for (size_t k = 0; k < v->n; k++)
		v->sig = bytes_mix(v->sig, addrs[k]);
}

/* awaiters_read() past the cache, and past callbacks remembered from it. */
static void awaiters_alone(struct snap_ctx *c, struct await_index *ix, uint32_t i,
			   uint64_t *addrs, struct await_view *v)
{
	bool was = c->r->fresh;

	c->r->fresh = true;
	awaiters_index_forget(ix);
	awaiters_read(c, ix, i, addrs, v);
	c->r->fresh = was;
}

static bool same_awaiters(const struct await_view *a, const struct await_view *b)
{
	return a->err == b->err && a->n == b->n && a->sig == b->sig;
}

/* Task i's awaiters; tasks among them that are not listed are read and added. */
static int set_awaiters(struct snap_ctx *c, uint32_t i, const uint64_t *addrs, size_t n)
{
	struct snap_awaiter *v;
	int err = 0;

	if (!n)
		return 0;
	v = mem_pool_alloc(&c->s->pool, n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t k = 0; !err && k < n; k++) {
		v[k].addr = addrs[k];
		err = awaiter_index(c, addrs[k], &v[k].task);
	}
	/* awaiter_index may have moved s->tasks */
	c->s->tasks[i].awaiters = v;
	c->s->tasks[i].nawaiters = (uint32_t)n;
	return err;
}

/* 3.14: the awaiters read with the tasks, as indexes; tasks not listed are added. */
static int index_awaiters(struct snap_ctx *c)
{
	uint32_t listed = c->s->ntasks;
	int err = 0;

	for (uint32_t i = 0; !err && i < listed; i++) {
		struct snap_awaiter *v = c->s->tasks[i].awaiters;

		/* awaiter_index may move c->s->tasks, not the awaiters */
		for (uint32_t k = 0; !err && k < c->s->tasks[i].nawaiters; k++)
			err = awaiter_index(c, v[k].addr, &v[k].task);
	}
	return err;
}

/*
 * Who awaits each listed task (3.10-3.13: derived), read as the tasks are
 * (read_listed): a
 * batch through the cache; the cache emptied and remembered callbacks
 * forgotten; the batch again. Awaiters that read alike in both passes are
 * taken from the second, others are read again past the cache.
 */
static int link_awaiters(struct snap_ctx *c)
{
	struct snapshot *s = c->s;
	struct await_index ix = { 0 };
	struct await_view *first, second;
	uint64_t addrs[AWAITERS_MAX], *tasks = NULL;
	uint32_t listed = s->ntasks;
	int err = 0;

	if (s->minor >= 14)
		return index_awaiters(c);
	first = malloc(BATCH * sizeof(*first));
	if (!first)
		return -ENOMEM;
	if (s->minor < 14) {
		tasks = malloc((listed ? listed : 1) * sizeof(*tasks));
		if (!tasks) {
			free(first);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < listed; i++)
			tasks[i] = s->tasks[i].addr;
		err = awaiters_index(&ix, tasks, c->waiters, listed);
	}
	for (uint32_t b = 0; !err && b < listed; b += BATCH) {
		uint32_t end = listed - b < BATCH ? listed : b + BATCH;

		for (uint32_t i = b; i < end && !err; i++) {
			awaiters_read(c, &ix, i, addrs, &first[i - b]);
			if (fatal(first[i - b].err))
				err = first[i - b].err;
		}
		pyread_refresh(c->r);
		awaiters_index_forget(&ix);
		for (uint32_t i = b; i < end && !err; i++) {
			awaiters_read(c, &ix, i, addrs, &second);
			if (!fatal(second.err) && !same_awaiters(&first[i - b], &second))
				awaiters_alone(c, &ix, i, addrs, &second);
			err = fatal(second.err) ? second.err : set_awaiters(c, i, addrs, second.n);
		}
	}
	awaiters_index_free(&ix);
	free(tasks);
	free(first);
	return err;
}

/* 3.11-3.13: a task's thread is the one running its loop now. */
static void assign_tids(struct snap_ctx *c, const struct py_runtime *rt)
{
	struct loop_tid loops[MAX_LOOPS];
	size_t n;

	if (c->s->minor >= 14) {
		c->s->tids = true;
		return;
	}
	pyread_refresh(c->r);	/* the loops threads run now, not when cached */
	if (registry_running_loops(c->r, rt, loops, MAX_LOOPS, &n))
		return;
	c->s->tids = c->r->l->snap.ts_native_tid != 0 || c->r->l->snap.ts_thread_id != 0;
	for (uint32_t i = 0; i < c->s->ntasks; i++) {
		for (size_t k = 0; k < n; k++) {
			if (loops[k].loop == c->s->tasks[i].loop)
				c->s->tasks[i].tid = loops[k].tid;
		}
	}
}

/*
 * The registered tasks in registry order, BATCH at a time: each batch read
 * through the cache, the cache emptied, the batch read again and each task
 * taken from its two views (task_of_views).
 */
static int read_listed(struct snap_ctx *c, const struct task_refs *refs)
{
	struct task_read t;
	struct task_view *first, second;
	struct snap_task st;
	struct raw_task raw;
	int rc = 0;

	/* listed tasks, and a few awaiters that are not */
	if (refs->n && ((rc = reserve(c, (uint32_t)refs->n + 64)) ||
			(rc = u64_map_reserve(&c->index, (uint32_t)refs->n + 64))))
		return rc;
	first = malloc(BATCH * sizeof(*first));
	if (!first)
		return -ENOMEM;
	for (size_t b = 0; b < refs->n && !rc; b += BATCH) {
		size_t end = refs->n - b < BATCH ? refs->n : b + BATCH;

		for (size_t i = b; i < end && !rc; i++) {
			view_read(c, refs->v[i].addr, &first[i - b], &t);
			if (fatal(first[i - b].err))
				rc = first[i - b].err;
		}
		pyread_refresh(c->r);
		for (size_t i = b; i < end && !rc; i++) {
			view_read(c, refs->v[i].addr, &second, &t);
			rc = fatal(second.err) ? second.err :
			     task_of_views(c, refs->v[i].addr, &first[i - b], &second, &t, &st, &raw);
			if (fatal(rc))
				break;
			if (rc) {
				c->s->dropped++;	/* no longer a task: freed under us */
				rc = 0;
				continue;
			}
			/* 3.10-3.13 registries keep done tasks until they are collected */
			if (c->s->minor < 14 && raw.state != APS_FUT_PENDING)
				continue;
			st.tid = refs->v[i].tid;
			st.listed = true;
			rc = append(c, &st, raw.waiter);
		}
	}
	free(first);
	return rc;
}

/*
 * The interpreter knows its threads by their ids in its own PID namespace:
 * every view shows host ids, and the namespace's where they differ.
 */
static void host_tids(struct snapshot *s, pid_t pid)
{
	struct { uint32_t ns, host; } seen[64];
	unsigned n = 0;

	if (proc_ns_tid(pid, (uint32_t)pid) == (uint32_t)pid)
		return;	/* our namespace */
	for (uint32_t i = 0; i < s->ntasks; i++) {
		struct snap_task *t = &s->tasks[i];
		uint32_t host = 0;

		if (!t->tid)
			continue;
		for (unsigned k = 0; k < n && !host; k++)
			if (seen[k].ns == t->tid)
				host = seen[k].host;
		if (!host) {
			host = proc_host_tid(pid, t->tid);
			if (n < 64)
				seen[n++] = (typeof(seen[0])){ t->tid, host };
		}
		t->ns_tid = t->tid;
		t->tid = host;
	}
}

/* The predicted _asyncio module (ip->asyncio_obj) is mapped now: a cheap
 * look at /proc/PID/maps before the whole detection again. */
static bool predicted_mapped(const struct interp *ip)
{
	const char *base = strrchr(ip->asyncio_obj, '/');
	struct proc_maps maps;
	bool yes = false;

	base = base ? base + 1 : ip->asyncio_obj;
	if (!base[0] || proc_read_maps(ip->pid, &maps))
		return false;
	for (int i = 0; i < maps.n && !yes; i++) {
		const char *b = strrchr(maps.v[i].path, '/');

		yes = b && !strcmp(b + 1, base);
	}
	proc_maps_free(&maps);
	return yes;
}

int snapshot_take(const struct interp *ip, const struct py_layout *l, struct snapshot *out,
		  char *err, size_t errlen)
{
	struct py_layout lc = *l;
	struct py_runtime rt;
	struct interp *now = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	out->major = l->major;
	out->minor = l->minor;
	/* asyncio imported since ip was made: find its module now */
	if (!ip->asyncio_mapped && !ip->asyncio_builtin && predicted_mapped(ip)) {
		now = malloc(sizeof(*now));
		if (now && !interp_detect(ip->pid, now) && now->asyncio_mapped)
			ip = now;
	}
	rc = py_runtime_resolve(ip, &lc, &rt, err, errlen);
	if (!rc)
		rc = snapshot_take_resolved(ip, &lc, &rt, NULL, out, err, errlen);
	free(now);
	return rc;
}

int snapshot_take_resolved(const struct interp *ip, const struct py_layout *l,
			   const struct py_runtime *rtp, struct page_cache *kept,
			   struct snapshot *out, char *err, size_t errlen)
{
	struct snap_ctx c = { 0 };
	struct task_refs refs = { 0 };
	struct py_layout lc = *l;
	struct py_runtime rt = *rtp;
	struct page_cache own = { 0 }, *cache = kept ? kept : &own;
	int rc;

	memset(out, 0, sizeof(*out));
	out->major = l->major;
	out->minor = l->minor;
	c.s = out;
	c.r = calloc(1, sizeof(*c.r));
	out->codes = malloc(sizeof(*out->codes));
	if (!c.r || !out->codes) {
		free(out->codes);
		out->codes = NULL;
		rc = -ENOMEM;
		goto cleanup;
	}
	coro_reader_init(out->codes, c.r);
	pyread_init(c.r, ip->pid, &lc, READ_BUDGET);
	if (kept) {
		page_cache_invalidate(kept);
		kept->pid = ip->pid;
	} else {
		rc = page_cache_init(&own, ip->pid, CACHE_BYTES);
		if (rc)
			goto cleanup;
	}
	c.r->cache = cache;
	rc = registry_tasks(c.r, &rt, &refs, err, errlen);
	if (rc)
		goto cleanup;
	rc = read_listed(&c, &refs);
	if (!rc)
		rc = link_awaiters(&c);
	if (rc) {
		snprintf(err, errlen, "reading tasks: %s", rc == -E2BIG ?
			 "too many objects (read budget spent)" : strerror(-rc));
		goto cleanup;
	}
	assign_tids(&c, &rt);
	host_tids(out, ip->pid);
cleanup:
	if (rc == -ESRCH)
		snprintf(err, errlen, "process %d exited", ip->pid);
	if (c.r) {
		out->reads = c.r->reads;
		out->calls = pyread_calls(c.r);
	}
	page_cache_free(&own);
	task_refs_free(&refs);
	u64_map_free(&c.index);
	u64_map_free(&c.stack_index);
	free(c.stacks);
	free(c.waiters);
	if (rc) {
		snapshot_free(out);
		out->major = l->major;
		out->minor = l->minor;
	}
	/* frames keep pointing into out->codes; the reader itself is done */
	if (out->codes)
		out->codes->r = NULL;
	free(c.r);
	return rc;
}

void snapshot_free(struct snapshot *s)
{
	free(s->tasks);
	if (s->codes) {
		coro_reader_free(s->codes);
		free(s->codes);
	}
	mem_pool_free(&s->pool);
	memset(s, 0, sizeof(*s));
}
