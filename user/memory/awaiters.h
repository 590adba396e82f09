/* SPDX-License-Identifier: MIT */
/*
 * Who awaits a task. 3.14 records it in TaskObj.task_awaited_by (a task,
 * or a set of them). 3.10-3.13 record nothing; the same edges as 3.14 are
 * derived from what the objects hold:
 *   - W awaits T itself: W.task_fut_waiter == T;
 *   - TaskGroup (3.11+): a done callback of T is TaskGroup._on_task_done
 *     bound to a group G: G._parent_task awaits T;
 *   - gather, shield, wait, and wait_for (3.10/3.11): a done callback of T
 *     (gather's _done_callback, shield's _inner_done_callback, _wait's
 *     _on_completion, partial(_release_waiter, waiter)) completes a future
 *     F (a closure cell, or the partial's argument) and W.task_fut_waiter
 *     == F; when nobody waits on F, F's own callbacks are followed (nested
 *     gathers), 4 deep.
 * Not derived: as_completed, staggered_race (3.14 has edges for them).
 */
#ifndef APS_AWAITERS_H
#define APS_AWAITERS_H

#include <stddef.h>
#include <stdint.h>
#include "util/u64_map.h"
#include "memory/pyread.h"

#define AWAITERS_MAX 64		/* awaiters kept per task */

/*
 * Who waits on which future: (fut_waiter, task) pairs of the pending
 * tasks; and what each done callback resolved to (children of one gather
 * share its callback).
 */
struct await_index {
	struct await_pair {
		uint64_t fut, task;
	} *v;
	size_t n;
	struct await_memo {
		uint32_t n;
		uint64_t w[8];
	} *memo;
	size_t nmemo, memo_cap;
	struct u64_map memo_index;
};

/* 3.14: the recorded awaiters of task (futures only; *n may be 0). */
int awaiters_recorded(struct pyreader *r, uint64_t task, uint64_t *out, size_t max, size_t *n);

/* 3.10-3.13: index tasks[i] waiting on waiters[i] (0: none). */
int awaiters_index(struct await_index *ix, const uint64_t *tasks, const uint64_t *waiters,
		   size_t n);
void awaiters_index_free(struct await_index *ix);
/* Forget the callbacks remembered so far: the next reads read them again. */
void awaiters_index_forget(struct await_index *ix);
/* 3.10-3.13: the derived awaiters of task (deduplicated). */
int awaiters_derived(struct pyreader *r, struct await_index *ix, uint64_t task, uint64_t *out,
		     size_t max, size_t *n);

#endif
