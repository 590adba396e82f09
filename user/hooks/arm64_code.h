/* SPDX-License-Identifier: MIT */
/* AArch64 probe points: what the kernel's arm64 uprobes do with an instruction. */
#ifndef APS_ARM64_CODE_H
#define APS_ARM64_CODE_H

#include <stdint.h>

enum arm64_probe {
	ARM64_PROBE_REJECTED,	/* the kernel refuses the uprobe (-EINVAL) */
	ARM64_PROBE_STEPPED,	/* single-stepped out of line: one more trap */
	ARM64_PROBE_SIMULATED,	/* simulated by the kernel (branches, adr, literal loads) */
};

/*
 * How the arm64 kernel (arch/arm64/kernel/probes/decode-insn.c, 5.10-6.x)
 * handles a uprobe on this instruction; *why names a refusal. Stricter
 * than the kernel on one point: SIMD literal loads are refused too (the
 * kernel steps them out of line, where they read the wrong address).
 */
enum arm64_probe arm64_probe_class(uint32_t insn, const char **why);

/* The little-endian instruction word at p. */
uint32_t arm64_insn_at(const uint8_t *p);

#endif
