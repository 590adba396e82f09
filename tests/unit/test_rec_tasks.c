// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
/* The TASKS and BLOCKED records: round trips, hostile bodies, the reader's index. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "recording/rec_blocked.h"
#include "recording/rec_reader.h"
#include "recording/rec_tasks.h"
#include "recording/rec_writer.h"

static struct snap_frame frames_a[] = {
	{ "forever", "/app/park_common.py", 170, 0 },
	{ "parked", "/app/park.py", 23, 0 },
};
static struct snap_frame frames_b[] = {
	{ "TaskGroup.__aexit__", "/usr/lib/python3.12/asyncio/taskgroups.py", 110, 0 },
	{ "main", NULL, -1, 0 },
	{ NULL, "/app/park.py", 0, 0 },
};

static void fill(struct snapshot *s, struct snap_task *t, struct snap_awaiter *aw)
{
	memset(s, 0, sizeof(*s));
	s->major = 3;
	s->minor = 12;
	s->tids = true;
	s->dropped = 2;
	s->ntasks = 3;
	s->tasks = t;
	memset(t, 0, 3 * sizeof(*t));
	t[0] = (struct snap_task){ .addr = 0x7f0000001000, .loop = 0x7f00000a0000, .tid = 4242,
				   .state = APS_FUT_PENDING, .listed = true, .stack_ok = true,
				   .nframes = 2, .frames = frames_a, .nawaiters = 2, .awaiters = aw };
	t[0].name = "w\xc3\xa9rker-1";
	t[1] = (struct snap_task){ .addr = 0x7f0000002000, .loop = 0x7f00000a0000, .tid = 4242,
				   .state = APS_FUT_CANCELLED, .listed = true, .stack_ok = false,
				   .nframes = 3, .frames = frames_b };
	t[1].name = "Task-1";
	t[2] = (struct snap_task){ .addr = 0x7f0000003000, .state = APS_FUT_FINISHED };
	t[2].name = "worker-1";	/* an awaiter only */
	aw[0] = (struct snap_awaiter){ .addr = 0x7f0000002000, .task = 1 };
	aw[1] = (struct snap_awaiter){ .addr = 0x7f00000b0000, .task = -1 };
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

TEST(tasks_round_trip)
{
	struct snap_task t[3];
	struct snap_awaiter aw[2];
	struct snapshot s;
	struct rec_tasks d;
	struct rec_buf b = {};
	uint64_t t0, t1;

	fill(&s, t, aw);
	REQUIRE(rec_tasks_encode(&s, 111, 222, REC_TASKS_ATTACH, &b) == 0);
	REQUIRE(rec_tasks_decode(b.p, b.len, &d) == 0);
	CHECK_EQ_INT(d.t0, 111);
	CHECK_EQ_INT(d.t1, 222);
	CHECK(d.flags & REC_TASKS_ATTACH);
	CHECK(d.snap.tids);
	CHECK_EQ_INT(d.snap.major, 3);
	CHECK_EQ_INT(d.snap.minor, 12);
	CHECK_EQ_INT(d.snap.dropped, 2);
	REQUIRE(d.snap.ntasks == 3);
	for (int i = 0; i < 3; i++) {
		const struct snap_task *x = &t[i], *y = &d.snap.tasks[i];

		CHECK_EQ_INT(y->addr, x->addr);
		CHECK_EQ_INT(y->loop, x->loop);
		CHECK_EQ_INT(y->tid, x->tid);
		CHECK_EQ_INT(y->state, x->state);
		CHECK(y->listed == x->listed && y->stack_ok == x->stack_ok);
		CHECK_EQ_STR(y->name, x->name);
		REQUIRE(y->nframes == x->nframes);
		for (uint32_t k = 0; k < x->nframes; k++) {
			CHECK(same_str(y->frames[k].qualname, x->frames[k].qualname));
			CHECK(same_str(y->frames[k].filename, x->frames[k].filename));
			CHECK_EQ_INT(y->frames[k].line, x->frames[k].line);
		}
		REQUIRE(y->nawaiters == x->nawaiters);
		for (uint32_t k = 0; k < x->nawaiters; k++) {
			CHECK_EQ_INT(y->awaiters[k].addr, x->awaiters[k].addr);
			CHECK_EQ_INT(y->awaiters[k].task, x->awaiters[k].task);
		}
	}
	/* 3 names, 7 distinct frame strings: /app/park.py is written once */
	CHECK_EQ_INT(d.nstrs, 10);
	CHECK(rec_tasks_times(b.p, b.len, &t0, &t1) == 0 && t0 == 111 && t1 == 222);
	rec_tasks_free(&d);
	rec_buf_free(&b);
}

