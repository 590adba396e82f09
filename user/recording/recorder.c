// SPDX-License-Identifier: MIT
/* The recorder engine: a live session's events to a recording file or the flight window. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "cli/outfile.h"
#include "memory/blocked_capture.h"
#include "target/layout_runtime.h"
#include "target/proc.h"
#include "recording/rec_blocked.h"
#include "recording/rec_tasks.h"
#include "recording/recorder.h"
#include "util/monotime.h"

#define SEGMENT_BYTES (32u << 20)
#define FLUSH_EVERY_NS 100000000ull
#define STATUS_EVERY_NS 500000000ull
#define SWEEP_KEEP_NS 60000000000ull
#define TASKS_EVERY_NS 1000000000ull
#define TASKS_DUTY 20			/* a read every >= 20x its duration: <= 5% */

static volatile sig_atomic_t dump_requested;

void recorder_request_dump(int sig)
{
	(void)sig;
	dump_requested = 1;
}

bool recorder_dump_requested(void)
{
	bool r = dump_requested;

	dump_requested = 0;
	return r;
}

static uint32_t ns_tid(void *ctx, uint32_t tid)
{
	struct recorder *r = ctx;

	return proc_ns_tid(r->s->pid, tid);
}

static int check_first_task(void *ctx, uint64_t task)
{
	struct session *s = ctx;

	return layout_validate_task(s->pid, &s->layout, task, s->err, sizeof(s->err));
}

static void write_failed(struct recorder *r, int err)
{
	if (!r->werr) {
		r->werr = err;
		snprintf(r->err, sizeof(r->err), "writing %s: %s", r->path, strerror(-err));
	}
	session_stop = 1;
}

/* Ring-buffer callback: write the record, then let the model see it. */
static int on_event(void *ctx, const void *data, size_t len)
{
	struct recorder *r = ctx;
	const struct aps_event_hdr *h = data;
	int err = rec_writer_event(&r->w, data, len);

	if (err && err != -EINVAL)
		write_failed(r, err);
	if (r->printing)
		trace_view_event(&r->p, data, len);
	else
		model_apply(r->model, data, len, NULL, NULL);
	if (!r->printing && !r->first_task_checked && len >= sizeof(*h) &&
	    h->type == APS_EV_TASK_NEW && !(h->flags & APS_TASK_RENAMED)) {
		int rc = check_first_task(r->s, h->task);

		if (rc != -EAGAIN)
			r->first_task_checked = true;
		if (rc && rc != -EAGAIN)
			r->fatal = rc;
	}
	if (r->blocked_ns && len >= sizeof(struct aps_ev_step_end) && h->type == APS_EV_STEP_END) {
		const struct aps_ev_step_end *e = data;

		if (e->result != APS_RES_UNKNOWN && e->hdr.ts_ns >= e->begin_ts_ns &&
		    e->hdr.ts_ns - e->begin_ts_ns >= r->blocked_ns && !r->blocked_pending) {
			r->blocked_pending = true;
			r->blocked_task = h->task;
			r->blocked_dur = e->hdr.ts_ns - e->begin_ts_ns;
		}
	}
	return r->printing ? r->p.fatal : r->fatal;
}

static void clear_status(struct recorder *r)
{
	if (r->status_shown) {
		fputs("\r\033[K", stderr);
		r->status_shown = false;
	}
}

static const char *human_bytes(uint64_t n, char *buf, size_t len)
{
	if (n < 10240)
		snprintf(buf, len, "%" PRIu64 " B", n);
	else if (n < 10ull << 20)
		snprintf(buf, len, "%.1f KiB", (double)n / 1024);
	else
		snprintf(buf, len, "%.1f MiB", (double)n / (1 << 20));
	return buf;
}

static void show_status(struct recorder *r, uint64_t now)
{
	char b[32];

	if (!r->status_tty || now < r->next_status)
		return;
	r->next_status = now + STATUS_EVERY_NS;
	if (r->flight)
		fprintf(stderr, "\raps-bpf: flight recorder: %" PRIu64 " events, holding %.1f s in %s,"
			" %" PRIu64 " lost, %u dumps\033[K",
			r->w.events, r->fl.n ? (double)(now - rec_flight_start(&r->fl)) / 1e9 : 0.0,
			human_bytes(r->fl.bytes, b, sizeof(b)), r->last_lost, r->fl.dumps);
	else
		fprintf(stderr, "\raps-bpf: recording: %" PRIu64 " events, %s, %" PRIu64 " lost\033[K",
			r->w.events, human_bytes(r->hdr_len + r->w.bytes, b, sizeof(b)), r->last_lost);
	r->status_shown = true;
}

