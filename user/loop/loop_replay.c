// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "loop/loop_replay.h"
#include "loop/loop_top_view.h"
#include "output/fmt.h"
#include "recording/rec_tasks.h"


bool loop_replay_is_loop(const struct rec_reader *r)
{
	return r->hdr.flags & REC_HDR_LOOP;
}

int loop_reader_init(struct loop_reader *lr, const struct rec_reader *r)
{
	memset(lr, 0, sizeof(*lr));
	lr->r = r;
	lr->it = malloc(sizeof(*lr->it));
	lr->frames = calloc(LOOP_REC_MAX_FRAMES, sizeof(*lr->frames));
	lr->defined = calloc(LOOP_REC_MAX_FRAMES, 1);
	if (!lr->it || !lr->frames || !lr->defined || rec_cursor_init(&lr->c, r)) {
		free(lr->it);
		free(lr->frames);
		free(lr->defined);
		return -ENOMEM;
	}
	return 0;
}

void loop_reader_free(struct loop_reader *lr)
{
	rec_cursor_free(&lr->c);
	free(lr->it);
	free(lr->frames);
	free(lr->defined);
	lr->it = NULL;
}

static int bad(struct loop_reader *lr, const char *what)
{
	snprintf(lr->problem, sizeof(lr->problem), "malformed LOOP%s%s record in the frame at offset %zu",
		 what[0] ? " " : "", what, lr->it->frame_off);
	return -1;
}

static void resolve(struct loop_reader *lr)
{
	struct thread_stack *st = &lr->st;

	st->n = 0;
	st->truncated = lr->smp.flags & LOOP_REC_TRUNCATED;
	for (uint32_t i = 0; i < lr->smp.n && st->n < STACK_MAX_FRAMES; i++) {
		uint32_t id = lr->smp.ids[i] >> 1;

		if (!lr->defined[id])
			continue;
		st->f[st->n] = lr->frames[id];
		st->f[st->n].gen = lr->smp.ids[i] & 1;
		st->n++;
	}
}

static const char *const sub_names[] = {
	[REC_LOOP_INFO] = "INFO", [REC_LOOP_FRAME] = "FRAME", [REC_LOOP_SPAN] = "SPAN",
	[REC_LOOP_SAMPLE] = "SAMPLE", [REC_LOOP_STALL] = "STALL", [REC_LOOP_LOST] = "LOST",
	[REC_LOOP_CORO] = "CORO",
};

/* The body of the LOOP record it, by lr->sub: 0, or -1 if malformed. */
static int decode(struct loop_reader *lr, const struct rec_item *it)
{
	const uint8_t *p = it->body;
	size_t n = it->body_len;
	struct stack_frame *f = &lr->st.f[0];
	uint32_t id;

	switch (lr->sub) {
	case REC_LOOP_INFO:
		lr->have_info = !loop_rec_info_dec(p, n, lr->base, &lr->info);
		return lr->have_info ? 0 : -1;
	case REC_LOOP_FRAME:
		if (loop_rec_frame_dec(p, n, lr->base, &id, f))
			return -1;
		lr->frames[id] = *f;
		lr->defined[id] = 1;
		return 0;
	case REC_LOOP_SPAN: return loop_rec_span_dec(p, n, lr->base, &lr->span);
	case REC_LOOP_SAMPLE:
		if (loop_rec_sample_dec(p, n, lr->base, &lr->smp))
			return -1;
		resolve(lr);
		return 0;
	case REC_LOOP_STALL: return loop_rec_stall_dec(p, n, lr->base, &lr->stall);
	case REC_LOOP_LOST: return loop_rec_lost_dec(p, n, lr->base, &lr->lost);
	case REC_LOOP_CORO: return loop_rec_coro_dec(p, n, lr->base, &lr->coro, &lr->coro_task);
	default: return 0;
	}
}

