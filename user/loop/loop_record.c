// SPDX-License-Identifier: MIT
/* `record --mode loop`: loop mode's spans, stalls, samples and task reads to a recording. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "loop/loop_rec.h"
#include "loop/loop_record.h"
#include "loop/loop_sample.h"
#include "loop/loop_session.h"
#include "loop/loop_stall.h"
#include "memory/pyread.h"
#include "memory/task_sampler.h"
#include "recording/rec_flight.h"
#include "recording/rec_tasks.h"
#include "recording/rec_writer.h"
#include "target/proc.h"
#include "util/u64_map.h"
#include "util/monotime.h"

#define SEGMENT_BYTES (4u << 20)	/* a file starts a segment past this */
#define TASKS_EVERY_NS 1000000000ull
#define TASKS_DUTY 100			/* a read every >= 100x its duration: <= 1% */
#define MAX_CORO_TASKS 65536
#define MAX_TIDS 4096
#define MAX_PENDING 4096
#define PENDING_READS 10		/* reads that may name a sampled coroutine's task (a
					 * busy task may be left out of a read) */
#define DEFAULT_THRESHOLD 100000000ull
#define FLUSH_NS 100000000ull

struct lrec {
	struct loop_session s;
	struct loop_stall_watch sw;
	const struct recorder_opts *o;
	uint64_t threshold;		/* stall */
	struct rec_writer w;
	struct rec_file file;
	struct rec_flight fl;
	bool flight;
	struct rec_header hdr;
	size_t hdr_len;
	struct loop_rec_info info;
	/* the segment the frame table belongs to */
	bool seg_known;
	uint32_t seg_seq;
	struct u64_map frame_ids;	/* hash of function, file, line -> id */
	uint32_t nframes;
	struct rec_buf b;
	/* kernel tid -> the target's view */
	struct u64_map ns_tids;
	bool same_ns;
	/* samples */
	struct loop_sample smp;
	struct loop_rec_sample rs;
	struct stack_frame f;
	uint64_t samples, spans, stalls, frames_defined;
	uint64_t coro_samples, coros_named;	/* samples named by a coroutine; CORO records */
	/* task reads: the coroutine -> task map for 3.10-3.13 samples */
	struct task_sampler ts;
	bool tasks_on;
	uint64_t tasks_every, next_tasks, read_cost, read_cpu0;
	uint32_t tasks_written, tasks_failed;
	struct u64_map coro_task;	/* coroutine -> index in task_addrs */
	struct u64_map pending;		/* coroutines sampled with no task known yet */
	uint64_t *task_addrs;
	uint32_t ntask_addrs;
	/* lost */
	struct loop_rec_lost lost;
	/* --on-blocked */
	uint64_t last_stall_dump, last_flush;
	bool stall_dump_pending;
	int werr;
	char err[256];
};

static uint64_t cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void write_failed(struct lrec *r, int err)
{
	if (!r->werr) {
		r->werr = err;
		snprintf(r->err, sizeof(r->err), "writing the recording: %s", strerror(-err));
		session_stop = 1;
	}
}

/* A segment is open and the frame table is its: INFO after each SEGMENT. */
static int ensure_segment(struct lrec *r, uint64_t ts)
{
	int err;

	if (ts > r->w.last_ts)
		r->w.last_ts = ts;
	if (!r->flight && r->w.in_segment && r->w.seg_payload > SEGMENT_BYTES) {
		err = rec_writer_segment(&r->w, r->w.last_ts, REC_SEG_PERIODIC);
		if (err)
			return err;
	}
	if (!r->w.in_segment) {
		err = rec_writer_segment(&r->w, r->w.last_ts, REC_SEG_START);
		if (err)
			return err;
	}
	if (r->seg_known && r->seg_seq == r->w.seq)
		return 0;
	r->seg_known = true;
	r->seg_seq = r->w.seq;
	u64_map_clear(&r->frame_ids);
	r->nframes = 0;
	r->b.len = 0;
	err = loop_rec_info_enc(&r->b, r->w.codec.base_ts, r->w.last_ts, &r->info);
	return err ? err : rec_writer_ext(&r->w, REC_LOOP, r->b.p, r->b.len);
}

