/* SPDX-License-Identifier: MIT */
/*
 * Samples counted by stack. A stack is a list of nodes, root first: the
 * thread, the task chain (root task → … → the running task) or a callback,
 * then the Python frames, outermost first. Strings, nodes and stacks are
 * interned once each; the writers (folded, pprof, top) read the result.
 */
#ifndef APS_PROF_AGG_H
#define APS_PROF_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/u64_map.h"
#include "util/mem_pool.h"

#define PROF_MAX_DEPTH 256	/* nodes kept per stack (the innermost frames are cut) */

enum prof_node_kind {
	PROF_N_FRAME = 1,	/* a Python frame: function, file, line */
	PROF_N_THREAD,		/* `thread TID (comm)` */
	PROF_N_TASK,		/* `task NAME` */
	PROF_N_CORO,		/* `coro QUALNAME`: a task by its coroutine (--by coro) */
	PROF_N_CALLBACK,	/* `callback FUNC`: a loop callback, outside any task */
	PROF_N_MARK,		/* `(no task)`, `(off-cpu)`, ... */
};

struct prof_node {
	uint8_t kind;		/* enum prof_node_kind */
	uint32_t name;		/* string ids (prof_agg.strs) */
	uint32_t file;		/* frames only; 0 = "" */
	int32_t line;		/* frames: the sampled line, -1 unknown */
	int32_t start_line;	/* frames: the function's first line, -1 unknown */
};

struct prof_stack {
	uint32_t first, n;	/* its nodes: ids[first .. first+n), root first */
	uint32_t thread;	/* string id of the thread's label */
	uint32_t group;		/* string id of what --by groups by (task/coro/thread label) */
	bool off_cpu;
	uint64_t count;		/* samples */
	uint64_t weight_ns;	/* time they stand for */
};

struct prof_agg {
	const char **strs;	/* strs[0] = "" */
	uint32_t nstrs, strs_cap;
	struct u64_map str_index;
	struct prof_node *nodes;	/* ids from 0 */
	uint32_t nnodes, nodes_cap;
	struct u64_map node_index;
	uint32_t *ids;
	size_t nids, ids_cap;
	struct prof_stack *stacks;
	uint32_t nstacks, stacks_cap;
	struct u64_map stack_index;
	uint64_t count, weight_ns;	/* totals */
	uint64_t off_cpu_count;
	struct mem_pool pool;	/* the strings */
};

int prof_agg_init(struct prof_agg *a);
void prof_agg_free(struct prof_agg *a);
/* The id of s (added if new). 0, or -ENOMEM. */
int prof_agg_str(struct prof_agg *a, const char *s, uint32_t *id);
/* The id of a node (added if new). */
int prof_agg_node(struct prof_agg *a, const struct prof_node *n, uint32_t *id);
/* A node for a label: kind is not PROF_N_FRAME. */
int prof_agg_label(struct prof_agg *a, enum prof_node_kind kind, const char *label, uint32_t *id);
/* Count samples of a stack (nodes root first; at most PROF_MAX_DEPTH are kept). */
int prof_agg_add(struct prof_agg *a, const uint32_t *nodes, uint32_t n, uint32_t thread,
		 uint32_t group, bool off_cpu, uint64_t count, uint64_t weight_ns);

/*
 * A node as one frame of text: `func (file:line)`, `task NAME`, ... with
 * ';' (the folded separator) written as "\x3b". Returns out.
 */
const char *prof_node_text(const struct prof_agg *a, const struct prof_node *n, char *out,
			   size_t len);

#endif
