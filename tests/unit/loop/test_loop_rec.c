// SPDX-License-Identifier: MIT
/* The LOOP records (user/loop/loop_rec.c) and the address timeline (loop_timeline.c). */
#include <string.h>
#include "loop/loop_rec.h"
#include "loop/loop_timeline.h"
#include "unit.h"

TEST(span_round_trip)
{
	struct rec_buf b = {};
	struct loop_rec_span in = { .end = 5000, .begin = 1000, .run_delay = 300, .tid = 7, .ns_tid = 3 }, out;
	unsigned sub;
	uint64_t ts;

	REQUIRE(loop_rec_span_enc(&b, 1000, &in) == 0);
	REQUIRE(loop_rec_head(b.p, b.len, 1000, &sub, &ts) == 0);
	CHECK_EQ_INT(sub, REC_LOOP_SPAN);
	CHECK(ts == 5000);
	REQUIRE(loop_rec_span_dec(b.p, b.len, 1000, &out) == 0);
	CHECK(out.begin == 1000 && out.end == 5000 && out.run_delay == 300);
	CHECK(out.tid == 7 && out.ns_tid == 3);
	/* not a SAMPLE; cut short: malformed */
	CHECK(loop_rec_sample_dec(b.p, b.len, 1000, &(struct loop_rec_sample){}) == -1);
	CHECK(loop_rec_span_dec(b.p, b.len - 1, 1000, &out) == -1);
	rec_buf_free(&b);
}

TEST(span_run_delay_over_its_length_is_malformed)
{
	struct rec_buf b = {};
	struct loop_rec_span in = { .end = 5000, .begin = 4000, .run_delay = 2000 }, out;

	REQUIRE(loop_rec_span_enc(&b, 1000, &in) == 0);
	CHECK(loop_rec_span_dec(b.p, b.len, 1000, &out) == -1);
	rec_buf_free(&b);
}

TEST(sample_with_and_without_coro)
{
	static struct loop_rec_sample in, out;
	struct rec_buf b = {};

	in = (struct loop_rec_sample){ .ts = 99, .task = 0x7000, .tid = 4, .ns_tid = 4, .n = 3,
				       .flags = LOOP_REC_ON_CPU | LOOP_REC_CORO, .coro = 0x9000 };
	in.ids[0] = 5 << 1 | 1;
	in.ids[1] = 6 << 1;
	in.ids[2] = 0;
	REQUIRE(loop_rec_sample_enc(&b, 1000, &in) == 0);
	REQUIRE(loop_rec_sample_dec(b.p, b.len, 1000, &out) == 0);
	CHECK(out.ts == 99 && out.task == 0x7000 && out.coro == 0x9000 && out.n == 3);
	CHECK(out.ids[0] == (5 << 1 | 1) && out.ids[1] == 6 << 1);
	b.len = 0;
	in.flags = LOOP_REC_BUSY;
	REQUIRE(loop_rec_sample_enc(&b, 1000, &in) == 0);
	REQUIRE(loop_rec_sample_dec(b.p, b.len, 1000, &out) == 0);
	CHECK(out.coro == 0 && out.task == 0x7000 && out.ids[2] == 0);
	rec_buf_free(&b);
}

TEST(frame_and_info_round_trip)
{
	struct rec_buf b = {};
	struct stack_frame f = { .func = "Slow.data_received", .file = "/srv/app.py", .line = 12 }, g;
	struct loop_rec_info i = { .hz = 99, .threshold = 100000000, .min_span = 0, .hook = "fentry" }, j;
	uint32_t id;

	REQUIRE(loop_rec_frame_enc(&b, 1000, 1, 42, &f) == 0);
	REQUIRE(loop_rec_frame_dec(b.p, b.len, 1000, &id, &g) == 0);
	CHECK_EQ_INT(id, 42);
	CHECK_EQ_STR(g.func, f.func);
	CHECK_EQ_STR(g.file, f.file);
	CHECK_EQ_INT(g.line, 12);
	b.len = 0;
	REQUIRE(loop_rec_info_enc(&b, 1000, 1, &i) == 0);
	REQUIRE(loop_rec_info_dec(b.p, b.len, 1000, &j) == 0);
	CHECK(j.hz == 99 && j.threshold == 100000000);
	CHECK_EQ_STR(j.hook, "fentry");
	rec_buf_free(&b);
}

