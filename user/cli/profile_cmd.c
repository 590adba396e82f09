// SPDX-License-Identifier: MIT
/*
 * `aps-bpf profile PID`: CPU time per task, per coroutine, per thread.
 * Loop mode's perf-event sampler (no uprobe) reads each sample's Python
 * frames and running task; userspace symbolises the frames with the
 * readers ps uses and attributes each sample to the task's await chain
 * from periodic task snapshots (prof_attr.c). --wall also reads the stacks
 * of the threads that are off-CPU, at the same rate. Writes a text top,
 * folded stacks and a pprof profile.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/outfile.h"
#include "live/session.h"
#include "loop/loop_sample.h"
#include "loop/loop_session.h"
#include "memory/task_sampler.h"
#include "output/fmt.h"
#include "profile/prof_attr.h"
#include "profile/prof_folded.h"
#include "profile/prof_pprof.h"
#include "profile/prof_top.h"
#include "target/proc.h"
#include "util/monotime.h"

#define MAX_HZ 1000
#define MAX_THREADS 1024		/* threads labelled / walked for --wall */
#define SNAP_MIN_PERIOD_NS 200000000ull	/* task snapshots at most this often ... */
#define SNAP_COST_FACTOR 100		/* ... and at most 1% of one CPU */
#define WALL_MAX_CATCHUP 10		/* off-CPU ticks made up for at once */

static const char profile_usage[] =
	"usage: aps-bpf profile [--duration DURATION] [--hz N] [--by task|coro|thread] [--wall]\n"
	"                       [--folded FILE] [--pprof FILE] [--rows N] [-v] PID\n"
	"\n"
	"Sample PID's threads (loop mode: a perf-event sampler, no uprobe) and attribute\n"
	"each sample to its thread, its task and the task's await chain (root task -> ...\n"
	"-> task, then the Python frames), or to the loop callback that ran. Prints the\n"
	"top tasks and functions; runs until Ctrl-C, --duration, or the target exits.\n"
	"\n"
	"  --duration D   stop after D (100ms, 10s, 2m; a bare number is seconds)\n"
	"  --hz N         samples per second per thread (default 99, at most 1000)\n"
	"  --by K         group by task (default), coro (a task's coroutine) or thread\n"
	"  --wall         also sample threads off-CPU (blocked, idle): wall time\n"
	"  --folded FILE  folded stacks (flamegraph.pl, inferno, speedscope); - for stdout\n"
	"  --pprof FILE   a gzipped pprof profile (go tool pprof, Pyroscope, Parca)\n"
	"  --rows N       rows per table of the top (default 20)\n";

struct thread_label {
	uint32_t tid, ns_tid;
	char label[64];
};

struct prof_ctx {
	struct loop_session s;
	struct prof_agg agg;
	struct prof_attr attr;
	struct task_sampler ts;
	struct loop_sample sample;	/* a sample, decoded */
	struct thread_stack stack;	/* its frames, symbolised */
	bool wall;
	uint64_t period_ns;
	uint64_t start, next_snap, wall_last, last_snap_at;
	struct thread_label threads[MAX_THREADS];
	uint32_t nthreads;
	uint64_t samples, off_cpu, no_tstate, truncated, bad_records, snapshots, snap_errors;
	int err;			/* first attribution error */
};

/* `thread NS_TID (comm)`, read once per thread. */
static const struct thread_label *thread_of(struct prof_ctx *c, uint32_t tid)
{
	static struct thread_label other;
	struct thread_label *t;
	char path[96], comm[32] = "";
	FILE *f;

	for (uint32_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].tid == tid)
			return &c->threads[i];
	t = c->nthreads < MAX_THREADS ? &c->threads[c->nthreads++] : &other;
	t->tid = tid;
	t->ns_tid = proc_ns_tid(c->s.pid, tid);
	snprintf(path, sizeof(path), "/proc/%d/task/%u/comm", c->s.pid, tid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
	}
	for (char *p = comm; *p; p++)	/* the target's: printable ASCII, one folded frame */
		if ((unsigned char)*p < 0x20 || *p == ';' || (unsigned char)*p >= 0x7f)
			*p = '?';
	if (t == &other)
		snprintf(t->label, sizeof(t->label), "thread (others)");
	else if (comm[0])
		snprintf(t->label, sizeof(t->label), "thread %u (%s)", t->ns_tid, comm);
	else
		snprintf(t->label, sizeof(t->label), "thread %u", t->ns_tid);
	return t;
}

