/* SPDX-License-Identifier: MIT */
/* The layout of one live target: version table, checked against what the
 * interpreter itself publishes (_Py_DebugOffsets, .AsyncioDebug). */
#ifndef APS_LAYOUT_RUNTIME_H
#define APS_LAYOUT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include "target/layout.h"
#include "target/interp.h"
#include <sys/types.h>

/* The fields of .AsyncioDebug (3.14) that we use. */
struct asyncio_debug {
	uint64_t task_size, task_name, task_awaited_by, task_is_task;
	uint64_t task_awaited_by_is_set, task_coro, task_node;
};

/* Decode the raw .AsyncioDebug section; 0 or -EINVAL. */
int layout_decode_asyncio_debug(const void *raw, size_t len, struct asyncio_debug *out);
/* Check a table layout against .AsyncioDebug; 0 or -EINVAL with a message. */
int layout_check_asyncio_debug(const struct py_layout *l, const struct asyncio_debug *d,
			       char *err, size_t errlen);
/* Decode the head of _Py_DebugOffsets: cookie and PY_VERSION_HEX. */
int layout_decode_debug_offsets(const void *raw, size_t len, uint64_t *version_hex);

/* The live address of _PyRuntime (start of the .PyRuntime section). */
int layout_runtime_addr(const struct interp *ip, uint64_t *addr);

/* Build the layout for ip (may set ip->micro); 0 or -errno with a message. */
int layout_for_target(struct interp *ip, struct py_layout *out, char *err, size_t errlen);



/* Check the layout against a live task: walk its type to _asyncio.Task
 * and compare tp_basicsize. 0; -EAGAIN when the object is unreadable or no
 * longer a task (freed since the event: try a later one); -EINVAL when the
 * size differs. */
int layout_validate_task(pid_t pid, const struct py_layout *l, uint64_t task,
			 char *err, size_t errlen);
#endif
