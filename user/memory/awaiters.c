// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "memory/awaiters.h"
#include "util/search.h"

#define MAX_CALLBACKS 64	/* done callbacks of one future we look at */
#define MAX_CELLS 16
#define CHASE_DEPTH 4		/* futures completing futures (nested gathers) */

/* closures of asyncio/tasks.py that complete a future when a task is done */
static const char *const closure_callbacks[] = {
	"gather.<locals>._done_callback",
	"shield.<locals>._inner_done_callback",
	"_wait.<locals>._on_completion",
	NULL,
};

struct found {
	uint64_t self;		/* the task whose awaiters we look for */
	uint64_t *out;
	size_t max, n;
};

static void add(struct found *f, uint64_t w)
{
	if (!w || w == f->self)
		return;
	for (size_t i = 0; i < f->n; i++) {
		if (f->out[i] == w)
			return;
	}
	if (f->n < f->max)
		f->out[f->n++] = w;
}

int awaiters_recorded(struct pyreader *r, uint64_t task, uint64_t *out, size_t max, size_t *n)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint64_t by, keys[AWAITERS_MAX];
	struct pytype t;
	size_t k = 0;
	uint8_t is_set;
	int err;

	*n = 0;
	err = pyread_ptr(r, task + s->task_awaited_by, &by);
	if (!err)
		err = pyread_read(r, task + s->task_awaited_by_is_set, &is_set, 1);
	if (err || !by)
		return err;
	if (!is_set) {
		keys[k++] = by;
	} else {
		err = pyread_set(r, by, keys, AWAITERS_MAX, &k);
		if (err)
			return err;
	}
	/* a set keeps dummies of removed entries: awaiters are futures */
	for (size_t i = 0; i < k && *n < max; i++) {
		if (!pyread_typeof(r, keys[i], &t) && (t.kind & PYR_FUTURE))
			out[(*n)++] = keys[i];
	}
	return 0;
}

static int cmp_pair(const void *a, const void *b)
{
	const struct await_pair *x = a, *y = b;

	return x->fut < y->fut ? -1 : x->fut > y->fut;
}

int awaiters_index(struct await_index *ix, const uint64_t *tasks, const uint64_t *waiters,
		   size_t n)
{
	memset(ix, 0, sizeof(*ix));
	ix->v = malloc((n ? n : 1) * sizeof(*ix->v));
	if (!ix->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (waiters[i])
			ix->v[ix->n++] = (struct await_pair){ waiters[i], tasks[i] };
	}
	qsort(ix->v, ix->n, sizeof(*ix->v), cmp_pair);
	return 0;
}

void awaiters_index_free(struct await_index *ix)
{
	free(ix->v);
	free(ix->memo);
	u64_map_free(&ix->memo_index);
	memset(ix, 0, sizeof(*ix));
}

void awaiters_index_forget(struct await_index *ix)
{
	ix->nmemo = 0;
	u64_map_free(&ix->memo_index);
}

/* The tasks waiting on fut; how many. */
static size_t waiters_of(const struct await_index *ix, uint64_t fut, struct found *f)
{
	size_t lo = search_u64(ix->v, ix->n, sizeof(*ix->v), offsetof(struct await_pair, fut), fut);
	size_t k = 0;

	for (; lo < ix->n && ix->v[lo].fut == fut; lo++, k++)
		add(f, ix->v[lo].task);
	return k;
}

/* Done callbacks of a future: _callback0, then the (cb, context) tuples. */
static int callbacks_of(struct pyreader *r, uint64_t fut, uint64_t *cbs, size_t *n)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint64_t cb0, list, items[MAX_CALLBACKS], pair[2];
	size_t k = 0, m;
	int err;

	*n = 0;
	err = pyread_ptr(r, fut + s->fut_callback0, &cb0);
	if (!err)
		err = pyread_ptr(r, fut + s->fut_callbacks, &list);
	if (err)
		return err;
	if (cb0)
		cbs[(*n)++] = cb0;
	if (list && !pyread_list(r, list, items, MAX_CALLBACKS - 1, &k)) {
		for (size_t i = 0; i < k; i++) {
			if (!pyread_tuple(r, items[i], pair, 2, &m) && m == 2)
				cbs[(*n)++] = pair[0];
		}
	}
	return 0;
}

/* Is fn a Python function whose __qualname__ is one of names? */
static bool func_is(struct pyreader *r, uint64_t fn, const char *const *names)
{
	struct pytype t;
	uint64_t q;

	if (pyread_typeof(r, fn, &t) || !pyread_is(&t, "function") ||
	    pyread_ptr(r, fn + r->l->snap.func_qualname, &q))
		return false;
	for (; *names; names++) {
		if (pyread_str_eq(r, q, *names))
			return true;
	}
	return false;
}