static void fill_end(struct recorder *r, struct rec_end *e, uint64_t ts, const char *reason)
{
	struct aps_counters c;

	tracer_counters(r->s->tracer, &c);
	memset(e, 0, sizeof(*e));
	e->ts = ts;
	e->lost = c.lost_events;
	e->read_errors = c.read_errors;
	e->events = r->w.events;
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
}

static int flight_dump(struct recorder *r, uint64_t now, const char *reason)
{
	struct rec_end e;

	fill_end(r, &e, now, reason);
	clear_status(r);
	return rec_flight_dump_next(&r->fl, &r->w, &r->hdr, &e, r->path, r->quiet, r->err,
				    sizeof(r->err));
}

static void write_lost(struct recorder *r, uint64_t now)
{
	struct aps_counters c;
	int err;

	tracer_counters(r->s->tracer, &c);
	if (c.lost_events <= r->last_lost)
		return;
	err = rec_writer_lost(&r->w, now, c.lost_events - r->last_lost, c.lost_events);
	if (err)
		write_failed(r, err);
	if (r->printing) {
		trace_view_lost(&r->p, c.lost_events, now);
		fflush(r->p.out);
	}
	r->last_lost = c.lost_events;
}

/* ---- memory reads of all tasks ------------------------------------------------------ */

static void start_tasks_read(struct recorder *r, uint64_t now)
{
	int err = task_sampler_start(&r->sampler);

	if (err && err != -EBUSY) {
		r->tasks_failed++;
		r->next_tasks = now + r->tasks_every;
		return;
	}
	r->tasks_events = r->w.events;
}

/* A finished read goes to the file; the next is due after the period and the duty limit. */
static void collect_tasks_read(struct recorder *r, bool wait)
{
	struct task_sampler *ts = &r->sampler;
	struct rec_buf b = {};
	uint64_t took;
	int err;

	if (!task_sampler_collect(ts, wait))
		return;
	took = ts->t1 - ts->t0;
	r->next_tasks = ts->t1 + (r->tasks_every > took * TASKS_DUTY ? r->tasks_every : took * TASKS_DUTY);
	if (ts->err) {
		if (!r->tasks_failed++ && r->s->verbose)
			fprintf(stderr, "aps-bpf: reading tasks from memory: %s\n",
				ts->errmsg[0] ? ts->errmsg : strerror(-ts->err));
		snapshot_free(&ts->snap);
		return;
	}
	err = rec_tasks_encode(&ts->snap, ts->t0, ts->t1, r->tasks_attach ? REC_TASKS_ATTACH : 0, &b);
	if (!err)
		err = rec_writer_tasks(&r->w, b.p, b.len);
	if (err)
		write_failed(r, err);
	else
		r->tasks_written++;
	r->tasks_attach = false;
	rec_buf_free(&b);
	snapshot_free(&ts->snap);
}

/* Each tick: collect a finished read; start one when due and tasks have changed. */
static void tasks_tick(struct recorder *r, uint64_t now)
{
	if (!r->tasks_on)
		return;
	collect_tasks_read(r, false);
	if (!r->sampler.running && now >= r->next_tasks && r->w.events != r->tasks_events)
		start_tasks_read(r, now);
}

/* ---- --blocked: stacks of long steps ------------------------------------------------- */

static bool stack_taken(struct recorder *r, uint64_t task, uint64_t begin_ts)
{
	for (unsigned i = 0; i < BLOCKED_SEEN && i < r->nstack_seen; i++)
		if (r->stack_seen[i].task == task && r->stack_seen[i].begin_ts == begin_ts)
			return true;
	return false;
}

static bool own_thread(pid_t pid, uint32_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%u", pid, tid);
	return access(path, F_OK) == 0;
}

