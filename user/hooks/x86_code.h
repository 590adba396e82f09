/* SPDX-License-Identifier: MIT */
/* x86-64 machine code: decoding functions, instruction boundaries, call sites (capstone). */
#ifndef APS_X86_CODE_H
#define APS_X86_CODE_H

#include <stdbool.h>
#include <stdint.h>
#include <capstone/capstone.h>
#include "target/elf_file.h"

#define X86_CODE_MAX_SITES 16
#define X86_CODE_MAX_FUNC (1u << 20)	/* bytes of one function decoded at most */

/* A 64-bit decoder with operand details, and instruction buffers. */
struct x86_code {
	csh cs;
	cs_insn *insn, *insn2;
};

struct call_sites {
	uint64_t site[X86_CODE_MAX_SITES];	/* vaddr of each call/jmp to the target */
	int n;
	bool other_refs;	/* address taken, or more sites than fit: not all paths known */
};

/*
 * Every direct call or jmp to target in the object's executable sections,
 * and whether anything else refers to target (lea, rip-relative operand,
 * a relocation), which would mean calls we cannot see.
 */
/* 0, -ENOSYS (no decoder) or -ENOMEM. */
int x86_code_open(struct x86_code *x);
void x86_code_close(struct x86_code *x);

/*
 * The first size bytes of the function at start, in a fresh buffer (*buf,
 * freed by the caller): 0, -E2BIG (over X86_CODE_MAX_FUNC), -ENOMEM, -EIO.
 */
int x86_code_read(struct elf_file *ef, uint64_t start, uint64_t size, uint8_t **buf);

int x86_code_call_sites(struct elf_file *ef, uint64_t target, struct call_sites *out);

/*
 * Decode the function [func, func + func_size) up to vaddr: true when
 * vaddr is where an instruction starts (every instruction before it
 * decodes); x->insn then holds it.
 */
bool x86_code_is_boundary(struct x86_code *x, struct elf_file *ef, uint64_t func, uint64_t func_size,
			  uint64_t vaddr);

#endif