static bool is_kind(struct pyreader *r, uint64_t obj, unsigned kind)
{
	struct pytype t;

	return !pyread_typeof(r, obj, &t) && (t.kind & kind);
}

static void chase_future(struct pyreader *r, const struct await_index *ix, uint64_t fut,
			 int depth, struct found *f);

/* What a done callback of a future says about who waits for it. */
static void follow_callback(struct pyreader *r, const struct await_index *ix, uint64_t cb,
			    int depth, struct found *f)
{
	static const char *const on_task_done[] = { "TaskGroup._on_task_done", NULL };
	static const char *const release_waiter[] = { "_release_waiter", NULL };
	const struct py_snap_layout *s = &r->l->snap;
	uint64_t fn, self, parent, args, cells[MAX_CELLS], v;
	struct pytype t;
	size_t n;

	if (pyread_typeof(r, cb, &t))
		return;
	if (pyread_is(&t, "method")) {
		/* TaskGroup: the group's parent task awaits its children */
		if (depth || pyread_ptr(r, cb + s->meth_func, &fn) || !func_is(r, fn, on_task_done) ||
		    pyread_ptr(r, cb + s->meth_self, &self) || pyread_typeof(r, self, &t) ||
		    !pyread_is(&t, "TaskGroup") || pyread_attr(r, self, "_parent_task", &parent))
			return;
		if (is_kind(r, parent, PYR_TASK))
			add(f, parent);
	} else if (pyread_is(&t, "function")) {
		if (!func_is(r, cb, closure_callbacks) || pyread_ptr(r, cb + s->func_closure, &v) ||
		    !v || pyread_tuple(r, v, cells, MAX_CELLS, &n))
			return;
		for (size_t i = 0; i < n; i++) {
			if (pyread_typeof(r, cells[i], &t) || !pyread_is(&t, "cell") ||
			    pyread_ptr(r, cells[i] + s->cell_ref, &v))
				continue;
			if (is_kind(r, v, PYR_FUTURE))
				chase_future(r, ix, v, depth, f);
		}
	} else if (pyread_is(&t, "functools.partial")) {
		/* wait_for (3.10/3.11): partial(_release_waiter, waiter) */
		if (pyread_ptr(r, cb + s->partial_fn, &fn) || !func_is(r, fn, release_waiter) ||
		    pyread_ptr(r, cb + s->partial_args, &args) || pyread_tuple(r, args, cells, 1, &n) ||
		    n != 1)
			return;
		if (is_kind(r, cells[0], PYR_FUTURE))
			chase_future(r, ix, cells[0], depth, f);
	}
}

static void chase_future(struct pyreader *r, const struct await_index *ix, uint64_t fut,
			 int depth, struct found *f)
{
	uint64_t cbs[MAX_CALLBACKS];
	size_t n;

	if (waiters_of(ix, fut, f) || depth >= CHASE_DEPTH || callbacks_of(r, fut, cbs, &n))
		return;
	for (size_t i = 0; i < n; i++)
		follow_callback(r, ix, cbs[i], depth + 1, f);
}

/* follow_callback() of a task's callback, remembered by callback object */
static void follow_memo(struct pyreader *r, struct await_index *ix, uint64_t cb, struct found *f)
{
	uint64_t w[AWAITERS_MAX];
	struct found m = { .out = w, .max = AWAITERS_MAX };
	struct await_memo *e;
	uint32_t idx;

	if (u64_map_get(&ix->memo_index, cb, &idx)) {
		for (uint32_t i = 0; i < ix->memo[idx].n; i++)
			add(f, ix->memo[idx].w[i]);
		return;
	}
	follow_callback(r, ix, cb, 0, &m);
	for (size_t i = 0; i < m.n; i++)
		add(f, w[i]);
	if (m.n > 8)
		return;		/* too many to remember: read again next time */
	if (ix->nmemo == ix->memo_cap) {
		size_t cap = ix->memo_cap ? ix->memo_cap * 2 : 64;

		e = realloc(ix->memo, cap * sizeof(*e));
		if (!e)
			return;
		ix->memo = e;
		ix->memo_cap = cap;
	}
	if (u64_map_put(&ix->memo_index, cb, (uint32_t)ix->nmemo))
		return;
	e = &ix->memo[ix->nmemo++];
	e->n = (uint32_t)m.n;
	memcpy(e->w, w, m.n * sizeof(w[0]));
}

int awaiters_derived(struct pyreader *r, struct await_index *ix, uint64_t task, uint64_t *out,
		     size_t max, size_t *n)
{
	struct found f = { .self = task, .out = out, .max = max };
	uint64_t cbs[MAX_CALLBACKS];
	size_t k;
	int err;

	*n = 0;
	waiters_of(ix, task, &f);
	err = callbacks_of(r, task, cbs, &k);
	for (size_t i = 0; !err && i < k; i++)
		follow_memo(r, ix, cbs[i], &f);
	*n = f.n;
	return err;
}
