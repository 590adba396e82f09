// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <capstone/capstone.h>
#include "hooks/disasm.h"

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

int disasm_call_sites(struct elf_file *ef, uint64_t target, struct call_sites *out)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	csh cs;
	cs_insn *insn;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
		return -ENOSYS;
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	insn = cs_malloc(cs);
	if (!insn) {
		err = -ENOMEM;
		goto cleanup;
	}
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
			if (!cs_disasm_iter(cs, &code, &size, &addr, insn)) {
				/* undecodable byte (padding, data): step over it */
				code++;
				size--;
				addr++;
				continue;
			}
			if (!refers_to(insn, target))
				continue;
			if (is_direct_branch(insn) && out->n < DISASM_MAX_SITES)
				out->site[out->n++] = insn->address;
			else
				out->other_refs = true;
		}
	}
	if (relocated_to(ef, target))
		out->other_refs = true;
cleanup:
	if (insn)
		cs_free(insn, 1);
	cs_close(&cs);
	return err;
}

bool disasm_is_boundary(struct elf_file *ef, uint64_t func, uint64_t func_size, uint64_t vaddr)
{
	uint8_t *buf;
	const uint8_t *code;
	size_t size;
	uint64_t addr = func;
	bool found = false;
	cs_insn *insn;
	csh cs;

	if (vaddr < func || vaddr >= func + func_size || func_size > (1 << 20))
		return false;
	buf = malloc(func_size);
	if (!buf)
		return false;
	if (elf_read_vaddr(ef, func, buf, func_size) || cs_open(CS_ARCH_X86, CS_MODE_64, &cs)) {
		free(buf);
		return false;
	}
	insn = cs_malloc(cs);
	code = buf;
	size = func_size;
	while (insn && addr <= vaddr && cs_disasm_iter(cs, &code, &size, &addr, insn)) {
		if (insn->address == vaddr) {
			found = true;
			break;
		}
	}
	if (insn)
		cs_free(insn, 1);
	cs_close(&cs);
	free(buf);
	return found;
}
