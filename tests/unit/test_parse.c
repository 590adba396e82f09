// SPDX-License-Identifier: MIT
/* Pure parsers: /proc maps lines, interpreter names, paths, probe points. */
#include "unit.h"
#include "hooks/hooks.h"
#include "target/interp.h"
#include "target/proc.h"

TEST(maps_line_with_path)
{
	struct proc_map m;

	REQUIRE(proc_parse_maps_line("7f12a000-7f12b000 r-xp 00002000 fd:01 1234   /usr/lib/x.so\n", &m));
	CHECK_EQ_INT(m.start, 0x7f12a000);
	CHECK_EQ_INT(m.end, 0x7f12b000);
	CHECK_EQ_INT(m.offset, 0x2000);
	CHECK_EQ_INT(m.inode, 1234);
	CHECK_EQ_STR(m.perms, "r-xp");
	CHECK_EQ_STR(m.path, "/usr/lib/x.so");
}

TEST(maps_line_path_with_spaces_and_deleted)
{
	struct proc_map m;

	REQUIRE(proc_parse_maps_line("1000-2000 r--p 0 00:00 7 /tmp/a b (deleted)\n", &m));
	CHECK_EQ_STR(m.path, "/tmp/a b (deleted)");
}

TEST(maps_line_anonymous_and_malformed)
{
	struct proc_map m;

	REQUIRE(proc_parse_maps_line("1000-2000 rw-p 00000000 00:00 0\n", &m));
	CHECK_EQ_STR(m.path, "");
	CHECK(!proc_parse_maps_line("garbage\n", &m));
	CHECK(!proc_parse_maps_line("2000-1000 rw-p 0 00:00 0\n", &m));
	CHECK(!proc_parse_maps_line("", &m));
}

TEST(interp_names)
{
	int ma = 0, mi = 0;

	CHECK(interp_parse_name("python3.12", &ma, &mi));
	CHECK_EQ_INT(ma, 3);
	CHECK_EQ_INT(mi, 12);
	CHECK(interp_parse_name("libpython3.10.so.1.0", &ma, &mi));
	CHECK_EQ_INT(mi, 10);
	CHECK(interp_parse_name("libpython3.14d.so.1.0", &ma, &mi));
	CHECK_EQ_INT(mi, 14);
	CHECK(interp_parse_name("python3.13t", &ma, &mi));
	CHECK(!interp_parse_name("python3", &ma, &mi));
	CHECK(!interp_parse_name("python3.12-config", &ma, &mi));
	CHECK(!interp_parse_name("sleep", &ma, &mi));
	CHECK(!interp_parse_name("libpython3.so", &ma, &mi));
}

TEST(interp_supported_range)
{
	CHECK(!interp_supported(3, 9));
	CHECK(interp_supported(3, 10));
	CHECK(interp_supported(3, 14));
	CHECK(!interp_supported(3, 15));
	CHECK(!interp_supported(2, 7));
}

TEST(target_path_strips_chroot)
{
	char buf[256];

	interp_target_path("/srv/root", "/srv/root/usr/bin/python3.14", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "/usr/bin/python3.14");
	interp_target_path("/", "/usr/bin/python3.14", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "/usr/bin/python3.14");
	/* a sibling directory that only shares the prefix is not stripped */
	interp_target_path("/srv/root", "/srv/rootx/lib.so", buf, sizeof(buf));
	CHECK_EQ_STR(buf, "/srv/rootx/lib.so");
}

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
