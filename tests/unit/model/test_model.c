// SPDX-License-Identifier: MIT
/* The task model, event validation and layout decoding. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include "unit.h"
#include "target/layout_runtime.h"
#include "model/model.h"

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

TEST(model_sweep_drops_old_destroyed_tasks)
{
	struct model m;

	REQUIRE(model_init(&m, 4) == 0);
	m.keep_hists = true;
	for (uint64_t i = 1; i <= 3000; i++) {
		struct aps_ev_task_new n = { .hdr = { .type = APS_EV_TASK_NEW, .ts_ns = i, .task = i * 64 } };
		struct aps_ev_step_begin b = { .hdr = { .type = APS_EV_STEP_BEGIN, .ts_ns = i, .task = i * 64 } };
		struct aps_ev_step_end e = { .hdr = { .type = APS_EV_STEP_END, .ts_ns = i + 5, .task = i * 64 },
					     .begin_ts_ns = i, .result = APS_RES_RETURNED,
					     .boundary = APS_BND_LOOP_POLL };
		struct aps_ev_task_destroy d = { .hdr = { .type = APS_EV_TASK_DESTROY, .ts_ns = i * 1000,
							  .task = i * 64 } };

		model_apply(&m, &n, sizeof(n), NULL, NULL);
		model_apply(&m, &b, sizeof(b), NULL, NULL);
		model_apply(&m, &e, sizeof(e), NULL, NULL);
		if (i <= 2500)	/* the last 500 stay alive */
			model_apply(&m, &d, sizeof(d), NULL, NULL);
	}
	CHECK_EQ_INT(m.destroyed, 2500);
	REQUIRE(model_find(&m, 64)->hist != NULL);
	CHECK_EQ_INT(model_find(&m, 64)->hist->count, 1);
	/* keep the tasks destroyed in the last 500 us: 2001..2500 */
	REQUIRE(model_sweep(&m, 2500 * 1000, 500 * 1000) == 0);
	CHECK_EQ_INT(m.destroyed, 501);
	CHECK(model_find(&m, 64) == NULL);
	CHECK(model_find(&m, 2000 * 64) != NULL);
	CHECK(model_find(&m, 3000 * 64) != NULL);
	CHECK_EQ_INT(m.live, 1001);
	CHECK_EQ_INT(m.tasks_seen, 3000);
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
	n.hdr.type = APS_EV_CANCEL;
	CHECK_EQ_INT(event_check(&n, sizeof(struct aps_ev_cancel)), APS_EV_CANCEL);
	CHECK_EQ_INT(event_check(&n, sizeof(struct aps_ev_cancel) - 1), -1);
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

/* Fake objects in our own memory: process_vm_readv on ourselves. */
TEST(live_layout_validation)
{
	const struct py_layout *l = layout_table_lookup(3, 12);
	static uint64_t task[32], base[64], sub[64];
	static const char base_name[] = "_asyncio.Task", sub_name[] = "mypkg.MyTask";
	char err[512] = "";

	REQUIRE(l != NULL);
	task[l->bpf.ob_type / 8] = (uint64_t)(uintptr_t)sub;
	sub[l->bpf.tp_name / 8] = (uint64_t)(uintptr_t)sub_name;
	sub[l->tp_base / 8] = (uint64_t)(uintptr_t)base;
	base[l->bpf.tp_name / 8] = (uint64_t)(uintptr_t)base_name;
	base[l->tp_basicsize / 8] = l->bpf.task_size;
	/* a subclass: walks to _asyncio.Task and checks its size */
	CHECK(layout_validate_task(getpid(), l, (uint64_t)(uintptr_t)task, err, sizeof(err)) == 0);
	base[l->tp_basicsize / 8] = l->bpf.task_size + 8;
	CHECK(layout_validate_task(getpid(), l, (uint64_t)(uintptr_t)task, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "layout mismatch") != NULL);
	/* not a task (freed and reused): try another one, no verdict */
	sub[l->tp_base / 8] = 0;
	CHECK(layout_validate_task(getpid(), l, (uint64_t)(uintptr_t)task, err, sizeof(err)) == -EAGAIN);
	CHECK(layout_validate_task(getpid(), l, 8, err, sizeof(err)) == -EAGAIN);
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
		/* the cancel hook's: must_cancel inside TaskObj (a bit from 3.13 on),
		 * the frame state in the frame (3.10) or the generator */
		CHECK(l->bpf.task_must_cancel > l->bpf.fut_state);
		CHECK(l->bpf.task_must_cancel < l->bpf.task_size);
		CHECK_EQ_INT(l->bpf.must_cancel_mask, minor >= 13 ? 0x04 : 0xff);
		CHECK_EQ_INT(l->bpf.gen_frame, minor == 10 ? l->snap.gen_frame : 0);
		CHECK_EQ_INT(l->bpf.frame_state, minor == 10 ? l->snap.fr_state : l->snap.gen_frame_state);
	}
	CHECK(layout_table_lookup(3, 9) == NULL);
	CHECK(layout_table_lookup(3, 15) == NULL);
}

