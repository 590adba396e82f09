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

#define CORO_MAX_DEPTH 256	/* coroutines followed down one chain */

struct snap_frame {
	const char *qualname;	/* co_qualname (3.10: the coroutine's __qualname__) */
	const char *filename;	/* co_filename */
	int line;		/* current line; -1: unknown */
};

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
 * Frames of the chain from coro, innermost first (at most max, the
 * innermost ones). *sig summarizes what was read (coroutines, code,
 * instruction pointers, states): equal for two reads of a chain that
 * did not move. 0, or -errno (unreadable: the chain is gone or moving).
 */
int coro_stack_read(struct coro_reader *c, uint64_t coro, struct snap_frame *frames,
		    uint32_t max, uint32_t *n, uint64_t *sig);

#endif