static void attribute(struct prof_ctx *c, const char *thread, uint64_t task, uint64_t coro,
		      bool off_cpu, uint64_t ts, uint64_t weight)
{
	int err = prof_attr_sample(&c->attr, thread, &c->stack, task, coro, off_cpu, ts, weight);

	if (err && !c->err)
		c->err = err;
}

/* A sample of the BPF sampler: its frames symbolised, then attributed. */
static int on_record(void *ctx, const void *data, size_t len)
{
	struct prof_ctx *c = ctx;
	const struct aps_event_hdr *h = data;
	struct loop_sample *sm = &c->sample;

	if (len < sizeof(*h) || h->type != APS_EV_SAMPLE)
		return 0;
	if (loop_sample_decode(data, len, c->s.ip.minor, sm)) {
		c->bad_records++;
		return 0;
	}
	if (sm->pid != (uint32_t)c->s.pid)
		return 0;
	c->samples++;
	c->no_tstate += sm->no_tstate;
	c->truncated += sm->truncated;
	loop_sample_symbolize(c->s.reader, sm, &c->stack);
	attribute(c, thread_of(c, sm->tid)->label, sm->task, sm->coro, false, sm->ts, c->period_ns);
	return 0;
}

/*
 * --wall: each task awaiting a future stood where it awaits since the last
 * snapshot (one sample per period of that time). Not a running task, nor
 * one ready to run (no future awaited): their time is the threads'.
 */
static int awaiting(struct prof_ctx *c, const struct snapshot *snap, uint64_t taken_at)
{
	uint64_t since = c->last_snap_at ? c->last_snap_at : c->start;
	uint64_t count = taken_at > since ? (taken_at - since + c->period_ns / 2) / c->period_ns : 0;
	char label[64];
	int err = 0;

	c->last_snap_at = taken_at;
	for (uint32_t i = 0; i < snap->ntasks && count && !err; i++) {
		const struct snap_task *t = &snap->tasks[i];
		const struct thread_label *th = NULL;

		if (t->state != APS_FUT_PENDING || !t->waiter || !t->listed || !t->nframes)
			continue;
		for (uint32_t k = 0; k < c->nthreads && t->tid; k++)
			if (c->threads[k].ns_tid == t->tid)
				th = &c->threads[k];
		if (!th)
			snprintf(label, sizeof(label), t->tid ? "thread %u" : "thread ?", t->tid);
		err = prof_attr_awaiting(&c->attr, th ? th->label : label, t->addr, t->frames,
					 t->nframes, count, count * c->period_ns);
	}
	return err;
}

/* A snapshot's tasks as the attribution's table. */
static void use_snapshot(struct prof_ctx *c, const struct snapshot *snap, uint64_t taken_at)
{
	struct prof_task_ref *refs = calloc(snap->ntasks ? snap->ntasks : 1, sizeof(*refs));
	int err;

	if (!refs) {
		c->err = c->err ? c->err : -ENOMEM;
		return;
	}
	for (uint32_t i = 0; i < snap->ntasks; i++) {
		const struct snap_task *t = &snap->tasks[i];

		refs[i].addr = t->addr;
		refs[i].coro = t->coro;
		refs[i].name = t->name;
		refs[i].coro_name = t->nframes ? t->frames[t->nframes - 1].qualname : NULL;
		for (uint32_t k = 0; k < t->nawaiters; k++)
			if (t->awaiters[k].task >= 0 && (uint32_t)t->awaiters[k].task < snap->ntasks) {
				refs[i].parent = snap->tasks[t->awaiters[k].task].addr;
				break;
			}
	}
	err = prof_attr_set_tasks(&c->attr, refs, snap->ntasks, taken_at);
	if (!err && c->wall)
		err = awaiting(c, snap, taken_at);
	if (err && !c->err)
		c->err = err;
	c->snapshots++;
	free(refs);
}

