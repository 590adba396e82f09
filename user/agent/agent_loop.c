// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/agent.h"
#include "agent/agent_loop.h"
#include "agent/agent_metrics.h"
#include "recording/rec_blocked.h"
#include "target/proc.h"

#define SYNC_PERIOD_NS 5000000000ull	/* a process's thread states re-read this often */
#define STALL_LOOK_MAX 64		/* processes looked at per tick */
#define STALL_DUMP_GAP_NS 60000000000ull	/* stall dumps of one process: at most one a minute */

const double agent_loop_buckets[LOOP_HIST_BUCKETS] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

static struct agent_proc *by_pid(struct agent *a, uint32_t pid)
{
	struct agent_proc *p = agent_find(a, (pid_t)pid, NULL);

	return p && p->loop.on ? p : NULL;
}

static void on_span(struct agent_proc *p, const struct aps_ev_loop_span *e)
{
	struct agent_proc_loop *l = &p->loop;
	double d;
	int b;

	if (e->hdr.ts_ns < e->begin_ts_ns)
		return;
	d = (double)(e->hdr.ts_ns - e->begin_ts_ns) / 1e9;
	if (d >= agent_loop_buckets[0]) {
		for (b = 0; b < LOOP_HIST_BUCKETS && d > agent_loop_buckets[b]; b++)
			;
		l->hist[b]++;
		l->spans++;
		l->span_sum += d;
	}
	if (l->sw)
		loop_stall_span(l->sw, e);
}

static void on_sample(struct agent_proc *p, const struct aps_ev_sample *e, size_t len)
{
	struct agent_proc_loop *l = &p->loop;
	uint64_t code = 0;
	unsigned n = e->nframes, i;

	l->samples++;
	if (len < offsetof(struct aps_ev_sample, f) + (size_t)n * sizeof(e->f[0]))
		n = 0;
	/* the innermost frame of a coroutine: what the CPU time went to */
	for (i = 0; i < n && i < APS_SAMPLE_MAX_FRAMES; i++)
		if (e->f[i].owner == 1) {
			code = e->f[i].code;
			break;
		}
	if (!code) {
		l->no_coro++;
		return;
	}
	for (i = 0; i < l->ncoros; i++)
		if (l->coros[i].code == code) {
			l->coros[i].samples++;
			return;
		}
	if (l->ncoros == LOOP_CORO_MAX) {
		l->other++;
		return;
	}
	{
		struct loop_coro *c = &l->coros[l->ncoros];
		struct stack_frame f;

		memset(c, 0, sizeof(*c));
		c->code = code;
		c->samples = 1;
		if (l->ls.reader && !thread_stack_symbolize(l->ls.reader, code, e->f[i].instr, &f))
			snprintf(c->name, sizeof(c->name), "%s", f.func);
		else
			snprintf(c->name, sizeof(c->name), "?");
		l->ncoros++;
	}
}

