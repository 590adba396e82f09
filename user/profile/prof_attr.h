/* SPDX-License-Identifier: MIT */
/*
 * user/profile/: `profile`: samples attributed to threads, tasks and await
 * chains, aggregated and written as a text top, folded stacks or pprof.
 *
 * Who a sample's CPU belongs to. A sample is a thread's Python stack
 * (innermost first, each frame with the generator that runs it, if any)
 * plus what the sampler knew: the running task (3.14), or the coroutine of
 * the outermost generator frame (3.10-3.13). With the task table of the
 * latest snapshot it becomes one stack of the aggregate:
 *   - in a task: the await chain, root task → … → the task, then the frames
 *     from the task's coroutine inward (the loop's own frames are left out);
 *   - in a loop callback: `callback FUNC` (the function Handle._run called),
 *     then the frames from it inward;
 *   - else `(no task)` and every frame.
 * --by coro names tasks by their coroutine; --by thread puts the thread
 * first. Off-CPU samples (--wall) end with `(off-cpu)`; the time a task
 * spends suspended (--wall, from the snapshots) ends with `(awaiting)`,
 * under its chain and its coroutine frames where it waits. A sample whose
 * coroutine is not in the table yet waits for the next table (a task made
 * since the last snapshot), then is attributed with what is known.
 */
#ifndef APS_PROF_ATTR_H
#define APS_PROF_ATTR_H

#include <stdbool.h>
#include <stdint.h>
#include "memory/coro_stack.h"
#include "memory/thread_stack.h"
#include "profile/prof_agg.h"

#define PROF_CHAIN_MAX 32		/* tasks of one await chain */
#define PROF_PENDING_MAX (1u << 20)	/* frames of samples waiting for a table */

enum prof_by {
	PROF_BY_TASK = 0,
	PROF_BY_CORO,
	PROF_BY_THREAD,
};

/* A task as a snapshot read it. */
struct prof_task_ref {
	uint64_t addr, coro;
	uint64_t parent;	/* a task awaiting it (the first one); 0: none, a root */
	const char *name;	/* NULL: "?" */
	const char *coro_name;	/* its coroutine's qualname; NULL: unknown */
};

struct prof_task {
	uint64_t addr, coro, parent;
	uint32_t name, coro_name;	/* string ids of `task NAME`, `coro QUALNAME` */
};

struct prof_pending {
	uint32_t thread;	/* string id */
	uint32_t first, n;	/* frame node ids in prof_attr.pids, innermost first */
	uint64_t task, coro;
	int32_t gen_cut;	/* index of the outermost generator frame; -1 */
	int32_t dispatch;	/* index of the function the loop dispatched to; -1 */
	bool dispatch_gen;	/* that frame runs a generator (a task step) */
	bool off_cpu;
	uint64_t ts, weight_ns;
};

struct prof_attr {
	struct prof_agg *agg;
	enum prof_by by;
	struct prof_task *tasks;
	uint32_t ntasks, tasks_cap;
	struct u64_map by_addr, by_coro;
	bool have_table;
	struct prof_pending *pend;
	uint32_t npend, pend_cap;
	uint32_t *pids;
	uint32_t npids, pids_cap;
	uint32_t no_task, off_cpu, awaiting;	/* node ids of `(no task)`, `(off-cpu)`, `(awaiting)` */
	uint64_t in_tasks, in_callbacks, outside;	/* samples attributed so far */
	uint64_t unknown_tasks;		/* samples of a task no snapshot listed */
	uint64_t awaiting_samples;	/* counted by prof_attr_awaiting */
};

int prof_attr_init(struct prof_attr *p, struct prof_agg *agg, enum prof_by by);
void prof_attr_free(struct prof_attr *p);
/*
 * A new task table (replaces the last), read from taken_at on: samples
 * taken before then that wait for a table are attributed.
 */
int prof_attr_set_tasks(struct prof_attr *p, const struct prof_task_ref *t, uint32_t n,
			uint64_t taken_at);
/*
 * One sample of a thread (thread: its label). task: the running task, or 0;
 * coro: the coroutine the sampler saw, or 0 (then the outermost generator
 * frame's). weight_ns: the time it stands for.
 */
int prof_attr_sample(struct prof_attr *p, const char *thread, const struct thread_stack *st,
		     uint64_t task, uint64_t coro, bool off_cpu, uint64_t ts, uint64_t weight_ns);
/*
 * A suspended task (in the current table) stood `count` samples of
 * weight_ns in all where it awaits: frames, its coroutine stack as the
 * snapshot read it (innermost first). thread: the label of its loop's thread.
 */
int prof_attr_awaiting(struct prof_attr *p, const char *thread, uint64_t task,
		       const struct snap_frame *frames, uint32_t nframes, uint64_t count,
		       uint64_t weight_ns);
/* Attribute every waiting sample with what is known now (the end). */
int prof_attr_flush(struct prof_attr *p);

#endif
