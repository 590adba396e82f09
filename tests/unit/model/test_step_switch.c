// SPDX-License-Identifier: MIT
#include "unit.h"
#include "model/step_switch.h"

static const struct aps_ev_step_switch sample = {
	.hdr = { APS_EV_STEP_SWITCH, 0, 41, 5000, 0x7f0000001000 },
	.waiter = 0x7f0000002000,
	.exc = 0x7f0000003000,
	.end_task = 0x7f0000004000,
	.end_begin_ts_ns = 4200,
	.end_waiter = 0x7f0000005000,
	.end_waiter_type = 0x7f0000006000,
	.end_exc_type = 0,
	.end_result = APS_RES_AWAITING,
};

TEST(split_gives_the_end_then_the_begin)
{
	struct aps_ev_step_begin b;
	struct aps_ev_step_end e;

	REQUIRE(step_switch_split(&sample, sizeof(sample), &e, &b) == 1);
	CHECK_EQ_INT(e.hdr.type, APS_EV_STEP_END);
	CHECK_EQ_INT(e.hdr.tid, 41);
	CHECK(e.hdr.ts_ns == 5000);
	CHECK(e.hdr.task == 0x7f0000004000);
	CHECK(e.begin_ts_ns == 4200);
	CHECK(e.waiter == 0x7f0000005000);
	CHECK(e.waiter_type == 0x7f0000006000);
	CHECK(e.exc_type == 0);
	CHECK_EQ_INT(e.result, APS_RES_AWAITING);
	CHECK_EQ_INT(e.boundary, APS_BND_NEXT_STEP);
	CHECK_EQ_INT(b.hdr.type, APS_EV_STEP_BEGIN);
	CHECK_EQ_INT(b.hdr.tid, 41);
	CHECK(b.hdr.ts_ns == 5000);
	CHECK(b.hdr.task == 0x7f0000001000);
	CHECK(b.waiter == 0x7f0000002000);
	CHECK(b.exc == 0x7f0000003000);
	CHECK_EQ_INT(b.depth, 0);
}

TEST(other_records_and_bad_sizes)
{
	struct aps_ev_step_begin b;
	struct aps_ev_step_end e;
	struct aps_ev_step_end end = { .hdr.type = APS_EV_STEP_END };

	CHECK_EQ_INT(step_switch_split(&end, sizeof(end), &e, &b), 0);
	CHECK_EQ_INT(step_switch_split(&sample, sizeof(sample) - 1, &e, &b), -1);
	CHECK_EQ_INT(step_switch_split(&sample, sizeof(sample) + 8, &e, &b), -1);
	CHECK_EQ_INT(step_switch_split(&sample, 3, &e, &b), 0);
}

UNIT_MAIN()
