// SPDX-License-Identifier: MIT
/*
 * `top --mode loop`: no uprobe. Per interval: each loop thread's busy %
 * (poll spans), stalls, CPU % per task, per coroutine and per callback from
 * the stack sampler, and the tasks by state from periodic snapshots (the
 * `ps` reader on a thread of its own, at most ~1% of a CPU).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "live/session.h"
#include "loop/loop_cmds.h"
#include "loop/loop_sample.h"
#include "loop/loop_stall.h"
#include "loop/loop_top_view.h"
#include "memory/task_sampler.h"
#include "output/escape.h"
#include "output/fmt.h"
#include "util/u64_map.h"
#include "util/monotime.h"

#define MAX_LOOP_THREADS LTV_MAX_THREADS
#define MAX_SNAP_TASKS 65536
#define SNAP_MIN_PERIOD_NS 2000000000ull
#define SNAP_COST_FACTOR 100	/* wait 100x a snapshot's time: <=1% of a CPU */

struct busy_thread {
	uint32_t tid;
	uint64_t last_total, last_polls;
	double busy_pct;
	uint64_t polls;
};

struct lt_ctx {
	struct loop_session s;
	struct loop_stall_watch w;
	struct task_sampler ts;
	bool json;
	unsigned hz;
	uint64_t delay_ns, interval_start, next_render, next_snap;
	long iterations, rendered;
	/* this interval */
	uint64_t samples;
	struct loop_top_report rep;	/* rows, stalls, samples */
	struct busy_thread bt[MAX_LOOP_THREADS];
	uint32_t nbt;
	bool rendering;		/* on_busy: compute the interval's busy %, else only add new threads */
	/* from the last snapshot */
	struct u64_map coro_task;	/* coroutine -> index in snap_names */
	struct u64_map task_name;	/* task -> index in snap_names */
	char (*snap_names)[128];
	uint64_t *snap_addrs;
	uint32_t nsnap;
	uint32_t states[3];
	bool have_snap;
	uint64_t snap_ns, snaps;
	struct loop_sample smp;
	struct thread_stack st;
};

static void on_sample(struct lt_ctx *c, const void *data, size_t len)
{
	struct loop_sample *s = &c->smp;
	struct thread_stack *st = &c->st;
	int32_t gen_frame = -1;
	uint32_t ti;
	uint64_t task;
	char buf[200];

	c->samples++;
	if (loop_sample_decode(data, len, c->s.ip.minor, s) || s->pid != (uint32_t)c->s.pid)
		return;
	c->rep.samples++;
	/* symbolise frame by frame, keeping the sample's order */
	st->n = 0;
	for (uint32_t i = 0; i < s->nframes && st->n < STACK_MAX_FRAMES; i++) {
		if (thread_stack_symbolize(c->s.reader, s->f[i].code, s->f[i].instr, &st->f[st->n]))
			continue;
		st->f[st->n].gen = s->f[i].in_generator;
		if (s->f[i].in_generator && gen_frame < 0)
			gen_frame = (int32_t)st->n;
		st->n++;
	}
	/* the running task: 3.14 says; before, the task of the outermost coroutine */
	task = s->task;
	if (!task && s->coro && u64_map_get(&c->coro_task, s->coro, &ti))
		task = c->snap_addrs[ti];
	if (task) {
		const char *name = "?";

		if (u64_map_get(&c->task_name, task, &ti))
			name = c->snap_names[ti];
		ltv_rows_add(&c->rep.tasks, task, name, task);
	}
	if (gen_frame >= 0) {
		ltv_rows_add(&c->rep.coros, ltv_name_key(st->f[gen_frame].func), st->f[gen_frame].func, 0);
		return;
	}
	int fn = loop_stall_dispatch_frame(st);

	if (fn >= 0) {
		snprintf(buf, sizeof(buf), "%s", st->f[fn].func);
		ltv_rows_add(&c->rep.callbacks, ltv_name_key(buf), buf, 0);
	} else {
		c->rep.other++;
	}
}

static void on_stall(void *ctx, const struct loop_stall *st)
{
	loop_top_stall(&((struct lt_ctx *)ctx)->rep, st);
}

