// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "memory/asyncio_registry.h"
#include "target/proc.h"
#include "util/grow.h"

#define RETRIES 3
#define LIST_RETRIES 16	/* reads of one 3.14 task list that keeps changing */

/* Room for n more tasks. */
static int reserve(struct task_refs *t, size_t n)
{
	if (n > REG_MAX_TASKS - t->n)
		return -E2BIG;
	return GROW(t->v, t->cap, t->n + n, 64);
}

static int add_task(struct task_refs *t, uint64_t addr, uint32_t tid)
{
	int err = reserve(t, 1);

	if (!err)
		t->v[t->n++] = (struct task_ref){ .addr = addr, .tid = tid };
	return err;
}

void task_refs_free(struct task_refs *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static bool is_task(struct pyreader *r, uint64_t obj)
{
	struct pytype t;

	return !pyread_typeof(r, obj, &t) && (t.kind & PYR_TASK);
}

/* Interpreters from _PyRuntime.interpreters.head, then .next */
static int interp_at(struct pyreader *r, const struct py_runtime *rt, int i, uint64_t *interp)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint64_t p;
	int err;

	if (!rt->runtime)
		return -ENOENT;
	err = pyread_ptr(r, rt->runtime + s->rt_interp_head, &p);
	for (int k = 0; !err && k < i && p; k++)
		err = pyread_ptr(r, p + s->is_next, &p);
	if (err)
		return err;
	if (!p)
		return -ENOENT;
	*interp = p;
	return pyread_addr_ok(p) ? 0 : -EFAULT;
}

/* ---- 3.14: linked lists --------------------------------------------- */

/*
 * The nodes (llist_node: next, prev) from head. Each node's prev must be
 * the node before it: a list read while it changes (or pieced together
 * from pages cached at different times) can otherwise loop.
 */
static int walk_once(struct pyreader *r, uint64_t head, uint64_t *v, size_t *n)
{
	uint64_t link[2], prev = head, node;
	int err = pyread_ptr(r, head, &node);

	for (*n = 0; !err && node != head; prev = node, node = link[0]) {
		if (*n >= REG_MAX_TASKS)
			return -E2BIG;
		/* a node that is not in a live task: the list changed under us */
		if (!pyread_addr_ok(node) || !is_task(r, node - r->l->snap.task_node))
			return -EAGAIN;
		err = pyread_read(r, node, link, sizeof(link));
		if (err)
			break;
		if (link[1] != prev)
			return -EAGAIN;
		v[(*n)++] = node - r->l->snap.task_node;
	}
	return err;
}

/* One list, read again (alone) while it changes under us. */
static int walk_list(struct pyreader *r, uint64_t head, uint32_t tid, struct task_refs *out)
{
	uint64_t *v = malloc(REG_MAX_TASKS * sizeof(*v));
	size_t n = 0;
	int err = v ? -EAGAIN : -ENOMEM;

	/* each walk reads the list as it is then, not as cached before */
	for (int i = 0; err == -EAGAIN && i < LIST_RETRIES; i++) {
		pyread_refresh(r);
		err = walk_once(r, head, v, &n);
	}
	if (!err)
		err = reserve(out, n);
	for (size_t i = 0; !err && i < n; i++)
		err = add_task(out, v[i], tid);
	free(v);
	return err;
}

/* Thread states of an interpreter, newest first (the list's order). */
static int threads_of(struct pyreader *r, uint64_t interp, uint64_t *ts, size_t *n)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint64_t p;
	int err = pyread_ptr(r, interp + s->is_threads_head, &p);

	for (*n = 0; !err && p; err = pyread_ptr(r, p + s->ts_next, &p)) {
		if (!pyread_addr_ok(p) || *n >= REG_MAX_THREADS)
			return -EAGAIN;
		ts[(*n)++] = p;
	}
	return err;
}

