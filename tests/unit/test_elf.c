// SPDX-License-Identifier: MIT
/*
 * ELF and debug-file resolution on real objects of the test bed: an
 * unstripped pyenv _asyncio, and Debian's stripped one with its
 * build-id debug file (tests/testbed.sh provisions both).
 */
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include "unit.h"
#include "target/debuginfo.h"
#include "hooks/x86_code.h"
#include "target/elf_file.h"
#include "hooks/hooks.h"

#define PYENV_312 "/root/.pyenv/versions/3.12.1/lib/python3.12/lib-dynload/_asyncio.cpython-312-x86_64-linux-gnu.so"
#define DEBIAN_311 "/usr/lib/python3.11/lib-dynload/_asyncio.cpython-311-x86_64-linux-gnu.so"

TEST(unstripped_symbols)
{
	struct elf_file ef;
	struct elf_sym sym;
	uint64_t off;
	uint8_t insn[4];

	REQUIRE(elf_file_open(PYENV_312, &ef) == 0);
	CHECK(elf_has_symtab(&ef));
	REQUIRE(elf_find_func(&ef, "task_step_impl", &sym) == 0);
	CHECK_EQ_INT(sym.table, ELF_SYMTAB);
	CHECK(sym.size > 100);
	CHECK(elf_vaddr_to_offset(&ef, sym.vaddr, &off) == 0);
	/* every hook of the bed starts with an emulated push */
	REQUIRE(elf_read_vaddr(&ef, sym.vaddr, insn, sizeof(insn)) == 0);
	CHECK(hooks_insn_emulated(insn, sizeof(insn)));
	CHECK(elf_find_func(&ef, "PyInit__asyncio", &sym) == 0);
	CHECK(elf_find_func(&ef, "no_such_function_anywhere", &sym) == -ENOENT);
	CHECK_EQ_INT(elf_count_clones(&ef, "task_step_impl"), 0);
	elf_file_close(&ef);
}

TEST(stripped_has_only_dynsym_and_a_debuglink)
{
	struct elf_file ef;
	struct elf_sym sym;
	char link[256], bid[129];
	uint32_t crc;

	REQUIRE(elf_file_open(DEBIAN_311, &ef) == 0);
	CHECK(!elf_has_symtab(&ef));
	CHECK(elf_find_func(&ef, "task_step_impl", &sym) == -ENOENT);
	CHECK(elf_find_func(&ef, "PyInit__asyncio", &sym) == 0);
	CHECK_EQ_INT(sym.table, ELF_DYNSYM);
	CHECK(elf_build_id(&ef, bid, sizeof(bid)) == 0);
	CHECK_EQ_INT(strlen(bid), 40);
	CHECK(elf_debuglink(&ef, link, sizeof(link), &crc) == 0);
	CHECK(strstr(link, ".debug") != NULL);
	elf_file_close(&ef);
}

TEST(debug_file_by_build_id)
{
	struct elf_file ef, dbg;
	struct elf_sym sym;
	struct debuginfo_lookup info;
	char path[4096], bid[129];

	REQUIRE(elf_file_open(DEBIAN_311, &ef) == 0);
	REQUIRE(debuginfo_find("", DEBIAN_311, &ef, path, sizeof(path), &info) == 0);
	CHECK(strstr(path, "/usr/lib/debug/.build-id/") == path);
	REQUIRE(elf_file_open(path, &dbg) == 0);
	CHECK(elf_build_id(&dbg, bid, sizeof(bid)) == 0);
	CHECK_EQ_STR(bid, info.build_id);
	CHECK(elf_find_func(&dbg, "task_step_impl", &sym) == 0);
	CHECK(elf_find_func(&dbg, "TaskObj_dealloc", &sym) == 0);
	elf_file_close(&dbg);
	elf_file_close(&ef);
}