static int on_record(void *ctx, const void *data, size_t len)
{
	struct lt_ctx *c = ctx;
	const struct aps_event_hdr *h = data;

	if (len >= sizeof(struct aps_ev_loop_span) && h->type == APS_EV_LOOP_SPAN)
		loop_stall_span(&c->w, data);
	else if (len >= sizeof(*h) && h->type == APS_EV_SAMPLE)
		on_sample(c, data, len);
	return 0;
}

static void on_busy(void *ctx, uint32_t tid, const struct aps_loop_thread *lt)
{
	struct lt_ctx *c = ctx;
	uint64_t now = monotime_ns(), total, span;
	struct busy_thread *b = NULL;

	for (uint32_t i = 0; i < c->nbt; i++)
		if (c->bt[i].tid == tid)
			b = &c->bt[i];
	total = lt->busy_ns + (lt->busy_since && now > lt->busy_since ? now - lt->busy_since : 0);
	if (!b) {
		if (c->nbt == MAX_LOOP_THREADS)
			return;
		b = &c->bt[c->nbt++];
		b->tid = tid;
		b->last_total = total;
		b->last_polls = lt->spans;
		b->busy_pct = -1;
		return;
	}
	if (!c->rendering)
		return;
	span = now - c->interval_start;
	b->busy_pct = span ? (double)(total - b->last_total) * 100.0 / (double)span : 0;
	if (b->busy_pct > 100)
		b->busy_pct = 100;
	b->polls = lt->spans - b->last_polls;
	b->last_total = total;
	b->last_polls = lt->spans;
}

static void take_snapshot(struct lt_ctx *c, uint64_t now)
{
	struct snapshot *sn = &c->ts.snap;
	uint64_t coro;

	if (task_sampler_collect(&c->ts, false) != 1) {
		if (!c->ts.running && now >= c->next_snap)
			task_sampler_start(&c->ts);
		return;
	}
	if (!c->ts.err) {
		/*
		 * Names accumulate over snapshots: a task running while it was read
		 * (the busiest one) may be left out of one. Start over when full.
		 */
		if (c->nsnap + sn->ntasks > MAX_SNAP_TASKS) {
			u64_map_free(&c->coro_task);
			u64_map_free(&c->task_name);
			c->nsnap = 0;
		}
		memset(c->states, 0, sizeof(c->states));
		for (uint32_t i = 0; i < sn->ntasks && c->nsnap < MAX_SNAP_TASKS; i++) {
			const struct snap_task *t = &sn->tasks[i];
			uint32_t k;

			if (!t->listed)
				continue;
			if (t->state < 3)
				c->states[t->state]++;
			if (!u64_map_get(&c->task_name, t->addr, &k)) {
				k = c->nsnap++;
				c->snap_addrs[k] = t->addr;
				u64_map_put(&c->task_name, t->addr, k);
			}
			snprintf(c->snap_names[k], sizeof(c->snap_names[0]), "%s", t->name ? t->name : "?");
			if (!pyread_ptr(&c->s.reader->r, t->addr + c->s.layout.bpf.task_coro, &coro) && coro)
				u64_map_put(&c->coro_task, coro, k);
		}
		c->have_snap = true;
		c->snaps++;
	}
	c->snap_ns = c->ts.t1 - c->ts.t0;
	snapshot_free(sn);
	c->next_snap = c->ts.t1 + (c->snap_ns * SNAP_COST_FACTOR > SNAP_MIN_PERIOD_NS ?
				   c->snap_ns * SNAP_COST_FACTOR : SNAP_MIN_PERIOD_NS);
}

/* A task first sampled before any snapshot named it */
static void name_tasks(struct lt_ctx *c, struct ltv_rows *rs)
{
	uint32_t k;

	for (uint32_t i = 0; i < rs->n; i++)
		if (rs->r[i].task && !strcmp(rs->r[i].name, "?") &&
		    u64_map_get(&c->task_name, rs->r[i].task, &k))
			snprintf(rs->r[i].name, sizeof(rs->r[i].name), "%s", c->snap_names[k]);
}

