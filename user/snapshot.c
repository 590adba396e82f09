// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "asyncio_registry.h"
#include "awaiters.h"
#include "py_runtime.h"
#include "snapshot.h"

#define READ_BUDGET 64000000	/* memory reads for one snapshot (~30 per task) */
#define TASK_RETRIES 3		/* reads of a task that keeps moving */
#define MAX_LOOPS 256

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
	struct addr_map index;		/* task address -> index in s->tasks */
	uint64_t *waiters;		/* fut_waiter of each task (3.10-3.13) */
};

static uint64_t get_u64(const uint8_t *buf, size_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, sizeof(v));
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
	err = pyr_typeof(r, addr, &type);
	if (err)
		return err;
	if (!(type.kind & PYR_TASK))
		return -EINVAL;
	err = pyr_read(r, addr, buf, b->task_size);
	if (err)
		return err;
	t->loop = get_u64(buf, r->l->fut_loop);
	memcpy(&t->state, buf + b->fut_state, sizeof(t->state));
	t->waiter = get_u64(buf, b->task_fut_waiter);
	t->coro = get_u64(buf, b->task_coro);
	t->name = get_u64(buf, b->task_name);
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
	int err = pyr_typeof(r, obj, &t);

	if (err)
		return err;
	if (t.flags & PYR_TPF_UNICODE)
		return pyr_str(r, obj, out, len);
	if ((t.flags & PYR_TPF_LONG) && !(err = pyr_long(r, obj, &v))) {
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
	char name[APS_NAME_MAX];
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
		memcpy(st->name, name, sizeof(st->name));
		if (!err)
			err = coro_stack_read(c->s->codes, a.coro, again, SNAP_MAX_FRAMES, &n2, &sig2);
		if (fatal(err))
			return err;
		st->stack_ok = !err && sig1 == sig2 && n == n2;
	}
	if (!stable)
		return -EAGAIN;
	st->loop = raw->loop;
	st->state = (uint8_t)raw->state;
	if (!st->stack_ok || !n)
		return 0;
	st->frames = malloc(n * sizeof(*st->frames));
	if (!st->frames)
		return -ENOMEM;
	memcpy(st->frames, frames, n * sizeof(*st->frames));
	st->nframes = n;
	return 0;
}

static int append(struct snap_ctx *c, const struct snap_task *st, uint64_t waiter)
{
	struct snapshot *s = c->s;
	int err;

	if (s->ntasks == c->cap) {
		uint32_t cap = c->cap ? c->cap * 2 : 64;
		struct snap_task *v = realloc(s->tasks, cap * sizeof(*v));
		uint64_t *w = realloc(c->waiters, cap * sizeof(*w));

		if (v)
			s->tasks = v;
		if (w)
			c->waiters = w;
		if (!v || !w)
			return -ENOMEM;
		c->cap = cap;
	}
	err = addr_map_put(&c->index, st->addr, (int32_t)s->ntasks);
	if (err)
		return err;
	c->waiters[s->ntasks] = waiter;
	s->tasks[s->ntasks++] = *st;
	return 0;
}

/* The index of an awaiter; a task not listed is added (listed = false). */
static int awaiter_index(struct snap_ctx *c, uint64_t addr, int32_t *idx)
{
	struct snap_task st;
	struct raw_task raw;
	int err;

	if (addr_map_get(&c->index, addr, idx))
		return 0;
	*idx = -1;
	err = read_one(c, addr, &st, &raw);
	if (fatal(err))
		return err;
	if (err)
		return 0;	/* a Future, or gone */
	err = append(c, &st, raw.waiter);
	if (err) {
		free(st.frames);
		return err;
	}
	*idx = (int32_t)c->s->ntasks - 1;
	return 0;
}

