// SPDX-License-Identifier: MIT
/*
 * Per-version struct offsets for x86-64 GIL builds of CPython 3.10-3.14,
 * read from the DWARF of the test bed's binaries and checked live with
 * ctypes and gdb (docs/layouts.md). Builds checked:
 *   3.10.13, 3.11.7, 3.12.1, 3.13.0 (pyenv, GCC 12),
 *   3.11.2 (Debian 12, GCC 12; same numbers as 3.11.7),
 *   3.14.10 (Debian sid, GCC 16).
 *
 * Same in every build: ob_type 8, tp_name 24, tp_basicsize 32,
 * tp_base 256, fut_loop 16, fut_exception 48, sw_task 16,
 * unicode length 16 / state 32 (kind bits 2-4, compact bit 5,
 * ascii bit 6), long size 16 / digits 24 (30-bit digits).
 */
#include <stddef.h>

#include "layout.h"

#define SRC "version table (DWARF-verified)"

#define COMMON_BPF			\
	.ob_type = 8,			\
	.tp_name = 24,			\
	.tp_flags = 168,		\
	.fut_exception = 48,		\
	.unicode_length = 16,		\
	.unicode_state = 32,		\
	.long_size = 16,		\
	.long_digits = 24

#define COMMON_USER			\
	.tp_basicsize = 32,		\
	.tp_base = 256,			\
	.fut_loop = 16,			\
	.sw_task = 16,			\
	.source = SRC

static const struct py_layout layouts[] = {
	{
		/* 3.10.13: task_step_impl(task, exc); ob_size */
		.major = 3, .minor = 10,
		.bpf = {
			COMMON_BPF,
			.step_task_arg = 1,
			.step_exc_arg = 2,
			.swap_task_arg = 0,
			.long_tagged = 0,
			.fut_state = 88,
			.task_fut_waiter = 152,
			.task_coro = 160,
			.task_name = 168,
			.coro_qualname = 48,
			.unicode_ascii_data = 48,
			.unicode_compact_data = 72,
			.task_size = 192,
		},
		COMMON_USER,
	},
	{
		/* 3.11.7 and Debian 3.11.2: identical */
		.major = 3, .minor = 11,
		.bpf = {
			COMMON_BPF,
			.step_task_arg = 1,
			.step_exc_arg = 2,
			.swap_task_arg = 0,
			.long_tagged = 0,
			.fut_state = 88,
			.task_fut_waiter = 128,
			.task_coro = 136,
			.task_name = 144,
			.coro_qualname = 40,
			.unicode_ascii_data = 48,
			.unicode_compact_data = 72,
			.task_size = 176,
		},
		COMMON_USER,
	},
	{
		/* 3.12.1: (state, task, exc); swap(state, loop, task); lv_tag */
		.major = 3, .minor = 12,
		.bpf = {
			COMMON_BPF,
			.step_task_arg = 2,
			.step_exc_arg = 3,
			.swap_task_arg = 3,
			.long_tagged = 1,
			.fut_state = 88,
			.task_fut_waiter = 128,
			.task_coro = 136,
			.task_name = 144,
			.coro_qualname = 32,
			.unicode_ascii_data = 40,
			.unicode_compact_data = 56,
			.task_size = 176,
		},
		COMMON_USER,
	},
	{
		/* 3.13.0: no dict/weakreflist in TaskObj, bitfield flags */
		.major = 3, .minor = 13,
		.bpf = {
			COMMON_BPF,
			.step_task_arg = 2,
			.step_exc_arg = 3,
			.swap_task_arg = 3,
			.long_tagged = 1,
			.fut_state = 96,
			.task_fut_waiter = 112,
			.task_coro = 120,
			.task_name = 128,
			.coro_qualname = 32,
			.unicode_ascii_data = 40,
			.unicode_compact_data = 56,
			.task_size = 144,
		},
		COMMON_USER,
	},
	{
		/* 3.14.10: swap_current_task(loop, task); matches .AsyncioDebug */
		.major = 3, .minor = 14,
		.bpf = {
			COMMON_BPF,
			.step_task_arg = 2,
			.step_exc_arg = 3,
			.swap_task_arg = 2,
			.long_tagged = 1,
			.fut_state = 104,
			.task_fut_waiter = 120,
			.task_coro = 128,
			.task_name = 136,
			.coro_qualname = 32,
			.unicode_ascii_data = 40,
			.unicode_compact_data = 56,
			.task_size = 168,
		},
		COMMON_USER,
	},
};

const struct py_layout *layout_table_lookup(int major, int minor)
{
	size_t i;

	for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		if (layouts[i].major == major && layouts[i].minor == minor)
			return &layouts[i];
	}
	return NULL;
}