/* A step is running on tid: if it just got too old, keep its stack in the file. */
static void on_open_step(void *ctx, uint32_t tid, uint64_t task, uint64_t begin_ts)
{
	static struct blocked_capture cap;
	struct recorder *r = ctx;
	uint64_t now = monotime_ns();
	struct rec_buf b = {};
	unsigned slot;
	int err;

	if (now < begin_ts || now - begin_ts < r->stack_ns || stack_taken(r, task, begin_ts))
		return;
	if ((r->forks || r->is_child) && !own_thread(r->s->pid, tid))
		return;		/* another traced process's */
	slot = r->nstack_seen++ % BLOCKED_SEEN;
	r->stack_seen[slot].task = task;
	r->stack_seen[slot].begin_ts = begin_ts;
	blocked_capture_take(&r->stacks, r->s->pid, tid, task, begin_ts, now, &cap);
	err = rec_blocked_encode(&cap, &b);
	if (!err)
		err = rec_writer_blocked(&r->w, b.p, b.len);
	if (err)
		write_failed(r, err);
	else
		r->stacks_taken++;
	rec_buf_free(&b);
}

/* ---- -f: each forked child to FILE.PID ---------------------------------------------- */

struct recorder_child {
	struct recorder r;	/* first: the process's ctx in struct forks */
	struct session s;	/* the parent's, with the child's pid and root */
	struct outfile out;
	char path[PATH_MAX];
};

static int children_rc;		/* a child's recording failed (printed) */

static int begin(struct recorder *r, uint64_t start);
static int finish(struct recorder *r, enum session_end why, const char *reason);

static void *open_child(void *ctx, pid_t pid, void *parent_ctx)
{
	struct recorder *main = ctx;
	const struct recorder *parent = parent_ctx;
	struct recorder_child *c = calloc(1, sizeof(*c));
	struct recorder_opts o = main->opts;
	struct aps_counters cnt;

	if (!c) {
		fprintf(stderr, "aps-bpf: process %d: out of memory\n", pid);
		return NULL;
	}
	/* a fork copies the address space: the same layout and hooks */
	c->s = *main->s;
	c->s.pid = pid;
	c->s.child = 0;
	c->s.ip.pid = pid;
	snprintf(c->s.ip.root, sizeof(c->s.ip.root), "/proc/%d/root", pid);
	snprintf(c->path, sizeof(c->path), "%s.%d", main->path, pid);
	o.path = c->path;
	o.follow = false;
	c->out.fd = -1;
	if (outfile_open(&c->out, c->path))
		goto fail;
	if (recorder_init(&c->r, &c->s, &o, c->out.fd)) {
		fprintf(stderr, "aps-bpf: process %d: out of memory\n", pid);
		goto fail;
	}
	c->r.is_child = true;
	c->r.status_tty = false;
	tracer_counters(main->s->tracer, &cnt);
	c->r.last_lost = cnt.lost_events;
	/* BPF names each type once: the child knows its parent's */
	memcpy(c->r.model->types, parent->model->types, sizeof(c->r.model->types));
	c->r.model->ntypes = parent->model->ntypes;
	if (c->r.printing) {
		c->r.p.pid = pid;
		c->r.p.show_pid = true;
		c->r.p.t0 = main->p.t0;
	}
	if (c->r.stack_ns)
		c->r.stacks_ready = !thread_stack_reader_init(&c->r.stacks, &c->s.ip, &c->s.layout,
							       c->s.err, sizeof(c->s.err));
	if (begin(&c->r, monotime_ns())) {
		fprintf(stderr, "aps-bpf: process %d: %s\n", pid, c->s.err);
		goto fail;
	}
	if (!main->quiet)
		fprintf(stderr, "aps-bpf: process %d: recording to %s\n", pid, c->path);
	return &c->r;
fail:
	children_rc = 1;
	recorder_free(&c->r);
	outfile_close(&c->out);
	free(c);
	return NULL;
}

/* A child's recording ends: its END record; FILE.PID stays unless it was never traced. */
static void close_child(void *ctx, void *proc_ctx, pid_t pid, const char *reason, uint64_t ts)
{
	struct recorder_child *c = proc_ctx;

	(void)ctx;
	(void)pid;
	(void)ts;
	if (strcmp(reason, "not_traced")) {
		if (!c->out.committed && outfile_commit(&c->out))
			children_rc = 1;
		else if (finish(&c->r, SESSION_TARGET_EXITED, reason))
			children_rc = 1;
	}
	recorder_free(&c->r);
	if (outfile_close(&c->out))
		children_rc = 1;
	free(c);
}