/* Collect a finished snapshot; start the next one when due. */
static void snapshots(struct prof_ctx *c, bool wait)
{
	uint64_t now = monotime_ns(), cost;

	if (c->ts.running && task_sampler_collect(&c->ts, wait) == 1) {
		if (c->ts.err)
			c->snap_errors++;
		else
			use_snapshot(c, &c->ts.snap, c->ts.t0);
		snapshot_free(&c->ts.snap);
		cost = c->ts.t1 > c->ts.t0 ? c->ts.t1 - c->ts.t0 : 0;
		c->next_snap = c->ts.t1 + (cost * SNAP_COST_FACTOR > SNAP_MIN_PERIOD_NS
						   ? cost * SNAP_COST_FACTOR
						   : SNAP_MIN_PERIOD_NS);
	}
	if (!c->ts.running && !wait && now >= c->next_snap)
		task_sampler_start(&c->ts);
}

/* --wall: the threads that are not running now, read from memory. */
static void sample_off_cpu(struct prof_ctx *c)
{
	uint64_t now = monotime_ns(), due;
	char path[96], buf[512], *p;
	struct dirent *d;
	DIR *dir;

	if (!c->wall_last) {
		c->wall_last = now;
		return;
	}
	due = (now - c->wall_last) / c->period_ns;
	if (!due)
		return;
	c->wall_last += due * c->period_ns;
	if (due > WALL_MAX_CATCHUP)
		due = WALL_MAX_CATCHUP;
	snprintf(path, sizeof(path), "/proc/%d/task", c->s.pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((d = readdir(dir))) {
		const struct thread_label *t;
		unsigned long tid;
		FILE *f;
		size_t n;

		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		tid = strtoul(d->d_name, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%d/task/%lu/stat", c->s.pid, tid);
		f = fopen(path, "re");
		if (!f)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		p = strrchr(buf, ')');	/* comm may hold anything: the state follows the last ')' */
		if (!p || p[1] != ' ' || p[2] == 'R')
			continue;	/* running: the sampler has it */
		t = thread_of(c, (uint32_t)tid);
		if (thread_stack_read(c->s.reader, t->ns_tid, &c->stack))
			continue;	/* no Python thread state */
		for (uint64_t i = 0; i < due; i++)
			attribute(c, t->label, 0, 0, true, now, c->period_ns);
		c->off_cpu += due;
	}
	closedir(dir);
}

static void on_tick(struct loop_session *s, void *ctx)
{
	struct prof_ctx *c = ctx;

	(void)s;
	snapshots(c, false);
	if (c->wall)
		sample_off_cpu(c);
}

/* FILE, or stdout for "-"; NULL with a message. */
static FILE *open_out(const char *path, const char *mode)
{
	FILE *f;

	if (!strcmp(path, "-"))
		return stdout;
	f = fopen(path, mode);
	if (!f)
		fprintf(stderr, "aps-bpf: cannot write %s: %s\n", path, strerror(errno));
	return f;
}

static void summary(struct prof_ctx *c, uint64_t elapsed)
{
	const struct prof_attr *a = &c->attr;
	uint64_t n = a->in_tasks + a->in_callbacks + a->outside;
	struct aps_loop_counters lc = { 0 };
	char d[32];

	loop_tracer_counters(c->s.lt, &lc);
	fprintf(stderr,
		"aps-bpf: %" PRIu64 " samples in %s at %" PRIu64 " Hz: %" PRIu64 " on-CPU, %" PRIu64
		" off-CPU; %.1f%% in tasks, %.1f%% in callbacks, %.1f%% outside both; lost %llu\n",
		n, fmt_dur(elapsed, d, sizeof(d)), (uint64_t)(1000000000ull / c->period_ns),
		c->samples, c->off_cpu, n ? 100.0 * (double)a->in_tasks / (double)n : 0.0,
		n ? 100.0 * (double)a->in_callbacks / (double)n : 0.0,
		n ? 100.0 * (double)a->outside / (double)n : 0.0,
		(unsigned long long)lc.lost_samples);
	if (c->wall)
		fprintf(stderr, "aps-bpf: --wall: %" PRIu64 " more samples of tasks awaiting, from %" PRIu64
			" task snapshots\n", a->awaiting_samples, c->snapshots);
	if (c->bad_records)
		fprintf(stderr, "aps-bpf: %" PRIu64 " malformed sample records skipped\n",
			c->bad_records);
	if (a->unknown_tasks || c->truncated || c->no_tstate || c->snap_errors)
		fprintf(stderr,
			"aps-bpf: %" PRIu64 " samples of tasks no snapshot listed, %" PRIu64
			" stacks cut at %d frames, %" PRIu64 " samples of threads without a Python "
			"state, %" PRIu64 " of %" PRIu64 " task snapshots failed\n",
			a->unknown_tasks, c->truncated, APS_SAMPLE_MAX_FRAMES, c->no_tstate,
			c->snap_errors, c->snapshots + c->snap_errors);
}

struct prof_opts {
	const char *folded_path, *pprof_path;
	FILE *folded, *pprof;
	enum prof_by by;
	unsigned long rows;
	bool wall;
};

static int profile_opt(struct cli *cli, int opt, const char *arg, void *ctx)
{
	static const char *const bys[] = { "task", "coro", "thread" };
	static const enum prof_by by_of[] = { PROF_BY_TASK, PROF_BY_CORO, PROF_BY_THREAD };
	struct prof_opts *o = ctx;
	int i;

	switch (opt) {
	case 'b':
		if ((i = cli_word(arg, bys, 3)) < 0)
			return cli_bad(cli, "--by", "task, coro or thread", arg);
		o->by = by_of[i];
		return 0;
	case 'w': o->wall = true; return 0;
	case 'f': o->folded_path = arg; return 0;
	case 'p': o->pprof_path = arg; return 0;
	case 'r': return cli_uint(cli, "--rows", arg, 1, 100000, &o->rows);
	default: return -1;
	}
}

/* The outputs, opened before attaching: 0, or 2 / 1 (printed). */
static int open_outputs(struct prof_opts *o)
{
	if (o->pprof_path && !strcmp(o->pprof_path, "-") && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "aps-bpf: --pprof -: not writing a binary profile to a terminal\n");
		return 2;
	}
	if (o->folded_path && o->pprof_path && !strcmp(o->folded_path, "-") &&
	    !strcmp(o->pprof_path, "-")) {
		fprintf(stderr, "aps-bpf: --folded and --pprof cannot both go to stdout\n");
		return 2;
	}
	if (o->folded_path && !(o->folded = open_out(o->folded_path, "w")))
		return 1;
	if (o->pprof_path && !(o->pprof = open_out(o->pprof_path, "wb")))
		return 1;
	return 0;
}

static int close_out(FILE *f, const char *path)
{
	return f ? outfile_close_stream(f, strcmp(path, "-") ? path : "stdout") : 0;
}

/* The folded stacks, the pprof profile and the top: 0 or 1 (printed). */
static int write_outputs(struct prof_ctx *c, const struct prof_opts *o, struct prof_meta *meta)
{
	int err;

	meta->period_ns = (int64_t)c->period_ns;
	meta->wall = c->wall;
	meta->group_key = o->by == PROF_BY_CORO ? "coro" : o->by == PROF_BY_TASK ? "task" : NULL;
	if (o->folded && (err = prof_folded_write(&c->agg, o->folded))) {
		fprintf(stderr, "aps-bpf: writing %s: %s\n", o->folded_path, strerror(-err));
		return 1;
	}
	if (o->pprof && (err = prof_pprof_write(&c->agg, meta, o->pprof))) {
		fprintf(stderr, "aps-bpf: writing %s: %s\n", o->pprof_path, strerror(-err));
		return 1;
	}
	if (o->folded != stdout && o->pprof != stdout &&
	    prof_top_print(&c->agg, stdout,
			   o->by == PROF_BY_CORO ? "CORO" : o->by == PROF_BY_THREAD ? "THREAD" : "TASK",
			   (unsigned)o->rows))
		return 1;
	return 0;
}

/* Sample until the end, then attribute and write: 0 or 1 (printed). */
static int run(struct prof_ctx *c, const struct prof_opts *o, uint64_t duration)
{
	struct prof_meta meta = { 0 };
	struct timespec wall0;
	uint64_t start, elapsed;
	int err, why;

	if (prof_agg_init(&c->agg) || prof_attr_init(&c->attr, &c->agg, o->by)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		return 1;
	}
	err = loop_session_open(&c->s, on_record, c);
	if (err) {
		fprintf(stderr, "aps-bpf: %s\n", c->s.err[0] ? c->s.err : strerror(-err));
		return 1;
	}
	/* sampling runs from here */
	clock_gettime(CLOCK_REALTIME, &wall0);
	start = c->start = monotime_ns();
	task_sampler_init(&c->ts, &c->s.ip, &c->s.layout);
	task_sampler_start(&c->ts);
	c->s.on_tick = on_tick;
	c->s.tick_ctx = c;
	why = loop_session_run(&c->s, (unsigned)(duration / 1000000));
	if (why == SESSION_ERROR) {
		fprintf(stderr, "aps-bpf: %s\n", c->s.err);
		return 1;
	}
	elapsed = monotime_ns() - start;
	/* one more table for samples of tasks made since the last one */
	snapshots(c, true);
	if (why != SESSION_TARGET_EXITED && (c->attr.npend || c->wall)) {
		task_sampler_start(&c->ts);
		snapshots(c, true);
	}
	prof_attr_flush(&c->attr);
	if (c->err) {
		fprintf(stderr, "aps-bpf: attributing samples: %s\n", strerror(-c->err));
		return 1;
	}
	summary(c, elapsed);
	if (!c->agg.count)
		fprintf(stderr, "aps-bpf: no samples: did the target run Python code?\n");
	meta.time_nanos = (int64_t)wall0.tv_sec * 1000000000 + wall0.tv_nsec;
	meta.duration_nanos = (int64_t)elapsed;
	return write_outputs(c, o, &meta);
}

int cmd_profile(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPT_DURATION, CLI_OPT_HZ,
		{ "by", required_argument, NULL, 'b' },
		{ "wall", no_argument, NULL, 'w' },
		{ "folded", required_argument, NULL, 'f' },
		{ "pprof", required_argument, NULL, 'p' },
		{ "rows", required_argument, NULL, 'r' },
		CLI_OPT_VERBOSE, CLI_OPT_HELP,
		{},
	};
	struct cli cli = { .cmd = "profile", .usage = profile_usage, .target = CLI_PID,
			   .max_hz = MAX_HZ };
	struct prof_opts o = { .by = PROF_BY_TASK, .rows = 20 };
	static struct prof_ctx c;
	unsigned hz;
	int rc;

	memset(&c, 0, sizeof(c));
	if (!cli_parse(&cli, argc, argv, "b:wf:p:r:vh", opts, profile_opt, &o, &rc))
		return rc;
	c.wall = o.wall;
	rc = open_outputs(&o);
	if (!rc) {
		hz = cli.hz ? cli.hz : LOOP_DEFAULT_HZ;
		c.period_ns = 1000000000ull / hz;
		c.s.pid = cli.pid;
		c.s.verbose = cli.verbose;
		c.s.hz = hz;
		c.s.flags = APS_LOOP_SAMPLE;
		c.s.poll_ms = c.wall ? (int)(1000 / hz) : 50;
		if (c.s.poll_ms < 1)
			c.s.poll_ms = 1;
		cli_signals(NULL);
		rc = run(&c, &o, cli.duration_ns);
		if (c.ts.running)
			snapshots(&c, true);
	}
	if (close_out(o.folded, o.folded_path) | close_out(o.pprof, o.pprof_path))
		rc = rc ? rc : 1;
	loop_session_close(&c.s);
	prof_attr_free(&c.attr);
	prof_agg_free(&c.agg);
	return rc;
}
