// SPDX-License-Identifier: MIT
/* The task model, event validation and layout decoding. */
#include <errno.h>
#include <stdint.h>
#include "unit.h"
#include "layout_runtime.h"
#include "model.h"

TEST(model_find_get_grow)
{
	struct model m;

	REQUIRE(model_init(&m, 4) == 0);
	for (uint64_t i = 1; i <= 5000; i++) {
		struct task *t = model_get(&m, 0x7f0000000000ull + i * 176);

		REQUIRE(t != NULL);
		t->steps = (uint32_t)i;
	}
	for (uint64_t i = 1; i <= 5000; i++) {
		struct task *t = model_find(&m, 0x7f0000000000ull + i * 176);

		REQUIRE(t != NULL);
		CHECK_EQ_INT(t->steps, i);
	}
	CHECK(model_find(&m, 0x1234) == NULL);
	model_free(&m);
}

TEST(model_reuses_a_destroyed_address)
{
	struct model m;
	struct task *t;

	REQUIRE(model_init(&m, 4) == 0);
	t = model_get(&m, 0x1000);
	t->steps = 7;
	t->destroyed = true;
	t = model_get(&m, 0x1000);
	CHECK_EQ_INT(t->steps, 0);
	CHECK(!t->destroyed);
	model_free(&m);
}

TEST(event_check_sizes_and_values)
{
	struct aps_ev_step_end e = { .hdr.type = APS_EV_STEP_END, .result = APS_RES_AWAITING,
				     .boundary = APS_BND_LOOP_POLL };
	struct aps_ev_task_new n = { .hdr.type = APS_EV_TASK_NEW };

	CHECK_EQ_INT(event_check(&e, sizeof(e)), APS_EV_STEP_END);
	CHECK_EQ_INT(event_check(&e, sizeof(e) - 1), -1);
	CHECK_EQ_INT(event_check(&e, 3), -1);
	e.result = 77;
	CHECK_EQ_INT(event_check(&e, sizeof(e)), -1);
	e.result = APS_RES_RETURNED;
	e.boundary = 0;
	CHECK_EQ_INT(event_check(&e, sizeof(e)), -1);
	CHECK_EQ_INT(event_check(&n, sizeof(n)), APS_EV_TASK_NEW);
	n.hdr.type = 99;
	CHECK_EQ_INT(event_check(&n, sizeof(n)), -1);
}

TEST(asyncio_debug_decode_and_check)
{
	uint64_t raw[13] = { 168, 136, 96, 108, 109, 128, 152, 0 };
	const struct py_layout *t = layout_table_lookup(3, 14);
	struct asyncio_debug d;
	char err[512];

	REQUIRE(t != NULL);
	REQUIRE(layout_decode_asyncio_debug(raw, sizeof(raw), &d) == 0);
	CHECK_EQ_INT(d.task_size, 168);
	CHECK_EQ_INT(d.task_node, 152);
	CHECK(layout_check_asyncio_debug(t, &d, err, sizeof(err)) == 0);
	d.task_coro = 120;
	CHECK(layout_check_asyncio_debug(t, &d, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "layout mismatch") != NULL);
	raw[1] = 4000;	/* an offset beyond the object */
	CHECK(layout_decode_asyncio_debug(raw, sizeof(raw), &d) == -EINVAL);
	CHECK(layout_decode_asyncio_debug(raw, 8, &d) == -EINVAL);
}

TEST(debug_offsets_cookie)
{
	uint8_t raw[16] = "xdebugpy";
	uint64_t v = 0x030d00f0, got = 0;

	memcpy(raw + 8, &v, 8);
	CHECK(layout_decode_debug_offsets(raw, sizeof(raw), &got) == 0);
	CHECK_EQ_INT(got, 0x030d00f0);
	raw[0] = 'X';
	CHECK(layout_decode_debug_offsets(raw, sizeof(raw), &got) == -EINVAL);
}

TEST(version_table_covers_the_bed)
{
	for (int minor = 10; minor <= 14; minor++) {
		const struct py_layout *l = layout_table_lookup(3, minor);

		REQUIRE(l != NULL);
		CHECK(l->bpf.task_size > l->bpf.task_name);
		CHECK(l->bpf.task_coro < l->bpf.task_size);
		CHECK_EQ_INT(l->bpf.tp_flags, 168);
		CHECK_EQ_INT(l->bpf.step_task_arg, minor >= 12 ? 2 : 1);
	}
	CHECK(layout_table_lookup(3, 9) == NULL);
	CHECK(layout_table_lookup(3, 15) == NULL);
}

UNIT_MAIN()