TEST(frame_id_out_of_range_is_malformed)
{
	struct rec_buf b = {};
	struct stack_frame f = { .func = "f", .file = "x.py", .line = 1 }, g;
	uint32_t id;

	REQUIRE(loop_rec_frame_enc(&b, 1000, 1, LOOP_REC_MAX_FRAMES, &f) == 0);
	CHECK(loop_rec_frame_dec(b.p, b.len, 1000, &id, &g) == -1);
	rec_buf_free(&b);
}

TEST(stall_with_stack_round_trip)
{
	static struct loop_stall in, out;
	struct rec_buf b = {};

	memset(&in, 0, sizeof(in));
	in.tid = 10;
	in.ns_tid = 1;
	in.begin_ts = 1000;
	in.duration_ns = 300000000;
	in.ended = in.stack_taken = true;
	in.kind = STALL_CALLBACK;
	in.fn_frame = 1;
	in.cap.stack.n = 2;
	snprintf(in.cap.stack.f[0].func, sizeof(in.cap.stack.f[0].func), "sleep");
	snprintf(in.cap.stack.f[1].func, sizeof(in.cap.stack.f[1].func), "on_timer");
	in.cap.stack.f[1].line = 17;
	in.cap.state = 'S';
	REQUIRE(loop_rec_stall_enc(&b, 1000, &in) == 0);
	REQUIRE(loop_rec_stall_dec(b.p, b.len, 1000, &out) == 0);
	CHECK(out.kind == STALL_CALLBACK && out.fn_frame == 1 && out.ended && out.stack_taken);
	CHECK(out.begin_ts == 1000 && out.duration_ns == 300000000);
	CHECK_EQ_STR(out.cap.stack.f[out.fn_frame].func, "on_timer");
	CHECK_EQ_INT(out.cap.stack.f[1].line, 17);
	/* a function frame past the stack: what ran is unknown */
	rec_buf_free(&b);
	memset(&b, 0, sizeof(b));
	in.fn_frame = 5;
	REQUIRE(loop_rec_stall_enc(&b, 1000, &in) == 0);
	REQUIRE(loop_rec_stall_dec(b.p, b.len, 1000, &out) == 0);
	CHECK(out.fn_frame == -1 && out.kind == STALL_UNKNOWN);
	rec_buf_free(&b);
}

TEST(timeline_names_a_reused_address_by_time)
{
	struct loop_timeline t = {};
	uint64_t v;

	/* task A at 0x10 seen by reads at 100 and 200; B reuses 0x10 from the read at 400 */
	REQUIRE(loop_timeline_add(&t, 0x10, 100, 110, 1) == 0);
	REQUIRE(loop_timeline_add(&t, 0x10, 200, 210, 1) == 0);
	REQUIRE(loop_timeline_add(&t, 0x10, 400, 410, 2) == 0);
	CHECK(loop_timeline_at(&t, 0x10, 150, false, &v) && v == 1);	/* inside A's span */
	CHECK(loop_timeline_at(&t, 0x10, 380, false, &v) && v == 2);	/* nearer B */
	CHECK(loop_timeline_at(&t, 0x10, 230, false, &v) && v == 1);	/* nearer A */
	CHECK(loop_timeline_at(&t, 0x10, 230, true, &v) && v == 2);	/* the first after */
	CHECK(loop_timeline_at(&t, 0x10, 50, false, &v) && v == 1);
	CHECK(!loop_timeline_at(&t, 0x10, 500, true, &v));
	CHECK(!loop_timeline_at(&t, 0x20, 150, false, &v));
	loop_timeline_free(&t);
}

UNIT_MAIN()