static int link_awaiters(struct snap_ctx *c)
{
	struct snapshot *s = c->s;
	struct await_index ix = { 0 };
	uint64_t addrs[AWAITERS_MAX], *tasks = NULL;
	uint32_t listed = s->ntasks;
	size_t n;
	int err = 0;

	if (s->minor < 14) {
		tasks = malloc((listed ? listed : 1) * sizeof(*tasks));
		if (!tasks)
			return -ENOMEM;
		for (uint32_t i = 0; i < listed; i++)
			tasks[i] = s->tasks[i].addr;
		err = awaiters_index(&ix, tasks, c->waiters, listed);
	}
	for (uint32_t i = 0; !err && i < listed; i++) {
		struct snap_awaiter *v;

		if (s->minor >= 14)
			err = awaiters_recorded(c->r, s->tasks[i].addr, addrs, AWAITERS_MAX, &n);
		else
			err = awaiters_derived(c->r, &ix, s->tasks[i].addr, addrs, AWAITERS_MAX, &n);
		if (fatal(err))
			break;
		err = 0;
		if (!n)
			continue;
		v = calloc(n, sizeof(*v));
		if (!v) {
			err = -ENOMEM;
			break;
		}
		for (size_t k = 0; !err && k < n; k++) {
			v[k].addr = addrs[k];
			err = awaiter_index(c, addrs[k], &v[k].task);
		}
		/* awaiter_index may have moved s->tasks */
		s->tasks[i].awaiters = v;
		s->tasks[i].nawaiters = (uint32_t)n;
	}
	awaiters_index_free(&ix);
	free(tasks);
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
	if (registry_running_loops(c->r, rt, loops, MAX_LOOPS, &n))
		return;
	c->s->tids = c->r->l->snap.ts_native_tid != 0;
	for (uint32_t i = 0; i < c->s->ntasks; i++) {
		for (size_t k = 0; k < n; k++) {
			if (loops[k].loop == c->s->tasks[i].loop)
				c->s->tasks[i].tid = loops[k].tid;
		}
	}
}

int snapshot_take(const struct interp *ip, const struct py_layout *l, struct snapshot *out,
		  char *err, size_t errlen)
{
	struct snap_ctx c = { 0 };
	struct task_refs refs = { 0 };
	struct py_layout lc = *l;
	struct py_runtime rt;
	struct snap_task st;
	struct raw_task raw;
	int rc;

	memset(out, 0, sizeof(*out));
	out->major = l->major;
	out->minor = l->minor;
	c.s = out;
	c.r = malloc(sizeof(*c.r));
	out->codes = malloc(sizeof(*out->codes));
	if (!c.r || !out->codes) {
		free(out->codes);
		out->codes = NULL;
		rc = -ENOMEM;
		goto cleanup;
	}
	coro_reader_init(out->codes, c.r);
	rc = py_runtime_resolve(ip, &lc, &rt, err, errlen);
	if (rc)
		goto cleanup;
	pyr_init(c.r, ip->pid, &lc, READ_BUDGET);
	rc = registry_tasks(c.r, &rt, &refs, err, errlen);
	if (rc)
		goto cleanup;
	for (size_t i = 0; i < refs.n; i++) {
		rc = read_one(&c, refs.v[i].addr, &st, &raw);
		if (fatal(rc))
			break;
		if (rc) {
			out->dropped++;		/* no longer a task: freed under us */
			rc = 0;
			continue;
		}
		/* 3.10-3.13 registries keep done tasks until they are collected */
		if (l->minor < 14 && raw.state != APS_FUT_PENDING) {
			free(st.frames);
			continue;
		}
		st.tid = refs.v[i].tid;
		st.listed = true;
		rc = append(&c, &st, raw.waiter);
		if (rc) {
			free(st.frames);
			break;
		}
	}
	if (!rc)
		rc = link_awaiters(&c);
	if (rc) {
		snprintf(err, errlen, "reading tasks: %s", rc == -E2BIG ?
			 "too many objects (read budget spent)" : strerror(-rc));
		goto cleanup;
	}
	assign_tids(&c, &rt);
cleanup:
	if (rc == -ESRCH)
		snprintf(err, errlen, "process %d exited", ip->pid);
	if (c.r)
		out->reads = c.r->reads;
	task_refs_free(&refs);
	addr_map_free(&c.index);
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
	for (uint32_t i = 0; i < s->ntasks; i++) {
		free(s->tasks[i].frames);
		free(s->tasks[i].awaiters);
	}
	free(s->tasks);
	if (s->codes) {
		coro_reader_free(s->codes);
		free(s->codes);
	}
	memset(s, 0, sizeof(*s));
}
