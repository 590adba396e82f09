/* SPDX-License-Identifier: MIT */
/* Struct layouts of one CPython build: what BPF needs, plus userspace extras. */
#ifndef APS_LAYOUT_H
#define APS_LAYOUT_H

#include <stdint.h>
#include "aps_events.h"

/*
 * What a snapshot (ps/pstree) reads beyond the BPF fields, userspace only.
 * Byte offsets, used by version (a field a version lacks is 0). 3.13+
 * refine them from the live _Py_DebugOffsets, 3.14 from .AsyncioDebug.
 */
struct py_snap_layout {
	uint16_t tp_dictoffset;		/* PyTypeObject */
	uint16_t ht_cached_keys;	/* PyHeapTypeObject: keys of split dicts */
	uint16_t tuple_item, list_item;	/* ob_item (the list's is a pointer) */
	uint16_t set_used, set_mask, set_table;
	uint16_t dict_keys, dict_values;
	uint16_t dk_nentries, dk_indices;	/* PyDictKeysObject */
	uint16_t dv_values;		/* PyDictValues.values[] */
	uint16_t wr_object;		/* PyWeakReference */
	uint16_t meth_func, meth_self;	/* PyMethodObject (bound method) */
	uint16_t func_qualname, func_closure;
	uint16_t cell_ref;
	uint16_t partial_fn, partial_args;	/* functools.partial */
	uint16_t fut_callback0, fut_callbacks;
	uint16_t co_firstlineno, co_filename, co_qualname, co_linetable;
	uint16_t co_code;		/* 3.10: the bytecode bytes object */
	uint16_t co_code_adaptive;	/* 3.11+: bytecode inside the code object */
	uint16_t bytes_size, bytes_data;
	uint16_t gen_frame;		/* 3.10: gi_frame, a PyFrameObject * */
	uint16_t gen_frame_state;	/* 3.11+: int8 */
	uint16_t gen_iframe;		/* 3.11+: the embedded _PyInterpreterFrame */
	/* _PyInterpreterFrame, or 3.10's PyFrameObject */
	uint16_t fr_code;		/* f_code / f_executable (3.14: tagged) */
	uint16_t fr_instr;		/* 3.10 int f_lasti; 3.11/3.12 prev_instr; 3.13+ instr_ptr */
	uint16_t fr_stack;		/* 3.10 f_stackdepth, 3.11-3.13 stacktop (ints); 3.14 stackpointer */
	uint16_t fr_localsplus;		/* 3.10: f_valuestack, a pointer */
	uint16_t fr_state;		/* 3.10: int8 f_state */
	uint16_t md_state;		/* PyModuleObject */
	uint16_t st_scheduled_tasks, st_eager_tasks;	/* asyncio_state, 3.12/3.13 */
	uint16_t rl_loop;		/* 3.10/3.11 PyRunningLoopHolder */
	uint16_t task_awaited_by, task_is_task, task_awaited_by_is_set, task_node; /* 3.14 */
	uint32_t rt_interp_head;	/* _PyRuntimeState.interpreters.head */
	uint32_t is_next, is_threads_head, is_modules, is_tasks_head;
	uint32_t ts_next, ts_native_tid, ts_dict;
	uint32_t ts_thread_id;		/* 3.10: pthread_t thread_id (no native tid) */
	uint32_t ts_running_loop;	/* 3.13+ _PyThreadStateImpl */
	uint32_t ts_tasks_head;		/* 3.14 */
};

struct py_layout {
	int major, minor;
	struct aps_layout bpf;
	/* userspace-only */
	uint16_t tp_basicsize;   /* PyTypeObject.tp_basicsize */
	uint16_t tp_base;        /* PyTypeObject.tp_base */
	uint16_t fut_loop;       /* FutureObj.fut_loop */
	uint16_t sw_task;        /* TaskStepMethWrapper.sw_task */
	const char *source;      /* where the offsets came from, for `doctor` */
	struct py_snap_layout snap;
};

/* The version table: NULL when the version is not supported. */
const struct py_layout *layout_table_lookup(int major, int minor);

#endif
