// SPDX-License-Identifier: MIT
/* trace's printer: the lines and JSON objects of one known run of events. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "output/trace_view.h"

#define T0 5000000000ull	/* the first event: relative time 0 */
#define MAIN 0x7f0000001000ull
#define WORKER 0x7f0000002000ull
#define TID 4242

static void pystr(struct aps_pystr *s, const char *txt)
{
	memset(s, 0, sizeof(*s));
	s->kind = 1;
	s->nchars = (uint32_t)strlen(txt);
	memcpy(s->data, txt, strlen(txt));
}

static void task_new(struct trace_view *p, uint64_t ts, uint64_t task, uint64_t creator,
		     const char *name, const char *coro)
{
	struct aps_ev_task_new e = { .hdr = { .type = APS_EV_TASK_NEW, .tid = TID, .ts_ns = ts,
					       .task = task },
				     .create_ts_ns = ts, .creator = creator, .create_tid = TID };

	pystr(&e.name, name);
	pystr(&e.coro_qualname, coro);
	CHECK_EQ_INT(trace_view_event(p, &e, sizeof(e)), 0);
}

static void step(struct trace_view *p, uint64_t ts, uint64_t task)
{
	struct aps_ev_step_begin e = { .hdr = { .type = APS_EV_STEP_BEGIN, .tid = TID, .ts_ns = ts,
						.task = task } };

	CHECK_EQ_INT(trace_view_event(p, &e, sizeof(e)), 0);
}

static void step_end(struct trace_view *p, uint64_t begin, uint64_t ts, uint64_t task,
		     uint8_t result, uint64_t waiter)
{
	struct aps_ev_step_end e = { .hdr = { .type = APS_EV_STEP_END, .tid = TID, .ts_ns = ts,
					      .task = task },
				     .begin_ts_ns = begin, .waiter = waiter, .result = result,
				     .boundary = APS_BND_LOOP_POLL };

	CHECK_EQ_INT(trace_view_event(p, &e, sizeof(e)), 0);
}

/* main creates worker; worker runs 500us and awaits main; main runs, returns; both go. */
static char *run(bool json, size_t *len)
{
	struct aps_ev_task_destroy d = { .hdr = { .type = APS_EV_TASK_DESTROY, .tid = TID,
						  .ts_ns = T0 + 9000000, .task = WORKER },
					 .state = 1, .stepped = 1 };
	struct trace_view p;
	char *buf = NULL;
	FILE *out = open_memstream(&buf, len);

	if (!out)
		return NULL;
	if (trace_view_init(&p, out, json, 0)) {	/* pid 0: no /proc lookups */
		fclose(out);
		free(buf);
		return NULL;
	}
	task_new(&p, T0, MAIN, 0, "Task-1", "main");
	task_new(&p, T0 + 1000000, WORKER, MAIN, "worker-1", "worker");
	step(&p, T0 + 2000000, WORKER);
	step_end(&p, T0 + 2000000, T0 + 2500000, WORKER, APS_RES_AWAITING, MAIN);
	step(&p, T0 + 3000000, MAIN);
	step_end(&p, T0 + 3000000, T0 + 3250000, MAIN, APS_RES_RETURNED, 0);
	CHECK_EQ_INT(trace_view_event(&p, &d, sizeof(d)), 0);
	trace_view_lost(&p, 5, T0 + 9500000);
	trace_view_lost(&p, 5, T0 + 9600000);	/* nothing new: no line */
	trace_view_finish(&p, "target_exited", T0 + 10000000, 7, 1, NULL, 0);
	trace_view_free(&p);
	fclose(out);
	return buf;
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *q = s; (q = strstr(q, needle)); q++)
		n++;
	return n;
}

static const char *line_with(const char *s, const char *needle, char *line, size_t len)
{
	const char *at = strstr(s, needle), *b, *e;

	if (!at)
		return "";
	for (b = at; b > s && b[-1] != '\n'; b--)
		;
	e = strchr(at, '\n');
	snprintf(line, len, "%.*s", (int)(e ? e - b : (long)strlen(b)), b);
	return line;
}

TEST(text_lines)
{
	char line[512];
	size_t len;
	char *s = run(false, &len);

	REQUIRE(s != NULL);
	CHECK_EQ_INT(count(s, "\n"), 11);	/* 8 events, done, 2 LOST lines, the summary */
	CHECK_EQ_STR(line_with(s, "created   0x7f0000001000", line, sizeof(line)),
		     "    0.000000  tid 4242    created   0x7f0000001000   Task-1  coro=main");
	CHECK_EQ_STR(line_with(s, "created   0x7f0000002000", line, sizeof(line)),
		     "    0.001000  tid 4242    created   0x7f0000002000   worker-1  coro=worker"
		     "  by Task-1");
	CHECK_EQ_STR(line_with(s, "step_end  0x7f0000002000", line, sizeof(line)),
		     "    0.002500  tid 4242    step_end  0x7f0000002000   worker-1  500.0us  awaiting"
		     " task Task-1");
	CHECK(strstr(line_with(s, "step_end  0x7f0000001000", line, sizeof(line)),
		     "250.0us  returned") != NULL);
	CHECK(strstr(s, "    0.003250  tid 4242    done      0x7f0000001000   Task-1  returned\n") != NULL);
	CHECK(strstr(s, "    0.009000  tid 4242    destroyed 0x7f0000002000   worker-1\n") != NULL);
	CHECK_EQ_INT(count(s, "LOST 5 events (ring buffer full)"), 1);
	CHECK_EQ_INT(count(s, "LOST"), 2);	/* finish: 2 more of the 7 */
	CHECK(strstr(s, "-- target_exited: 2 tasks, 2 steps, 7 lost events, 1 read errors\n") != NULL);
	free(s);
}

