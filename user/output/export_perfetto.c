// SPDX-License-Identifier: MIT
/*
 * `aps-bpf export FILE --format perfetto`: a recording as Chrome trace-event
 * JSON, which ui.perfetto.dev (and chrome://tracing) opens:
 *   - one track per task (pid = the target, tid = a track id per task,
 *     thread_name = the task's name), tracks of one OS thread next to each
 *     other (consecutive ids, thread_sort_index);
 *   - a complete slice ("X") per step, named after the coroutine's
 *     qualname, args: result, boundary, what it awaits;
 *   - flows: the awaited task's last step -> the step it woke
 *     ("wakeup"), the step that began awaiting a task -> that task's next
 *     step ("await");
 *   - instants: created, cancelled (by whom: the last Task.cancel()'s
 *     requester, and how many requests), raised (with the exception type);
 *     lost events, process-wide.
 * Times are microseconds from the recording's start (3 decimals: ns).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/outfile.h"
#include "loop/loop_replay.h"
#include "recording/rec_reader.h"
#include "output/fmt.h"
#include "util/u64_map.h"

static const char export_usage[] =
	"usage: aps-bpf export FILE --format perfetto -o OUT.json [--from T] [--to T]\n"
	"\n"
	"Write a recording as Chrome trace-event JSON for ui.perfetto.dev: a track per\n"
	"task (grouped by thread), a slice per step named after its coroutine, flow\n"
	"arrows for wake-ups and awaits, markers for creation, cancellation and\n"
	"exceptions. --from/--to as for `replay` (seconds from the start, or HH:MM:SS).\n"
	"A loop-mode recording gives a track per loop thread (busy slices, stalls with\n"
	"their stacks) and a CPU track of samples per thread.\n";

struct track {
	uint64_t addr;
	uint32_t seq;			/* creation order */
	uint32_t tid;			/* OS thread (the target's view), 0 unknown */
	uint32_t out_tid;		/* the id written (pass 2) */
	char name[APS_NAME_MAX];
	uint64_t last_begin, last_end;	/* its last ended step */
	bool has_step;
	/* flows waiting for this task's next step: from (track, ts) */
	uint32_t *pend_from;
	uint64_t *pend_ts;
	uint32_t npend, pend_cap;
};

struct exporter {
	FILE *out;
	bool emit;			/* pass 2: write */
	struct rec_player pl;
	struct model model;
	uint32_t pid;
	uint64_t base;			/* ts 0 of the output */
	struct track *tracks;
	uint32_t ntracks, cap;
	struct u64_map track_of;	/* task addr -> track index */
	uint64_t flow_id;
	uint64_t nevents, slices;
	uint32_t *final_tids;		/* pass 2: track ids by creation order */
	uint32_t nfinal;
	bool first;
	int err;
};

static int64_t map_get(const struct exporter *x, uint64_t addr)
{
	uint32_t i;

	return u64_map_get(&x->track_of, addr, &i) ? (int64_t)i : -1;
}

static uint32_t ns_tid(struct exporter *x, uint32_t tid)
{
	return rec_cursor_ns_tid(&x->pl.cur, tid);
}

/* The current track of a task, made on first sight. -1 on ENOMEM. */
static int64_t track_of(struct exporter *x, uint64_t addr, const struct task *t, uint32_t tid)
{
	int64_t i = map_get(x, addr);
	struct track *k;

	if (i >= 0)
		return i;
	if (x->ntracks == x->cap) {
		uint32_t ncap = x->cap ? x->cap * 2 : 256;
		struct track *v = realloc(x->tracks, sizeof(*v) * ncap);

		if (!v)
			return -1;
		x->tracks = v;
		x->cap = ncap;
	}
	k = &x->tracks[x->ntracks];
	memset(k, 0, sizeof(*k));
	k->addr = addr;
	k->seq = x->ntracks;
	k->tid = tid;
	/* pass 2 meets the tracks of pass 1 in the same order */
	k->out_tid = k->seq < x->nfinal ? x->final_tids[k->seq] : x->nfinal + 1 + k->seq;
	if (t && t->name[0])
		snprintf(k->name, sizeof(k->name), "%s", t->name);
	else
		snprintf(k->name, sizeof(k->name), "task 0x%" PRIx64, addr);
	if (u64_map_put(&x->track_of, addr, x->ntracks))
		return -1;
	return x->ntracks++;
}