static int put_loop(struct lrec *r)
{
	int err = rec_writer_ext(&r->w, REC_LOOP, r->b.p, r->b.len);

	if (err)
		write_failed(r, err);
	return err;
}

static uint32_t ns_tid(struct lrec *r, uint32_t tid)
{
	uint32_t v;

	if (r->same_ns)
		return tid;
	if (u64_map_get(&r->ns_tids, tid, &v))
		return v;
	v = proc_ns_tid(r->s.pid, tid);
	if (r->ns_tids.n < MAX_TIDS)
		u64_map_put(&r->ns_tids, tid, v);
	return v;
}

static uint64_t frame_key(const struct stack_frame *f)
{
	uint64_t h = 1469598103934665603ull;
	const char *parts[2] = { f->func, f->file };

	for (int i = 0; i < 2; i++)
		for (const char *s = parts[i]; ; s++) {
			h = (h ^ (uint8_t)*s) * 1099511628211ull;
			if (!*s)
				break;
		}
	return (h ^ (uint32_t)f->line) * 1099511628211ull;
}

/* The id of f in this segment, defining it (a FRAME record) if new. */
static int frame_id(struct lrec *r, uint64_t ts, const struct stack_frame *f, uint32_t *id)
{
	uint64_t key = frame_key(f);
	int err;

	if (u64_map_get(&r->frame_ids, key, id))
		return 0;
	if (r->nframes == LOOP_REC_MAX_FRAMES) {	/* full: ids start over */
		u64_map_clear(&r->frame_ids);
		r->nframes = 0;
	}
	*id = r->nframes;
	r->b.len = 0;
	err = loop_rec_frame_enc(&r->b, r->w.codec.base_ts, ts, *id, f);
	if (!err)
		err = put_loop(r);
	if (!err)
		err = u64_map_put(&r->frame_ids, key, *id);
	if (err)
		return err;
	r->nframes++;
	r->frames_defined++;
	return 0;
}

static void on_sample(struct lrec *r, const void *data, size_t len)
{
	struct loop_sample *s = &r->smp;
	struct loop_rec_sample *rs = &r->rs;
	uint32_t ti;

	if (loop_sample_decode(data, len, r->s.ip.minor, s) || s->pid != (uint32_t)r->s.pid)
		return;
	if (ensure_segment(r, s->ts)) {
		write_failed(r, -ENOMEM);
		return;
	}
	rs->ts = s->ts;
	rs->tid = s->tid;
	rs->ns_tid = ns_tid(r, s->tid);
	rs->flags = (s->on_cpu ? LOOP_REC_ON_CPU : 0) | (s->loop_busy ? LOOP_REC_BUSY : 0) |
		    (s->truncated ? LOOP_REC_TRUNCATED : 0);
	/*
	 * The running task: 3.14 says. Before, the task of the outermost
	 * coroutine: the last read's guess (a coroutine's memory may be a new
	 * one's since), and the next read's answer in a CORO record.
	 */
	rs->task = s->task;
	rs->coro = !s->task ? s->coro : 0;
	if (rs->coro && u64_map_get(&r->coro_task, s->coro, &ti))
		rs->task = r->task_addrs[ti];
	if (rs->coro) {
		rs->flags |= LOOP_REC_CORO;
		r->coro_samples++;
		if (r->pending.n < MAX_PENDING && !u64_map_get(&r->pending, rs->coro, NULL))
			u64_map_put(&r->pending, rs->coro, 0);
	}
	rs->n = 0;
	for (uint32_t i = 0; i < s->nframes && i < APS_SAMPLE_MAX_FRAMES; i++) {
		uint32_t id;

		if (thread_stack_symbolize(r->s.reader, s->f[i].code, s->f[i].instr, &r->f))
			continue;
		if (frame_id(r, s->ts, &r->f, &id))
			return;
		rs->ids[rs->n++] = id << 1 | (s->f[i].in_generator ? 1 : 0);
	}
	r->b.len = 0;
	if (loop_rec_sample_enc(&r->b, r->w.codec.base_ts, rs) || put_loop(r))
		return;
	r->samples++;
}

