/* SPDX-License-Identifier: MIT */
/*
 * The frames of a task's coroutine chain: from the task's coroutine, down
 * what each suspended coroutine awaits (cr_await), while the awaited
 * object has the same type (as 3.14's _remote_debugging does). Names and
 * files of code objects are cached, and stay valid until coro_reader_free.
 */
#ifndef APS_CORO_STACK_H
#define APS_CORO_STACK_H

#include <stddef.h>
#include <stdint.h>
#include "util/u64_map.h"
#include "memory/pyread.h"

#define CORO_MAX_DEPTH 8192	/* coroutines followed down one chain (a lying chain: bounded) */
#define CORO_KEEP_OUTER 256	/* outermost frames kept at most */
#define SNAP_FRAMES_KEEP 256	/* innermost frames kept at most */

/*
 * One frame. A gap in a stack too deep to keep whole is a frame with no
 * qualname and no filename, and line <= -2: -line - 1 frames left out.
 */
struct snap_frame {
	const char *qualname;	/* co_qualname (3.10: the coroutine's __qualname__) */
	const char *filename;	/* co_filename */
	int line;		/* current line; -1: unknown */
	uint64_t gen;		/* the coroutine running it, as coro_stack_read returns it
				 * (0 in a snapshot's shared frames: see snap_task.inner_coro) */
};

static inline int snap_gap_line(uint32_t omitted)
{
	return omitted >= 0x7ffffffe ? -0x7fffffff : -(int)omitted - 1;
}

/* Frames a gap stands for; 0: a real frame. */
static inline uint32_t snap_frame_gap(const struct snap_frame *f)
{
	return !f->qualname && !f->filename && f->line <= -2 ? (uint32_t)(-(int64_t)f->line - 1) : 0;
}

struct coro_code;

struct coro_reader {
	struct pyreader *r;
	struct coro_code *codes;	/* code objects seen */
	size_t ncodes, cap;
	struct u64_map code_index;
	char **strs;			/* 3.10 qualnames, by str object */
	size_t nstrs, strs_cap;
	struct u64_map str_index;
};

void coro_reader_init(struct coro_reader *c, struct pyreader *r);
void coro_reader_free(struct coro_reader *c);

/*
 * Frames of the chain from coro, innermost first. At most max: a deeper
 * chain keeps its innermost and outermost frames with a gap frame
 * (snap_frame_gap) between them. *sig summarizes what was read (coroutines, code,
 * instruction pointers, states): equal for two reads of a chain that
 * did not move. 0, or -errno (unreadable: the chain is gone or moving).
 */
int coro_stack_read(struct coro_reader *c, uint64_t coro, struct snap_frame *frames,
		    uint32_t max, uint32_t *n, uint64_t *sig);

#endif
