// SPDX-License-Identifier: MIT
/* Probe points: what the kernel emulates at a function start. */
#include "unit.h"
#include "hooks/hooks.h"

TEST(probe_skips_endbr64_only_onto_push)
{
	const uint8_t endbr_push[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0x41, 0x57, 0, 0 };
	const uint8_t endbr_sub[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x83, 0xec, 0x18 };
	const uint8_t push[] = { 0x55, 0x48, 0x89, 0xe5, 0, 0 };

	CHECK_EQ_INT(hooks_probe_skip(endbr_push, sizeof(endbr_push)), 4);
	CHECK_EQ_INT(hooks_probe_skip(endbr_sub, sizeof(endbr_sub)), 0);
	CHECK_EQ_INT(hooks_probe_skip(push, sizeof(push)), 0);
	CHECK(hooks_insn_emulated(push, sizeof(push)));
	CHECK(hooks_insn_emulated(endbr_push + 4, 4));
	CHECK(!hooks_insn_emulated(endbr_sub, sizeof(endbr_sub)));
}

UNIT_MAIN()