int loop_reader_next(struct loop_reader *lr)
{
	struct rec_item *it = lr->it;
	uint64_t ts;
	int rc;

	while ((rc = rec_cursor_next(&lr->c, it)) > 0) {
		lr->sub = 0;
		switch (it->kind) {
		case REC_ITEM_SEGMENT:
			memset(lr->defined, 0, LOOP_REC_MAX_FRAMES);
			lr->base = it->seg.base_ts;
			continue;
		case REC_ITEM_TASKS:
		case REC_ITEM_END:
			return 1;
		case REC_ITEM_LOOP:
			break;
		default:
			continue;
		}
		if (loop_rec_head(it->body, it->body_len, lr->base, &lr->sub, &ts))
			return bad(lr, "");
		if (decode(lr, it))
			return bad(lr, lr->sub < sizeof(sub_names) / sizeof(sub_names[0]) ?
				   sub_names[lr->sub] : "");
		/* INFO and FRAME are the reader's; a newer writer's sub-type is skipped */
		if (lr->sub >= REC_LOOP_SPAN && lr->sub <= REC_LOOP_CORO)
			return 1;
	}
	if (rc < 0)
		snprintf(lr->problem, sizeof(lr->problem), "%s", lr->c.problem);
	return rc;
}

/* ---- task names ------------------------------------------------------------------ */

#define MAX_POOL 65536

static uint32_t pool_index(struct loop_names *ln, const char *name)
{
	uint64_t k = ltv_name_key(name);
	uint32_t i;

	if (u64_map_get(&ln->by_name, k, &i))
		return i;
	if (ln->n == MAX_POOL || u64_map_put(&ln->by_name, k, ln->n))
		return 0;
	snprintf(ln->pool[ln->n], sizeof(ln->pool[0]), "%s", name);
	return ln->n++;
}

int loop_names_read(struct loop_names *ln, const struct rec_reader *r, char *problem, size_t len)
{
	static struct loop_reader lr;
	struct rec_tasks rt;
	int rc;

	memset(ln, 0, sizeof(*ln));
	ln->pool = calloc(MAX_POOL, sizeof(ln->pool[0]));
	if (!ln->pool || loop_reader_init(&lr, r)) {
		snprintf(problem, len, "out of memory");
		return -1;
	}
	pool_index(ln, "?");
	while ((rc = loop_reader_next(&lr)) > 0) {
		const struct rec_item *it = lr.it;

		if (lr.sub == REC_LOOP_CORO)
			loop_timeline_add(&ln->coros, lr.coro, it->ts, it->ts, lr.coro_task);
		if (it->kind != REC_ITEM_TASKS)
			continue;
		if (rec_tasks_decode(it->body, it->body_len, &rt) == 0)
			for (uint32_t i = 0; i < rt.snap.ntasks; i++) {
				const struct snap_task *t = &rt.snap.tasks[i];

				if (t->listed)
					loop_timeline_add(&ln->names, t->addr, rt.t0, rt.t1,
							  pool_index(ln, t->name ? t->name : "?"));
			}
		rec_tasks_free(&rt);
	}
	if (rc < 0)
		snprintf(problem, len, "%s", lr.problem);
	loop_reader_free(&lr);
	return rc < 0 ? -1 : 0;
}

void loop_names_free(struct loop_names *ln)
{
	loop_timeline_free(&ln->names);
	loop_timeline_free(&ln->coros);
	u64_map_free(&ln->by_name);
	free(ln->pool);
	ln->pool = NULL;
}

uint64_t loop_names_task(const struct loop_names *ln, const struct loop_rec_sample *s)
{
	uint64_t task;

	/* the first read after the sample that saw the coroutine named its task */
	if ((s->flags & LOOP_REC_CORO) && loop_timeline_at(&ln->coros, s->coro, s->ts, true, &task))
		return task;
	return s->task;
}

const char *loop_names_name(const struct loop_names *ln, uint64_t task, uint64_t ts)
{
	uint64_t i;

	return loop_timeline_at(&ln->names, task, ts, false, &i) && i < ln->n ? ln->pool[i] : "?";
}

/* ---- info ------------------------------------------------------------------------- */

