// SPDX-License-Identifier: MIT
/*
 * Per-version struct offsets for x86-64 GIL builds of CPython 3.10-3.14,
 * read from the DWARF of the test bed's binaries and checked live with
 * ctypes and gdb (docs/layouts.md). Builds checked:
 *   3.10.13, 3.11.7, 3.12.1, 3.13.0 (pyenv, GCC 12),
 *   3.11.2 (Debian 12, GCC 12; same numbers as 3.11.7),
 *   3.14.10 (Debian sid, GCC 16).
 *
 * In every build: unicode state's kind bits 2-4, compact bit 5, ascii
 * bit 6; 30-bit long digits.
 */
#include <stddef.h>

#include "target/layout.h"

#define SRC "version table (DWARF-verified)"

/*
 * The offsets: a row a field, a column a version (0: the version has no
 * such field).
 *   3.10.13: task_step_impl(task, exc); ob_size
 *   3.11.7 and Debian 3.11.2: identical
 *   3.12.1: (state, task, exc); swap(state, loop, task); lv_tag
 *   3.13.0: no dict/weakreflist in TaskObj, bitfield flags
 *   3.14.10: swap_current_task(loop, task); matches .AsyncioDebug
 */
/* B: struct aps_layout (BPF), U: userspace, S: struct py_snap_layout
 *     field                    3.10   3.11   3.12   3.13   3.14 */