static void render(struct lt_ctx *c, uint64_t now)
{
	struct loop_top_report *t = &c->rep;
	struct aps_loop_counters k;

	c->rendering = true;
	loop_tracer_threads(c->s.lt, c->s.pid, on_busy, c);
	c->rendering = false;
	loop_tracer_counters(c->s.lt, &k);
	t->pid = c->s.pid;
	t->secs = (double)(now - c->interval_start) / 1e9;
	t->hz = c->hz;
	t->lost_samples = k.lost_samples;
	t->nthreads = c->nbt;
	for (uint32_t i = 0; i < c->nbt; i++)
		t->threads[i] = (struct ltv_thread){ c->bt[i].tid, c->bt[i].busy_pct, c->bt[i].polls };
	t->have_snap = c->have_snap;
	memcpy(t->states, c->states, sizeof(t->states));
	t->snapshot_ms = (double)c->snap_ns / 1e6;
	name_tasks(c, &t->tasks);
	loop_top_view_print(stdout, c->json, t);
	fflush(stdout);
	c->rendered++;
	c->samples = t->samples = t->other = t->stalls = 0;
	ltv_rows_reset(&t->tasks);
	ltv_rows_reset(&t->coros);
	ltv_rows_reset(&t->callbacks);
	ltv_rows_reset(&t->stalled_in);
	c->interval_start = now;
}

static void on_tick(struct loop_session *s, void *ctx)
{
	struct lt_ctx *c = ctx;
	uint64_t now = monotime_ns();

	(void)s;
	loop_stall_look(&c->w);
	loop_tracer_threads(c->s.lt, c->s.pid, on_busy, c);	/* new loop threads */
	take_snapshot(c, now);
	if (now < c->next_render)
		return;
	render(c, now);
	c->next_render = now + c->delay_ns;
	if (c->iterations > 0 && c->rendered >= c->iterations)
		session_stop = 1;
}

int loop_top_run(const struct loop_opts *o, unsigned interval_ms, long iterations)
{
	static struct lt_ctx c;
	int err, why, rc = 1;

	memset(&c, 0, sizeof(c));
	c.json = o->json;
	c.hz = o->hz ? o->hz : LOOP_DEFAULT_HZ;
	c.iterations = iterations;
	c.delay_ns = (uint64_t)interval_ms * 1000000;
	c.snap_names = calloc(MAX_SNAP_TASKS, sizeof(c.snap_names[0]));
	c.snap_addrs = calloc(MAX_SNAP_TASKS, sizeof(c.snap_addrs[0]));
	if (ltv_rows_init(&c.rep.tasks) || ltv_rows_init(&c.rep.coros) ||
	    ltv_rows_init(&c.rep.callbacks) || ltv_rows_init(&c.rep.stalled_in) || !c.snap_names ||
	    !c.snap_addrs) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		goto cleanup;
	}
	c.s.hz = c.hz;
	/* threshold 100ms: a look every 20 ms */
	err = loop_stall_start(&c.w, &c.s, o, APS_LOOP_SPANS | APS_LOOP_SAMPLE, on_stall, on_record,
			       &c);
	if (err)
		goto cleanup;
	task_sampler_init(&c.ts, &c.s.ip, &c.s.layout);
	task_sampler_start(&c.ts);
	c.interval_start = monotime_ns();
	c.next_render = c.interval_start + c.delay_ns;
	loop_tracer_threads(c.s.lt, c.s.pid, on_busy, &c);
	c.s.on_tick = on_tick;
	c.s.tick_ctx = &c;
	why = loop_session_run(&c.s, (unsigned)(o->duration / 1000000));
	if (c.ts.running && task_sampler_collect(&c.ts, true) == 1)
		snapshot_free(&c.ts.snap);
	if (why == SESSION_ERROR) {
		fprintf(stderr, "aps-bpf: %s\n", c.s.err);
		goto cleanup;
	}
	if (why == SESSION_TARGET_EXITED) {
		if (c.iterations < 0 || c.rendered < c.iterations)
			render(&c, monotime_ns());
		fprintf(stderr, "aps-bpf: process %d exited\n", c.s.pid);
	}
	rc = 0;
cleanup:
	loop_session_close(&c.s);
	ltv_rows_free(&c.rep.tasks);
	ltv_rows_free(&c.rep.coros);
	ltv_rows_free(&c.rep.callbacks);
	ltv_rows_free(&c.rep.stalled_in);
	u64_map_free(&c.coro_task);
	u64_map_free(&c.task_name);
	free(c.snap_names);
	free(c.snap_addrs);
	return rc;
}