/* The main recorder's tick: children that exited end; the others' ticks. */
static void children_tick(struct recorder *r, uint64_t now)
{
	forks_tick(r->forks, now);
	for (unsigned i = 1; i < r->forks->n && i < TRACER_MAX_PROCS; i++) {
		struct recorder_child *c = r->forks->v[i].ctx;

		if (!r->forks->v[i].open)
			continue;
		/* attached now: FILE.PID is its recording */
		if (!c->out.committed && outfile_commit(&c->out)) {
			children_rc = 1;
			session_stop = 1;
		}
		c->s.on_tick(&c->s, &c->r);
	}
}

static void on_tick(struct session *s, void *ctx)
{
	struct recorder *r = ctx;
	uint64_t now = monotime_ns();
	int err;

	write_lost(r, now);
	tasks_tick(r, now);
	if (r->stacks_ready)
		tracer_open_steps(s->tracer, on_open_step, r);
	if (!r->flight) {
		if (now >= r->last_flush + FLUSH_EVERY_NS) {
			err = rec_writer_flush(&r->w);
			if (err)
				write_failed(r, err);
			r->last_flush = now;
		}
	} else {
		err = rec_flight_tick(&r->fl, &r->w, now);
		if (err)
			write_failed(r, err);
		if (dump_requested) {
			dump_requested = 0;
			if (flight_dump(r, now, "flight:sigusr1"))
				fprintf(stderr, "aps-bpf: %s\n", r->err);
		}
		if (r->blocked_pending) {
			struct task *t = model_find(r->model, r->blocked_task);

			r->blocked_pending = false;
			if (!r->last_blocked_dump || now >= r->last_blocked_dump + r->fl.window_ns) {
				clear_status(r);
				if (!r->quiet)
					fprintf(stderr, "aps-bpf: a step of %s (%s) took %.1f ms\n",
						t ? t->name : "?", t ? t->coro_name : "?",
						(double)r->blocked_dur / 1e6);
				r->last_blocked_dump = now;
				if (flight_dump(r, now, "flight:blocked"))
					fprintf(stderr, "aps-bpf: %s\n", r->err);
			}
		}
	}
	model_sweep(r->model, now, SWEEP_KEEP_NS);
	show_status(r, now);
	if (r->forks && !r->is_child)
		children_tick(r, now);
}

/* ---- the header ----------------------------------------------------------------- */

static void read_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return;
	while (n > 0 && !buf[n - 1])
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = '\0';
}

void recorder_fill_header(struct rec_header *h, pid_t pid, const struct interp *ip, uint64_t start)
{
	struct timespec mono, real;
	struct utsname u;

	memset(h, 0, sizeof(*h));
	h->version = REC_VERSION;
	h->pid = (uint32_t)pid;
	/* read the two clocks as close together as we can */
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	h->clock_mono_ns = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
	h->clock_real_ns = (uint64_t)real.tv_sec * 1000000000ull + (uint64_t)real.tv_nsec;
	h->start_ns = start;
	if (ip->micro >= 0)
		snprintf(h->python, sizeof(h->python), "%d.%d.%d", ip->major, ip->minor, ip->micro);
	else
		snprintf(h->python, sizeof(h->python), "%d.%d", ip->major, ip->minor);
	proc_comm(pid, h->comm, sizeof(h->comm));
	snprintf(h->asyncio_obj, sizeof(h->asyncio_obj), "%.511s", ip->asyncio_obj);
	if (!uname(&u))
		snprintf(h->host, sizeof(h->host), "%.63s", u.nodename);
	read_cmdline(pid, h->cmdline, sizeof(h->cmdline));
}

/* ---- the engine's steps -------------------------------------------------------------- */

