/* SPDX-License-Identifier: MIT */
/* Instruction-level facts about probe points, from a linear disassembly. */
#ifndef APS_DISASM_H
#define APS_DISASM_H

#include <stdbool.h>
#include <stdint.h>
#include "target/elf_file.h"

#define DISASM_MAX_SITES 16

struct call_sites {
	uint64_t site[DISASM_MAX_SITES];	/* vaddr of each call/jmp to the target */
	int n;
	bool other_refs;	/* address taken, or more sites than fit: not all paths known */
};

/*
 * Every direct call or jmp to target in the object's executable sections,
 * and whether anything else refers to target (lea, rip-relative operand,
 * a relocation), which would mean calls we cannot see.
 */
int disasm_call_sites(struct elf_file *ef, uint64_t target, struct call_sites *out);

/* The instruction at vaddr decodes, and vaddr is an instruction boundary
 * of the linear disassembly of the function starting at func. */
bool disasm_is_boundary(struct elf_file *ef, uint64_t func, uint64_t func_size, uint64_t vaddr);

#endif