static void fmt_us(char *buf, size_t len, const struct exporter *x, uint64_t ts)
{
	uint64_t d;

	if (ts >= x->base) {
		d = ts - x->base;
		snprintf(buf, len, "%" PRIu64 ".%03u", d / 1000, (unsigned)(d % 1000));
	} else {
		d = x->base - ts;
		snprintf(buf, len, "-%" PRIu64 ".%03u", d / 1000, (unsigned)(d % 1000));
	}
}

static void sep(struct exporter *x)
{
	fputs(x->first ? "\n" : ",\n", x->out);
	x->first = false;
	x->nevents++;
}

/* An instant on k's track, left open for args: close it with '}'. */
static void instant_open(struct exporter *x, const struct track *k, uint64_t ts, const char *name)
{
	char t[40];

	fmt_us(t, sizeof(t), x, ts);
	sep(x);
	fprintf(x->out, "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"task\",\"pid\":%u,\"tid\":%u,\"ts\":%s,\"name\":",
		x->pid, k->out_tid, t);
	fmt_json_str(x->out, name);
}

static void instant(struct exporter *x, const struct track *k, uint64_t ts, const char *name,
		    const char *arg_key, const char *arg_val)
{
	instant_open(x, k, ts, name);
	if (arg_key) {
		fprintf(x->out, ",\"args\":{\"%s\":", arg_key);
		fmt_json_str(x->out, arg_val ? arg_val : "?");
		fputc('}', x->out);
	}
	fputc('}', x->out);
}

/* The "cancelled" marker: who requested it last, how many requests. */
static void cancelled_instant(struct exporter *x, const struct track *k, uint64_t ts,
			      const struct task *t)
{
	const struct task *by = t && t->cancel_by ? model_find(&x->model, t->cancel_by) : NULL;
	char at[40];

	instant_open(x, k, ts, "cancelled");
	if (!t || !t->cancel_requests) {
		fputc('}', x->out);
		return;
	}
	fprintf(x->out, ",\"args\":{\"by\":");
	if (by)
		fmt_json_str(x->out, by->name);
	else if (t->cancel_by)
		fprintf(x->out, "\"0x%" PRIx64 "\"", t->cancel_by);
	else
		fprintf(x->out, "\"(no task)\"");
	fmt_us(at, sizeof(at), x, t->cancel_ts);
	fprintf(x->out, ",\"requested_at\":%s,\"requests\":%u}}", at, t->cancel_requests);
}

/* A flow: starts inside the source's step (just before it ended), ends at dst's step. */
static void flow(struct exporter *x, const struct track *src, uint64_t src_ts,
		 const struct track *dst, uint64_t dst_ts, const char *name)
{
	char a[40], b[40];

	fmt_us(a, sizeof(a), x, src_ts);
	fmt_us(b, sizeof(b), x, dst_ts);
	x->flow_id++;
	sep(x);
	fprintf(x->out, "{\"ph\":\"s\",\"cat\":\"%s\",\"name\":\"%s\",\"id\":%" PRIu64
		",\"pid\":%u,\"tid\":%u,\"ts\":%s}", name, name, x->flow_id, x->pid, src->out_tid, a);
	sep(x);
	fprintf(x->out, "{\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"%s\",\"name\":\"%s\",\"id\":%" PRIu64
		",\"pid\":%u,\"tid\":%u,\"ts\":%s}", name, name, x->flow_id, x->pid, dst->out_tid, b);
}

/* Inside the last step of k: 1 ns before it ended (or its start). */
static uint64_t inside_last_step(const struct track *k)
{
	return k->last_end > k->last_begin ? k->last_end - 1 : k->last_begin;
}

static const char *result_name(uint8_t r)
{
	static const char *names[] = { "unknown", "awaiting", "yielded", "returned", "raised",
				       "cancelled" };
	return r <= APS_RES_CANCELLED ? names[r] : "unknown";
}

static const char *boundary_name(uint8_t b)
{
	static const char *names[] = { "?", "next_step", "loop_poll", "dealloc", "eager_return", "exit" };
	return b <= APS_BND_THREAD_EXIT ? names[b] : "?";
}

static void add_pending(struct track *dst, uint32_t from, uint64_t ts)
{
	if (dst->npend == dst->pend_cap) {
		uint32_t cap = dst->pend_cap ? dst->pend_cap * 2 : 4;
		uint32_t *f = realloc(dst->pend_from, sizeof(*f) * cap);
		uint64_t *t;

		if (!f)
			return;
		dst->pend_from = f;
		t = realloc(dst->pend_ts, sizeof(*t) * cap);
		if (!t)
			return;
		dst->pend_ts = t;
		dst->pend_cap = cap;
	}
	dst->pend_from[dst->npend] = from;
	dst->pend_ts[dst->npend] = ts;
	dst->npend++;
}