int recorder_init(struct recorder *r, struct session *s, const struct recorder_opts *o, int fd)
{
	memset(r, 0, sizeof(*r));
	dump_requested = 0;
	r->s = s;
	r->opts = *o;
	r->path = o->path;
	r->flight = o->window_ns != 0;
	r->blocked_ns = o->blocked_ns;
	r->stack_ns = o->stack_ns;
	r->tasks_every = o->tasks_every ? o->tasks_every : TASKS_EVERY_NS;
	r->tasks_on = !o->no_tasks;
	r->printing = o->printing;
	r->quiet = o->quiet;
	if (!r->stack_ns && r->blocked_ns)
		r->stack_ns = r->blocked_ns;	/* a dump for a long step shows its stack */
	if (r->stack_ns)	/* look often enough to catch a step soon after it crosses */
		s->poll_ms = r->stack_ns / 4000000 < 20 ? (int)(r->stack_ns / 4000000) ?: 1 : 20;
	s->quiet = r->quiet;
	r->file.fd = fd;
	if (r->flight ? rec_flight_init(&r->fl, o->window_ns, (uint64_t)o->flight_mb << 20) ||
			rec_writer_init(&r->w, rec_flight_sink, &r->fl)
		      : rec_writer_init(&r->w, rec_file_sink, &r->file))
		return -ENOMEM;
	r->w.segment_bytes = r->flight ? 0 : SEGMENT_BYTES;
	r->w.codec.ns_tid = ns_tid;
	r->w.codec.ns_ctx = r;
	if (r->printing) {
		static char outbuf[1 << 20];
		static bool buffered;	/* children print to the same stdout */

		if (!buffered && !isatty(STDOUT_FILENO))
			setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
		buffered = true;
		if (trace_view_init(&r->p, stdout, o->json, 0))
			return -ENOMEM;
		r->printer_ready = true;
		r->p.on_first_task = check_first_task;
		r->p.first_task_ctx = s;
		r->model = &r->p.model;
	} else {
		if (model_init(&r->own_model, 4096))
			return -ENOMEM;
		r->model = &r->own_model;
	}
	r->w.model = r->model;
	r->status_tty = !r->quiet && isatty(STDERR_FILENO) && !(r->printing && isatty(STDOUT_FILENO));
	if (r->printing && o->follow)
		r->p.show_pid = true;
	s->on_tick = on_tick;
	s->tick_ctx = r;
	return 0;
}

/* The file's header (not with --flight: each dump has its own). */
static int write_header(struct recorder *r, uint64_t start)
{
	struct rec_buf hb = {};
	int err;

	recorder_fill_header(&r->hdr, r->s->pid, &r->s->ip, start);
	if (r->flight)
		return 0;
	err = rec_header_encode(&r->hdr, &hb);
	if (!err)
		err = rec_write_all(r->file.fd, hb.p, hb.len);
	r->hdr_len = hb.len;
	rec_buf_free(&hb);
	return err;
}

int recorder_start(struct recorder *r, bool spawn)
{
	struct session *s = r->s;
	uint64_t start;
	int err;

	if (r->printing)
		r->p.pid = s->pid;
	if (r->opts.follow) {
		r->forks = calloc(1, sizeof(*r->forks));
		if (!r->forks)
			return -ENOMEM;
		forks_init(r->forks, s, on_event, r, open_child, close_child, r);
		err = session_load(s, forks_event, r->forks);
	} else {
		err = session_load(s, on_event, r);
	}
	if (!err)
		err = session_release_child(s);
	if (!err)
		err = session_resolve(s, spawn);
	if (!err && r->stack_ns) {
		err = thread_stack_reader_init(&r->stacks, &s->ip, &s->layout, s->err, sizeof(s->err));
		r->stacks_ready = !err;
	}
	if (err)
		return err;
	/* before attaching: the first probe fires while the others attach */
	start = monotime_ns();
	err = session_attach(s);
	if (err)
		return err;
	return begin(r, start);
}

/* The header, the first segment and the first read of all tasks. */
static int begin(struct recorder *r, uint64_t start)
{
	struct session *s = r->s;
	int err;

	task_sampler_init(&r->sampler, &s->ip, &s->layout);
	err = write_header(r, start);
	/* the first segment starts now, even if no event ever comes */
	if (!err)
		err = rec_writer_segment(&r->w, start, REC_SEG_START);
	if (!err && r->tasks_on) {
		/* the tasks alive now, read while the events already flow */
		r->tasks_attach = true;
		r->tasks_events = UINT64_MAX;
		start_tasks_read(r, start);
	}
	if (!err)
		err = rec_writer_flush(&r->w);
	if (err) {
		snprintf(s->err, sizeof(s->err), "writing %s: %s", r->path, strerror(-err));
		return err;
	}
	r->last_flush = start;
	return 0;
}

enum session_end recorder_run(struct recorder *r, unsigned duration_ms)
{
	enum session_end why = session_run(r->s, duration_ms);

	clear_status(r);
	return why;
}