static int tasks_314(struct pyreader *r, const struct py_runtime *rt, struct task_refs *out)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint64_t interp, tid, *ts = malloc(REG_MAX_THREADS * sizeof(*ts));
	size_t n;
	int err = ts ? 0 : -ENOMEM;

	for (int i = 0; !err && i < REG_MAX_INTERPS && !interp_at(r, rt, i, &interp); i++) {
		err = threads_of(r, interp, ts, &n);
		/* oldest (the main thread) first */
		while (!err && n--) {
			err = pyread_ptr(r, ts[n] + s->ts_native_tid, &tid);
			if (!err)
				err = walk_list(r, ts[n] + s->ts_tasks_head, (uint32_t)tid, out);
		}
		/* tasks left behind by threads that are gone */
		if (!err)
			err = walk_list(r, interp + s->is_tasks_head, 0, out);
	}
	free(ts);
	return err;
}

/* ---- 3.10-3.13: WeakSet / set ----------------------------------------- */

static int set_tasks(struct pyreader *r, uint64_t set, bool weak, struct task_refs *out)
{
	uint64_t *keys = malloc(PYR_MAX_ITEMS * sizeof(*keys));
	size_t n = 0;
	int err;

	if (!keys)
		return -ENOMEM;
	err = pyread_set(r, set, keys, PYR_MAX_ITEMS, &n);
	/* the entries were read past the cache: what they point to is read after */
	pyread_refresh(r);
	for (size_t i = 0; !err && i < n; i++) {
		uint64_t obj = keys[i];

		/* dummies of deleted entries and dead weakrefs fail the checks */
		if (weak && pyread_weakref(r, obj, &obj))
			continue;
		if (is_task(r, obj))
			err = add_task(out, obj, 0);
	}
	free(keys);
	return err;
}

static int weakset_tasks(struct pyreader *r, uint64_t ws, struct task_refs *out)
{
	struct pytype t;
	uint64_t data;
	int err = pyread_typeof(r, ws, &t);

	if (err)
		return err;
	if (!pyread_is(&t, "WeakSet"))
		return -EINVAL;
	err = pyread_attr(r, ws, "data", &data);
	return err ? err : set_tasks(r, data, true, out);
}

static int tasks_310(struct pyreader *r, const struct py_runtime *rt, struct task_refs *out)
{
	uint64_t ws;
	int err;

	if (!rt->all_tasks)
		return 0;
	err = pyread_ptr(r, rt->all_tasks, &ws);
	if (err)
		return err;
	return ws ? weakset_tasks(r, ws, out) : 0;	/* NULL: module not initialized */
}

static int tasks_312(struct pyreader *r, const struct py_runtime *rt, struct task_refs *out)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint64_t interp, modules, mod, state, ws, eager;
	struct pytype t;
	int err = 0;

	for (int i = 0; i < REG_MAX_INTERPS && !interp_at(r, rt, i, &interp); i++) {
		err = pyread_ptr(r, interp + s->is_modules, &modules);
		if (err || !modules)
			return err;
		if (pyread_dict_get(r, modules, "_asyncio", &mod))
			continue;	/* not imported in this interpreter */
		err = pyread_typeof(r, mod, &t);
		if (!err && !pyread_is(&t, "module"))
			err = -EINVAL;
		if (!err)
			err = pyread_ptr(r, mod + s->md_state, &state);
		if (!err && !pyread_addr_ok(state))
			err = -EINVAL;
		if (!err)
			err = pyread_ptr(r, state + s->st_scheduled_tasks, &ws);
		if (!err)
			err = pyread_ptr(r, state + s->st_eager_tasks, &eager);
		if (!err && ws)
			err = weakset_tasks(r, ws, out);
		if (!err && eager)
			err = set_tasks(r, eager, false, out);
		if (err)
			return err;
	}
	return err;
}

int registry_tasks(struct pyreader *r, const struct py_runtime *rt, struct task_refs *out,
		   char *err, size_t errlen)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!rt->asyncio_loaded)
		return 0;
	for (int attempt = 0; attempt < RETRIES; attempt++) {
		out->n = 0;
		if (attempt)
			pyread_refresh(r);
		if (r->minor >= 14)
			rc = tasks_314(r, rt, out);
		else if (r->minor >= 12)
			rc = tasks_312(r, rt, out);
		else
			rc = tasks_310(r, rt, out);
		if (rc != -EAGAIN && rc != -EFAULT && rc != -EINVAL)
			break;
	}
	if (rc)
		snprintf(err, errlen, "reading the task registry: %s%s", strerror(-rc),
			 rc == -EAGAIN || rc == -EFAULT || rc == -EINVAL ?
			 " (it kept changing while read)" : "");
	return rc;
}