static void step_end(struct exporter *x, struct track *k, uint32_t ki, const struct model_event *ev)
{
	uint64_t begin = ev->ts - ev->duration_ns;
	const char *coro = ev->task ? ev->task->coro_name : "?";
	char a[40], d[40];

	k->last_begin = begin;
	k->last_end = ev->ts;
	k->has_step = true;
	x->slices++;
	if (ev->result == APS_RES_AWAITING && ev->other) {
		int64_t o = track_of(x, ev->other_addr, ev->other, ns_tid(x, ev->other->tid));

		k = &x->tracks[ki];	/* track_of may have moved the tracks */
		if (o >= 0)
			add_pending(&x->tracks[o], ki, inside_last_step(k));
	}
	if (!x->emit)
		return;
	fmt_us(a, sizeof(a), x, begin);
	snprintf(d, sizeof(d), "%" PRIu64 ".%03u", ev->duration_ns / 1000,
		 (unsigned)(ev->duration_ns % 1000));
	sep(x);
	fprintf(x->out, "{\"ph\":\"X\",\"cat\":\"step\",\"pid\":%u,\"tid\":%u,\"ts\":%s,\"dur\":%s,\"name\":",
		x->pid, k->out_tid, a, d);
	fmt_json_str(x->out, coro[0] ? coro : "?");
	fprintf(x->out, ",\"args\":{\"task\":");
	fmt_json_str(x->out, k->name);
	fprintf(x->out, ",\"addr\":\"0x%" PRIx64 "\",\"result\":\"%s\",\"boundary\":\"%s\"", ev->addr,
		result_name(ev->result), boundary_name(ev->boundary));
	if (ev->result == APS_RES_AWAITING) {
		fprintf(x->out, ",\"awaiting\":");
		if (ev->other)
			fmt_json_str(x->out, ev->other->name);
		else
			fprintf(x->out, "\"%s 0x%" PRIx64 "\"", ev->other_type ? ev->other_type : "future",
				ev->other_addr);
	}
	if (ev->result == APS_RES_RAISED) {
		fprintf(x->out, ",\"exception\":");
		fmt_json_str(x->out, ev->exception ? ev->exception : "?");
	}
	fputs("}}", x->out);
}

static void on_model_event(void *ctx, const struct model_event *ev)
{
	struct exporter *x = ctx;
	int64_t i;
	struct track *k;

	if (ev->kind == MEV_DESTROYED) {
		u64_map_del(&x->track_of, ev->addr);
		return;
	}
	i = track_of(x, ev->addr, ev->task, ns_tid(x, ev->tid));
	if (i < 0) {
		x->err = -ENOMEM;
		return;
	}
	k = &x->tracks[i];
	if (!k->tid)
		k->tid = ns_tid(x, ev->tid);
	switch (ev->kind) {
	case MEV_CREATED:
	case MEV_SEEN:
		if (ev->task)
			snprintf(k->name, sizeof(k->name), "%s", ev->task->name);
		if (x->emit)
			instant(x, k, ev->ts, ev->kind == MEV_CREATED ? "created" : "seen",
				ev->kind == MEV_CREATED ? "by" : NULL,
				ev->other ? ev->other->name : ev->other_addr ? "?" : "-");
		break;
	case MEV_RENAMED:
		if (ev->task)
			snprintf(k->name, sizeof(k->name), "%s", ev->task->name);
		break;
	case MEV_WOKEN:
		if (ev->other && x->emit) {
			int64_t s = map_get(x, ev->other_addr);

			if (s >= 0 && x->tracks[s].has_step)
				flow(x, &x->tracks[s], inside_last_step(&x->tracks[s]), k, ev->ts, "wakeup");
		}
		break;
	case MEV_STEP:
		for (uint32_t j = 0; j < k->npend; j++)
			if (x->emit && k->pend_from[j] < x->ntracks)
				flow(x, &x->tracks[k->pend_from[j]], k->pend_ts[j], k, ev->ts, "await");
		k->npend = 0;
		break;
	case MEV_STEP_END:
		step_end(x, k, (uint32_t)i, ev);
		break;
	case MEV_DONE:
		if (!x->emit)
			break;
		if (ev->result == APS_RES_CANCELLED)
			cancelled_instant(x, k, ev->ts, ev->task);
		else if (ev->result == APS_RES_RAISED)
			instant(x, k, ev->ts, "raised", "exception", ev->exception ? ev->exception : "?");
		break;
	default:
		break;
	}
}

