// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "memory/blocked_capture.h"
#include "recording/rec_blocked.h"
#include "recording/replay_tasks.h"
#include "output/replay_view.h"
#include "output/fmt.h"
#include "model/stats.h"

#define EXIT_CYCLE 3

uint64_t replay_view_end_ts(const struct rec_reader *r)
{
	struct rec_cursor c;
	struct rec_item *it = malloc(sizeof(*it));
	uint64_t last = r->hdr.start_ns;

	/* the last segment holds the end: read from there */
	if (!it || rec_cursor_init(&c, r)) {
		free(it);
		return last;
	}
	if (r->nsegs)
		rec_cursor_seek_segment(&c, r->nsegs - 1);
	while (rec_cursor_next(&c, it) > 0)
		if (it->ts > last)
			last = it->ts;
	rec_cursor_free(&c);
	free(it);
	return last;
}

int replay_view_tasks(const struct rec_reader *r, FILE *out, bool tree, uint64_t ts,
		      const struct task_view_opts *opts, bool fail_on_cycle)
{
	struct replay_tasks rt;
	struct task_view_opts o = *opts;
	char err[256], wall[64];
	int rc = 1;

	if (replay_tasks_at(r, ts, &rt, err, sizeof(err))) {
		fprintf(stderr, "aps-bpf: replay: %s\n", err);
		goto out;
	}
	o.now = ts;
	o.timing = &rt.model;
	rec_format_wall(r, ts, wall, sizeof(wall));
	if (rt.have_read) {
		char readw[64];

		rec_format_wall(r, rt.base.t1, readw, sizeof(readw));
		fprintf(stderr, "aps-bpf: tasks at %s: read from memory at %s (%.3f s before)%s", wall,
			readw, (double)(ts - rt.base.t1) / 1e9, rt.from_events ? "; " : "\n");
	} else {
		fprintf(stderr, "aps-bpf: tasks at %s: the recording has no memory read before: events only%s",
			wall, rt.from_events ? "; " : "\n");
	}
	if (rt.from_events)
		fprintf(stderr, "%u task%s stepped since, shown as the events tell (coroutine, awaited task)\n",
			rt.from_events, rt.from_events == 1 ? "" : "s");
	if (rt.lost)
		fprintf(stderr, "aps-bpf: %" PRIu64 " events were lost before then: the view may be wrong\n",
			rt.lost);
	if (!rt.snap.ntasks && o.format == VIEW_TABLE) {
		fprintf(out, "no asyncio tasks at %s\n", wall);
		rc = 0;
	} else if (tree) {
		int cycles = pstree_view(out, &rt.snap, &o);

		rc = cycles < 0 ? 1 : fail_on_cycle && cycles > 0 ? EXIT_CYCLE : 0;
	} else {
		ps_view(out, &rt.snap, &o);
		rc = 0;
	}
out:
	replay_tasks_free(&rt);
	return rc;
}

/* ---- top ------------------------------------------------------------------------------ */

struct top_replay {
	struct model *m;
	struct stats st;
	uint64_t from;
};

static void top_on_model_event(void *ctx, const struct model_event *ev)
{
	struct top_replay *t = ctx;

	if (ev->ts >= t->from)
		stats_on_event(&t->st, ev);
}

static int top_on_record(void *ctx, const void *data, size_t len)
{
	struct top_replay *t = ctx;

	model_apply(t->m, data, len, top_on_model_event, t);
	return 0;
}

int replay_view_top(const struct rec_reader *r, FILE *out, struct top_view *v, uint64_t from,
		    uint64_t to)
{
	struct model m;
	struct top_replay t = { .m = &m, .from = from };
	struct rec_player pl;
	int err, rc = 1;

	if (to == UINT64_MAX)
		to = replay_view_end_ts(r);
	if (!from)
		from = r->hdr.start_ns;
	if (model_init(&m, 4096) || stats_init(&t.st, from) || rec_player_init(&pl, r, &m)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		return 1;
	}
	m.keep_hists = true;
	err = rec_player_seek(&pl, from);
	/* the model's state at `from`; the window's steps and times from here */
	if (!err)
		err = rec_player_run(&pl, to, top_on_record, NULL, &t);
	if (err) {
		fprintf(stderr, "aps-bpf: replay: %s\n", pl.cur.problem[0] ? pl.cur.problem : strerror(-err));
	} else {
		v->pid = (pid_t)r->hdr.pid;
		snprintf(v->interp, sizeof(v->interp), "Python %.56s", r->hdr.python);
		v->lost_events = pl.lost;
		top_view_draw(out, v, &m, &t.st, to);
		rc = 0;
	}
	rec_player_free(&pl);
	stats_free(&t.st);
	model_free(&m);
	return rc;
}

