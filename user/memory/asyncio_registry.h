/* SPDX-License-Identifier: MIT */
/*
 * Where the live tasks of a target are registered, per version:
 *   3.14: per-thread lists _PyThreadStateImpl.asyncio_tasks_head (+ the
 *         interpreter's list of tasks of dead threads), node TaskObj.task_node;
 *   3.12/3.13: module state of _asyncio (sys.modules["_asyncio"]):
 *         scheduled_tasks (a WeakSet) and eager_tasks (a set);
 *   3.10/3.11: _asyncio's static all_tasks (a WeakSet).
 * And which thread runs which event loop (3.11-3.13), to give old
 * versions' tasks a thread id.
 */
#ifndef APS_ASYNCIO_REGISTRY_H
#define APS_ASYNCIO_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include "memory/py_runtime.h"
#include "memory/pyread.h"

#define REG_MAX_TASKS (1 << 21)	/* 2M tasks: far past what a process holds */
#define REG_MAX_THREADS 4096
#define REG_MAX_INTERPS 16

struct task_ref {
	uint64_t addr;
	uint32_t tid;		/* native thread id; 0: unknown (or a dead thread's task) */
};

struct task_refs {
	struct task_ref *v;
	size_t n, cap;
};

struct loop_tid {
	uint64_t loop;
	uint32_t tid;
};

/*
 * The tasks registered now (each a checked _asyncio.Task), in registry
 * order; a task may come more than once (lists and sets read while they
 * change): the caller keeps the first. 0, or -errno with a message
 * (-EAGAIN: it kept changing as we read it).
 */
int registry_tasks(struct pyreader *r, const struct py_runtime *rt, struct task_refs *out,
		   char *err, size_t errlen);
void task_refs_free(struct task_refs *t);

/* The loop each thread is running now (3.11-3.13); *n may be 0. */
int registry_running_loops(struct pyreader *r, const struct py_runtime *rt, struct loop_tid *v,
			   size_t max, size_t *n);

#endif
