// SPDX-License-Identifier: MIT
/* Interpreter names, the supported versions, paths inside the target. */
#include "unit.h"
#include "target/interp.h"

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

UNIT_MAIN()
