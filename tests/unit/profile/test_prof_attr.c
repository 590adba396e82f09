// SPDX-License-Identifier: MIT
/* Attributing samples to tasks, await chains and callbacks (prof_attr.c). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "profile/prof_attr.h"
#include "profile/prof_folded.h"

#define EV "/usr/lib/python3.12/asyncio/events.py"
#define BE "/usr/lib/python3.12/asyncio/base_events.py"

static struct thread_stack st;

static void push(const char *func, const char *file, int line, uint64_t gen)
{
	struct stack_frame *f = &st.f[st.n++];

	snprintf(f->func, sizeof(f->func), "%s", func);
	snprintf(f->file, sizeof(f->file), "%s", file);
	f->line = line;
	f->gen = gen;
}

/* The loop's frames under a callback or step, outermost last. */
static void loop_frames(void)
{
	push("Handle._run", EV, 84, 0);
	push("BaseEventLoop._run_once", BE, 1936, 0);
	push("BaseEventLoop.run_forever", BE, 608, 0);
	push("<module>", "/t/w.py", 40, 0);
}

/* A step of task heavy (coroutine 0xc1) in burn(). */
static void heavy_stack(void)
{
	memset(&st, 0, sizeof(st));
	push("burn", "/t/w.py", 5, 0);
	push("heavy", "/t/w.py", 12, 0xc1);
	loop_frames();
}

static const struct prof_task_ref tasks[] = {
	{ .addr = 0xa0, .coro = 0xc0, .parent = 0, .name = "Task-1", .coro_name = "main" },
	{ .addr = 0xa1, .coro = 0xc1, .parent = 0xa0, .name = "heavy", .coro_name = "heavy" },
	{ .addr = 0xa2, .coro = 0xc2, .parent = 0xa3, .name = "x", .coro_name = "cx" },
	{ .addr = 0xa3, .coro = 0xc3, .parent = 0xa2, .name = "y", .coro_name = "cy" },
};

/* The folded text of what was attributed. */
static char *folded(struct prof_agg *a)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f || prof_folded_write(a, f))
		abort();
	fclose(f);
	return buf;
}

static void setup(struct prof_agg *a, struct prof_attr *p, enum prof_by by)
{
	if (prof_agg_init(a) || prof_attr_init(p, a, by) || prof_attr_set_tasks(p, tasks, 4, 100))
		abort();
}

static void done(struct prof_agg *a, struct prof_attr *p, char *s)
{
	free(s);
	prof_attr_free(p);
	prof_agg_free(a);
}

TEST(task_chain_then_frames)
{
	struct prof_agg a;
	struct prof_attr p;
	char *s;

	setup(&a, &p, PROF_BY_TASK);
	heavy_stack();
	/* 3.10-3.13: the sampler gives the coroutine; 3.14: the task */
	CHECK(prof_attr_sample(&p, "thread 7", &st, 0, 0xc1, false, 200, 10) == 0);
	CHECK(prof_attr_sample(&p, "thread 7", &st, 0xa1, 0, false, 200, 10) == 0);
	CHECK(prof_attr_sample(&p, "thread 7", &st, 0, 0, false, 200, 10) == 0);	/* from the frames */
	CHECK(prof_attr_flush(&p) == 0);
	s = folded(&a);
	CHECK_EQ_STR(s, "task Task-1;task heavy;heavy (/t/w.py:12);burn (/t/w.py:5) 3\n");
	CHECK_EQ_INT(p.in_tasks, 3);
	CHECK_EQ_INT(a.weight_ns, 30);
	CHECK_EQ_INT(a.stacks[0].group, a.nodes[a.ids[a.stacks[0].first + 1]].name);
	done(&a, &p, s);
}

