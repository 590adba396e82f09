// SPDX-License-Identifier: MIT
/* `export --format perfetto`: the trace-event JSON of one known recording, and bad input. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"
#include "cli/commands.h"
#include "model/model.h"
#include "recording/rec_format.h"
#include "recording/rec_model.h"
#include "recording/rec_writer.h"

#define T0 1000000000000ull	/* the recording's start */
#define MAIN 0x7f0000001000ull
#define WORKER 0x7f0000002000ull
#define TID 4242

static int file_sink(void *ctx, const uint8_t *frame, size_t len, bool seg)
{
	(void)seg;
	return fwrite(frame, 1, len, ctx) == len ? 0 : -EIO;
}

static void pystr(struct aps_pystr *s, const char *txt)
{
	memset(s, 0, sizeof(*s));
	s->kind = 1;
	s->nchars = (uint32_t)strlen(txt);
	memcpy(s->data, txt, strlen(txt));
}

static int put(struct rec_writer *w, struct model *m, const void *ev, size_t len)
{
	int err = rec_writer_event(w, ev, len);

	model_apply(m, ev, len, NULL, NULL);
	return err;
}

/*
 * main (Task-1) creates worker (worker-1) at 1 ms; worker steps 500us at
 * 2 ms and awaits main; main steps 250us at 3 ms and returns, which wakes
 * worker: its second step at 4 ms returns.
 */
static void write_recording(const char *path)
{
	struct rec_header h = { .pid = 1234, .clock_mono_ns = T0, .clock_real_ns = 1700000000000000000ull,
				.start_ns = T0 };
	struct aps_ev_task_new n[2] = {
		{ .hdr = { .type = APS_EV_TASK_NEW, .tid = TID, .ts_ns = T0, .task = MAIN },
		  .create_ts_ns = T0, .create_tid = TID },
		{ .hdr = { .type = APS_EV_TASK_NEW, .tid = TID, .ts_ns = T0 + 1000000, .task = WORKER },
		  .create_ts_ns = T0 + 1000000, .creator = MAIN, .create_tid = TID },
	};
	struct aps_ev_step_begin b[3] = {
		{ .hdr = { .type = APS_EV_STEP_BEGIN, .tid = TID, .ts_ns = T0 + 2000000, .task = WORKER } },
		{ .hdr = { .type = APS_EV_STEP_BEGIN, .tid = TID, .ts_ns = T0 + 3000000, .task = MAIN } },
		{ .hdr = { .type = APS_EV_STEP_BEGIN, .tid = TID, .ts_ns = T0 + 4000000, .task = WORKER },
		  .waiter = MAIN },
	};
	struct aps_ev_step_end e[3] = {
		{ .hdr = { .type = APS_EV_STEP_END, .tid = TID, .ts_ns = T0 + 2500000, .task = WORKER },
		  .begin_ts_ns = T0 + 2000000, .waiter = MAIN, .result = APS_RES_AWAITING,
		  .boundary = APS_BND_LOOP_POLL },
		{ .hdr = { .type = APS_EV_STEP_END, .tid = TID, .ts_ns = T0 + 3250000, .task = MAIN },
		  .begin_ts_ns = T0 + 3000000, .result = APS_RES_RETURNED, .boundary = APS_BND_LOOP_POLL },
		{ .hdr = { .type = APS_EV_STEP_END, .tid = TID, .ts_ns = T0 + 4100000, .task = WORKER },
		  .begin_ts_ns = T0 + 4000000, .result = APS_RES_RETURNED, .boundary = APS_BND_LOOP_POLL },
	};
	struct rec_end end = { .ts = T0 + 5000000 };
	struct rec_buf hb = {};
	struct rec_writer w;
	struct model m;
	FILE *f = fopen(path, "w");

	REQUIRE(f != NULL);
	snprintf(h.python, sizeof(h.python), "3.12.1");
	snprintf(h.comm, sizeof(h.comm), "python3");
	REQUIRE(rec_header_encode(&h, &hb) == 0);
	REQUIRE(fwrite(hb.p, 1, hb.len, f) == hb.len);
	rec_buf_free(&hb);
	pystr(&n[0].name, "Task-1");
	pystr(&n[0].coro_qualname, "main");
	pystr(&n[1].name, "worker-1");
	pystr(&n[1].coro_qualname, "worker");
	REQUIRE(model_init(&m, 16) == 0);
	REQUIRE(rec_writer_init(&w, file_sink, f) == 0);
	w.model = &m;
	CHECK_EQ_INT(put(&w, &m, &n[0], sizeof(n[0])), 0);
	CHECK_EQ_INT(put(&w, &m, &n[1], sizeof(n[1])), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(put(&w, &m, &b[i], sizeof(b[i])), 0);
		CHECK_EQ_INT(put(&w, &m, &e[i], sizeof(e[i])), 0);
	}
	end.events = w.events;
	snprintf(end.reason, sizeof(end.reason), "target_exited");
	CHECK_EQ_INT(rec_writer_end(&w, &end), 0);
	rec_writer_free(&w);
	model_free(&m);
	fclose(f);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 1 << 16);
	size_t n;

	if (!f || !s) {
		if (f)
			fclose(f);
		free(s);
		return NULL;
	}
	n = fread(s, 1, (1 << 16) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *q = s; (q = strstr(q, needle)); q++)
		n++;
	return n;
}