static void print_report(struct recorder *r, enum session_end why)
{
	if (!r->quiet && !r->flight)
		fprintf(stderr, "aps-bpf: recorded %" PRIu64 " events to %s: %" PRIu64
			" bytes, %.1f bytes/event, %" PRIu64 " lost; %u task reads from memory%s\n",
			r->w.events, r->path, r->file.bytes + r->hdr_len,
			r->w.events ? (double)(r->w.bytes - r->w.tasks_bytes) / (double)r->w.events : 0.0,
			r->last_lost, r->tasks_written, r->tasks_failed ? " (some failed: -v tells why)" : "");
	if (!r->quiet && r->stack_ns)
		fprintf(stderr, "aps-bpf: %" PRIu64 " stack%s of steps over %.0f ms kept\n", r->stacks_taken,
			r->stacks_taken == 1 ? "" : "s", (double)r->stack_ns / 1e6);
	if (why == SESSION_TARGET_EXECED)
		fprintf(stderr, "aps-bpf: process %d executed a new program; recording ended\n", r->s->pid);
}

int recorder_finish(struct recorder *r, enum session_end why)
{
	int rc = 0;

	if (r->forks && why != SESSION_ERROR && !(r->printing ? r->p.fatal : r->fatal)) {
		forks_finish(r->forks, session_end_name(why), monotime_ns());
		rc = children_rc;
	}
	return finish(r, why, session_end_name(why)) || rc;
}

/* reason: why this process's recording ends (why: the session's end, for the main one) */
static int finish(struct recorder *r, enum session_end why, const char *reason)
{
	struct session *s = r->s;
	struct rec_end end;
	uint64_t now;
	int err;

	if (r->printing ? r->p.fatal : r->fatal) {
		fprintf(stderr, "aps-bpf: %s\n", s->err);
		return 1;
	}
	if (why == SESSION_ERROR) {
		fprintf(stderr, "aps-bpf: %s\n", s->err[0] ? s->err : "reading events failed");
		return 1;
	}
	if (r->tasks_on)
		collect_tasks_read(r, true);
	now = monotime_ns();	/* the end */
	write_lost(r, now);
	if (r->flight) {
		char freason[40];

		snprintf(freason, sizeof(freason), "flight:%s", reason);
		if (!r->werr && flight_dump(r, now, freason))
			fprintf(stderr, "aps-bpf: %s\n", r->err);
	} else {
		fill_end(r, &end, now, reason);
		err = rec_writer_end(&r->w, &end);
		if (err)
			write_failed(r, err);
	}
	if (r->printing) {
		struct aps_counters c;
		struct prog_stat stats[TRACER_NPROGS];

		tracer_counters(s->tracer, &c);
		if (tracer_prog_stats(s->tracer, stats))
			memset(stats, 0, sizeof(stats));
		/* the same end time as the END record: a replay prints the same */
		trace_view_finish(&r->p, reason, now, c.lost_events, c.read_errors,
				     stats, TRACER_NPROGS);
	}
	if (r->werr) {
		fprintf(stderr, "aps-bpf: %s\n", r->err);
		return 1;
	}
	print_report(r, why);
	return 0;
}

void recorder_free(struct recorder *r)
{
	/* children still open (the recording failed): their files as they are */
	for (unsigned i = 1; r->forks && !r->is_child && i < r->forks->n && i < TRACER_MAX_PROCS; i++) {
		struct recorder_child *c = r->forks->v[i].ctx;

		if (!r->forks->v[i].open)
			continue;
		r->forks->v[i].open = false;
		recorder_free(&c->r);
		outfile_close(&c->out);
		free(c);
	}
	if (!r->is_child)
		free(r->forks);
	r->forks = NULL;
	if (r->sampler.running) {
		task_sampler_collect(&r->sampler, true);
		snapshot_free(&r->sampler.snap);
	}
	if (r->stacks_ready)
		thread_stack_reader_free(&r->stacks);
	r->stacks_ready = false;
	if (r->printer_ready)
		trace_view_free(&r->p);
	else
		model_free(&r->own_model);
	r->printer_ready = false;
	r->model = NULL;
	rec_writer_free(&r->w);
	if (r->flight)
		rec_flight_free(&r->fl);
	r->flight = false;
}

void recorder_clear_status(struct recorder *r)
{
	clear_status(r);
}