TEST(json_lines)
{
	char line[512];
	size_t len;
	char *s = run(true, &len);

	REQUIRE(s != NULL);
	CHECK_EQ_INT(count(s, "\n"), 11);
	CHECK_EQ_INT(count(s, "{\"event\":"), 11);
	CHECK_EQ_INT(count(s, "\"event\":\"done\""), 1);
	CHECK_EQ_INT(count(s, "\"event\":\"destroyed\""), 1);
	CHECK_EQ_INT(count(s, "\"event\":\"created\""), 2);
	CHECK_EQ_INT(count(s, "\"event\":\"step\""), 2);
	CHECK_EQ_INT(count(s, "\"event\":\"step_end\""), 2);
	CHECK_EQ_STR(line_with(s, "\"creator\":\"0x7f0000001000\"", line, sizeof(line)),
		     "{\"event\":\"created\",\"ts_ns\":5001000000,\"tid\":4242,"
		     "\"task\":\"0x7f0000002000\",\"name\":\"worker-1\",\"coro\":\"worker\","
		     "\"creator\":\"0x7f0000001000\",\"creator_name\":\"Task-1\"}");
	CHECK(strstr(line_with(s, "\"duration_ns\":500000", line, sizeof(line)),
		     "\"result\":\"awaiting\",\"boundary\":\"loop_poll\","
		     "\"awaiting\":\"0x7f0000001000\",\"awaiting_task\":true,"
		     "\"awaiting_name\":\"Task-1\"") != NULL);
	CHECK_EQ_INT(count(s, "\"duration_ns\":250000,\"result\":\"returned\""), 1);
	CHECK_EQ_STR(line_with(s, "\"event\":\"lost\"", line, sizeof(line)),
		     "{\"event\":\"lost\",\"ts_ns\":5009500000,\"tid\":0,\"count\":5}");
	CHECK_EQ_STR(line_with(s, "\"event\":\"summary\"", line, sizeof(line)),
		     "{\"event\":\"summary\",\"ts_ns\":5010000000,\"tid\":0,\"reason\":\"target_exited\","
		     "\"tasks\":2,\"steps\":2,\"lost_events\":7,\"read_errors\":1,\"bad_events\":0}");
	free(s);
}

static int checks;

static int layout_later(void *ctx, uint64_t task)
{
	(void)ctx;
	(void)task;
	return ++checks < 2 ? -EAGAIN : 0;	/* unreadable once, then fine */
}

static int layout_wrong(void *ctx, uint64_t task)
{
	(void)ctx;
	(void)task;
	checks++;
	return -EPROTO;
}

/* The layout check runs on live tasks until one answers; a mismatch stops the run. */
TEST(layout_check_and_fatal)
{
	struct trace_view p;
	char *buf = NULL;
	size_t len;
	FILE *out = open_memstream(&buf, &len);

	REQUIRE(out != NULL);
	REQUIRE(trace_view_init(&p, out, false, 0) == 0);
	p.on_first_task = layout_later;
	checks = 0;
	task_new(&p, T0, MAIN, 0, "Task-1", "main");
	task_new(&p, T0 + 1, WORKER, 0, "Task-2", "main");
	step(&p, T0 + 2, MAIN);
	CHECK_EQ_INT(checks, 2);	/* -EAGAIN, then 0: no more checks */
	CHECK(p.first_task_checked);
	CHECK_EQ_INT(p.fatal, 0);
	trace_view_free(&p);

	REQUIRE(trace_view_init(&p, out, false, 0) == 0);
	p.on_first_task = layout_wrong;
	checks = 0;
	{
		struct aps_ev_task_new e = { .hdr = { .type = APS_EV_TASK_NEW, .tid = TID,
						      .ts_ns = T0, .task = MAIN } };

		CHECK_EQ_INT(trace_view_event(&p, &e, sizeof(e)), -EPROTO);
		CHECK_EQ_INT(trace_view_event(&p, &e, 3), -EPROTO);	/* stays fatal */
	}
	CHECK_EQ_INT(checks, 1);
	CHECK_EQ_INT((int)p.model.bad_events, 1);	/* the short record */
	trace_view_free(&p);
	fclose(out);
	free(buf);
}

UNIT_MAIN()
