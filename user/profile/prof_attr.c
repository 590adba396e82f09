// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "loop/loop_stall.h"
#include "profile/prof_attr.h"
#include "util/grow.h"

#define LABEL_MAX 512

int prof_attr_init(struct prof_attr *p, struct prof_agg *agg, enum prof_by by)
{
	int err;

	memset(p, 0, sizeof(*p));
	p->agg = agg;
	p->by = by;
	err = prof_agg_label(agg, PROF_N_MARK, "(no task)", &p->no_task);
	if (!err)
		err = prof_agg_label(agg, PROF_N_MARK, "(off-cpu)", &p->off_cpu);
	if (!err)
		err = prof_agg_label(agg, PROF_N_MARK, "(awaiting)", &p->awaiting);
	return err;
}

void prof_attr_free(struct prof_attr *p)
{
	free(p->tasks);
	free(p->pend);
	free(p->pids);
	u64_map_free(&p->by_addr);
	u64_map_free(&p->by_coro);
	memset(p, 0, sizeof(*p));
}

static int label_str(struct prof_attr *p, const char *prefix, const char *name, uint32_t *id)
{
	char buf[LABEL_MAX];

	snprintf(buf, sizeof(buf), "%s%s", prefix, name && *name ? name : "?");
	return prof_agg_str(p->agg, buf, id);
}

static const struct prof_task *find_task(const struct prof_attr *p, uint64_t task, uint64_t coro)
{
	uint32_t v;

	if (task && u64_map_get(&p->by_addr, task, &v))
		return &p->tasks[v];
	if (coro && u64_map_get(&p->by_coro, coro, &v))
		return &p->tasks[v];
	return NULL;
}

static int push_label(struct prof_attr *p, enum prof_node_kind kind, uint32_t str,
		      uint32_t *nodes, uint32_t *n)
{
	struct prof_node node = { .kind = (uint8_t)kind, .name = str, .line = -1, .start_line = -1 };

	if (*n >= PROF_MAX_DEPTH)
		return 0;
	return prof_agg_node(p->agg, &node, &nodes[(*n)++]);
}

/* The chain root task → … → t, as nodes. */
static int push_chain(struct prof_attr *p, const struct prof_task *t, uint32_t *nodes,
		      uint32_t *n)
{
	const struct prof_task *chain[PROF_CHAIN_MAX];
	int k = 0, err = 0;

	chain[k++] = t;
	while (k < PROF_CHAIN_MAX && t->parent) {
		t = find_task(p, t->parent, 0);
		if (!t)
			break;
		for (int i = 0; i < k; i++)	/* a cycle: stop at its first repeat */
			if (chain[i] == t)
				goto done;
		chain[k++] = t;
	}
done:
	while (!err && k-- > 0)
		err = push_label(p, p->by == PROF_BY_CORO ? PROF_N_CORO : PROF_N_TASK,
				 p->by == PROF_BY_CORO ? chain[k]->coro_name : chain[k]->name,
				 nodes, n);
	return err;
}

/* Is a loop's Handle._run (3.10: _run) on the stack: is a callback or a step running? */
static bool in_handle_run(const struct thread_stack *st)
{
	for (uint32_t i = 1; i < st->n && i < STACK_MAX_FRAMES; i++)
		if (strstr(st->f[i].file, "/asyncio/events.py") &&
		    (!strcmp(st->f[i].func, "Handle._run") || !strcmp(st->f[i].func, "_run")))
			return true;
	return false;
}

