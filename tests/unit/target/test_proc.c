// SPDX-License-Identifier: MIT
/* /proc maps lines. */
#include "unit.h"
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

UNIT_MAIN()
