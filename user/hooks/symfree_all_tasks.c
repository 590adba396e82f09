// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hooks/sf.h"

/* ---- data: _asyncio's static all_tasks (3.10/3.11) ---------------------------- */

#define MAX_LOADS 64

struct loads {
	uint64_t v[MAX_LOADS];
	int n;
};

/* The 8-byte rip-relative loads of one instruction from writable data with no relocation. */
static int note_loads(struct sf *sf, const cs_insn *in, void *arg)
{
	const cs_x86 *x = &in->detail->x86;
	struct loads *out = arg;

	if (in->id == X86_INS_LEA)
		return 0;
	for (int i = 0; i < x->op_count; i++) {
		const cs_x86_op *op = &x->operands[i];
		uint64_t slot;
		const struct sec *sec;

		if (op->type != X86_OP_MEM || op->mem.base != X86_REG_RIP || op->size != 8 ||
		    (op->access & CS_AC_READ) == 0)
			continue;
		slot = in->address + in->size + (uint64_t)op->mem.disp;
		sec = sf_sec_of(sf, slot);
		if (sf_rel_at(sf, slot) || (sec && sec->exec))
			continue;
		/* .bss is not PROGBITS: sf_sec_of() does not know it, the loader zero-fills it */
		if (!sf_in_set(out->v, out->n, slot) && out->n < MAX_LOADS)
			out->v[out->n++] = slot;
	}
	return 0;
}

/* Every such load in f (a static variable). */
static int collect_loads(struct sf *sf, const struct fde_range *f, struct loads *out)
{
	return sf_each_insn(sf, f, note_loads, out);
}

int symfree_find_all_tasks(struct elf_file *obj, uint64_t *vaddr, char *how, size_t len)
{
	static const char *const names[2] = { "_register_task", "_unregister_task" };
	struct loads l[2] = {};
	uint64_t meth[2], found = 0;
	int nfound = 0, err;
	struct sf sf;

	err = sf_open(&sf, obj, true, how, len);
	if (err)
		return err;
	for (int k = 0; k < 2; k++) {
		struct visit *v = calloc(1, sizeof(*v));

		if (!v) {
			err = -ENOMEM;
			goto out;
		}
		err = sf_types_find_method(&sf, names[k], METH_FASTCALL_KW, 0, &meth[k]);
		if (err == -ENOENT)
			err = sf_types_find_method(&sf, names[k], METH_O, 0, &meth[k]);
		/* the method, and what it calls (register_task may not be inlined) */
		if (!err)
			err = sf_bfs(&sf, meth[k], 1, v);
		for (int i = 0; !err && i < v->n; i++)
			err = collect_loads(&sf, eh_frame_at(&sf.fdes, v->f[i]), &l[k]);
		free(v);
		if (err) {
			sf_note(how, len, "%s(): %s", names[k], err == -ENOENT ? "no such PyMethodDef" :
			        strerror(-err));
			goto out;
		}
	}
	for (int i = 0; i < l[0].n; i++) {
		if (sf_in_set(l[1].v, l[1].n, l[0].v[i])) {
			found = l[0].v[i];
			nfound++;
		}
	}
	if (nfound != 1) {
		sf_note(how, len, "%d static variables are read by both _register_task() and "
		        "_unregister_task(): all_tasks is not identified", nfound);
		err = nfound ? -ENOTUNIQ : -ENOENT;
		goto out;
	}
	*vaddr = found;
	sf_note(how, len, "the one static variable read by both _register_task() (0x%llx) and "
	        "_unregister_task() (0x%llx)", (unsigned long long)meth[0], (unsigned long long)meth[1]);
out:
	sf_close(&sf);
	return err;
}

bool symfree_has_asyncio(struct elf_file *obj)
{
	uint64_t strs[MAX_REFS], refs[MAX_REFS];
	char why[256];
	struct sf sf;
	int n;

	if (sf_open(&sf, obj, false, why, sizeof(why)))
		return false;
	n = sf_find_string(&sf, "_asyncio.Task", strs, MAX_REFS);
	n = sf_refs_to(&sf, strs, n, refs, MAX_REFS);
	sf_close(&sf);
	return n > 0;
}
