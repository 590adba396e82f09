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

#include "target/layout.h"

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

/*
 * Snapshot offsets (struct py_snap_layout), from the DWARF of the same
 * builds (gdb `ptype /o`, docs/layouts.md); the same in every build:
 */
#define COMMON_SNAP			\
	.tp_dictoffset = 288,		\
	.list_item = 24,		\
	.set_used = 24,			\
	.set_mask = 32,			\
	.set_table = 40,		\
	.dict_keys = 32,		\
	.dict_values = 40,		\
	.wr_object = 16,		\
	.meth_func = 16,		\
	.meth_self = 24,		\
	.func_qualname = 40,		\
	.func_closure = 72,		\
	.cell_ref = 16,			\
	.partial_fn = 16,		\
	.partial_args = 24,		\
	.fut_callback0 = 24,		\
	.fut_callbacks = 40,		\
	.bytes_size = 16,		\
	.bytes_data = 32,		\
	.md_state = 32,			\
	.ts_next = 8

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
			.task_must_cancel = 184,
			.must_cancel_mask = 0xff,
			.gen_frame = 16,
			.frame_state = 108,
			.task_size = 192,
		},
		COMMON_USER,
		.snap = {
			COMMON_SNAP,
			.ht_cached_keys = 872, .tuple_item = 24,
			.dk_nentries = 32, .dk_indices = 40, .dv_values = 0,
			.co_firstlineno = 40, .co_filename = 104, .co_qualname = 0,
			.co_linetable = 120, .co_code = 48, .co_code_adaptive = 0,
			.gen_frame = 16,
			/* PyFrameObject */
			.fr_code = 32, .fr_instr = 96, .fr_stack = 80,
			.fr_localsplus = 64, .fr_state = 108,
			.rl_loop = 16,
			.rt_interp_head = 32, .is_next = 0, .is_threads_head = 8,
			.is_modules = 856, .ts_native_tid = 0, .ts_dict = 152,
			.ts_thread_id = 176,
		},
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
			.task_must_cancel = 160,
			.must_cancel_mask = 0xff,
			.frame_state = 75,
			.task_size = 176,
		},
		COMMON_USER,
		.snap = {
			COMMON_SNAP,
			.ht_cached_keys = 872, .tuple_item = 24,
			.dk_nentries = 24, .dk_indices = 32, .dv_values = 0,
			.co_firstlineno = 72, .co_filename = 112, .co_qualname = 128,
			.co_linetable = 136, .co_code_adaptive = 184,
			.gen_frame_state = 75, .gen_iframe = 80,
			.fr_code = 32, .fr_instr = 56, .fr_stack = 64, .fr_localsplus = 72,
			.rl_loop = 16,
			.rt_interp_head = 40, .is_next = 0, .is_threads_head = 16,
			.is_modules = 888, .ts_native_tid = 160, .ts_dict = 128,
		},
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
			.task_must_cancel = 160,
			.must_cancel_mask = 0xff,
			.frame_state = 67,
			.task_size = 176,
		},
		COMMON_USER,
		.snap = {
			COMMON_SNAP,
			.ht_cached_keys = 880, .tuple_item = 24,
			.dk_nentries = 24, .dk_indices = 32, .dv_values = 0,
			.co_firstlineno = 68, .co_filename = 112, .co_qualname = 128,
			.co_linetable = 136, .co_code_adaptive = 192,
			.gen_frame_state = 67, .gen_iframe = 72,
			.fr_code = 0, .fr_instr = 56, .fr_stack = 64, .fr_localsplus = 72,
			.st_scheduled_tasks = 56, .st_eager_tasks = 64,
			.rt_interp_head = 40, .is_next = 0, .is_threads_head = 72,
			.is_modules = 944, .ts_native_tid = 144, .ts_dict = 112,
		},
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
			.task_must_cancel = 100,
			.must_cancel_mask = 0x04,
			.frame_state = 67,
			.task_size = 144,
		},
		COMMON_USER,
		.snap = {
			COMMON_SNAP,
			.ht_cached_keys = 880, .tuple_item = 24,
			.dk_nentries = 24, .dk_indices = 32, .dv_values = 8,
			.co_firstlineno = 68, .co_filename = 112, .co_qualname = 128,
			.co_linetable = 136, .co_code_adaptive = 200,
			.gen_frame_state = 67, .gen_iframe = 72,
			.fr_code = 0, .fr_instr = 56, .fr_stack = 64, .fr_localsplus = 72,
			.st_scheduled_tasks = 56, .st_eager_tasks = 64,
			.rt_interp_head = 632, .is_next = 7264, .is_threads_head = 7344,
			.is_modules = 7656, .ts_native_tid = 160, .ts_dict = 128,
			.ts_running_loop = 304,
		},
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
			.task_must_cancel = 110,
			.must_cancel_mask = 0x04,
			.frame_state = 67,
			.task_size = 168,
		},
		COMMON_USER,
		.snap = {
			COMMON_SNAP,
			.ht_cached_keys = 880, .tuple_item = 32,
			.dk_nentries = 24, .dk_indices = 32, .dv_values = 8,
			.co_firstlineno = 68, .co_filename = 112, .co_qualname = 128,
			.co_linetable = 136, .co_code_adaptive = 208,
			.gen_frame_state = 67, .gen_iframe = 72,
			.fr_code = 0, .fr_instr = 56, .fr_stack = 64, .fr_localsplus = 80,
			.task_awaited_by = 96, .task_is_task = 108,
			.task_awaited_by_is_set = 109, .task_node = 152,
			.rt_interp_head = 808, .is_next = 7272, .is_threads_head = 7344,
			.is_modules = 7688, .is_tasks_head = 10880,
			.ts_native_tid = 160, .ts_dict = 128,
			.ts_running_loop = 864, .ts_tasks_head = 880,
		},
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