void loop_replay_info(const struct rec_reader *r, FILE *out, bool json)
{
	static struct loop_reader lr;
	uint64_t n[REC_LOOP_CORO + 1] = {};
	int rc;

	if (loop_reader_init(&lr, r))
		return;
	while ((rc = loop_reader_next(&lr)) > 0)
		if (lr.sub <= REC_LOOP_CORO)
			n[lr.sub]++;
	if (json)
		fprintf(out, ",\"loop\":{\"hz\":%u,\"poll_hook\":\"%s\",\"busy_spans\":%" PRIu64
			",\"samples\":%" PRIu64 ",\"stalls\":%" PRIu64 ",\"lost_samples\":%" PRIu64
			",\"lost_spans\":%" PRIu64 ",\"malformed\":%s}", lr.info.hz, lr.info.hook,
			n[REC_LOOP_SPAN], n[REC_LOOP_SAMPLE], n[REC_LOOP_STALL], lr.lost.samples,
			lr.lost.spans, rc < 0 ? "true" : "false");
	else
		fprintf(out, "loop mode:   %" PRIu64 " busy spans, %" PRIu64 " samples (%u Hz), %" PRIu64
			" stalls, %" PRIu64 " lost samples, %" PRIu64 " lost spans; poll by %s%s\n",
			n[REC_LOOP_SPAN], n[REC_LOOP_SAMPLE], lr.info.hz, n[REC_LOOP_STALL], lr.lost.samples,
			lr.lost.spans, lr.info.hook, rc < 0 ? " (a malformed LOOP record stopped the count)" : "");
	loop_reader_free(&lr);
}

/* ---- blocked ------------------------------------------------------------------------ */

int loop_replay_blocked(const struct rec_reader *r, FILE *out, bool json, uint64_t threshold,
			uint64_t from, uint64_t to)
{
	static struct loop_reader lr;
	uint64_t n = 0, no_stack = 0;
	char d[32], d2[32];
	int rc;

	if (loop_reader_init(&lr, r)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		return 1;
	}
	while ((rc = loop_reader_next(&lr)) > 0) {
		const struct loop_stall *st = &lr.stall;

		if (lr.sub != REC_LOOP_STALL || st->duration_ns < threshold || st->begin_ts < from ||
		    st->begin_ts > to)
			continue;
		loop_stall_print(out, json, st);
		n++;
		no_stack += !st->stack_taken;
	}
	loop_reader_free(&lr);
	if (rc < 0) {
		fprintf(stderr, "aps-bpf: replay: %s\n", lr.problem);
		return 1;
	}
	fprintf(stderr, "aps-bpf: %" PRIu64 " loop stall%s (threshold %s; recorded over %s)%s\n", n,
		n == 1 ? "" : "s", fmt_dur(threshold, d, sizeof(d)),
		fmt_dur(lr.info.threshold, d2, sizeof(d2)),
		no_stack ? ", some ended before their stack could be taken" : "");
	return 0;
}

/* ---- top ---------------------------------------------------------------------------- */

struct top_replay {
	struct loop_top_report t;
	struct loop_names ln;
	uint64_t busy[LTV_MAX_THREADS];
	uint64_t lost0, lost_last;
};

static void last_read(struct top_replay *tr, const struct rec_item *it)
{
	struct rec_tasks rt;

	if (rec_tasks_decode(it->body, it->body_len, &rt) == 0) {
		memset(tr->t.states, 0, sizeof(tr->t.states));
		for (uint32_t i = 0; i < rt.snap.ntasks; i++)
			if (rt.snap.tasks[i].listed && rt.snap.tasks[i].state < 3)
				tr->t.states[rt.snap.tasks[i].state]++;
		tr->t.have_snap = true;
		tr->t.snapshot_ms = (double)(rt.t1 - rt.t0) / 1e6;
	}
	rec_tasks_free(&rt);
}

static struct ltv_thread *thread_of(struct top_replay *tr, uint32_t tid, uint32_t *i)
{
	for (*i = 0; *i < tr->t.nthreads; (*i)++)
		if (tr->t.threads[*i].tid == tid)
			return &tr->t.threads[*i];
	if (tr->t.nthreads == LTV_MAX_THREADS)
		return NULL;
	tr->t.threads[tr->t.nthreads] = (struct ltv_thread){ .tid = tid };
	return &tr->t.threads[tr->t.nthreads++];
}