static char rec[] = "/tmp/aps-test-export-XXXXXX";
static char json[64];

static int export(int argc, char **argv)
{
	optind = 0;
	return cmd_export(argc, argv);
}

TEST(slices_tracks_and_flows)
{
	char *argv[] = { "export", "--format", "perfetto", rec, "-o", json, NULL };
	char *s;
	int fd = mkstemp(rec);

	REQUIRE(fd >= 0);
	close(fd);
	snprintf(json, sizeof(json), "%s.json", rec);
	write_recording(rec);
	REQUIRE(export(6, argv) == 0);
	s = slurp(json);
	REQUIRE(s != NULL);
	CHECK(strncmp(s, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"tool\":\"aps-bpf\",\"pid\":1234,"
		      "\"python\":\"3.12.1\"", 71) == 0);
	CHECK(strstr(s, "\n]}\n") != NULL);
	/* a slice per step, named after the coroutine, on its task's track, in us */
	CHECK_EQ_INT(count(s, "\"ph\":\"X\""), 3);
	CHECK_EQ_INT(count(s, "\"tid\":2,\"ts\":2000.000,\"dur\":500.000,\"name\":\"worker\""), 1);
	CHECK_EQ_INT(count(s, "\"tid\":1,\"ts\":3000.000,\"dur\":250.000,\"name\":\"main\""), 1);
	CHECK_EQ_INT(count(s, "\"tid\":2,\"ts\":4000.000,\"dur\":100.000,\"name\":\"worker\""), 1);
	CHECK_EQ_INT(count(s, "\"result\":\"awaiting\",\"boundary\":\"loop_poll\",\"awaiting\":\"Task-1\""), 1);
	/* a track per task, named after it; worker's creation names its creator */
	CHECK_EQ_INT(count(s, "\"name\":\"thread_name\",\"pid\":1234,\"tid\":1,\"args\":{\"name\":\"Task-1\"}"), 1);
	CHECK_EQ_INT(count(s, "\"name\":\"thread_name\",\"pid\":1234,\"tid\":2,\"args\":{\"name\":\"worker-1\"}"), 1);
	CHECK_EQ_INT(count(s, "\"tid\":2,\"ts\":1000.000,\"name\":\"created\",\"args\":{\"by\":\"Task-1\"}"), 1);
	/* worker's await goes to main's step; main's return wakes worker's second step */
	CHECK_EQ_INT(count(s, "\"ph\":\"s\""), 2);
	CHECK_EQ_INT(count(s, "{\"ph\":\"s\",\"cat\":\"await\",\"name\":\"await\",\"id\":1,\"pid\":1234,\"tid\":2,"), 1);
	CHECK_EQ_INT(count(s, "{\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"await\",\"name\":\"await\",\"id\":1,"
			   "\"pid\":1234,\"tid\":1,\"ts\":3000.000}"), 1);
	CHECK_EQ_INT(count(s, "{\"ph\":\"s\",\"cat\":\"wakeup\",\"name\":\"wakeup\",\"id\":2,\"pid\":1234,\"tid\":1,"), 1);
	CHECK_EQ_INT(count(s, "{\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"wakeup\",\"name\":\"wakeup\",\"id\":2,"
			   "\"pid\":1234,\"tid\":2,\"ts\":4000.000}"), 1);
	free(s);
}

/* Options anywhere before `--`, a window, and one clear line for bad input. */
TEST(options_and_bad_input)
{
	char *window[] = { "export", rec, "--to", "0.0035", "-o", json, "--from", "0.003",
			   "--format", "perfetto", NULL };
	char *no_format[] = { "export", rec, "-o", json, NULL };
	char *other_format[] = { "export", rec, "--format", "json", "-o", json, NULL };
	char *no_out[] = { "export", rec, "--format", "perfetto", NULL };
	char *two[] = { "export", rec, rec, "--format", "perfetto", "-o", json, NULL };
	char *backwards[] = { "export", rec, "--format", "perfetto", "--from", "3", "--to", "1",
			      "-o", json, NULL };
	char *missing[] = { "export", "/nonexistent/x.rec", "--format", "perfetto", "-o", json, NULL };
	char *unwritable[] = { "export", rec, "--format", "perfetto", "-o", "/nonexistent/x.json",
			       NULL };
	char *s;

	REQUIRE(export(10, window) == 0);
	s = slurp(json);
	REQUIRE(s != NULL);
	CHECK_EQ_INT(count(s, "\"ph\":\"X\""), 1);	/* main's step only */
	CHECK_EQ_INT(count(s, "\"dur\":250.000,\"name\":\"main\""), 1);
	free(s);
	CHECK_EQ_INT(export(4, no_format), 2);
	CHECK_EQ_INT(export(6, other_format), 2);
	CHECK_EQ_INT(export(4, no_out), 2);
	CHECK_EQ_INT(export(7, two), 2);
	CHECK_EQ_INT(export(10, backwards), 2);
	CHECK_EQ_INT(export(6, missing), 1);
	CHECK_EQ_INT(export(6, unwritable), 1);
	unlink(rec);
	unlink(json);
}

UNIT_MAIN()
