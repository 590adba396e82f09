// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include "loop/loop_sample.h"

#define OWNED_BY_GENERATOR 1
#define OWNED_BY_CSTACK 3	/* 3.12+: 3 and up are entry frames */

int loop_sample_decode(const void *data, size_t len, int minor, struct loop_sample *out)
{
	const size_t head = offsetof(struct aps_ev_sample, f);
	struct aps_ev_sample e;

	if (len < head || len > sizeof(e))
		return -EINVAL;
	memset(&e, 0, sizeof(e));
	memcpy(&e, data, len);
	if (e.hdr.type != APS_EV_SAMPLE || e.nframes > APS_SAMPLE_MAX_FRAMES ||
	    len != head + e.nframes * sizeof(e.f[0]))
		return -EINVAL;
	memset(out, 0, offsetof(struct loop_sample, f));
	out->pid = e.pid;
	out->tid = e.hdr.tid;
	out->ts = e.hdr.ts_ns;
	out->on_cpu = e.hdr.flags & APS_SAMPLE_ON_CPU;
	out->loop_busy = e.hdr.flags & APS_SAMPLE_LOOP_BUSY;
	out->truncated = e.hdr.flags & APS_SAMPLE_TRUNCATED;
	out->no_tstate = e.hdr.flags & APS_SAMPLE_NO_TSTATE;
	out->busy_since = e.busy_since;
	out->task = e.hdr.task;
	out->coro = e.coro;
	for (uint32_t i = 0; i < e.nframes; i++) {
		struct loop_sample_frame *f;

		if (minor >= 12 && e.f[i].owner >= OWNED_BY_CSTACK)
			continue;
		if (!e.f[i].code)
			continue;
		f = &out->f[out->nframes++];
		f->code = e.f[i].code;
		f->instr = e.f[i].instr;
		f->in_generator = e.f[i].owner == OWNED_BY_GENERATOR;
	}
	return 0;
}

void loop_sample_symbolize(struct thread_stack_reader *r, const struct loop_sample *s,
			   struct thread_stack *out)
{
	int32_t outer = -1;

	out->n = 0;
	out->truncated = s->truncated;
	for (uint32_t i = 0; i < s->nframes && out->n < STACK_MAX_FRAMES; i++) {
		if (thread_stack_symbolize(r, s->f[i].code, s->f[i].instr, &out->f[out->n]))
			continue;
		out->f[out->n].gen = s->f[i].in_generator;
		if (s->f[i].in_generator)
			outer = (int32_t)out->n;
		out->n++;
	}
	/* the outermost generator frame runs the coroutine the sampler saw */
	if (outer >= 0 && s->coro)
		out->f[outer].gen = s->coro;
}