/* Attribute one sample; frames: its frame nodes, innermost first. */
static int emit(struct prof_attr *p, const struct prof_pending *s, const uint32_t *frames,
		const struct prof_task *t)
{
	uint32_t nodes[PROF_MAX_DEPTH], n = 0, keep = s->n, group = 0;
	const char *func;
	char addr[32];
	int err = 0;

	if (p->by == PROF_BY_THREAD)
		err = push_label(p, PROF_N_THREAD, s->thread, nodes, &n);
	if (err)
		return err;
	if (t) {
		err = push_chain(p, t, nodes, &n);
		group = p->by == PROF_BY_CORO ? t->coro_name : t->name;
		if (s->gen_cut >= 0)
			keep = (uint32_t)s->gen_cut + 1;
		p->in_tasks++;
	} else if (s->task || (s->dispatch >= 0 && s->dispatch_gen)) {
		/* a task no snapshot listed (made and gone between two) */
		if (p->by == PROF_BY_CORO && s->gen_cut >= 0) {
			func = p->agg->strs[p->agg->nodes[frames[s->gen_cut]].name];
			err = label_str(p, "coro ", func, &group);
		} else {
			snprintf(addr, sizeof(addr), "0x%" PRIx64, s->task);
			err = label_str(p, "task ", s->task ? addr : "?", &group);
		}
		if (!err)
			err = push_label(p, p->by == PROF_BY_CORO ? PROF_N_CORO : PROF_N_TASK, group,
					 nodes, &n);
		if (s->gen_cut >= 0)
			keep = (uint32_t)s->gen_cut + 1;
		p->in_tasks++;
		p->unknown_tasks++;
	} else if (s->dispatch >= 0) {
		func = p->agg->strs[p->agg->nodes[frames[s->dispatch]].name];
		err = label_str(p, "callback ", func, &group);
		if (!err)
			err = push_label(p, PROF_N_CALLBACK, group, nodes, &n);
		keep = (uint32_t)s->dispatch + 1;
		p->in_callbacks++;
	} else {
		group = p->agg->nodes[p->no_task].name;
		if (n < PROF_MAX_DEPTH)
			nodes[n++] = p->no_task;
		p->outside++;
	}
	if (err)
		return err;
	if (keep > s->n)
		keep = s->n;
	while (keep-- > 0 && n < PROF_MAX_DEPTH - 1)
		nodes[n++] = frames[keep];
	if (s->off_cpu && n < PROF_MAX_DEPTH)
		nodes[n++] = p->off_cpu;
	if (p->by == PROF_BY_THREAD)
		group = s->thread;
	return prof_agg_add(p->agg, nodes, n, s->thread, group, s->off_cpu, 1, s->weight_ns);
}

int prof_attr_sample(struct prof_attr *p, const char *thread, const struct thread_stack *st,
		     uint64_t task, uint64_t coro, bool off_cpu, uint64_t ts, uint64_t weight_ns)
{
	uint32_t frames[STACK_MAX_FRAMES];
	struct prof_pending s = {
		.gen_cut = -1, .task = task, .off_cpu = off_cpu, .ts = ts, .weight_ns = weight_ns,
	};
	const struct prof_task *t;
	int err;

	s.n = st->n < STACK_MAX_FRAMES ? st->n : STACK_MAX_FRAMES;
	err = prof_agg_str(p->agg, thread, &s.thread);
	for (uint32_t i = 0; !err && i < s.n; i++) {
		const struct stack_frame *f = &st->f[i];
		struct prof_node node = { .kind = PROF_N_FRAME, .line = f->line, .start_line = -1 };

		err = prof_agg_str(p->agg, f->func, &node.name);
		if (!err)
			err = prof_agg_str(p->agg, f->file, &node.file);
		if (!err)
			err = prof_agg_node(p->agg, &node, &frames[i]);
		if (f->gen)
			s.gen_cut = (int32_t)i;
	}
	if (err)
		return err;
	s.coro = coro ? coro : (s.gen_cut >= 0 ? st->f[s.gen_cut].gen : 0);
	/* the function the loop called (past asyncio's own frames); not the
	 * loop's select, nor its _run_once between callbacks */
	s.dispatch = in_handle_run(st) ? loop_stall_dispatch_frame(st) : -1;
	/* asyncio's own code right under Handle._run: a C callback's (a task
	 * step rescheduling itself, a future's wake-up), not a Python callback */
	if (s.dispatch >= 0 && strstr(st->f[s.dispatch].file, "/asyncio/"))
		s.dispatch = -1;
	s.dispatch_gen = s.dispatch >= 0 && st->f[s.dispatch].gen;
	t = find_task(p, s.task, s.coro);
	if (t || (!s.task && !s.coro) || p->npids + s.n > PROF_PENDING_MAX)
		return emit(p, &s, frames, t);
	/* a task made since the last table: wait for the next one */
	if (GROW(p->pend, p->pend_cap, p->npend + 1, 256))
		return -ENOMEM;
	if (GROW(p->pids, p->pids_cap, p->npids + s.n, 4096))
		return -ENOMEM;
	s.first = p->npids;
	memcpy(p->pids + p->npids, frames, s.n * sizeof(*frames));
	p->npids += s.n;
	p->pend[p->npend++] = s;
	return 0;
}

