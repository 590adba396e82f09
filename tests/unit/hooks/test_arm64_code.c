// SPDX-License-Identifier: MIT
/* arm64 uprobe rules: which instructions the kernel simulates, steps or refuses. */
#include "unit.h"
#include "hooks/arm64_code.h"

static const struct {
	const char *text;
	uint32_t insn;
	enum arm64_probe want;
} cases[] = {
	{ "stp x29, x30, [sp, #-16]!", 0xa9bf7bfd, ARM64_PROBE_STEPPED },
	{ "add x0, x1, x2", 0x8b020020, ARM64_PROBE_STEPPED },
	{ "paciasp", 0xd503233f, ARM64_PROBE_STEPPED },
	{ "bti c", 0xd503245f, ARM64_PROBE_STEPPED },
	{ "nop", 0xd503201f, ARM64_PROBE_STEPPED },
	{ "dmb ish", 0xd5033bbf, ARM64_PROBE_STEPPED },
	{ "ldar x0, [x1]", 0xc8dffc20, ARM64_PROBE_STEPPED },
	{ "mrs x0, daif", 0xd53b4220, ARM64_PROBE_STEPPED },
	{ "bl", 0x94000010, ARM64_PROBE_SIMULATED },
	{ "b", 0x14000002, ARM64_PROBE_SIMULATED },
	{ "b.eq", 0x54000040, ARM64_PROBE_SIMULATED },
	{ "cbz x0", 0xb4000040, ARM64_PROBE_SIMULATED },
	{ "tbz w0, #0", 0x36000040, ARM64_PROBE_SIMULATED },
	{ "br x16", 0xd61f0200, ARM64_PROBE_SIMULATED },
	{ "blr x1", 0xd63f0020, ARM64_PROBE_SIMULATED },
	{ "ret", 0xd65f03c0, ARM64_PROBE_SIMULATED },
	{ "adrp x0", 0x90000000, ARM64_PROBE_SIMULATED },
	{ "adr x0", 0x10000000, ARM64_PROBE_SIMULATED },
	{ "ldr x0, literal", 0x58000040, ARM64_PROBE_SIMULATED },
	{ "ldrsw x0, literal", 0x98000040, ARM64_PROBE_SIMULATED },
	{ "ldxr x0, [x1]", 0xc85f7c20, ARM64_PROBE_REJECTED },
	{ "stxr w2, x0, [x1]", 0xc8027c20, ARM64_PROBE_REJECTED },
	{ "ldr d0, literal", 0x5c000040, ARM64_PROBE_REJECTED },
	{ "prfm literal", 0xd8000040, ARM64_PROBE_REJECTED },
	{ "autiasp", 0xd50323bf, ARM64_PROBE_REJECTED },
	{ "retaa", 0xd65f0bff, ARM64_PROBE_REJECTED },
	{ "svc #0", 0xd4000001, ARM64_PROBE_REJECTED },
	{ "msr daifset, #2", 0xd50342df, ARM64_PROBE_REJECTED },
	{ "mrs x0, tpidr_el0", 0xd53bd040, ARM64_PROBE_REJECTED },
};

TEST(arm64_probe_classes)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;
		enum arm64_probe got = arm64_probe_class(cases[i].insn, &why);

		if (got != cases[i].want)
			printf("  %s (0x%08x): got %d, want %d\n", cases[i].text, cases[i].insn,
			       got, cases[i].want);
		CHECK_EQ_INT(got, cases[i].want);
		REQUIRE(why != NULL);
		CHECK_EQ_INT(got == ARM64_PROBE_REJECTED, why[0] != '\0');
	}
}

TEST(arm64_insn_little_endian)
{
	static const uint8_t stp[4] = { 0xfd, 0x7b, 0xbf, 0xa9 };

	CHECK_EQ_INT(arm64_insn_at(stp), 0xa9bf7bfd);
}

UNIT_MAIN()
