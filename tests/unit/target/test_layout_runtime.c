// SPDX-License-Identifier: MIT
/* Snapshot offsets: the version tables against what 3.13/3.14 publish. */
#include <errno.h>
#include <stdint.h>
#include "unit.h"
#include "debug_offsets_fixtures.h"
#include "target/layout.h"
#include "memory/py_runtime.h"

/* The table's snapshot offsets are exactly what the interpreter says. */
TEST(tables_agree_with_debug_offsets)
{
	const uint64_t *raw[] = { debug_offsets_313, debug_offsets_314 };
	size_t len[] = { sizeof(debug_offsets_313), sizeof(debug_offsets_314) };
	char err[256] = "";

	for (int i = 0; i < 2; i++) {
		const struct py_layout *t = layout_table_lookup(3, 13 + i);
		struct py_layout l;

		REQUIRE(t);
		l = *t;
		CHECK_EQ_INT(py_debug_offsets_size(13 + i), len[i]);
		CHECK_EQ_INT(py_apply_debug_offsets(&l, raw[i], len[i], err, sizeof(err)), 0);
		CHECK_EQ_STR(err, "");
		CHECK(!memcmp(&l.snap, &t->snap, sizeof(l.snap)));
	}
}

TEST(tables_agree_with_asyncio_debug)
{
	const struct py_layout *t = layout_table_lookup(3, 14);
	struct py_layout l;
	char err[256] = "";

	REQUIRE(t);
	l = *t;
	CHECK_EQ_INT(py_apply_asyncio_debug(&l, asyncio_debug_314, sizeof(asyncio_debug_314), err,
					    sizeof(err)), 0);
	CHECK(!memcmp(&l.snap, &t->snap, sizeof(l.snap)));
}

/* Published offsets are taken over the table's (a later patch release). */
TEST(debug_offsets_override_the_table)
{
	const struct py_layout *t = layout_table_lookup(3, 14);
	uint64_t raw[sizeof(debug_offsets_314) / 8];
	struct py_layout l;
	char err[256];

	REQUIRE(t);
	l = *t;
	memcpy(raw, debug_offsets_314, sizeof(raw));
	raw[456 / 8] = 40;		/* tuple_object.ob_item */
	raw[296 / 8] = 72;		/* interpreter_frame.stackpointer */
	CHECK_EQ_INT(py_apply_debug_offsets(&l, raw, sizeof(raw), err, sizeof(err)), 0);
	CHECK_EQ_INT(l.snap.tuple_item, 40);
	CHECK_EQ_INT(l.snap.fr_stack, 72);
}

TEST(bad_debug_offsets_are_refused)
{
	const struct py_layout *t = layout_table_lookup(3, 13);
	uint64_t raw[sizeof(debug_offsets_313) / 8];
	struct py_layout l;
	char err[256];

	REQUIRE(t);
	l = *t;
	memcpy(raw, debug_offsets_313, sizeof(raw));
	raw[0] ^= 1;			/* cookie */
	CHECK_EQ_INT(py_apply_debug_offsets(&l, raw, sizeof(raw), err, sizeof(err)), -EINVAL);
	memcpy(raw, debug_offsets_313, sizeof(raw));
	raw[1] = 0x030e00f0;		/* says 3.14 */
	CHECK_EQ_INT(py_apply_debug_offsets(&l, raw, sizeof(raw), err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "expected 3.13") != NULL);
	memcpy(raw, debug_offsets_313, sizeof(raw));
	raw[2] = 1;			/* free-threaded */
	CHECK_EQ_INT(py_apply_debug_offsets(&l, raw, sizeof(raw), err, sizeof(err)), -EINVAL);
	memcpy(raw, debug_offsets_313, sizeof(raw));
	raw[360 / 8] = 16;		/* ob_type: the BPF side's layout disagrees */
	CHECK_EQ_INT(py_apply_debug_offsets(&l, raw, sizeof(raw), err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "ob_type") != NULL);
	memcpy(raw, debug_offsets_313, sizeof(raw));
	raw[280 / 8] = 1 << 20;		/* code_object.filename: implausible */
	CHECK_EQ_INT(py_apply_debug_offsets(&l, raw, sizeof(raw), err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(py_apply_debug_offsets(&l, raw, 100, err, sizeof(err)), -EINVAL);
	/* nothing of a refused set was taken */
	CHECK(!memcmp(&l.snap, &t->snap, sizeof(l.snap)));
	l.minor = 12;			/* 3.12 publishes nothing */
	CHECK_EQ_INT(py_apply_debug_offsets(&l, debug_offsets_313, sizeof(raw), err, sizeof(err)),
		     -EINVAL);
}

TEST(bad_asyncio_debug_is_refused)
{
	const struct py_layout *t = layout_table_lookup(3, 14);
	uint64_t raw[13];
	struct py_layout l;
	char err[256];

	REQUIRE(t);
	l = *t;
	memcpy(raw, asyncio_debug_314, sizeof(raw));
	raw[0] = 176;			/* sizeof(TaskObj) of another build */
	CHECK_EQ_INT(py_apply_asyncio_debug(&l, raw, sizeof(raw), err, sizeof(err)), -EINVAL);
	memcpy(raw, asyncio_debug_314, sizeof(raw));
	raw[12] = raw[9];		/* thread list head outside the thread state */
	CHECK_EQ_INT(py_apply_asyncio_debug(&l, raw, sizeof(raw), err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(py_apply_asyncio_debug(&l, raw, 50, err, sizeof(err)), -EINVAL);
	CHECK(!memcmp(&l.snap, &t->snap, sizeof(l.snap)));
}

UNIT_MAIN()
