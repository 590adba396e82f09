/* SPDX-License-Identifier: MIT */
/*
 * user/memory/: bounded reads of the target's memory: Python objects, task
 * registries, coroutine and thread stacks, snapshots.
 */
/*
 * A snapshot of a live target's asyncio tasks, read from its memory only
 * (never written, never stopped): what `python -m asyncio ps|pstree` of
 * 3.14 shows, for 3.10-3.14. Each task: its name, its coroutine stack
 * (innermost first) and who awaits it.
 */
#ifndef APS_SNAPSHOT_H
#define APS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "memory/coro_stack.h"
#include "output/escape.h"
#include "target/interp.h"
#include "target/layout.h"
#include "util/mem_pool.h"

#define SNAP_MAX_FRAMES 128

struct snap_awaiter {
	uint64_t addr;
	int32_t task;		/* index in snapshot.tasks; -1: not a task (a Future) */
};

struct snap_task {
	uint64_t addr;		/* the TaskObj: `task id` of ps */
	uint64_t loop;
	uint64_t coro;		/* its coroutine (what a sample's frames are owned by) */
	uint64_t waiter;	/* the future it awaits (fut_waiter); 0: running, ready or done */
	uint32_t tid;		/* thread running it, host id; 0: unknown */
	uint32_t ns_tid;	/* its id in the target's PID namespace (0: the same) */
	uint8_t state;		/* enum aps_fut_state */
	bool listed;		/* registered in the interpreter (false: only an awaiter) */
	bool stack_ok;		/* false: it kept moving while read; no frames */
	const char *name;	/* in snapshot.pool */
	uint32_t nframes;
	const struct snap_frame *frames;	/* innermost first; shared by equal stacks */
	uint64_t inner_coro;	/* the coroutine of frames[0] (live reads; 0: unknown) */
	uint32_t nawaiters;
	struct snap_awaiter *awaiters;
};

struct snapshot {
	int major, minor;
	uint32_t ntasks;
	struct snap_task *tasks;	/* listed tasks first, in registry order */
	bool tids;		/* tids come from the interpreter (3.14: its thread lists;
				 * 3.11-3.13: the loop each thread runs now) */
	uint32_t dropped;	/* tasks left out: unreadable or changed under us */
	uint64_t reads;		/* memory reads it took */
	uint64_t calls;		/* process_vm_readv calls they took */
	struct coro_reader *codes;	/* owns the frames' strings */
	struct mem_pool pool;		/* owns names, frames and awaiters */
};

/*
 * Read every asyncio task alive in ip's process now. l: the layout from
 * layout_for_target() (or the table). 0, or -errno with a message in err;
 * on error *out is empty. Free with snapshot_free() either way.
 */
int snapshot_take(const struct interp *ip, const struct py_layout *l, struct snapshot *out,
		  char *err, size_t errlen);
/*
 * The same with the runtime already found (py_runtime_resolve, with l as it
 * refined it): a caller reading one process often resolves it once. cache:
 * a page cache (page_cache_init) kept across reads, emptied and aimed at
 * ip's pid here, so its memory is not mapped and zeroed anew each time;
 * NULL: one of its own.
 */
struct py_runtime;
struct page_cache;
int snapshot_take_resolved(const struct interp *ip, const struct py_layout *l,
			   const struct py_runtime *rt, struct page_cache *cache,
			   struct snapshot *out, char *err, size_t errlen);
void snapshot_free(struct snapshot *s);

#endif