static void on_span(struct lrec *r, const struct aps_ev_loop_span *e)
{
	struct loop_rec_span sp = {
		.end = e->hdr.ts_ns, .begin = e->begin_ts_ns, .run_delay = e->run_delay_ns,
		.tid = e->hdr.tid, .ns_tid = ns_tid(r, e->hdr.tid),
	};

	loop_stall_span(&r->sw, e);
	if (e->pid != (uint32_t)r->s.pid || sp.end < sp.begin || sp.end - sp.begin < r->info.min_span)
		return;
	if (sp.run_delay > sp.end - sp.begin)
		sp.run_delay = sp.end - sp.begin;
	if (ensure_segment(r, sp.end)) {
		write_failed(r, -ENOMEM);
		return;
	}
	r->b.len = 0;
	if (loop_rec_span_enc(&r->b, r->w.codec.base_ts, &sp) || put_loop(r))
		return;
	r->spans++;
}

static int on_record(void *ctx, const void *data, size_t len)
{
	struct lrec *r = ctx;
	const struct aps_event_hdr *h = data;

	if (r->werr || len < sizeof(*h))
		return 0;
	if (h->type == APS_EV_LOOP_SPAN && len >= sizeof(struct aps_ev_loop_span))
		on_span(r, data);
	else if (h->type == APS_EV_SAMPLE)
		on_sample(r, data, len);
	return 0;
}

static void on_stall(void *ctx, const struct loop_stall *st)
{
	struct lrec *r = ctx;

	if (st->dismissed || r->werr)
		return;
	if (ensure_segment(r, st->begin_ts + st->duration_ns)) {
		write_failed(r, -ENOMEM);
		return;
	}
	r->b.len = 0;
	if (loop_rec_stall_enc(&r->b, r->w.codec.base_ts, st) || put_loop(r))
		return;
	r->stalls++;
	if (r->flight && r->o->blocked_ns && st->duration_ns >= r->o->blocked_ns)
		r->stall_dump_pending = true;
}

/* ---- task reads ------------------------------------------------------------------ */

/* The tasks of coroutines sampled before a read knew them: CORO records. */
static void name_pending(struct lrec *r, uint64_t ts)
{
	uint32_t ti;

	for (uint32_t i = 0; i < r->pending.cap; i++) {
		struct u64_map_slot *sl = &r->pending.s[i];

		if (sl->st != 1)
			continue;
		if (!u64_map_get(&r->coro_task, sl->key, &ti)) {
			/* a task that ended before any read saw it stays unknown */
			if (++sl->val >= PENDING_READS)
				u64_map_del(&r->pending, sl->key);
			continue;
		}
		r->b.len = 0;
		if (loop_rec_coro_enc(&r->b, r->w.codec.base_ts, ts, sl->key, r->task_addrs[ti]) || put_loop(r))
			return;
		r->coros_named++;
		u64_map_del(&r->pending, sl->key);
	}
}

static void map_coros(struct lrec *r, const struct snapshot *sn)
{
	uint64_t coro;

	u64_map_clear(&r->coro_task);
	r->ntask_addrs = 0;
	for (uint32_t i = 0; i < sn->ntasks && r->ntask_addrs < MAX_CORO_TASKS; i++) {
		const struct snap_task *t = &sn->tasks[i];

		if (!t->listed || pyread_ptr(&r->s.reader->r, t->addr + r->s.layout.bpf.task_coro, &coro) ||
		    !coro)
			continue;
		r->task_addrs[r->ntask_addrs] = t->addr;
		if (!u64_map_put(&r->coro_task, coro, r->ntask_addrs))
			r->ntask_addrs++;
	}
}

