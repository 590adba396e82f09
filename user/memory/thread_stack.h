/* SPDX-License-Identifier: MIT */
/*
 * The Python stack of one thread of a live target, read from its memory at
 * an instant (the thread's current frame, then each previous one), without
 * stopping it. Used when a task step runs too long: the thread is still in
 * that step, so its outer frames hold still while we read.
 */
#ifndef APS_THREAD_STACK_H
#define APS_THREAD_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "target/interp.h"
#include "target/layout.h"
#include "memory/pyread.h"

#define STACK_MAX_FRAMES 64
#define STACK_CODE_CACHE 512

struct stack_frame {
	char func[160];		/* co_qualname (3.10: co_name) */
	char file[256];
	int line;		/* -1: unknown */
	uint64_t gen;		/* the generator/coroutine running it; 0: a plain frame */
};

struct thread_stack {
	struct stack_frame f[STACK_MAX_FRAMES];	/* innermost first */
	uint32_t n;
	bool truncated;
};

/* Where one version keeps a thread's frames (DWARF-verified, docs/layouts.md). */
struct frame_layout {
	uint16_t ts_frame;	/* 3.10 frame, 3.11/3.12 cframe, 3.13+ current_frame */
	uint16_t cf_current;	/* 3.11/3.12: _PyCFrame.current_frame */
	uint16_t fr_previous;	/* f_back (3.10) / previous */
	uint16_t fr_code;	/* f_code / f_executable */
	uint16_t fr_instr;	/* 3.10 f_lasti (int, code units); else a pointer */
	uint16_t fr_owner;	/* 0 for 3.10 */
	uint16_t co_name;	/* 3.10: co_name (there is no co_qualname) */
	uint16_t fr_gen;	/* 3.10: f_gen */
	bool has_cframe, lasti_index, tagged_code;
};

struct stack_code {
	uint64_t addr;
	char func[160], file[256];
	int firstlineno;
	uint64_t code_start;	/* 3.11+: address of co_code_adaptive */
	uint8_t *table;
	size_t table_len;
};

struct thread_stack_reader {
	pid_t pid;
	int minor;
	const struct py_layout *l;
	struct frame_layout fl;
	uint64_t runtime;	/* _PyRuntime */
	struct pyreader r;
	struct stack_code codes[STACK_CODE_CACHE];	/* direct-mapped by address */
};

const struct frame_layout *frame_layout_for(int minor);
int thread_stack_reader_init(struct thread_stack_reader *t, const struct interp *ip,
			     const struct py_layout *l, char *err, size_t errlen);
/* The stack of the thread whose native id (in the target's pid namespace) is tid. */
int thread_stack_read(struct thread_stack_reader *t, uint32_t tid, struct thread_stack *out);
void thread_stack_reader_free(struct thread_stack_reader *t);
/* Name, file and line of code object `code` at byte offset instr (a
 * sample's frame); -ENOENT when code is not a code object. */
int thread_stack_symbolize(struct thread_stack_reader *t, uint64_t code, uint32_t instr,
			   struct stack_frame *f);
/* Each thread state of the interpreter: fn(ctx, native tid (0 on 3.10),
 * tstate), at most 4096; 0 or -errno. */
int thread_stack_tstates(struct thread_stack_reader *t,
			 void (*fn)(void *ctx, uint64_t native_tid, uint64_t tstate), void *ctx);

#endif