/* ---- running loops ------------------------------------------------------ */

static int running_loop(struct pyreader *r, uint64_t ts, uint64_t *loop)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint64_t dict, v;
	struct pytype t;
	int err;

	*loop = 0;
	if (s->ts_running_loop)		/* 3.13+: a field of the thread state */
		return pyread_ptr(r, ts + s->ts_running_loop, loop);
	/* 3.10-3.12: the thread state dict; 3.10/3.11 wrap it in a holder */
	err = pyread_ptr(r, ts + s->ts_dict, &dict);
	if (err || !dict)
		return err;
	err = pyread_dict_get(r, dict, "__asyncio_running_event_loop__", &v);
	if (err)
		return err == -ENOENT ? 0 : err;
	if (r->minor <= 11) {
		err = pyread_typeof(r, v, &t);
		if (err || !pyread_is(&t, "_RunningLoopHolder"))
			return err ? err : -EINVAL;
		return pyread_ptr(r, v + s->rl_loop, loop);
	}
	*loop = v;
	return 0;
}

/* A thread of the target, by its id in the target's PID namespace. */
static bool is_thread_of(pid_t pid, uint32_t tid)
{
	char path[64];

	if (!tid || tid > 0x3fffffff)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task/%u", pid, tid);
	if (!access(path, F_OK) && proc_ns_tid(pid, tid) == tid)
		return true;	/* our namespace */
	return proc_host_tid(pid, tid) != tid;
}

/*
 * 3.10 keeps only the pthread_t (thread_id): the address of the thread's
 * struct pthread, which holds its kernel tid (glibc x86-64: at 0x2d0).
 * The offset is checked against the target's threads, and looked for
 * when it is not that one (another libc).
 */
#define PTHREAD_TID_GLIBC 0x2d0
#define PTHREAD_SCAN 1024

static uint32_t pthread_tid(struct pyreader *r, uint64_t pthread)
{
	uint8_t buf[PTHREAD_SCAN];
	int32_t v;

	if (!pyread_addr_ok(pthread) || pyread_read(r, pthread, buf, sizeof(buf)))
		return 0;
	memcpy(&v, buf + PTHREAD_TID_GLIBC, sizeof(v));
	if (v > 0 && is_thread_of(r->pid, (uint32_t)v))
		return (uint32_t)v;
	for (size_t off = 0; off + sizeof(v) <= sizeof(buf); off += sizeof(v)) {
		memcpy(&v, buf + off, sizeof(v));
		if (v > 1 && is_thread_of(r->pid, (uint32_t)v))
			return (uint32_t)v;
	}
	return 0;
}

int registry_running_loops(struct pyreader *r, const struct py_runtime *rt, struct loop_tid *v,
			   size_t max, size_t *n)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint64_t interp, tid, loop, *ts;
	size_t nts;
	int err = 0;

	*n = 0;
	if (!s->ts_native_tid && !s->ts_thread_id)
		return 0;
	ts = malloc(REG_MAX_THREADS * sizeof(*ts));
	if (!ts)
		return -ENOMEM;
	for (int i = 0; !err && i < REG_MAX_INTERPS && !interp_at(r, rt, i, &interp); i++) {
		err = threads_of(r, interp, ts, &nts);
		for (size_t k = 0; !err && k < nts; k++) {
			if (s->ts_native_tid) {
				err = pyread_ptr(r, ts[k] + s->ts_native_tid, &tid);
			} else {	/* 3.10 */
				err = pyread_ptr(r, ts[k] + s->ts_thread_id, &tid);
				tid = err ? 0 : pthread_tid(r, tid);
			}
			if (!err && tid && !running_loop(r, ts[k], &loop) && pyread_addr_ok(loop) &&
			    *n < max)
				v[(*n)++] = (struct loop_tid){ .loop = loop, .tid = (uint32_t)tid };
		}
	}
	free(ts);
	return err;
}