TEST(by_coro_and_by_thread)
{
	struct prof_agg a;
	struct prof_attr p;
	char *s;

	setup(&a, &p, PROF_BY_CORO);
	heavy_stack();
	CHECK(prof_attr_sample(&p, "thread 7", &st, 0, 0xc1, false, 200, 10) == 0);
	s = folded(&a);
	CHECK_EQ_STR(s, "coro main;coro heavy;heavy (/t/w.py:12);burn (/t/w.py:5) 1\n");
	done(&a, &p, s);

	setup(&a, &p, PROF_BY_THREAD);
	CHECK(prof_attr_sample(&p, "thread 7 (python3)", &st, 0, 0xc1, false, 200, 10) == 0);
	s = folded(&a);
	CHECK_EQ_STR(s, "thread 7 (python3);task Task-1;task heavy;heavy (/t/w.py:12);"
			"burn (/t/w.py:5) 1\n");
	CHECK_EQ_STR(a.strs[a.stacks[0].group], "thread 7 (python3)");
	done(&a, &p, s);
}

TEST(callback_named_by_its_function)
{
	struct prof_agg a;
	struct prof_attr p;
	char *s;

	setup(&a, &p, PROF_BY_TASK);
	memset(&st, 0, sizeof(st));
	push("burn", "/t/w.py", 5, 0);
	push("burn_cb", "/t/w.py", 20, 0);
	loop_frames();
	CHECK(prof_attr_sample(&p, "thread 7", &st, 0, 0, false, 200, 10) == 0);
	/* a transport calling the protocol: past asyncio's own frames */
	memset(&st, 0, sizeof(st));
	push("Proto.data_received", "/t/w.py", 30, 0);
	push("_SelectorSocketTransport._read_ready__data_received",
	     "/usr/lib/python3.12/asyncio/selector_events.py", 1000, 0);
	loop_frames();
	CHECK(prof_attr_sample(&p, "thread 7", &st, 0, 0, true, 200, 10) == 0);
	s = folded(&a);
	CHECK_EQ_STR(s, "callback Proto.data_received;Proto.data_received (/t/w.py:30);(off-cpu) 1\n"
			"callback burn_cb;burn_cb (/t/w.py:20);burn (/t/w.py:5) 1\n");
	CHECK_EQ_INT(p.in_callbacks, 2);
	CHECK_EQ_INT(a.off_cpu_count, 1);
	done(&a, &p, s);
}

/* 3.10-3.13: the C task step calls loop.call_soon after its coroutine yielded */
TEST(asyncio_under_handle_run_is_no_callback)
{
	struct prof_agg a;
	struct prof_attr p;
	char *s;

	setup(&a, &p, PROF_BY_TASK);
	memset(&st, 0, sizeof(st));
	push("BaseEventLoop.call_soon", BE, 796, 0);
	loop_frames();
	CHECK(prof_attr_sample(&p, "thread 7", &st, 0, 0, false, 200, 10) == 0);
	s = folded(&a);
	CHECK_EQ_STR(s, "(no task);<module> (/t/w.py:40);BaseEventLoop.run_forever (" BE ":608);"
			"BaseEventLoop._run_once (" BE ":1936);Handle._run (" EV ":84);"
			"BaseEventLoop.call_soon (" BE ":796) 1\n");
	CHECK_EQ_INT(p.in_callbacks, 0);
	done(&a, &p, s);
}

TEST(loop_itself_is_no_task)
{
	struct prof_agg a;
	struct prof_attr p;
	char *s;

	setup(&a, &p, PROF_BY_TASK);
	memset(&st, 0, sizeof(st));
	push("EpollSelector.select", "/usr/lib/python3.12/selectors.py", 468, 0);
	push("BaseEventLoop._run_once", BE, 1898, 0);
	push("<module>", "/t/w.py", 40, 0);
	CHECK(prof_attr_sample(&p, "thread 7", &st, 0, 0, false, 200, 10) == 0);
	s = folded(&a);
	CHECK_EQ_STR(s, "(no task);<module> (/t/w.py:40);BaseEventLoop._run_once (" BE ":1898);"
			"EpollSelector.select (/usr/lib/python3.12/selectors.py:468) 1\n");
	CHECK_EQ_INT(p.outside, 1);
	done(&a, &p, s);
}