static void tasks_tick(struct lrec *r, uint64_t now, bool wait)
{
	struct task_sampler *ts = &r->ts;
	struct rec_buf tb = {};
	uint64_t cost;
	int err;

	if (!r->tasks_on)
		return;
	if (task_sampler_collect(ts, wait) != 1) {
		/* sampled coroutines of tasks the last read may not know: sooner, within the duty */
		if (!ts->running && !wait && (now >= r->next_tasks ||
		    (r->pending.n && now >= ts->t1 + r->read_cost * TASKS_DUTY))) {
			r->read_cpu0 = cpu_ns();
			task_sampler_start(ts);
		}
		return;
	}
	if (ts->err) {
		r->tasks_failed++;
		if (r->s.verbose)
			fprintf(stderr, "aps-bpf: task read failed: %s\n", ts->errmsg);
	} else {
		map_coros(r, &ts->snap);
		err = ensure_segment(r, ts->t1);
		if (!err)
			name_pending(r, ts->t1);
		if (!err)
			err = rec_tasks_encode(&ts->snap, ts->t0, ts->t1,
					       r->tasks_written ? 0 : REC_TASKS_ATTACH, &tb);
		if (!err)
			err = rec_writer_tasks(&r->w, tb.p, tb.len);
		if (err)
			write_failed(r, err);
		else
			r->tasks_written++;
		rec_buf_free(&tb);
	}
	snapshot_free(&ts->snap);
	/* its CPU time: wall time on a loaded host overstates it; the process's CPU bounds it */
	cost = ts->t1 > ts->t0 ? ts->t1 - ts->t0 : 0;
	if (cpu_ns() - r->read_cpu0 < cost)
		cost = cpu_ns() - r->read_cpu0;
	r->read_cost = cost;
	r->next_tasks = ts->t1 + (cost * TASKS_DUTY > r->tasks_every ? cost * TASKS_DUTY : r->tasks_every);
}

/* ---- lost, dumps --------------------------------------------------------------- */

static void write_lost(struct lrec *r, uint64_t now)
{
	struct aps_loop_counters k;

	loop_tracer_counters(r->s.lt, &k);
	if (k.lost_samples == r->lost.samples && k.lost_spans == r->lost.spans &&
	    k.read_errors == r->lost.read_errors)
		return;
	r->lost.samples = k.lost_samples;
	r->lost.spans = k.lost_spans;
	r->lost.read_errors = k.read_errors;
	if (ensure_segment(r, now)) {
		write_failed(r, -ENOMEM);
		return;
	}
	r->b.len = 0;
	if (!loop_rec_lost_enc(&r->b, r->w.codec.base_ts, now, &r->lost))
		put_loop(r);
}

static void fill_end(struct lrec *r, struct rec_end *e, uint64_t ts, const char *reason)
{
	memset(e, 0, sizeof(*e));
	e->ts = ts;
	e->lost = r->lost.samples + r->lost.spans;
	e->read_errors = r->lost.read_errors;
	e->events = r->samples + r->spans + r->stalls;
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
}

static int flight_dump(struct lrec *r, uint64_t now, const char *reason)
{
	struct rec_end e;

	write_lost(r, now);
	fill_end(r, &e, now, reason);
	return rec_flight_dump_next(&r->fl, &r->w, &r->hdr, &e, r->o->path, r->o->quiet, r->err,
				    sizeof(r->err));
}

static void on_tick(struct loop_session *s, void *ctx)
{
	struct lrec *r = ctx;
	uint64_t now = monotime_ns();

	(void)s;
	loop_stall_look(&r->sw);
	tasks_tick(r, now, false);
	write_lost(r, now);
	if (r->werr)
		return;
	if (!r->flight) {
		int err = 0;

		/* a killed recorder leaves a file readable up to the last 100 ms */
		if (now >= r->last_flush + FLUSH_NS) {
			r->last_flush = now;
			err = rec_writer_flush(&r->w);
		}
		if (err)
			write_failed(r, err);
		return;
	}
	if (rec_flight_tick(&r->fl, &r->w, now)) {
		write_failed(r, -ENOMEM);
		return;
	}
	if (recorder_dump_requested() && flight_dump(r, now, "flight:sigusr1"))
		fprintf(stderr, "aps-bpf: %s\n", r->err);
	if (r->stall_dump_pending) {
		r->stall_dump_pending = false;
		if (!r->last_stall_dump || now >= r->last_stall_dump + r->fl.window_ns) {
			r->last_stall_dump = now;
			if (flight_dump(r, now, "flight:blocked"))
				fprintf(stderr, "aps-bpf: %s\n", r->err);
		}
	}
}