static int on_event(void *ctx, const void *data, size_t len)
{
	struct exporter *x = ctx;

	model_apply(&x->model, data, len, on_model_event, x);
	return x->err;
}

static void on_lost(void *ctx, uint64_t ts, uint64_t count, uint64_t total)
{
	struct exporter *x = ctx;
	char t[40];

	(void)total;
	if (!x->emit)
		return;
	fmt_us(t, sizeof(t), x, ts);
	sep(x);
	fprintf(x->out, "{\"ph\":\"i\",\"s\":\"p\",\"cat\":\"aps\",\"pid\":%u,\"tid\":0,\"ts\":%s,"
		"\"name\":\"lost %" PRIu64 " events\"}", x->pid, t, count);
}

static void reset_tracks(struct exporter *x)
{
	for (uint32_t i = 0; i < x->ntracks; i++) {
		free(x->tracks[i].pend_from);
		free(x->tracks[i].pend_ts);
	}
	x->ntracks = 0;
	u64_map_clear(&x->track_of);
}

static void forget_open_steps(struct model *m)
{
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->slots[i].used)
			m->slots[i].step_begin_ts = 0;
}

/* One pass over the window. */
static int run_pass(struct exporter *x, uint64_t from, uint64_t to, bool window)
{
	int err;

	x->flow_id = 0;
	x->slices = 0;
	err = rec_player_seek(&x->pl, from);
	if (!err)
		err = rec_player_run(&x->pl, to, on_event, on_lost, x);
	if (err)
		return err;
	if (window && (x->pl.have_item || !x->pl.at_end))
		forget_open_steps(&x->model);
	else
		model_close_open_steps(&x->model, x->pl.ended ? x->pl.end.ts : x->pl.last_ts,
				       on_model_event, x);
	return x->err;
}

struct order {
	uint32_t idx, tid_rank, seq;
};

static int cmp_order(const void *a, const void *b)
{
	const struct order *p = a, *q = b;

	if (p->tid_rank != q->tid_rank)
		return p->tid_rank < q->tid_rank ? -1 : 1;
	return p->seq < q->seq ? -1 : p->seq > q->seq;
}

/* Track ids: the tracks of one OS thread next to each other, in creation order. */
static int assign_tids(struct exporter *x, uint32_t **out_tids)
{
	struct order *o = calloc(x->ntracks ? x->ntracks : 1, sizeof(*o));
	uint32_t *tids = calloc(x->ntracks ? x->ntracks : 1, sizeof(*tids));
	uint32_t *seen = calloc(x->ntracks ? x->ntracks : 1, sizeof(*seen)), nseen = 0, next = 1;

	if (!o || !tids || !seen) {
		free(o);
		free(tids);
		free(seen);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < x->ntracks; i++) {
		uint32_t r = 0;

		while (r < nseen && seen[r] != x->tracks[i].tid)
			r++;
		if (r == nseen)
			seen[nseen++] = x->tracks[i].tid;
		o[i] = (struct order){ i, r, x->tracks[i].seq };
	}
	qsort(o, x->ntracks, sizeof(*o), cmp_order);
	for (uint32_t i = 0; i < x->ntracks; i++) {
		if (next == x->pid)
			next++;
		tids[o[i].idx] = next++;
	}
	free(o);
	free(seen);
	*out_tids = tids;
	return 0;
}