TEST(new_task_waits_for_the_next_table)
{
	static const struct prof_task_ref later[] = {
		{ .addr = 0xa0, .coro = 0xc0, .name = "Task-1", .coro_name = "main" },
		{ .addr = 0xb1, .coro = 0xd1, .parent = 0xa0, .name = "new", .coro_name = "heavy" },
	};
	struct prof_agg a;
	struct prof_attr p;
	char *s;

	setup(&a, &p, PROF_BY_TASK);
	heavy_stack();
	st.f[1].gen = 0xd1;	/* a task the table (taken at 100) does not have */
	CHECK(prof_attr_sample(&p, "thread 7", &st, 0, 0xd1, false, 200, 10) == 0);
	CHECK(prof_attr_sample(&p, "thread 7", &st, 0, 0xd1, false, 400, 10) == 0);
	CHECK_EQ_INT(p.npend, 2);
	CHECK_EQ_INT(a.count, 0);
	/* the next table lists it: both attributed */
	CHECK(prof_attr_set_tasks(&p, later, 2, 300) == 0);
	CHECK_EQ_INT(p.npend, 0);
	/* one more, of a task no table will list; a table read before it: waits */
	st.f[1].gen = 0xee;
	CHECK(prof_attr_sample(&p, "thread 7", &st, 0, 0xee, false, 500, 10) == 0);
	CHECK(prof_attr_set_tasks(&p, later, 2, 450) == 0);
	CHECK_EQ_INT(p.npend, 1);
	CHECK(prof_attr_flush(&p) == 0);
	CHECK_EQ_INT(p.npend, 0);
	s = folded(&a);
	CHECK_EQ_STR(s, "task ?;heavy (/t/w.py:12);burn (/t/w.py:5) 1\n"
			"task Task-1;task new;heavy (/t/w.py:12);burn (/t/w.py:5) 2\n");
	CHECK_EQ_INT(p.unknown_tasks, 1);
	done(&a, &p, s);
}

TEST(a_generator_in_a_callback_is_not_a_task)
{
	struct prof_agg a;
	struct prof_attr p;
	char *s;

	setup(&a, &p, PROF_BY_TASK);
	memset(&st, 0, sizeof(st));
	push("gen", "/t/w.py", 3, 0xfe);
	push("cb", "/t/w.py", 8, 0);
	loop_frames();
	CHECK(prof_attr_sample(&p, "thread 7", &st, 0, 0xfe, false, 200, 10) == 0);
	CHECK(prof_attr_flush(&p) == 0);
	s = folded(&a);
	CHECK_EQ_STR(s, "callback cb;cb (/t/w.py:8);gen (/t/w.py:3) 1\n");
	done(&a, &p, s);
}

TEST(awaiting_task_from_its_snapshot_frames)
{
	static const struct snap_frame frames[] = {	/* innermost first */
		{ .qualname = "sleep", .filename = "/a/tasks.py", .line = 665 },
		{ .qualname = "heavy", .filename = "/t/w.py", .line = 13 },
	};
	struct prof_agg a;
	struct prof_attr p;
	char *s;

	setup(&a, &p, PROF_BY_TASK);
	CHECK(prof_attr_awaiting(&p, "thread 7", 0xa1, frames, 2, 25, 250) == 0);
	CHECK(prof_attr_awaiting(&p, "thread 7", 0xdead, frames, 2, 25, 250) == 0);	/* not listed */
	s = folded(&a);
	CHECK_EQ_STR(s, "task Task-1;task heavy;heavy (/t/w.py:13);sleep (/a/tasks.py:665);"
			"(awaiting) 25\n");
	CHECK_EQ_INT(p.awaiting_samples, 25);
	CHECK_EQ_INT(a.weight_ns, 250);
	done(&a, &p, s);
}

TEST(await_cycle_ends)
{
	struct prof_agg a;
	struct prof_attr p;
	char *s;

	setup(&a, &p, PROF_BY_TASK);
	memset(&st, 0, sizeof(st));
	push("cx", "/t/w.py", 1, 0xc2);
	loop_frames();
	CHECK(prof_attr_sample(&p, "t", &st, 0, 0xc2, false, 200, 10) == 0);
	s = folded(&a);
	CHECK_EQ_STR(s, "task y;task x;cx (/t/w.py:1) 1\n");
	done(&a, &p, s);
}

UNIT_MAIN()