static void top_sample(struct top_replay *tr, const struct loop_reader *lr)
{
	const struct thread_stack *st = &lr->st;
	uint64_t task = loop_names_task(&tr->ln, &lr->smp);
	char buf[200];
	int fn;

	tr->t.samples++;
	if (task) {
		const char *name = loop_names_name(&tr->ln, task, lr->smp.ts);

		/* one row per task: an address reused by a later task is another row */
		ltv_rows_add(&tr->t.tasks, u64_map_mix(task) ^ ltv_name_key(name), name, task);
	}
	for (uint32_t i = 0; i < st->n; i++)
		if (st->f[i].gen) {
			ltv_rows_add(&tr->t.coros, ltv_name_key(st->f[i].func), st->f[i].func, 0);
			return;
		}
	fn = loop_stall_dispatch_frame(st);
	if (fn >= 0) {
		snprintf(buf, sizeof(buf), "%s", st->f[fn].func);
		ltv_rows_add(&tr->t.callbacks, ltv_name_key(buf), buf, 0);
	} else {
		tr->t.other++;
	}
}

static void top_span(struct top_replay *tr, const struct loop_rec_span *sp, uint64_t from, uint64_t to)
{
	uint64_t b = sp->begin > from ? sp->begin : from, e = sp->end < to ? sp->end : to;
	struct ltv_thread *th;
	uint32_t i;

	if (sp->end < from || sp->begin > to)
		return;
	th = thread_of(tr, sp->ns_tid, &i);
	if (!th)
		return;
	if (e > b)
		tr->busy[i] += e - b;
	if (sp->end >= from && sp->end <= to)
		th->polls++;
}

int loop_replay_top(const struct rec_reader *r, FILE *out, bool json, uint64_t from, uint64_t to)
{
	static struct loop_reader lr;
	static struct top_replay tr;
	char problem[200];
	uint64_t end_ts = 0;
	int rc = 1, n;

	memset(&tr, 0, sizeof(tr));
	if (loop_names_read(&tr.ln, r, problem, sizeof(problem))) {
		fprintf(stderr, "aps-bpf: replay: %s\n", problem);
		loop_names_free(&tr.ln);
		return 1;
	}
	if (ltv_rows_init(&tr.t.tasks) || ltv_rows_init(&tr.t.coros) ||
	    ltv_rows_init(&tr.t.callbacks) || ltv_rows_init(&tr.t.stalled_in) ||
	    loop_reader_init(&lr, r)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		goto out;
	}
	if (!from)
		from = r->hdr.start_ns;
	while ((n = loop_reader_next(&lr)) > 0) {
		const struct rec_item *it = lr.it;

		if (it->ts > end_ts)
			end_ts = it->ts;
		if (it->kind == REC_ITEM_END)
			continue;
		if (it->kind == REC_ITEM_TASKS) {
			if (it->ts <= to)	/* the states of the last read in the window */
				last_read(&tr, it);
			continue;
		}
		if (lr.sub == REC_LOOP_SPAN) {
			top_span(&tr, &lr.span, from, to);
			continue;
		}
		if (lr.sub == REC_LOOP_LOST) {
			if (it->ts < from)
				tr.lost0 = lr.lost.samples;
			else if (it->ts <= to)
				tr.lost_last = lr.lost.samples;
			continue;
		}
		if (it->ts < from || it->ts > to)
			continue;
		if (lr.sub == REC_LOOP_SAMPLE)
			top_sample(&tr, &lr);
		else if (lr.sub == REC_LOOP_STALL)
			loop_top_stall(&tr.t, &lr.stall);
	}
	if (n < 0) {
		fprintf(stderr, "aps-bpf: replay: %s\n", lr.problem);
		goto out;
	}
	if (to > end_ts)
		to = end_ts;
	tr.t.pid = (int)r->hdr.pid;
	tr.t.replay = true;
	tr.t.hz = lr.info.hz;
	tr.t.secs = to > from ? (double)(to - from) / 1e9 : 0;
	tr.t.lost_samples = tr.lost_last > tr.lost0 ? tr.lost_last - tr.lost0 : 0;
	for (uint32_t i = 0; i < tr.t.nthreads; i++) {
		double pct = to > from ? (double)tr.busy[i] * 100.0 / (double)(to - from) : 0;

		tr.t.threads[i].busy_pct = pct > 100 ? 100 : pct;
	}
	loop_top_view_print(out, json, &tr.t);
	rc = 0;
out:
	if (lr.it)
		loop_reader_free(&lr);
	ltv_rows_free(&tr.t.tasks);
	ltv_rows_free(&tr.t.coros);
	ltv_rows_free(&tr.t.callbacks);
	ltv_rows_free(&tr.t.stalled_in);
	loop_names_free(&tr.ln);
	return rc;
}