/* ---- model_apply on canned records ---------------------------------- */

struct seen {
	int n;
	enum model_ev_kind kind[16];
	char name[16][APS_NAME_MAX + 1];
	uint64_t other[16];
	const char *exc[16];
	uint64_t dur[16];
};

static void record(void *ctx, const struct model_event *ev)
{
	struct seen *s = ctx;

	if (s->n >= 16)
		return;
	s->kind[s->n] = ev->kind;
	snprintf(s->name[s->n], sizeof(s->name[0]), "%s", ev->old_name ? ev->old_name :
		 ev->task ? ev->task->name : "?");
	s->other[s->n] = ev->other_addr;
	s->exc[s->n] = ev->exception;
	s->dur[s->n] = ev->duration_ns;
	s->n++;
}

static struct aps_ev_task_new new_task(uint64_t addr, const char *name, uint64_t creator)
{
	struct aps_ev_task_new e = { .hdr = { .type = APS_EV_TASK_NEW, .tid = 7, .ts_ns = 100,
					      .task = addr },
				     .create_ts_ns = 90, .creator = creator, .create_tid = 7 };

	e.name.kind = 1;
	e.name.nchars = (uint32_t)strlen(name);
	memcpy(e.name.data, name, strlen(name));
	e.coro_qualname.kind = 1;
	e.coro_qualname.nchars = 4;
	memcpy(e.coro_qualname.data, "main", 4);
	return e;
}

