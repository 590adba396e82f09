// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include "hooks/arm64_code.h"

#define IS(insn, mask, val) (((insn) & (mask)) == (val))

uint32_t arm64_insn_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* b, bl, b.cond, cbz/cbnz, tbz/tbnz, br, blr, ret, adr/adrp, ldr/ldrsw (literal) */
static bool simulated(uint32_t insn)
{
	return IS(insn, 0x7c000000, 0x14000000) ||	/* b, bl */
	       IS(insn, 0xff000010, 0x54000000) ||	/* b.cond */
	       IS(insn, 0x7e000000, 0x34000000) ||	/* cbz, cbnz */
	       IS(insn, 0x7e000000, 0x36000000) ||	/* tbz, tbnz */
	       IS(insn, 0xfffffc1f, 0xd61f0000) ||	/* br */
	       IS(insn, 0xfffffc1f, 0xd63f0000) ||	/* blr */
	       IS(insn, 0xfffffc1f, 0xd65f0000) ||	/* ret */
	       IS(insn, 0x1f000000, 0x10000000) ||	/* adr, adrp */
	       IS(insn, 0xbf000000, 0x18000000) ||	/* ldr (literal) */
	       IS(insn, 0xff000000, 0x98000000);	/* ldrsw (literal) */
}

/* The hints the kernel steps: nop, the pac*, xpaclri, bti. */
static bool steppable_hint(uint32_t insn)
{
	switch (insn & 0xfe0) {
	case 0x000:	/* nop */
	case 0x0e0:	/* xpaclri */
	case 0x100: case 0x140:	/* pacia1716, pacib1716 */
	case 0x300: case 0x320: case 0x340: case 0x360:	/* paciaz, paciasp, pacibz, pacibsp */
	case 0x400: case 0x440: case 0x480: case 0x4c0:	/* bti, bti c, bti j, bti jc */
		return true;
	}
	return false;
}

enum arm64_probe arm64_probe_class(uint32_t insn, const char **why)
{
	const char *dummy;

	if (!why)
		why = &dummy;
	*why = "";
	if (simulated(insn))
		return ARM64_PROBE_SIMULATED;
	if (((insn >> 25) & 0xe) == 0xa) {	/* branch, exception, system */
		if (IS(insn, 0xfe000000, 0xd6000000) || IS(insn, 0x7c000000, 0x14000000) ||
		    IS(insn, 0x7e000000, 0x34000000) || IS(insn, 0x7e000000, 0x36000000) ||
		    IS(insn, 0xfe000000, 0x54000000))
			*why = "a branch the kernel neither simulates nor steps";
		else if (IS(insn, 0xff000000, 0xd4000000))
			*why = "an exception-generating instruction";
		else if (IS(insn, 0xfff8f01f, 0xd500401f) || IS(insn, 0xfff00000, 0xd5100000))
			*why = "an msr";
		else if (IS(insn, 0xfff00000, 0xd5300000) && ((insn & 0x1fffe0) >> 5) != 0xda11)
			*why = "an mrs (only mrs of DAIF is stepped)";
		else if (IS(insn, 0xfffff01f, 0xd503201f) && !steppable_hint(insn))
			*why = "a hint the kernel does not step";
		return **why ? ARM64_PROBE_REJECTED : ARM64_PROBE_STEPPED;
	}
	if (IS(insn, 0xff000000, 0xd8000000) || IS(insn, 0x3b000000, 0x18000000))
		*why = "a PC-relative literal load";
	else if (IS(insn, 0x3f800000, 0x08000000))
		*why = "an exclusive load/store";
	return **why ? ARM64_PROBE_REJECTED : ARM64_PROBE_STEPPED;
}