TEST(tasks_hostile_bodies_are_refused)
{
	struct snap_task t[3];
	struct snap_awaiter aw[2];
	struct snapshot s;
	struct rec_tasks d;
	struct rec_buf b = {};
	uint8_t *p;

	fill(&s, t, aw);
	REQUIRE(rec_tasks_encode(&s, 1, 2, 0, &b) == 0);
	/* every cut is malformed, never a crash */
	for (size_t n = 0; n < b.len; n++) {
		CHECK(rec_tasks_decode(b.p, n, &d) == -1);
		rec_tasks_free(&d);
	}
	/* a control character inside a name (escaped when recorded): refused */
	p = memmem(b.p, b.len, "Task-1", 6);
	REQUIRE(p != NULL);
	p[4] = '\033';
	CHECK(rec_tasks_decode(b.p, b.len, &d) == -1);
	rec_tasks_free(&d);
	p[4] = '-';
	/* an awaiter index out of range */
	aw[0].task = 3;
	b.len = 0;
	REQUIRE(rec_tasks_encode(&s, 1, 2, 0, &b) == 0);
	CHECK(rec_tasks_decode(b.p, b.len, &d) == -1);
	rec_tasks_free(&d);
	/* random bytes */
	for (int k = 0; k < 2000; k++) {
		uint8_t junk[64];

		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(rand() >> 3);
		rec_tasks_decode(junk, (size_t)(k % 64), &d);
		rec_tasks_free(&d);
	}
	rec_buf_free(&b);
}

TEST(blocked_round_trip)
{
	static struct blocked_capture c, d;
	struct rec_buf b = {};

	memset(&c, 0, sizeof(c));
	c.tid = 70001;
	c.ns_tid = 12;
	c.task = 0x7f0000001000;
	c.begin_ts = 5000;
	c.crossed_ts = 105000;
	c.state = 'S';
	snprintf(c.wchan, sizeof(c.wchan), "hrtimer_nanosleep");
	c.stack.n = 2;
	snprintf(c.stack.f[0].func, sizeof(c.stack.f[0].func), "slow_sync_call");
	snprintf(c.stack.f[0].file, sizeof(c.stack.f[0].file), "/app/x.py");
	c.stack.f[0].line = 12;
	snprintf(c.src[0], sizeof(c.src[0]), "time.sleep(0.3)");
	snprintf(c.stack.f[1].func, sizeof(c.stack.f[1].func), "bad_handler");
	c.stack.f[1].line = -1;
	c.stack.truncated = true;
	REQUIRE(rec_blocked_encode(&c, &b) == 0);
	REQUIRE(rec_blocked_decode(b.p, b.len, &d) == 0);
	CHECK(!memcmp(&c, &d, sizeof(c)));
	for (size_t n = 0; n < b.len; n++)
		CHECK(rec_blocked_decode(b.p, n, &d) == -1);
	rec_buf_free(&b);
}

static int mem_sink(void *ctx, const uint8_t *frame, size_t len, bool seg)
{
	struct rec_buf *m = ctx;

	(void)seg;
	if (rec_buf_reserve(m, len))
		return -ENOMEM;
	memcpy(m->p + m->len, frame, len);
	m->len += len;
	return 0;
}

TEST(reader_indexes_tasks_records)
{
	struct snap_task t[3];
	struct snap_awaiter aw[2];
	struct snapshot s;
	struct rec_header h = { .pid = 1, .clock_mono_ns = 1000, .start_ns = 1000 };
	struct rec_buf file = {}, body = {};
	struct rec_writer w;
	struct rec_reader r;
	struct rec_tasks d;
	const uint8_t *p;
	size_t len;
	char err[200];

	fill(&s, t, aw);
	snprintf(h.python, sizeof(h.python), "3.12.1");
	REQUIRE(rec_header_encode(&h, &file) == 0);
	REQUIRE(rec_writer_init(&w, mem_sink, &file) == 0);
	REQUIRE(rec_writer_segment(&w, 1000, REC_SEG_START) == 0);
	for (int i = 0; i < 3; i++) {
		body.len = 0;
		REQUIRE(rec_tasks_encode(&s, 2000 + 1000 * (uint64_t)i, 2500 + 1000 * (uint64_t)i, 0,
					 &body) == 0);
		REQUIRE(rec_writer_tasks(&w, body.p, body.len) == 0);
	}
	REQUIRE(rec_writer_flush(&w) == 0);
	rec_writer_free(&w);
	REQUIRE(rec_reader_open_mem(&r, file.p, file.len, err, sizeof(err)) == 0);
	REQUIRE(r.ntasks == 3);
	CHECK_EQ_INT(rec_reader_tasks_before(&r, 2499), -1);
	CHECK_EQ_INT(rec_reader_tasks_before(&r, 2500), 0);
	CHECK_EQ_INT(rec_reader_tasks_before(&r, 4000), 1);
	CHECK_EQ_INT(rec_reader_tasks_before(&r, UINT64_MAX), 2);
	REQUIRE(rec_reader_tasks_body(&r, 1, &p, &len) == 0);
	REQUIRE(rec_tasks_decode(p, len, &d) == 0);
	CHECK_EQ_INT(d.t0, 3000);
	CHECK_EQ_INT(d.snap.ntasks, 3);
	rec_tasks_free(&d);
	rec_reader_close(&r);
	rec_buf_free(&file);
	rec_buf_free(&body);
}

UNIT_MAIN()