TEST(model_apply_lifecycle)
{
	struct model m;
	struct seen s = {};
	struct aps_ev_task_new a = new_task(0x1000, "parent", 0), b = new_task(0x2000, "child", 0x1000);
	struct aps_ev_step_begin sb = { .hdr = { .type = APS_EV_STEP_BEGIN, .tid = 7, .ts_ns = 200,
						 .task = 0x1000 }, .waiter = 0x2000 };
	struct aps_ev_type_name tn = { .hdr = { .type = APS_EV_TYPE_NAME, .task = 0xbeef } };
	struct aps_ev_step_end se = { .hdr = { .type = APS_EV_STEP_END, .tid = 7, .ts_ns = 250,
					       .task = 0x1000 }, .begin_ts_ns = 200,
				      .result = APS_RES_RAISED, .exc_type = 0xbeef,
				      .boundary = APS_BND_LOOP_POLL };
	struct task *t;

	REQUIRE(model_init(&m, 4) == 0);
	memcpy(tn.name, "ValueError\x1b", 12);
	CHECK(model_apply(&m, &a, sizeof(a), record, &s) == 0);
	CHECK(model_apply(&m, &b, sizeof(b), record, &s) == 0);
	CHECK(model_apply(&m, &sb, sizeof(sb), record, &s) == 0);
	CHECK(model_apply(&m, &tn, sizeof(tn), record, &s) == 0);
	CHECK(model_apply(&m, &se, sizeof(se), record, &s) == 0);
	REQUIRE(s.n == 6);
	CHECK_EQ_INT(s.kind[0], MEV_CREATED);
	CHECK_EQ_INT(s.kind[1], MEV_CREATED);
	CHECK_EQ_INT(s.other[1], 0x1000);	/* creator */
	CHECK_EQ_INT(s.kind[2], MEV_WOKEN);	/* a waiter at step begin: woken, then step */
	CHECK_EQ_INT(s.other[2], 0x2000);
	CHECK_EQ_INT(s.kind[3], MEV_STEP);
	CHECK_EQ_INT(s.kind[4], MEV_STEP_END);
	CHECK_EQ_INT(s.dur[4], 50);
	CHECK_EQ_STR(s.exc[4], "ValueError\\x1b");	/* escaped */
	CHECK_EQ_INT(s.kind[5], MEV_DONE);
	t = model_find(&m, 0x1000);
	REQUIRE(t != NULL);
	CHECK_EQ_INT(t->state, TASK_DONE);
	CHECK_EQ_INT(t->steps, 1);
	CHECK_EQ_INT(t->busy_ns, 50);
	CHECK_EQ_STR(t->exception, "ValueError\\x1b");
	/* a malformed record is counted, not applied */
	se.boundary = 99;
	CHECK(model_apply(&m, &se, sizeof(se), record, &s) == -EINVAL);
	CHECK_EQ_INT(m.bad_events, 1);
	model_free(&m);
}

TEST(model_apply_rename_and_close_at_exit)
{
	struct model m;
	struct seen s = {};
	struct aps_ev_task_new a = new_task(0x1000, "Task-3", 0), r = new_task(0x1000, "worker", 0);
	struct aps_ev_step_begin sb = { .hdr = { .type = APS_EV_STEP_BEGIN, .tid = 7, .ts_ns = 200,
						 .task = 0x1000 } };

	REQUIRE(model_init(&m, 4) == 0);
	r.hdr.flags = APS_TASK_RENAMED;
	model_apply(&m, &a, sizeof(a), record, &s);
	model_apply(&m, &r, sizeof(r), record, &s);
	model_apply(&m, &r, sizeof(r), record, &s);	/* same name again: no event */
	model_apply(&m, &sb, sizeof(sb), record, &s);
	model_close_open_steps(&m, 300, record, &s);
	REQUIRE(s.n == 4);
	CHECK_EQ_INT(s.kind[1], MEV_RENAMED);
	CHECK_EQ_STR(s.name[1], "Task-3");	/* the old name */
	CHECK_EQ_INT(s.kind[2], MEV_STEP);
	CHECK_EQ_STR(s.name[2], "worker");
	CHECK_EQ_INT(s.kind[3], MEV_STEP_END);
	CHECK_EQ_INT(s.dur[3], 100);
	CHECK_EQ_INT(model_find(&m, 0x1000)->state, TASK_UNKNOWN);
	model_free(&m);
}

struct cancels_seen {
	int n;
	uint64_t task[8], by[8];
	bool known[8], by_known[8];
	uint16_t flags[8];
	char msg[8][APS_NAME_MAX];
};

static void record_cancel(void *ctx, const struct model_event *ev)
{
	struct cancels_seen *s = ctx;

	if (ev->kind != MEV_CANCEL_REQUESTED || s->n >= 8)
		return;
	s->task[s->n] = ev->addr;
	s->known[s->n] = ev->task != NULL;
	s->by[s->n] = ev->other_addr;
	s->by_known[s->n] = ev->other != NULL;
	s->flags[s->n] = ev->cancel_flags;
	snprintf(s->msg[s->n], sizeof(s->msg[0]), "%s", ev->cancel_msg ? ev->cancel_msg : "(none)");
	s->n++;
}