static int export_perfetto(const struct rec_reader *r, FILE *out, uint64_t from, uint64_t to,
			   bool window, uint64_t *slices, uint32_t *ntracks, char *msg, size_t msglen)
{
	static struct exporter x;
	const struct rec_header *h = &r->hdr;
	int err;

	memset(&x, 0, sizeof(x));
	x.out = out;
	x.pid = h->pid;
	x.base = window ? from : h->start_ns;
	if (model_init(&x.model, 16) || rec_player_init(&x.pl, r, &x.model)) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	/* pass 1: which tracks there are, on which threads */
	err = run_pass(&x, from, to, window);
	if (!err)
		err = assign_tids(&x, &x.final_tids);
	if (err)
		goto out;
	x.nfinal = x.ntracks;
	reset_tracks(&x);
	/* pass 2: the same replay, written; tracks come back in the same order */
	x.emit = true;
	x.first = true;
	fprintf(out, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"tool\":\"aps-bpf\",\"pid\":%u,"
		"\"python\":", x.pid);
	fmt_json_str(out, h->python);
	fprintf(out, ",\"clock_mono_ns_at_ts0\":%" PRIu64 ",\"clock_real_ns_at_ts0\":%" PRIu64 "},"
		"\"traceEvents\":[", x.base, h->clock_real_ns + (x.base - h->clock_mono_ns));
	err = run_pass(&x, from, to, window);
	if (err)
		goto out;
	/* metadata: the process, each task's track */
	sep(&x);
	fprintf(out, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%u,\"args\":{\"name\":", x.pid);
	{
		char pname[256];

		snprintf(pname, sizeof(pname), "%s (pid %u, Python %s)", h->comm[0] ? h->comm : "python",
			 x.pid, h->python);
		fmt_json_str(out, pname);
	}
	fputs("}}", out);
	for (uint32_t i = 0; i < x.ntracks; i++) {
		const struct track *k = &x.tracks[i];

		sep(&x);
		fprintf(out, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%u,\"tid\":%u,\"args\":{\"name\":",
			x.pid, k->out_tid);
		fmt_json_str(out, k->name);
		fputs("}}", out);
		sep(&x);
		fprintf(out, "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":%u,\"tid\":%u,"
			"\"args\":{\"sort_index\":%u}}", x.pid, k->out_tid, k->out_tid);
	}
	fputs("\n]}\n", out);
	*slices = x.slices;
	*ntracks = x.ntracks;
out:
	if (err)
		snprintf(msg, msglen, "%s", x.pl.cur.problem[0] ? x.pl.cur.problem : strerror(-err));
	rec_player_free(&x.pl);
	model_free(&x.model);
	reset_tracks(&x);
	free(x.tracks);
	u64_map_free(&x.track_of);
	free(x.final_tids);
	return err;
}

static int export_opt(struct cli *c, int opt, const char *arg, void *ctx)
{
	(void)c;
	if (opt != 'f')
		return -1;
	*(const char **)ctx = arg;
	return 0;
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		CLI_OPT_OUTPUT, CLI_OPT_FROM, CLI_OPT_TO, CLI_OPT_HELP,
		{},
	};
	static char outbuf[1 << 20];
	struct cli cli = { .cmd = "export", .usage = export_usage, .target = CLI_FILE };
	const char *format = NULL, *out_path, *from_s, *to_s, *path;
	struct rec_reader r;
	char err[256];
	uint64_t from = 0, to = UINT64_MAX, slices = 0;
	uint32_t ntracks = 0;
	FILE *out;
	int rc;

	if (!cli_parse(&cli, argc, argv, "f:o:h", opts, export_opt, &format, &rc))
		return rc;
	path = cli.args[0];
	out_path = cli.output;
	from_s = cli.from;
	to_s = cli.to;
	if (!format || strcmp(format, "perfetto")) {
		fprintf(stderr, "aps-bpf: export: --format perfetto is required (the only format)\n%s",
			export_usage);
		return 2;
	}
	if (!out_path) {
		fprintf(stderr, "aps-bpf: export: -o OUT.json is required\n%s", export_usage);
		return 2;
	}
	if (rec_reader_open(&r, path, err, sizeof(err))) {
		fprintf(stderr, "aps-bpf: %s\n", err);
		return 1;
	}
	if (r.problem[0])
		fprintf(stderr, "aps-bpf: %s: %s; exporting what comes before\n", path, r.problem);
	if ((from_s && rec_parse_time(&r, from_s, &from)) || (to_s && rec_parse_time(&r, to_s, &to)) ||
	    to < from) {
		fprintf(stderr, "aps-bpf: export: bad --from/--to (seconds from the start, or HH:MM:SS[.fff])\n");
		rec_reader_close(&r);
		return 2;
	}
	out = !strcmp(out_path, "-") ? stdout : fopen(out_path, "we");
	if (!out) {
		fprintf(stderr, "aps-bpf: cannot write %s: %s\n", out_path, strerror(errno));
		rec_reader_close(&r);
		return 1;
	}
	setvbuf(out, outbuf, _IOFBF, sizeof(outbuf));
	if (loop_replay_is_loop(&r)) {
		rc = loop_export_perfetto(&r, out, from, to, from_s || to_s, err, sizeof(err));
		slices = UINT64_MAX;	/* it said what it wrote */
	} else {
		rc = export_perfetto(&r, out, from, to, from_s || to_s, &slices, &ntracks, err, sizeof(err));
	}
	if (rc)
		fprintf(stderr, "aps-bpf: export: %s\n", err);
	if (outfile_close_stream(out, out_path))
		rc = 1;
	if (!rc && out != stdout && slices != UINT64_MAX)
		fprintf(stderr, "aps-bpf: wrote %s: %u task tracks, %" PRIu64 " step slices\n", out_path,
			ntracks, slices);
	rec_reader_close(&r);
	return rc ? 1 : 0;
}
