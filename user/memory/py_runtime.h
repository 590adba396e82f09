/* SPDX-License-Identifier: MIT */
/*
 * Where a live interpreter keeps its state, for snapshots: _PyRuntime,
 * the offsets it publishes itself (_Py_DebugOffsets, 3.13+; .AsyncioDebug,
 * 3.14) and _asyncio's static all_tasks (3.10/3.11).
 */
#ifndef APS_PY_RUNTIME_H
#define APS_PY_RUNTIME_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "target/interp.h"
#include "target/layout.h"

struct py_runtime {
	uint64_t runtime;	/* _PyRuntime in the target; 0: not found */
	uint64_t all_tasks;	/* 3.10/3.11: address of the static `all_tasks` pointer */
	bool asyncio_loaded;	/* _asyncio is mapped (else there are no tasks) */
	bool debug_offsets;	/* l->snap refined from _Py_DebugOffsets */
	bool asyncio_debug;	/* ... and from .AsyncioDebug */
	char symbols[PATH_MAX + 64];	/* the file all_tasks came from */
};

/*
 * Find the runtime of ip and refine l with what the interpreter publishes.
 * 0, or -errno with a message: -ENOENT (no symbol for all_tasks: the
 * message names the debug package), -EINVAL (the build does not match l).
 */
int py_runtime_resolve(const struct interp *ip, struct py_layout *l, struct py_runtime *rt,
		       char *err, size_t errlen);

/* Sizes of _Py_DebugOffsets by minor version (0: none). */
size_t py_debug_offsets_size(int minor);
/* Check a raw _Py_DebugOffsets against l, then take its offsets into l->snap. */
int py_apply_debug_offsets(struct py_layout *l, const void *raw, size_t len, char *err,
			   size_t errlen);
/* Check a raw .AsyncioDebug (3.14, 13 u64) against l, then take its offsets. */
int py_apply_asyncio_debug(struct py_layout *l, const void *raw, size_t len, char *err,
			   size_t errlen);

#endif