static struct aps_ev_cancel cancel_of(uint64_t task, uint64_t by, uint64_t ts, uint16_t flags,
				      const char *msg)
{
	struct aps_ev_cancel c = { .hdr = { .type = APS_EV_CANCEL, .flags = flags, .tid = 7,
					    .ts_ns = ts, .task = task }, .requester = by };

	if (msg) {
		c.msg.kind = 1;
		c.msg.nchars = (uint32_t)strlen(msg);
		memcpy(c.msg.data, msg, strlen(msg));
	}
	return c;
}

/* Each request is an event; the task keeps the last one and the count. */
TEST(model_apply_cancel_requests)
{
	struct model m;
	struct cancels_seen s = {};
	struct aps_ev_task_new a = new_task(0x1000, "a", 0), b = new_task(0x2000, "b", 0x1000);
	struct aps_ev_cancel c1 = cancel_of(0x2000, 0x1000, 300, 0, "stop\x07"),
			     c2 = cancel_of(0x2000, 0, 400, 0, NULL),
			     c3 = cancel_of(0x2000, 0x1000, 500, APS_CANCEL_DONE, NULL),
			     c4 = cancel_of(0x9000, 0x1000, 600, APS_CANCEL_UNVERIFIED, NULL);
	struct task *t;

	REQUIRE(model_init(&m, 4) == 0);
	model_apply(&m, &a, sizeof(a), NULL, NULL);
	model_apply(&m, &b, sizeof(b), NULL, NULL);
	CHECK(model_apply(&m, &c1, sizeof(c1), record_cancel, &s) == 0);
	t = model_find(&m, 0x2000);
	REQUIRE(t != NULL);
	CHECK_EQ_INT(t->cancel_requests, 1);
	CHECK_EQ_INT(t->cancel_by, 0x1000);
	CHECK_EQ_INT(t->cancel_ts, 300);
	/* a later request, from outside any task: the last one is kept */
	CHECK(model_apply(&m, &c2, sizeof(c2), record_cancel, &s) == 0);
	CHECK_EQ_INT(t->cancel_requests, 2);
	CHECK_EQ_INT(t->cancel_by, 0);
	CHECK_EQ_INT(t->cancel_ts, 400);
	/* cancel() of a finished task: an event, but no request */
	CHECK(model_apply(&m, &c3, sizeof(c3), record_cancel, &s) == 0);
	CHECK_EQ_INT(t->cancel_requests, 2);
	CHECK_EQ_INT(t->cancel_ts, 400);
	/* a task the model never saw: an event without a task */
	CHECK(model_apply(&m, &c4, sizeof(c4), record_cancel, &s) == 0);
	CHECK(model_find(&m, 0x9000) == NULL);
	REQUIRE(s.n == 4);
	CHECK(s.known[0] && s.by_known[0]);
	CHECK_EQ_INT(s.by[0], 0x1000);
	CHECK_EQ_STR(s.msg[0], "stop\\x07");		/* decoded, control characters escaped */
	CHECK_EQ_INT(s.by[1], 0);
	CHECK(!s.by_known[1]);
	CHECK_EQ_STR(s.msg[1], "(none)");
	CHECK_EQ_INT(s.flags[2], APS_CANCEL_DONE);
	CHECK(!s.known[3]);
	CHECK_EQ_INT(s.flags[3], APS_CANCEL_UNVERIFIED);
	/* a destroyed task takes no request */
	struct aps_ev_task_destroy d = { .hdr = { .type = APS_EV_TASK_DESTROY, .ts_ns = 700,
						  .task = 0x2000 } };
	model_apply(&m, &d, sizeof(d), NULL, NULL);
	model_apply(&m, &c1, sizeof(c1), record_cancel, &s);
	CHECK_EQ_INT(t->cancel_requests, 2);
	CHECK(!s.known[4]);
	model_free(&m);
}

UNIT_MAIN()
