/* SPDX-License-Identifier: MIT */
/*
 * The hook functions of _asyncio found without symbols, from what the
 * object itself must contain:
 *
 *   - the Task type (static PyTypeObject in 3.10/3.11, PyType_Spec slot
 *     table in 3.12+), found through its name string "_asyncio.Task" and
 *     the pointers (relocations) to it: tp_init = _asyncio_Task___init__,
 *     tp_dealloc = TaskObj_dealloc;
 *   - TaskStepMethWrapper's tp_call, and the "task_wakeup" PyMethodDef:
 *     both call task_step (inlined or not), which calls task_step_impl,
 *     the one function on those paths that calls PyIter_Send (an import,
 *     named in .dynsym even in a stripped object);
 *   - 3.12+: the eager start calls task_step_impl between two calls of
 *     swap_current_task (with PyContext_Enter before the step);
 *   - Task.cancel(): the "cancel" entry of the Task type's method table
 *     (tp_methods, or the Py_tp_methods slot of its spec).
 *
 * Only .dynsym (imports and exports) and relocations are used: .symtab
 * is never read, so an unstripped object gives the same answer as its
 * stripped copy. Function starts come from .eh_frame.
 */
#ifndef APS_SYMFREE_H
#define APS_SYMFREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "target/eh_frame.h"
#include "target/elf_file.h"
#include "hooks/hooks.h"

struct symfree_hook {
	bool found;
	uint64_t vaddr;
	uint64_t size;			/* its FDE's size */
	char how[320];			/* the evidence, for doctor */
};

struct symfree_result {
	struct symfree_hook h[HOOK_COUNT];
	uint64_t task_type;		/* the Task PyTypeObject (3.10/3.11) or PyType_Spec */
	bool task_type_spec;
	char why[512];			/* why a required hook was not found */
};

/*
 * Find the hooks in obj, the object holding the _asyncio C code of
 * Python 3.minor (0: unknown, try every form). 0 when the required
 * hooks (STEP, INIT, DEALLOC) were found; -ENOENT, -ENOEXEC (no
 * .eh_frame, not x86-64) or -ENOMEM, with res->why, otherwise.
 */
int symfree_resolve(struct elf_file *obj, int minor, struct symfree_result *res);

/*
 * 3.10/3.11, the module loaded in pid at bias (live address - vaddr):
 * the live static Task type must hold the tp_init and tp_dealloc found
 * (PyType_Ready keeps slots a type defines). 0: they match; -EINVAL:
 * they do not (msg says how); -ENOENT: not applicable (3.12+ heap
 * types, no Task type found); -errno: unreadable.
 */
int symfree_check_live(pid_t pid, uint64_t bias, const struct symfree_result *r,
		       char *msg, size_t len);

/*
 * 3.10/3.11: the address (vaddr) of _asyncio's `static PyObject
 * *all_tasks` (the WeakSet of tasks), the one static variable both
 * _register_task() and _unregister_task() read. 0, or -ENOENT /
 * -ENOTUNIQ with the reason in how; on success how says how.
 */
int symfree_find_all_tasks(struct elf_file *obj, uint64_t *vaddr, char *how, size_t len);

/* Does obj define _asyncio's types (a pointer to "_asyncio.Task")? */
bool symfree_has_asyncio(struct elf_file *obj);

/*
 * The checks a symbol-free address passes before a probe goes there.
 * Entry probe: func starts an FDE; probe is func, or func + 4 past an
 * endbr64; the instruction there decodes and is one uprobes accept.
 * Call-site probe: site is an instruction boundary of the linear
 * disassembly of the FDE holding it, and is a direct call/jmp to
 * target. 0, or -EINVAL with the reason in why.
 */
int symfree_check_entry(struct elf_file *obj, const struct eh_frame_index *fdes,
			uint64_t func, uint64_t probe, char *why, size_t len);
int symfree_check_call_site(struct elf_file *obj, const struct eh_frame_index *fdes,
			    uint64_t site, uint64_t target, char *why, size_t len);

#endif