static int on_record(void *ctx, const void *data, size_t len)
{
	struct agent *a = ctx;
	const struct aps_event_hdr *h = data;
	struct agent_proc *p;

	if (len < sizeof(*h))
		return 0;
	pthread_mutex_lock(&a->lock);
	if (h->type == APS_EV_LOOP_SPAN && len >= sizeof(struct aps_ev_loop_span)) {
		p = by_pid(a, ((const struct aps_ev_loop_span *)data)->pid);
		if (p)
			on_span(p, data);
	} else if (h->type == APS_EV_SAMPLE && len >= offsetof(struct aps_ev_sample, f)) {
		p = by_pid(a, ((const struct aps_ev_sample *)data)->pid);
		if (p)
			on_sample(p, data, len);
	}
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* A stall over --dump-on-stall ended: its stack into the flight recorder, then a dump. */
static void on_stall(void *ctx, const struct loop_stall *st)
{
	struct agent_proc *p = ctx;
	struct agent *a = p->agent;
	struct rec_buf b = {};
	char path[4096], err[256];
	uint64_t now = agent_now();

	if (st->dismissed)
		return;
	p->loop.stalls++;
	if (p->flight_ok && st->stack_taken && !rec_blocked_encode(&st->cap, &b))
		rec_writer_blocked(&p->w, b.p, b.len);
	rec_buf_free(&b);
	fprintf(stderr, "aps-bpf agent: pid %d (%s): loop stall of %.3f s on thread %u (%s%s%s)\n",
		p->pi.pid, p->pi.comm, (double)st->duration_ns / 1e9, st->tid,
		st->kind == STALL_TASK ? "task " : st->kind == STALL_CALLBACK ? "a callback" : "unknown",
		st->kind == STALL_TASK ? st->task_name : "", st->kind == STALL_TASK && !st->task_name[0] ? "?" : "");
	if (p->last_stall_dump && now - p->last_stall_dump < STALL_DUMP_GAP_NS)
		return;
	p->last_stall_dump = now;
	agent_proc_dump(a, p, DUMP_STALL, path, sizeof(path), err, sizeof(err));
}

int agent_loop_open(struct agent *a, char *err, size_t errlen)
{
	int rc = loop_tracer_open(&a->lt, LOOP_HOOK_AUTO, on_record, a, a->o.ringbuf_kb, a->o.verbose, err, errlen);

	if (rc)
		return rc;
	if (a->o.hz) {
		rc = loop_tracer_start_sampler(a->lt, a->o.hz, err, errlen);
		if (rc) {
			loop_tracer_close(a->lt);
			a->lt = NULL;
			return rc;
		}
	}
	return 0;
}

void agent_loop_close(struct agent *a)
{
	if (a->lt) {
		loop_tracer_drain(a->lt);
		loop_tracer_close(a->lt);
	}
	a->lt = NULL;
}

int agent_loop_add(struct agent *a, struct agent_proc *p)
{
	struct agent_proc_loop *l = &p->loop;
	struct loop_session *s = &l->ls;
	char err[256];
	int rc;

	if (!a->lt)
		return -ENODEV;
	memset(l, 0, sizeof(*l));
	s->pid = p->pi.pid;
	s->start_time = p->pi.start_time;
	s->ip = p->ip;
	s->layout = p->layout;
	s->lt = a->lt;
	rc = loop_target_config(&s->ip, &s->layout, &s->cfg);
	if (rc)
		return rc;
	s->cfg.flags = APS_LOOP_SPANS | (a->o.hz ? APS_LOOP_SAMPLE : 0);
	s->cfg.span_min_ns = (uint64_t)(agent_loop_buckets[0] * 1e9);
	if (a->o.stall_ns && a->o.stall_ns < s->cfg.span_min_ns)
		s->cfg.span_min_ns = a->o.stall_ns;
	s->reader = calloc(1, sizeof(*s->reader));
	if (!s->reader)
		return -ENOMEM;
	rc = thread_stack_reader_init(s->reader, &s->ip, &s->layout, err, sizeof(err));
	if (!rc)
		rc = loop_tracer_add(a->lt, s->pid, &s->cfg);
	if (rc) {
		if (a->o.verbose)
			fprintf(stderr, "aps-bpf agent: pid %d: no loop mode: %s\n", p->pi.pid,
				rc == -ENOMEM ? "out of memory" : err[0] ? err : strerror(-rc));
		thread_stack_reader_free(s->reader);
		free(s->reader);
		s->reader = NULL;
		return rc;
	}
	loop_session_sync_threads(s);
	l->last_sync = agent_now();
	l->stall_watch = a->o.stall_ns != 0;
	l->on = true;
	return 0;
}

static void forget_thread(void *ctx, uint32_t tid, const struct aps_loop_thread *st)
{
	(void)st;
	loop_tracer_forget_thread(ctx, tid);
}

void agent_loop_remove(struct agent *a, struct agent_proc *p)
{
	struct agent_proc_loop *l = &p->loop;

	if (!l->on)
		return;
	if (a->lt) {
		loop_tracer_remove(a->lt, p->pi.pid);
		loop_tracer_threads(a->lt, p->pi.pid, forget_thread, a->lt);
	}
	free(l->sw);
	l->sw = NULL;
	if (l->ls.reader) {
		thread_stack_reader_free(l->ls.reader);
		free(l->ls.reader);
		l->ls.reader = NULL;
	}
	l->on = false;
}

struct stalled {
	uint64_t threshold, now;
	uint32_t pids[STALL_LOOK_MAX];
	unsigned n;
};

/* One pass over every loop thread: the processes with a thread busy past the threshold. */
static void find_stalled(void *ctx, uint32_t tid, const struct aps_loop_thread *st)
{
	struct stalled *s = ctx;

	(void)tid;
	if (!st->busy_since || s->now < st->busy_since || s->now - st->busy_since < s->threshold)
		return;
	for (unsigned i = 0; i < s->n; i++)
		if (s->pids[i] == st->tgid)
			return;
	if (s->n < STALL_LOOK_MAX)
		s->pids[s->n++] = st->tgid;
}

void agent_loop_tick(struct agent *a, uint64_t now)
{
	struct stalled s = { .threshold = a->o.stall_ns, .now = now };

	if (!a->lt)
		return;
	loop_tracer_poll(a->lt, 0);
	for (unsigned i = 0; i < a->nprocs; i++) {
		struct agent_proc_loop *l = &a->procs[i]->loop;

		if (l->on && now - l->last_sync >= SYNC_PERIOD_NS) {
			loop_session_sync_threads(&l->ls);
			l->last_sync = now;
		}
	}
	/* stalls are looked for four times per threshold */
	if (!a->o.stall_ns || now - a->last_stall_look < a->o.stall_ns / 4)
		return;
	a->last_stall_look = now;
	/* the stall watcher of a process only when one of its threads is past the threshold */
	loop_tracer_threads(a->lt, 0, find_stalled, &s);
	for (unsigned i = 0; i < s.n; i++) {
		struct agent_proc *p = by_pid(a, s.pids[i]);

		if (!p || !p->loop.stall_watch)
			continue;
		if (!p->loop.sw) {
			p->loop.sw = malloc(sizeof(*p->loop.sw));
			if (!p->loop.sw)
				continue;
			loop_stall_init(p->loop.sw, &p->loop.ls, a->o.stall_ns, on_stall, p);
		}
		loop_stall_look(p->loop.sw);
	}
}

struct busy_ctx {
	FILE *out;
	const struct agent_proc *p;
	void (*labels)(FILE *out, const struct agent_proc *p);
	uint64_t now;
};

static void busy_line(void *ctx, uint32_t tid, const struct aps_loop_thread *st)
{
	struct busy_ctx *c = ctx;
	uint64_t busy = st->busy_ns;

	/* the span running now counts too: the counter stays monotonic */
	if (st->busy_since && c->now > st->busy_since)
		busy += c->now - st->busy_since;
	fprintf(c->out, "aps_loop_busy_seconds_total{");
	c->labels(c->out, c->p);
	fprintf(c->out, ",tid=\"%u\"} %.6f\n", tid, (double)busy / 1e9);
}

static int by_samples(const void *x, const void *y)
{
	const struct loop_coro *a = *(const struct loop_coro *const *)x, *b = *(const struct loop_coro *const *)y;

	return a->samples < b->samples ? 1 : a->samples > b->samples ? -1 : 0;
}

/* One line per process in loop mode: one of its loss counters (at offset in aps_loop_pid_counters). */
static void pid_counter_lines(struct agent *a, FILE *out, void (*labels)(FILE *out, const struct agent_proc *p),
			      const char *name, const char *extra, size_t offset)
{
	for (unsigned i = 0; i < a->nprocs; i++) {
		struct aps_loop_pid_counters pc;
		uint64_t v;

		if (!a->procs[i]->loop.on)
			continue;
		loop_tracer_pid_counters(a->lt, a->procs[i]->pi.pid, &pc);
		memcpy(&v, (const char *)&pc + offset, sizeof(v));
		fprintf(out, "%s{", name);
		labels(out, a->procs[i]);
		fprintf(out, "%s} %llu\n", extra, (unsigned long long)v);
	}
}

void agent_loop_metrics(struct agent *a, FILE *out, void (*labels)(FILE *out, const struct agent_proc *p))
{
	struct aps_loop_counters c = {};
	double per = a->o.hz ? 1.0 / a->o.hz : 0;

	if (!a->lt)
		return;
	loop_tracer_counters(a->lt, &c);
	fprintf(out, "# HELP aps_agent_loop_lost_total Loop-mode records the ring buffer had no room for.\n"
		     "# TYPE aps_agent_loop_lost_total counter\n"
		     "aps_agent_loop_lost_total{kind=\"samples\"} %llu\naps_agent_loop_lost_total{kind=\"spans\"} %llu\n",
		(unsigned long long)c.lost_samples, (unsigned long long)c.lost_spans);
	fprintf(out, "# HELP aps_agent_loop_read_errors_total Sampler frame reads that failed.\n"
		     "# TYPE aps_agent_loop_read_errors_total counter\naps_agent_loop_read_errors_total %llu\n",
		(unsigned long long)c.read_errors);
	fprintf(out, "# HELP aps_loop_busy_seconds_total Time each event-loop thread spent between "
		     "a poll's return and the next poll.\n# TYPE aps_loop_busy_seconds_total counter\n");
	for (unsigned i = 0; i < a->nprocs; i++) {
		struct busy_ctx bc = { out, a->procs[i], labels, agent_now() };

		if (a->procs[i]->loop.on)
			loop_tracer_threads(a->lt, a->procs[i]->pi.pid, busy_line, &bc);
	}
	fprintf(out, "# HELP aps_loop_busy_span_seconds Busy spans of the loop threads (from %.2f s: "
		     "the stalls).\n# TYPE aps_loop_busy_span_seconds histogram\n", agent_loop_buckets[0]);
	for (unsigned i = 0; i < a->nprocs; i++) {
		const struct agent_proc_loop *l = &a->procs[i]->loop;
		uint64_t cum = 0;

		if (!l->on)
			continue;
		for (int b = 0; b <= LOOP_HIST_BUCKETS; b++) {
			cum += l->hist[b];
			fprintf(out, "aps_loop_busy_span_seconds_bucket{");
			labels(out, a->procs[i]);
			if (b < LOOP_HIST_BUCKETS)
				fprintf(out, ",le=\"%g\"} %llu\n", agent_loop_buckets[b], (unsigned long long)cum);
			else
				fprintf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		fprintf(out, "aps_loop_busy_span_seconds_sum{");
		labels(out, a->procs[i]);
		fprintf(out, "} %.6f\naps_loop_busy_span_seconds_count{", l->span_sum);
		labels(out, a->procs[i]);
		fprintf(out, "} %llu\n", (unsigned long long)l->spans);
	}
	fprintf(out, "# HELP aps_loop_stalls_total Stalls over --dump-on-stall, with the stack read "
		     "while stalled.\n# TYPE aps_loop_stalls_total counter\n");
	for (unsigned i = 0; i < a->nprocs; i++)
		if (a->procs[i]->loop.on) {
			fprintf(out, "aps_loop_stalls_total{");
			labels(out, a->procs[i]);
			fprintf(out, "} %llu\n", (unsigned long long)a->procs[i]->loop.stalls);
		}
	fprintf(out, "# HELP aps_samples_total CPU samples of the process's threads.\n"
		     "# TYPE aps_samples_total counter\n");
	for (unsigned i = 0; i < a->nprocs; i++)
		if (a->procs[i]->loop.on) {
			fprintf(out, "aps_samples_total{");
			labels(out, a->procs[i]);
			fprintf(out, "} %llu\n", (unsigned long long)a->procs[i]->loop.samples);
		}
	fprintf(out, "# HELP aps_lost_events_total Loop-mode records of the process the ring buffer "
		     "had no room for, by kind.\n# TYPE aps_lost_events_total counter\n");
	pid_counter_lines(a, out, labels, "aps_lost_events_total", ",kind=\"samples\"",
			  offsetof(struct aps_loop_pid_counters, lost_samples));
	pid_counter_lines(a, out, labels, "aps_lost_events_total", ",kind=\"spans\"",
			  offsetof(struct aps_loop_pid_counters, lost_spans));
	fprintf(out, "# HELP aps_sample_read_errors_total Samples of the process whose stack read "
		     "failed part-way (the stack cut there).\n# TYPE aps_sample_read_errors_total counter\n");
	pid_counter_lines(a, out, labels, "aps_sample_read_errors_total", "",
			  offsetof(struct aps_loop_pid_counters, read_errors));
	fprintf(out, "# HELP aps_coroutine_cpu_seconds_total CPU time by the innermost coroutine "
		     "running, from samples (samples / hz): the top --top-coros per process; the "
		     "rest summed as coroutine=\"(other)\".\n# TYPE aps_coroutine_cpu_seconds_total counter\n");
	for (unsigned i = 0; i < a->nprocs; i++) {
		const struct agent_proc_loop *l = &a->procs[i]->loop;
		const struct loop_coro *v[LOOP_CORO_MAX];
		uint64_t rest = l->other;
		unsigned n = 0;

		if (!l->on || !l->samples)
			continue;
		for (unsigned k = 0; k < l->ncoros; k++)
			v[n++] = &l->coros[k];
		qsort(v, n, sizeof(v[0]), by_samples);
		for (unsigned k = 0; k < n; k++) {
			char name[400];

			if (k >= a->o.top_coros) {
				rest += v[k]->samples;
				continue;
			}
			prom_escape(v[k]->name, name, sizeof(name));
			fprintf(out, "aps_coroutine_cpu_seconds_total{");
			labels(out, a->procs[i]);
			fprintf(out, ",coroutine=\"%s\"} %.3f\n", name, (double)v[k]->samples * per);
		}
		fprintf(out, "aps_coroutine_cpu_seconds_total{");
		labels(out, a->procs[i]);
		fprintf(out, ",coroutine=\"(other)\"} %.3f\n", (double)rest * per);
		fprintf(out, "aps_coroutine_cpu_seconds_total{");
		labels(out, a->procs[i]);
		fprintf(out, ",coroutine=\"(none)\"} %.3f\n", (double)l->no_coro * per);
	}
}
