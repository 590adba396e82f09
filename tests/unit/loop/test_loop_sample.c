// SPDX-License-Identifier: MIT
/* Decoding the loop sampler's records (user/loop/loop_sample.c). */
#include <stddef.h>
#include <string.h>
#include <errno.h>
#include <stdio.h>
#include "loop/loop_sample.h"
#include "loop/loop_stall.h"
#include "unit.h"

static size_t make(struct aps_ev_sample *e, unsigned n)
{
	memset(e, 0, sizeof(*e));
	e->hdr.type = APS_EV_SAMPLE;
	e->hdr.flags = APS_SAMPLE_ON_CPU | APS_SAMPLE_LOOP_BUSY;
	e->hdr.tid = 42;
	e->hdr.ts_ns = 1000;
	e->hdr.task = 0x7000;
	e->coro = 0x9000;
	e->busy_since = 900;
	e->pid = 41;
	e->nframes = (__u16)n;
	for (unsigned i = 0; i < n && i < APS_SAMPLE_MAX_FRAMES; i++) {
		e->f[i].code = 0x1000 + i * 0x100;
		e->f[i].instr = i * 2;
		e->f[i].owner = i == 0 ? 1 : 0;
	}
	return offsetof(struct aps_ev_sample, f) + n * sizeof(e->f[0]);
}

TEST(decodes_fields_and_frames)
{
	struct aps_ev_sample e;
	struct loop_sample s;
	size_t len = make(&e, 3);

	REQUIRE(loop_sample_decode(&e, len, 11, &s) == 0);
	CHECK_EQ_INT(s.pid, 41);
	CHECK_EQ_INT(s.tid, 42);
	CHECK(s.on_cpu && s.loop_busy && !s.truncated && !s.no_tstate);
	CHECK(s.task == 0x7000 && s.coro == 0x9000 && s.busy_since == 900);
	CHECK_EQ_INT(s.nframes, 3);
	CHECK(s.f[0].in_generator && !s.f[1].in_generator);
	CHECK(s.f[2].code == 0x1200 && s.f[2].instr == 4);
}

TEST(drops_entry_frames_on_312_and_later)
{
	struct aps_ev_sample e;
	struct loop_sample s;
	size_t len = make(&e, 3);

	e.f[1].owner = 3;	/* FRAME_OWNED_BY_CSTACK (3.12/3.13), INTERPRETER (3.14) */
	REQUIRE(loop_sample_decode(&e, len, 12, &s) == 0);
	CHECK_EQ_INT(s.nframes, 2);
	CHECK(s.f[1].code == 0x1200);
	REQUIRE(loop_sample_decode(&e, len, 11, &s) == 0);	/* 3.11: 3 means nothing */
	CHECK_EQ_INT(s.nframes, 3);
}

TEST(rejects_bad_lengths_and_counts)
{
	struct aps_ev_sample e;
	struct loop_sample s;
	size_t len = make(&e, 3);

	CHECK(loop_sample_decode(&e, len - 1, 12, &s) == -EINVAL);
	CHECK(loop_sample_decode(&e, len + sizeof(e.f[0]), 12, &s) == -EINVAL);
	CHECK(loop_sample_decode(&e, 8, 12, &s) == -EINVAL);
	e.nframes = APS_SAMPLE_MAX_FRAMES + 1;
	CHECK(loop_sample_decode(&e, sizeof(e), 12, &s) == -EINVAL);
	make(&e, 0);
	e.hdr.type = APS_EV_LOOP_SPAN;
	CHECK(loop_sample_decode(&e, offsetof(struct aps_ev_sample, f), 12, &s) == -EINVAL);
	CHECK_EQ_INT(make(&e, APS_SAMPLE_MAX_FRAMES), sizeof(e));
	CHECK(loop_sample_decode(&e, sizeof(e), 12, &s) == 0);
}

TEST(finds_the_callback_under_the_dispatch)
{
	static struct thread_stack st;
	static const char *const fr[][2] = {
		{ "Slow.data_received", "/app/x.py" },
		{ "_SelectorSocketTransport._read_ready__data_received", "/usr/lib/python3.12/asyncio/selector_events.py" },
		{ "_SelectorSocketTransport._read_ready", "/usr/lib/python3.12/asyncio/selector_events.py" },
		{ "Handle._run", "/usr/lib/python3.12/asyncio/events.py" },
		{ "BaseEventLoop._run_once", "/usr/lib/python3.12/asyncio/base_events.py" },
		{ "<module>", "/app/x.py" },
	};

	st.n = 6;
	for (unsigned i = 0; i < st.n; i++) {
		snprintf(st.f[i].func, sizeof(st.f[i].func), "%s", fr[i][0]);
		snprintf(st.f[i].file, sizeof(st.f[i].file), "%s", fr[i][1]);
	}
	CHECK_EQ_INT(loop_stall_dispatch_frame(&st), 0);
	/* the loop itself, between callbacks: no callback */
	st.n = 2;
	snprintf(st.f[0].func, sizeof(st.f[0].func), "BaseEventLoop._run_once");
	snprintf(st.f[0].file, sizeof(st.f[0].file), "/usr/lib/python3.12/asyncio/base_events.py");
	CHECK_EQ_INT(loop_stall_dispatch_frame(&st), -1);
}

UNIT_MAIN()