#define LAYOUT_FIELDS(B, U, S)                                  \
	B(ob_type,                     8,     8,     8,     8,     8)  \
	B(tp_name,                    24,    24,    24,    24,    24)  \
	B(tp_flags,                  168,   168,   168,   168,   168)  \
	B(fut_exception,              48,    48,    48,    48,    48)  \
	B(unicode_length,             16,    16,    16,    16,    16)  \
	B(unicode_state,              32,    32,    32,    32,    32)  \
	B(long_size,                  16,    16,    16,    16,    16)  \
	B(long_digits,                24,    24,    24,    24,    24)  \
	B(step_task_arg,               1,     1,     2,     2,     2)  \
	B(step_exc_arg,                2,     2,     3,     3,     3)  \
	B(swap_task_arg,               0,     0,     3,     3,     2)  \
	B(long_tagged,                 0,     0,     1,     1,     1)  \
	B(fut_state,                  88,    88,    88,    96,   104)  \
	B(task_fut_waiter,           152,   128,   128,   112,   120)  \
	B(task_coro,                 160,   136,   136,   120,   128)  \
	B(task_name,                 168,   144,   144,   128,   136)  \
	B(coro_qualname,              48,    40,    32,    32,    32)  \
	B(unicode_ascii_data,         48,    48,    40,    40,    40)  \
	B(unicode_compact_data,       72,    72,    56,    56,    56)  \
	B(task_must_cancel,          184,   160,   160,   100,   110)  \
	B(must_cancel_mask,         0xff,  0xff,  0xff,  0x04,  0x04)  \
	B(gen_frame,                  16,     0,     0,     0,     0)  \
	B(frame_state,               108,    75,    67,    67,    67)  \
	B(task_size,                 192,   176,   176,   144,   168)  \
	U(tp_basicsize,               32,    32,    32,    32,    32)  \
	U(tp_base,                   256,   256,   256,   256,   256)  \
	U(fut_loop,                   16,    16,    16,    16,    16)  \
	U(sw_task,                    16,    16,    16,    16,    16)  \
	S(tp_dictoffset,             288,   288,   288,   288,   288)  \
	S(list_item,                  24,    24,    24,    24,    24)  \
	S(set_used,                   24,    24,    24,    24,    24)  \
	S(set_mask,                   32,    32,    32,    32,    32)  \
	S(set_table,                  40,    40,    40,    40,    40)  \
	S(dict_keys,                  32,    32,    32,    32,    32)  \
	S(dict_values,                40,    40,    40,    40,    40)  \
	S(wr_object,                  16,    16,    16,    16,    16)  \
	S(meth_func,                  16,    16,    16,    16,    16)  \
	S(meth_self,                  24,    24,    24,    24,    24)  \
	S(func_qualname,              40,    40,    40,    40,    40)  \
	S(func_closure,               72,    72,    72,    72,    72)  \
	S(cell_ref,                   16,    16,    16,    16,    16)  \
	S(partial_fn,                 16,    16,    16,    16,    16)  \
	S(partial_args,               24,    24,    24,    24,    24)  \
	S(fut_callback0,              24,    24,    24,    24,    24)  \
	S(fut_callbacks,              40,    40,    40,    40,    40)  \
	S(bytes_size,                 16,    16,    16,    16,    16)  \
	S(bytes_data,                 32,    32,    32,    32,    32)  \
	S(md_state,                   32,    32,    32,    32,    32)  \
	S(ts_next,                     8,     8,     8,     8,     8)  \
	S(ht_cached_keys,            872,   872,   880,   880,   880)  \
	S(tuple_item,                 24,    24,    24,    24,    32)  \
	S(dk_nentries,                32,    24,    24,    24,    24)  \
	S(dk_indices,                 40,    32,    32,    32,    32)  \
	S(dv_values,                   0,     0,     0,     8,     8)  \
	S(co_firstlineno,             40,    72,    68,    68,    68)  \
	S(co_filename,               104,   112,   112,   112,   112)  \
	S(co_qualname,                 0,   128,   128,   128,   128)  \
	S(co_linetable,              120,   136,   136,   136,   136)  \
	S(co_code,                    48,     0,     0,     0,     0)  \
	S(co_code_adaptive,            0,   184,   192,   200,   208)  \
	S(gen_frame,                  16,     0,     0,     0,     0)  \
	S(fr_code,                    32,    32,     0,     0,     0)  \
	S(fr_instr,                   96,    56,    56,    56,    56)  \
	S(fr_stack,                   80,    64,    64,    64,    64)  \
	S(fr_localsplus,              64,    72,    72,    72,    80)  \
	S(fr_state,                  108,     0,     0,     0,     0)  \
	S(rl_loop,                    16,    16,     0,     0,     0)  \
	S(rt_interp_head,             32,    40,    40,   632,   808)  \
	S(is_next,                     0,     0,     0,  7264,  7272)  \
	S(is_threads_head,             8,    16,    72,  7344,  7344)  \
	S(is_modules,                856,   888,   944,  7656,  7688)  \
	S(ts_native_tid,               0,   160,   144,   160,   160)  \
	S(ts_dict,                   152,   128,   112,   128,   128)  \
	S(ts_thread_id,              176,     0,     0,     0,     0)  \
	S(gen_frame_state,             0,    75,    67,    67,    67)  \
	S(gen_iframe,                  0,    80,    72,    72,    72)  \
	S(st_scheduled_tasks,          0,     0,    56,    56,     0)  \
	S(st_eager_tasks,              0,     0,    64,    64,     0)  \
	S(ts_running_loop,             0,     0,     0,   304,   864)  \
	S(task_awaited_by,             0,     0,     0,     0,    96)  \
	S(task_is_task,                0,     0,     0,     0,   108)  \
	S(task_awaited_by_is_set,      0,     0,     0,     0,   109)  \
	S(task_node,                   0,     0,     0,     0,   152)  \
	S(is_tasks_head,               0,     0,     0,     0, 10880)  \
	S(ts_tasks_head,               0,     0,     0,     0,   880)

/* Column N of the rows above: one version's designated initializers. */
#define COL_310(f, a, b, c, d, e) .f = a,
#define COL_311(f, a, b, c, d, e) .f = b,
#define COL_312(f, a, b, c, d, e) .f = c,
#define COL_313(f, a, b, c, d, e) .f = d,
#define COL_314(f, a, b, c, d, e) .f = e,

#define SKIP(...)
#define LAYOUT(mi, col) {						\
	.major = 3, .minor = mi,					\
	.bpf = { LAYOUT_FIELDS(col, SKIP, SKIP) },			\
	LAYOUT_FIELDS(SKIP, col, SKIP)					\
	.source = SRC,							\
	.snap = { LAYOUT_FIELDS(SKIP, SKIP, col) },			\
}

static const struct py_layout layouts[] = {
	LAYOUT(10, COL_310),
	LAYOUT(11, COL_311),
	LAYOUT(12, COL_312),
	LAYOUT(13, COL_313),
	LAYOUT(14, COL_314),
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
