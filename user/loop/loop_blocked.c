// SPDX-License-Identifier: MIT
/* `blocked --mode loop`: loop stalls with the stack read while stalled. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "live/session.h"
#include "loop/loop_cmds.h"
#include "loop/loop_stall.h"
#include "output/fmt.h"
#include "util/monotime.h"

struct lb_ctx {
	struct loop_session s;
	struct loop_stall_watch w;
	bool json;
	uint64_t samples, sample_frames, bytes;
};

static void on_stall(void *ctx, const struct loop_stall *st)
{
	struct lb_ctx *c = ctx;

	loop_stall_print(stdout, c->json, st);
	fflush(stdout);
}

static int on_record(void *ctx, const void *data, size_t len)
{
	struct lb_ctx *c = ctx;
	const struct aps_event_hdr *h = data;

	c->bytes += len;
	if (len >= sizeof(struct aps_ev_loop_span) && h->type == APS_EV_LOOP_SPAN)
		loop_stall_span(&c->w, data);
	else if (len >= offsetof(struct aps_ev_sample, f) && h->type == APS_EV_SAMPLE) {
		c->samples++;
		c->sample_frames += ((const struct aps_ev_sample *)data)->nframes;
	}
	return 0;
}

/* -v: what the loop probes cost and sent. */
static void print_costs(struct lb_ctx *c, uint64_t secs_ns)
{
	struct prog_stat ps[LOOP_NPROGS];
	struct aps_loop_counters k;

	loop_tracer_counters(c->s.lt, &k);
	loop_tracer_prog_stats(c->s.lt, ps);
	fprintf(stderr, "aps-bpf: poll by %s; %" PRIu64 " poll returns, %" PRIu64 " samples (%.1f frames "
		"each), %" PRIu64 " lost samples, %" PRIu64 " lost spans, %" PRIu64 " frame read errors; "
		"%.0f record bytes/s\n", loop_tracer_hook_name(c->s.lt), (uint64_t)k.polls, c->samples,
		c->samples ? (double)c->sample_frames / (double)c->samples : 0.0,
		(uint64_t)k.lost_samples, (uint64_t)k.lost_spans, (uint64_t)k.read_errors,
		secs_ns ? (double)c->bytes * 1e9 / (double)secs_ns : 0.0);
	for (int i = 0; i < LOOP_NPROGS; i++)
		if (ps[i].runs)
			fprintf(stderr, "aps-bpf:   bpf %-16s %llu runs, %.0f ns per run\n", ps[i].name,
				ps[i].runs, (double)ps[i].run_ns / (double)ps[i].runs);
}

static void on_tick(struct loop_session *s, void *ctx)
{
	(void)s;
	loop_stall_look(&((struct lb_ctx *)ctx)->w);
}

int loop_blocked_run(const struct loop_opts *o)
{
	static struct lb_ctx c;
	char d[32];
	int err, why, rc = 1;

	memset(&c, 0, sizeof(c));
	c.json = o->json;
	c.s.hz = o->hz;
	err = loop_stall_start(&c.w, &c.s, o, APS_LOOP_SPANS | (o->hz ? APS_LOOP_SAMPLE : 0),
			       on_stall, on_record, &c);
	if (err)
		goto cleanup;
	c.s.on_tick = on_tick;
	c.s.tick_ctx = &c;
	uint64_t t0 = monotime_ns();
	why = loop_session_run(&c.s, (unsigned)(o->duration / 1000000));
	if (why == SESSION_ERROR) {
		fprintf(stderr, "aps-bpf: %s\n", c.s.err);
		goto cleanup;
	}
	loop_stall_finish(&c.w, monotime_ns());
	fprintf(stderr, "aps-bpf: %" PRIu64 " loop stall%s (threshold %s)%s\n", c.w.reported,
		c.w.reported == 1 ? "" : "s", fmt_dur(o->threshold, d, sizeof(d)),
		c.w.missed_stacks ? ", some ended before their stack could be taken" : "");
	if (o->verbose)
		print_costs(&c, monotime_ns() - t0);
	rc = 0;
cleanup:
	loop_session_close(&c.s);
	return rc;
}
