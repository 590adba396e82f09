// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hooks/sf.h"
#include "memory/memread.h"

/* ---- the checks ------------------------------------------------------------ */

/* Instructions uprobes refuse (arch/x86/kernel/uprobes.c) or that make no sense at a function start. */
static bool uprobe_refuses(const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;

	for (int i = 0; i < 4; i++) {
		switch (x->prefix[i]) {
		case 0xf0:	/* lock */
		case 0x26: case 0x2e: case 0x36: case 0x3e:	/* es/cs/ss/ds */
			return true;
		}
	}
	switch (in->id) {
	case X86_INS_INT3: case X86_INS_INT: case X86_INS_INT1: case X86_INS_INTO:
	case X86_INS_IRET: case X86_INS_IRETD: case X86_INS_IRETQ:
	case X86_INS_HLT: case X86_INS_CLI: case X86_INS_STI:
	case X86_INS_IN: case X86_INS_OUT: case X86_INS_INSB: case X86_INS_INSD: case X86_INS_INSW:
	case X86_INS_OUTSB: case X86_INS_OUTSD: case X86_INS_OUTSW:
	case X86_INS_SYSCALL: case X86_INS_SYSENTER: case X86_INS_SYSEXIT: case X86_INS_SYSRET:
	case X86_INS_UD2: case X86_INS_UD0: case X86_INS_UD2B:
	case X86_INS_LJMP: case X86_INS_LCALL: case X86_INS_RETF: case X86_INS_RETFQ:
	case X86_INS_INVALID:
		return true;
	default:
		return false;
	}
}

/* The function that starts at addr (start) or holds it; NULL with why. */
static const struct fde_range *func_of(const struct eh_frame_index *fdes, uint64_t addr, bool start,
				       char *why, size_t len)
{
	const struct fde_range *f = start ? eh_frame_at(fdes, addr) : eh_frame_containing(fdes, addr);

	if (!f)
		sf_note(why, len, start ? "0x%llx does not start a function in .eh_frame"
					: "call site 0x%llx is in no function of .eh_frame",
		        (unsigned long long)addr);
	return f;
}

/*
 * A disassembler on the instruction at addr of f: 0 (x open, x->insn
 * decoded), -ENOSYS, or -EINVAL when no instruction of f starts there.
 */
static int decode_at(struct x86_code *x, struct elf_file *obj, const struct fde_range *f,
		     uint64_t addr, char *why, size_t len)
{
	if (x86_code_open(x)) {
		sf_note(why, len, "capstone: cannot open an x86-64 disassembler");
		return -ENOSYS;
	}
	if (x86_code_is_boundary(x, obj, f->start, f->size, addr))
		return 0;
	sf_note(why, len, "0x%llx is not an instruction boundary of the function at 0x%llx",
	        (unsigned long long)addr, (unsigned long long)f->start);
	x86_code_close(x);
	return -EINVAL;
}

int symfree_check_entry(struct elf_file *obj, const struct eh_frame_index *fdes,
			uint64_t func, uint64_t probe, char *why, size_t len)
{
	static const uint8_t endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };
	const struct fde_range *f = func_of(fdes, func, true, why, len);
	uint8_t head[4];
	struct x86_code x;
	cs_insn *insn;
	int err;

	if (!f)
		return -EINVAL;
	if (probe != func &&
	    (probe != func + 4 || elf_read_vaddr(obj, func, head, 4) || memcmp(head, endbr64, 4))) {
		sf_note(why, len, "probe point 0x%llx is neither the start of the function at 0x%llx nor past its endbr64",
		        (unsigned long long)probe, (unsigned long long)func);
		return -EINVAL;
	}
	err = decode_at(&x, obj, f, probe, why, len);
	if (err)
		return err;
	err = -EINVAL;
	insn = x.insn;
	if (uprobe_refuses(insn))
		sf_note(why, len, "the instruction at 0x%llx (%s %s) cannot carry a uprobe",
		        (unsigned long long)probe, insn->mnemonic, insn->op_str);
	else if (probe - f->start + insn->size > f->size)
		sf_note(why, len, "the instruction at 0x%llx runs past its function",
		        (unsigned long long)probe);
	else
		err = 0;
	x86_code_close(&x);
	return err;
}

/* A 5-byte call or jmp to target (rel32). */
static bool is_direct_branch(const cs_insn *in, uint64_t target)
{
	const cs_x86 *op = &in->detail->x86;

	return (in->id == X86_INS_CALL || in->id == X86_INS_JMP) && op->op_count == 1 &&
	       op->operands[0].type == X86_OP_IMM && (uint64_t)op->operands[0].imm == target &&
	       in->size == 5;
}

int symfree_check_call_site(struct elf_file *obj, const struct eh_frame_index *fdes,
			    uint64_t site, uint64_t target, char *why, size_t len)
{
	const struct fde_range *f = func_of(fdes, site, false, why, len);
	struct x86_code x;
	int err;

	if (!f)
		return -EINVAL;
	err = decode_at(&x, obj, f, site, why, len);
	if (err)
		return err;
	if (!is_direct_branch(x.insn, target)) {
		sf_note(why, len, "0x%llx is not a direct call/jmp to 0x%llx (%s %s)",
		        (unsigned long long)site, (unsigned long long)target, x.insn->mnemonic,
		        x.insn->op_str);
		err = -EINVAL;
	}
	x86_code_close(&x);
	return err;
}

int symfree_check_live(pid_t pid, uint64_t bias, const struct symfree_result *r,
		       char *msg, size_t len)
{
	static const struct {
		int hook;
		uint64_t off;
		const char *slot;
	} slots[] = {
		{ HOOK_INIT, TP_INIT, "tp_init" },
		{ HOOK_DEALLOC, TP_DEALLOC, "tp_dealloc" },
	};
	size_t n = 0;

	if (!r->task_type || r->task_type_spec)
		return -ENOENT;
	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		const struct symfree_hook *h = &r->h[slots[i].hook];
		uint64_t live;
		int err;

		if (!h->found)
			continue;
		err = mem_read(pid, bias + r->task_type + slots[i].off, &live, sizeof(live));
		if (err) {
			sf_note(msg, len, "cannot read the live _asyncio.Task type at 0x%llx: %s",
			        (unsigned long long)(bias + r->task_type), strerror(-err));
			return err;
		}
		if (live != bias + h->vaddr) {
			sf_note(msg, len, "the live _asyncio.Task type's %s is 0x%llx, not 0x%llx "
			        "(0x%llx in the file): the file on disk is not what the process runs?",
			        slots[i].slot, (unsigned long long)live,
			        (unsigned long long)(bias + h->vaddr), (unsigned long long)h->vaddr);
			return -EINVAL;
		}
		n += (size_t)snprintf(msg + n, n < len ? len - n : 0, "%s%s = 0x%llx",
				      n ? ", " : "live _asyncio.Task: ", slots[i].slot,
				      (unsigned long long)live);
		if (n >= len)
			n = len - 1;
	}
	return 0;
}