/* Attribute waiting samples taken before `before` (UINT64_MAX: all). */
static int resolve(struct prof_attr *p, uint64_t before)
{
	uint32_t kept = 0, nids = 0;
	int err = 0;

	for (uint32_t i = 0; i < p->npend; i++) {
		struct prof_pending s = p->pend[i];
		const struct prof_task *t = find_task(p, s.task, s.coro);

		if (!err && (t || s.ts < before)) {
			err = emit(p, &s, p->pids + s.first, t);
			continue;
		}
		/* keep it, its frames moved down */
		memmove(p->pids + nids, p->pids + s.first, s.n * sizeof(*p->pids));
		s.first = nids;
		nids += s.n;
		p->pend[kept++] = s;
	}
	p->npend = kept;
	p->npids = nids;
	return err;
}

int prof_attr_set_tasks(struct prof_attr *p, const struct prof_task_ref *t, uint32_t n,
			uint64_t taken_at)
{
	int err = 0;

	u64_map_free(&p->by_addr);
	u64_map_free(&p->by_coro);
	p->ntasks = 0;
	if (n > p->tasks_cap) {
		struct prof_task *v = realloc(p->tasks, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->tasks = v;
		p->tasks_cap = n;
	}
	for (uint32_t i = 0; i < n && !err; i++) {
		struct prof_task *x = &p->tasks[p->ntasks];

		if (!t[i].addr)
			continue;
		x->addr = t[i].addr;
		x->coro = t[i].coro;
		x->parent = t[i].parent;
		err = label_str(p, "task ", t[i].name, &x->name);
		if (!err)
			err = label_str(p, "coro ", t[i].coro_name, &x->coro_name);
		if (!err)
			err = u64_map_put(&p->by_addr, x->addr, (uint32_t)p->ntasks);
		if (!err && x->coro)
			err = u64_map_put(&p->by_coro, x->coro, (uint32_t)p->ntasks);
		p->ntasks++;
	}
	p->have_table = true;
	return err ? err : resolve(p, taken_at);
}

int prof_attr_awaiting(struct prof_attr *p, const char *thread, uint64_t task,
		       const struct snap_frame *frames, uint32_t nframes, uint64_t count,
		       uint64_t weight_ns)
{
	const struct prof_task *t = find_task(p, task, 0);
	uint32_t nodes[PROF_MAX_DEPTH], n = 0, th, group;
	int err;

	if (!t || !count)
		return 0;
	err = prof_agg_str(p->agg, thread, &th);
	if (!err && p->by == PROF_BY_THREAD)
		err = push_label(p, PROF_N_THREAD, th, nodes, &n);
	if (!err)
		err = push_chain(p, t, nodes, &n);
	while (!err && nframes-- > 0 && n < PROF_MAX_DEPTH - 1) {
		const struct snap_frame *f = &frames[nframes];
		struct prof_node node = { .kind = PROF_N_FRAME, .line = f->line, .start_line = -1 };

		err = prof_agg_str(p->agg, f->qualname ? f->qualname : "?", &node.name);
		if (!err)
			err = prof_agg_str(p->agg, f->filename ? f->filename : "?", &node.file);
		if (!err)
			err = prof_agg_node(p->agg, &node, &nodes[n++]);
	}
	if (err)
		return err;
	nodes[n++] = p->awaiting;
	group = p->by == PROF_BY_THREAD ? th : p->by == PROF_BY_CORO ? t->coro_name : t->name;
	p->awaiting_samples += count;
	return prof_agg_add(p->agg, nodes, n, th, group, true, count, weight_ns);
}

int prof_attr_flush(struct prof_attr *p)
{
	return resolve(p, UINT64_MAX);
}