/* ---- the command ----------------------------------------------------------------- */

static int start(struct lrec *r, struct session *s, bool spawn, const struct loop_record_opts *lo)
{
	struct rec_buf hb = {};
	uint64_t t0;
	int err;

	if (spawn) {
		/* the child runs; wait for it to be Python with asyncio */
		err = session_release_child(s);
		if (!err)
			err = session_resolve(s, true);
		if (err)
			return err;
	}
	r->s.pid = s->pid;
	r->s.verbose = lo->verbose;
	r->s.quiet = r->o->quiet;
	r->s.hook = lo->hook;
	r->s.hz = lo->hz ? lo->hz : LOOP_DEFAULT_HZ;
	r->s.flags = APS_LOOP_SPANS | APS_LOOP_SAMPLE;
	r->s.span_min_ns = lo->min_span;
	r->s.poll_ms = (int)(r->threshold / 4000000);
	if (r->s.poll_ms > 20)
		r->s.poll_ms = 20;
	if (r->s.poll_ms < 1)
		r->s.poll_ms = 1;
	t0 = monotime_ns();
	err = loop_session_open(&r->s, on_record, r);
	if (err) {
		memcpy(s->err, r->s.err, sizeof(s->err));
		return err;
	}
	r->same_ns = proc_ns_tid(r->s.pid, (uint32_t)r->s.pid) == (uint32_t)r->s.pid;
	r->info.hz = r->s.hz;
	r->info.threshold = r->threshold;
	r->info.min_span = lo->min_span;
	snprintf(r->info.hook, sizeof(r->info.hook), "%s", loop_tracer_hook_name(r->s.lt));
	recorder_fill_header(&r->hdr, r->s.pid, &r->s.ip, t0);
	r->hdr.flags |= REC_HDR_LOOP;
	if (!r->flight) {
		err = rec_header_encode(&r->hdr, &hb);
		if (!err)
			err = rec_write_all(r->file.fd, hb.p, hb.len);
		r->hdr_len = hb.len;
		rec_buf_free(&hb);
		if (err) {
			snprintf(s->err, sizeof(s->err), "writing %s: %s", r->o->path, strerror(-err));
			return err;
		}
	}
	r->w.last_ts = t0;
	err = ensure_segment(r, t0);
	if (err)
		return err;
	task_sampler_init(&r->ts, &r->s.ip, &r->s.layout);
	if (r->tasks_on) {
		r->read_cpu0 = cpu_ns();
		task_sampler_start(&r->ts);
	}
	r->s.on_tick = on_tick;
	r->s.tick_ctx = r;
	if (!r->o->quiet)
		fprintf(stderr, "aps-bpf record --mode loop%s: recording pid %d to %s (sampler %u Hz, "
			"stalls over %.0f ms)\n", r->flight ? " --flight" : "", r->s.pid, r->o->path,
			r->s.hz, (double)r->threshold / 1e6);
	return 0;
}

