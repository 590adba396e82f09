// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "hooks/x86_code.h"

static bool refers_to(const cs_insn *insn, uint64_t target)
{
	const cs_x86 *x = &insn->detail->x86;

	for (int i = 0; i < x->op_count; i++) {
		const cs_x86_op *op = &x->operands[i];

		if (op->type == X86_OP_IMM && (uint64_t)op->imm == target)
			return true;
		if (op->type == X86_OP_MEM && op->mem.base == X86_REG_RIP &&
		    insn->address + insn->size + op->mem.disp == target)
			return true;
	}
	return false;
}

static bool is_direct_branch(const cs_insn *insn)
{
	return (insn->id == X86_INS_CALL || insn->id == X86_INS_JMP) &&
	       insn->detail->x86.op_count == 1 &&
	       insn->detail->x86.operands[0].type == X86_OP_IMM;
}

/* Relocations (e.g. R_X86_64_RELATIVE in a method table) that point at target. */
static bool relocated_to(struct elf_file *ef, uint64_t target)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		Elf_Data *data;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Rela r;

			if (gelf_getrela(data, (int)i, &r) && (uint64_t)r.r_addend == target)
				return true;
		}
	}
	return false;
}

int x86_code_open(struct x86_code *x)
{
	memset(x, 0, sizeof(*x));
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &x->cs) != CS_ERR_OK)
		return -ENOSYS;
	cs_option(x->cs, CS_OPT_DETAIL, CS_OPT_ON);
	x->insn = cs_malloc(x->cs);
	x->insn2 = cs_malloc(x->cs);
	if (!x->insn || !x->insn2) {
		x86_code_close(x);
		return -ENOMEM;
	}
	return 0;
}

void x86_code_close(struct x86_code *x)
{
	if (x->insn)
		cs_free(x->insn, 1);
	if (x->insn2)
		cs_free(x->insn2, 1);
	if (x->cs)
		cs_close(&x->cs);
	memset(x, 0, sizeof(*x));
}

int x86_code_read(struct elf_file *ef, uint64_t start, uint64_t size, uint8_t **buf)
{
	*buf = NULL;
	if (size > X86_CODE_MAX_FUNC)
		return -E2BIG;
	*buf = malloc(size ? size : 1);
	if (!*buf)
		return -ENOMEM;
	if (elf_read_vaddr(ef, start, *buf, size)) {
		free(*buf);
		*buf = NULL;
		return -EIO;
	}
	return 0;
}

int x86_code_call_sites(struct elf_file *ef, uint64_t target, struct call_sites *out)
{
	struct x86_code x;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int err;

	memset(out, 0, sizeof(*out));
	err = x86_code_open(&x);
	if (err)
		return err;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		Elf_Data *data;
		const uint8_t *code;
		size_t size;
		uint64_t addr;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			continue;
		code = data->d_buf;
		size = data->d_size;
		addr = sh.sh_addr;
		while (size > 0) {
			if (!cs_disasm_iter(x.cs, &code, &size, &addr, x.insn)) {
				/* undecodable byte (padding, data): step over it */
				code++;
				size--;
				addr++;
				continue;
			}
			if (!refers_to(x.insn, target))
				continue;
			if (is_direct_branch(x.insn) && out->n < X86_CODE_MAX_SITES)
				out->site[out->n++] = x.insn->address;
			else
				out->other_refs = true;
		}
	}
	if (relocated_to(ef, target))
		out->other_refs = true;
	x86_code_close(&x);
	return 0;
}

bool x86_code_is_boundary(struct x86_code *x, struct elf_file *ef, uint64_t func, uint64_t func_size,
			  uint64_t vaddr)
{
	uint8_t *buf;
	const uint8_t *code;
	size_t size;
	uint64_t addr = func;
	bool found = false;

	if (vaddr < func || vaddr - func >= func_size || func_size > X86_CODE_MAX_FUNC)
		return false;
	size = (size_t)(vaddr - func) + 16;	/* an instruction is 15 bytes at most */
	if (size > func_size)
		size = func_size;
	if (x86_code_read(ef, func, size, &buf))
		return false;
	code = buf;
	while (addr <= vaddr && cs_disasm_iter(x->cs, &code, &size, &addr, x->insn)) {
		if (x->insn->address == vaddr) {
			found = true;
			break;
		}
	}
	free(buf);
	return found;
}