/* ---- blocked -------------------------------------------------------------------------- */

#define KEPT_MAX 256

struct blocked_replay {
	struct rec_player pl;
	struct model m;
	FILE *out;
	bool json;
	uint64_t threshold, from;
	struct blocked_capture *kept;	/* BLOCKED records not yet matched to a step end */
	unsigned nkept;
	uint64_t reported, with_stack, bad;
};

static void blocked_on_model_event(void *ctx, const struct model_event *ev)
{
	struct blocked_replay *b = ctx;
	const struct blocked_capture *cap = NULL;
	struct blocked_report rep;

	if (ev->kind != MEV_STEP_END || ev->duration_ns < b->threshold || ev->ts < b->from)
		return;
	for (unsigned i = 0; i < b->nkept; i++)
		if (b->kept[i].task == ev->addr && b->kept[i].begin_ts == ev->ts - ev->duration_ns)
			cap = &b->kept[i];
	rep = (struct blocked_report){
		.begin_ts = ev->ts - ev->duration_ns,
		.duration_ns = ev->duration_ns,
		.task = ev->addr,
		.tid = ev->tid,
		.ns_tid = rec_cursor_ns_tid(&b->pl.cur, ev->tid),
		.name = ev->task ? ev->task->name : NULL,
		.coro = ev->task ? ev->task->coro_name : NULL,
		.ended = ev->result != APS_RES_UNKNOWN,
	};
	blocked_print(b->out, b->json, &rep, cap);
	b->reported++;
	if (cap) {
		b->with_stack++;
		b->kept[cap - b->kept] = b->kept[--b->nkept];
	}
}

static int blocked_on_record(void *ctx, const void *data, size_t len)
{
	struct blocked_replay *b = ctx;

	model_apply(&b->m, data, len, blocked_on_model_event, b);
	return 0;
}

static void blocked_on_item(void *ctx, const struct rec_item *it)
{
	struct blocked_replay *b = ctx;

	if (it->kind != REC_ITEM_BLOCKED)
		return;
	if (b->nkept == KEPT_MAX)
		b->kept[0] = b->kept[--b->nkept];	/* one that never ended: forget it */
	if (rec_blocked_decode(it->body, it->body_len, &b->kept[b->nkept])) {
		b->bad++;
	} else if (!b->kept[b->nkept].task) {
		/* no task step: a loop stall (loop mode, the agent), reported as taken */
		const struct blocked_capture *cap = &b->kept[b->nkept];
		struct blocked_report rep = {
			.begin_ts = cap->begin_ts,
			.duration_ns = cap->crossed_ts > cap->begin_ts ? cap->crossed_ts - cap->begin_ts : 0,
			.tid = cap->tid,
			.ns_tid = cap->ns_tid,
			.name = "(loop stall)",
			.coro = "stalled at least this long when its stack was read",
			.ended = true,
		};

		if (cap->begin_ts >= b->from) {
			blocked_print(b->out, b->json, &rep, cap);
			b->reported++;
			b->with_stack++;
		}
	} else {
		b->nkept++;
	}
}

int replay_view_blocked(const struct rec_reader *r, FILE *out, bool json, uint64_t threshold,
			uint64_t from, uint64_t to)
{
	static struct blocked_replay b;
	char d[32];
	int err, rc = 1;

	memset(&b, 0, sizeof(b));
	b.out = out;
	b.json = json;
	b.threshold = threshold;
	b.from = from;
	b.kept = calloc(KEPT_MAX, sizeof(*b.kept));
	if (!b.kept || model_init(&b.m, 4096) || rec_player_init(&b.pl, r, &b.m)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		free(b.kept);
		return 1;
	}
	err = rec_player_seek(&b.pl, from);
	b.pl.on_item = blocked_on_item;
	b.pl.item_ctx = &b;
	if (!err)
		err = rec_player_run(&b.pl, to, blocked_on_record, NULL, &b);
	if (err) {
		fprintf(stderr, "aps-bpf: replay: %s\n",
			b.pl.cur.problem[0] ? b.pl.cur.problem : strerror(err < 0 ? -err : EIO));
	} else {
		fprintf(stderr, "aps-bpf: %" PRIu64 " blocking step%s (threshold %s), %" PRIu64
			" with the stack the recorder took%s\n", b.reported, b.reported == 1 ? "" : "s",
			fmt_dur(threshold, d, sizeof(d)), b.with_stack,
			b.bad ? "; some BLOCKED records were malformed" : "");
		rc = 0;
	}
	rec_player_free(&b.pl);
	model_free(&b.m);
	free(b.kept);
	return rc;
}