TEST(debug_file_missing_in_root_names_what_was_tried)
{
	struct elf_file ef;
	struct debuginfo_lookup info;
	char path[4096];

	REQUIRE(elf_file_open(DEBIAN_311, &ef) == 0);
	/* a root with no debug files at all */
	CHECK(debuginfo_find("/nonexistent-root", DEBIAN_311, &ef, path, sizeof(path), &info) == -ENOENT);
	CHECK_EQ_INT(strlen(info.build_id), 40);
	REQUIRE(info.ntried >= 2);
	CHECK(strstr(info.tried[0], info.build_id + 2) != NULL);
	elf_file_close(&ef);
}

TEST(package_hint)
{
	char buf[64];

	CHECK_EQ_STR(debuginfo_package_hint(DEBIAN_311, buf, sizeof(buf)), "python3.11-dbg");
	CHECK(debuginfo_package_hint(PYENV_312, buf, sizeof(buf)) == NULL);
}

TEST(not_elf)
{
	struct elf_file ef;

	CHECK(elf_file_open("/etc/passwd", &ef) == -ENOEXEC);
	CHECK(elf_file_open("/nonexistent", &ef) == -ENOENT);
}

#define SID_314 "/var/cache/aps-bpf/sid-root/usr/lib/python3.14/lib-dynload/_asyncio.cpython-314-x86_64-linux-gnu.so"

/* GCC 16's task_step_impl starts with `sub`: its three callers are probed instead */
TEST(call_sites_of_task_step_impl_on_314)
{
	struct elf_file ef, dbg;
	struct debuginfo_lookup info;
	struct elf_sym sym, caller;
	struct call_sites cs;
	struct x86_code x;
	char path[4096];
	uint8_t insn[4];

	REQUIRE(x86_code_open(&x) == 0);
	REQUIRE(elf_file_open(SID_314, &ef) == 0);
	REQUIRE(debuginfo_find("/var/cache/aps-bpf/sid-root",
			       "/usr/lib/python3.14/lib-dynload/_asyncio.cpython-314-x86_64-linux-gnu.so",
			       &ef, path, sizeof(path), &info) == 0);
	REQUIRE(elf_file_open(path, &dbg) == 0);
	REQUIRE(elf_find_func(&dbg, "task_step_impl", &sym) == 0);
	REQUIRE(elf_read_vaddr(&ef, sym.vaddr, insn, sizeof(insn)) == 0);
	CHECK(!hooks_insn_emulated(insn, sizeof(insn)));
	REQUIRE(x86_code_call_sites(&ef, sym.vaddr, &cs) == 0);
	CHECK(!cs.other_refs);
	CHECK_EQ_INT(cs.n, 3);
	/* one of them is in TaskStepMethWrapper_call, at an instruction boundary */
	REQUIRE(elf_find_func(&dbg, "TaskStepMethWrapper_call", &caller) == 0);
	bool in_wrapper = false;
	for (int i = 0; i < cs.n; i++) {
		REQUIRE(elf_read_vaddr(&ef, cs.site[i], insn, 1) == 0);
		CHECK(insn[0] == 0xe8 || insn[0] == 0xe9);	/* call / jmp rel32 */
		if (cs.site[i] >= caller.vaddr && cs.site[i] < caller.vaddr + caller.size) {
			in_wrapper = true;
			CHECK(x86_code_is_boundary(&x, &ef, caller.vaddr, caller.size, cs.site[i]));
			CHECK(x.insn->id == X86_INS_CALL || x.insn->id == X86_INS_JMP);
			CHECK(!x86_code_is_boundary(&x, &ef, caller.vaddr, caller.size, cs.site[i] + 1));
		}
	}
	CHECK(in_wrapper);
	x86_code_close(&x);
	elf_file_close(&dbg);
	elf_file_close(&ef);
}

TEST(address_taken_function_has_other_refs)
{
	struct elf_file ef;
	struct elf_sym sym;
	struct call_sites cs;

	/* TaskObj_dealloc is only reached through tp_dealloc: a pointer */
	REQUIRE(elf_file_open(PYENV_312, &ef) == 0);
	REQUIRE(elf_find_func(&ef, "TaskObj_dealloc", &sym) == 0);
	REQUIRE(x86_code_call_sites(&ef, sym.vaddr, &cs) == 0);
	CHECK(cs.other_refs);
	elf_file_close(&ef);
}

UNIT_MAIN()