static int finish(struct lrec *r, int why)
{
	struct rec_end end;
	uint64_t now;
	int err;

	if (why == SESSION_ERROR) {
		fprintf(stderr, "aps-bpf: %s\n", r->s.err[0] ? r->s.err : "reading events failed");
		return 1;
	}
	loop_stall_finish(&r->sw, monotime_ns());
	tasks_tick(r, monotime_ns(), true);
	now = monotime_ns();
	write_lost(r, now);
	if (r->werr) {
		fprintf(stderr, "aps-bpf: %s\n", r->err);
		return 1;
	}
	if (r->flight) {
		char reason[40];

		snprintf(reason, sizeof(reason), "flight:%s", session_end_name(why));
		if (flight_dump(r, now, reason)) {
			fprintf(stderr, "aps-bpf: %s\n", r->err);
			return 1;
		}
	} else {
		fill_end(r, &end, now, session_end_name(why));
		err = rec_writer_end(&r->w, &end);
		if (err) {
			fprintf(stderr, "aps-bpf: writing the recording: %s\n", strerror(-err));
			return 1;
		}
	}
	if (!r->o->quiet) {
		double secs = (double)(now - r->hdr.start_ns) / 1e9;

		if (!r->flight)
			fprintf(stderr, "aps-bpf: recorded %.1f s to %s: %" PRIu64 " bytes (%.0f bytes/s), %"
				PRIu64 " busy spans, %" PRIu64 " samples, %" PRIu64 " stalls, %u task reads; "
				"%" PRIu64 " lost samples, %" PRIu64 " lost spans\n", secs, r->o->path,
				r->file.bytes + r->hdr_len,
				secs > 0 ? (double)(r->file.bytes + r->hdr_len) / secs : 0.0, r->spans,
				r->samples, r->stalls, r->tasks_written, r->lost.samples, r->lost.spans);
		if (r->s.verbose) {
			struct prog_stat ps[LOOP_NPROGS];

			fprintf(stderr, "aps-bpf: poll by %s; %" PRIu64 " frames defined; %" PRIu64
				" samples named by their coroutine, %" PRIu64 " coroutines named by the read after; "
				"%u task reads failed\n", loop_tracer_hook_name(r->s.lt), r->frames_defined,
				r->coro_samples, r->coros_named, r->tasks_failed);
			if (!loop_tracer_prog_stats(r->s.lt, ps))
				for (int i = 0; i < LOOP_NPROGS; i++)
					if (ps[i].runs)
						fprintf(stderr, "aps-bpf:   bpf %-16s %llu runs, %.0f ns per run\n",
							ps[i].name, ps[i].runs,
							(double)ps[i].run_ns / (double)ps[i].runs);
		}
	}
	return 0;
}

int loop_record_run(struct session *s, bool spawn, const struct recorder_opts *o,
		    const struct loop_record_opts *lo, int fd, unsigned duration_ms,
		    int (*commit)(void *ctx), void *commit_ctx, int *why)
{
	static struct lrec r;
	int err, rc = 1;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.threshold = o->stack_ns ? o->stack_ns : o->blocked_ns ? o->blocked_ns : DEFAULT_THRESHOLD;
	*why = SESSION_ERROR;
	r.flight = o->window_ns != 0;
	r.file.fd = fd;
	r.tasks_on = !o->no_tasks;
	r.tasks_every = o->tasks_every ? o->tasks_every : TASKS_EVERY_NS;
	r.task_addrs = calloc(MAX_CORO_TASKS, sizeof(*r.task_addrs));
	if (!r.task_addrs ||
	    (r.flight ? rec_flight_init(&r.fl, o->window_ns, (uint64_t)o->flight_mb << 20) ||
			rec_writer_init(&r.w, rec_flight_sink, &r.fl)
		      : rec_writer_init(&r.w, rec_file_sink, &r.file))) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		goto cleanup;
	}
	loop_stall_init(&r.sw, &r.s, r.threshold, on_stall, &r);
	err = start(&r, s, spawn, lo);
	if (err) {
		fprintf(stderr, "aps-bpf: %s\n", s->err[0] ? s->err : strerror(-err));
		goto cleanup;
	}
	if (!r.flight && commit && commit(commit_ctx))
		goto cleanup;
	*why = loop_session_run(&r.s, duration_ms);
	rc = finish(&r, *why);
cleanup:
	if (r.ts.running && task_sampler_collect(&r.ts, true) == 1)
		snapshot_free(&r.ts.snap);
	loop_session_close(&r.s);
	rec_writer_free(&r.w);
	if (r.flight)
		rec_flight_free(&r.fl);
	u64_map_free(&r.frame_ids);
	u64_map_free(&r.ns_tids);
	u64_map_free(&r.coro_task);
	u64_map_free(&r.pending);
	rec_buf_free(&r.b);
	free(r.task_addrs);
	return rc;
}
