// SPDX-License-Identifier: MIT
/* `aps-bpf replay FILE VIEW`: a recording through the same model and printers. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/view_opts.h"
#include "cli/outfile.h"
#include "loop/loop_replay.h"
#include "recording/rec_reader.h"
#include "output/replay_view.h"
#include "output/trace_view.h"

static const char replay_usage[] =
	"usage: aps-bpf replay FILE [trace] [--json] [--from T] [--to T] [-o OUT]\n"
	"       aps-bpf replay FILE ps [--at T] [--format table|csv|json]\n"
	"       aps-bpf replay FILE pstree [--at T] [--format text|json] [--collapse N]\n"
	"                                  [--fail-on-cycle]\n"
	"       aps-bpf replay FILE top [--from T] [--to T] [--json] [--sort KEY] [--by task|coro]\n"
	"       aps-bpf replay FILE blocked [--threshold DURATION] [--from T] [--to T] [--json]\n"
	"       aps-bpf replay FILE info [--json]\n"
	"\n"
	"Replay a recording made by `aps-bpf record` through the same task model\n"
	"and views as live.\n"
	"  trace    print the events as `aps-bpf trace` printed them live (default);\n"
	"           --json: JSON lines (docs/trace-json.md)\n"
	"  ps, pstree  the tasks at T (default: the end) as live ps/pstree show them,\n"
	"           with state, age and waiting from the events: the last memory\n"
	"           read before T (record --tasks-every) gives the coroutine stacks and\n"
	"           edges; tasks that stepped after it show their coroutine and the\n"
	"           task they await (stderr says how many)\n"
	"  top      the `top -b` report over the window\n"
	"  blocked  steps of --threshold (default 100ms) or longer, with the stacks\n"
	"           `record --blocked` took\n"
	"  info     what the file holds: target, times, segments, events, bytes/event\n"
	"A loop-mode recording (record --mode loop, record --flight): top is loop top\n"
	"over the window, blocked lists its loop stalls, ps/pstree read its task reads.\n"
	"\n"
	"  --from T, --to T   only the events from/to T: seconds from the recording's\n"
	"                     start (1.5, 250ms) or a wall-clock time HH:MM:SS[.fff].\n"
	"                     Tasks created before --from are known (from the snapshot\n"
	"                     that starts each segment of the file).\n"
	"  --at T             the instant for ps/pstree (as --from)\n"
	"  -o OUT             write to OUT instead of stdout\n";

struct replay {
	struct rec_player pl;
	struct trace_view p;
};

/* The printer names threads as the target saw them: the recorded mapping. */
static void cache_tid(struct replay *rp, uint32_t tid)
{
	struct trace_view *p = &rp->p;
	unsigned slot;

	for (unsigned i = 0; i < p->ntids && i < TID_CACHE; i++)
		if (p->tids[i].tid == tid)
			return;
	slot = p->ntids++ % TID_CACHE;
	p->tids[slot].tid = tid;
	p->tids[slot].ns_tid = rec_cursor_ns_tid(&rp->pl.cur, tid);
}

static int on_event(void *ctx, const void *data, size_t len)
{
	struct replay *rp = ctx;
	const struct aps_event_hdr *h = data;

	if (len >= sizeof(*h))
		cache_tid(rp, h->tid);
	return trace_view_event(&rp->p, data, len);
}

static void on_lost(void *ctx, uint64_t ts, uint64_t count, uint64_t total)
{
	struct replay *rp = ctx;

	(void)count;
	trace_view_lost(&rp->p, total, ts);
}

/* Steps still open at the end of a window are not "ended": forget them. */
static void forget_open_steps(struct model *m)
{
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->slots[i].used)
			m->slots[i].step_begin_ts = 0;
}

static int open_reader(struct rec_reader *r, const char *path)
{
	char err[256];

	if (rec_reader_open(r, path, err, sizeof(err))) {
		fprintf(stderr, "aps-bpf: %s\n", err);
		return -1;
	}
	if (r->problem[0])
		fprintf(stderr, "aps-bpf: %s: %s; reading what comes before\n", path, r->problem);
	return 0;
}

static int parse_window(const struct rec_reader *r, const char *from_s, const char *to_s,
			uint64_t *from, uint64_t *to)
{
	*from = 0;
	*to = UINT64_MAX;
	if (from_s && rec_parse_time(r, from_s, from)) {
		fprintf(stderr, "aps-bpf: replay: --from wants seconds or HH:MM:SS[.fff], got '%s'\n",
			from_s);
		return -1;
	}
	if (to_s && rec_parse_time(r, to_s, to)) {
		fprintf(stderr, "aps-bpf: replay: --to wants seconds or HH:MM:SS[.fff], got '%s'\n", to_s);
		return -1;
	}
	if (*to < *from) {
		fprintf(stderr, "aps-bpf: replay: --to is before --from\n");
		return -1;
	}
	return 0;
}

static int view_trace(const struct rec_reader *r, FILE *out, bool json, uint64_t from, uint64_t to,
		      bool window)
{
	static struct replay rp;
	const char *reason = "truncated";
	uint64_t end_ts, lost, read_errors = 0;
	int err, rc = 1;

	if (trace_view_init(&rp.p, out, json, 0)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		return 1;
	}
	if (rec_player_init(&rp.pl, r, &rp.p.model)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		trace_view_free(&rp.p);
		return 1;
	}
	err = rec_player_seek(&rp.pl, from);
	if (!err)
		err = rec_player_run(&rp.pl, to, on_event, on_lost, &rp);
	if (err)
		fprintf(stderr, "aps-bpf: %s; stopped there\n",
			rp.pl.cur.problem[0] ? rp.pl.cur.problem : strerror(-err));
	lost = rp.pl.lost;
	end_ts = rp.pl.last_ts;
	if (window && (rp.pl.have_item || !rp.pl.at_end)) {
		/* the recording goes on after --to */
		reason = "window";
		end_ts = to;
		forget_open_steps(&rp.p.model);
	} else if (rp.pl.ended) {
		reason = rp.pl.end.reason;
		end_ts = rp.pl.end.ts;
		read_errors = rp.pl.end.read_errors;
		if (!window)
			lost = rp.pl.end.lost;
	}
	trace_view_finish(&rp.p, reason, end_ts, lost, read_errors, NULL, 0);
	if (!err)
		rc = 0;
	rec_player_free(&rp.pl);
	trace_view_free(&rp.p);
	return rc;
}

/* ---- info ---------------------------------------------------------------------- */

static void json_kv_str(FILE *out, const char *key, const char *v, bool comma)
{
	char buf[2048];

	json_escape(v, buf, sizeof(buf));
	fprintf(out, "%s\"%s\":\"%s\"", comma ? "," : "", key, buf);
}

static int view_info(const struct rec_reader *r, const char *path, FILE *out, bool json)
{
	const struct rec_header *h = &r->hdr;
	struct rec_cursor c;
	struct rec_item *it = malloc(sizeof(*it));
	uint64_t kinds[APS_EV_CANCEL + 1] = {}, events = 0, lost = 0, first = 0, last = 0, snap_bytes = 0;
	uint64_t reads = 0, read_bytes = 0, stacks = 0;
	struct rec_end end = {};
	bool ended = false;
	char wall[64];
	int rc;

	if (!it || rec_cursor_init(&c, r)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		free(it);
		return 1;
	}
	while ((rc = rec_cursor_next(&c, it)) > 0) {
		switch (it->kind) {
		case REC_ITEM_EVENT: {
			unsigned t = ((const struct aps_event_hdr *)it->event)->type;

			kinds[t <= APS_EV_CANCEL ? t : 0]++;
			events++;
			if (it->ts && (!first || it->ts < first))
				first = it->ts;
			if (it->ts > last)
				last = it->ts;
			break;
		}
		case REC_ITEM_LOST: lost += it->lost.count; break;
		case REC_ITEM_END: end = it->end; ended = true; break;
		case REC_ITEM_SNAPSHOT: snap_bytes += it->body_len; break;
		case REC_ITEM_TASKS: reads++; read_bytes += it->body_len; break;
		case REC_ITEM_BLOCKED: stacks++; break;
		default: break;
		}
	}
	if (rc < 0)
		fprintf(stderr, "aps-bpf: %s\n", c.problem);
	rec_format_wall(r, h->start_ns, wall, sizeof(wall));
	if (json) {
		char buf[2048];

		json_escape(path, buf, sizeof(buf));
		fprintf(out, "{\"file\":\"%s\",\"version\":%u,\"flight\":%s,\"pid\":%u", buf,
			h->version, h->flags & REC_HDR_FLIGHT ? "true" : "false", h->pid);
		json_kv_str(out, "python", h->python, true);
		json_kv_str(out, "comm", h->comm, true);
		json_kv_str(out, "cmdline", h->cmdline, true);
		json_kv_str(out, "host", h->host, true);
		json_kv_str(out, "asyncio_obj", h->asyncio_obj, true);
		fprintf(out, ",\"clock_mono_ns\":%" PRIu64 ",\"clock_real_ns\":%" PRIu64
			",\"start_ns\":%" PRIu64, h->clock_mono_ns, h->clock_real_ns, h->start_ns);
		json_kv_str(out, "start", wall, true);
		fprintf(out, ",\"first_event_ns\":%" PRIu64 ",\"last_event_ns\":%" PRIu64, first, last);
		fprintf(out, ",\"bytes\":%zu,\"valid_bytes\":%zu,\"frames\":%" PRIu64 ",\"segments\":%u",
			r->size, r->valid_end, r->frames, r->nsegs);
		fprintf(out, ",\"events\":%" PRIu64 ",\"task_new\":%" PRIu64 ",\"step_begin\":%" PRIu64
			",\"step_end\":%" PRIu64 ",\"task_destroy\":%" PRIu64 ",\"type_name\":%" PRIu64
			",\"cancel\":%" PRIu64,
			events, kinds[1], kinds[2], kinds[3], kinds[4], kinds[5], kinds[6]);
		fprintf(out, ",\"bytes_per_event\":%.3f,\"snapshot_bytes\":%" PRIu64 ",\"lost\":%" PRIu64,
			events ? (double)(r->valid_end - r->data_start - read_bytes) / (double)events : 0.0,
			snap_bytes, lost);
		fprintf(out, ",\"memory_reads\":%" PRIu64 ",\"memory_read_bytes\":%" PRIu64
			",\"blocked_stacks\":%" PRIu64, reads, read_bytes, stacks);
		if (ended) {
			json_kv_str(out, "end_reason", end.reason, true);
			fprintf(out, ",\"end_ns\":%" PRIu64 ",\"read_errors\":%" PRIu64, end.ts,
				end.read_errors);
		} else {
			fprintf(out, ",\"end_reason\":null");
		}
		json_kv_str(out, "problem", r->problem, true);
		if (loop_replay_is_loop(r))
			loop_replay_info(r, out, true);
		fputs("}\n", out);
	} else {
		fprintf(out, "file:        %s (format %u%s)\n", path, h->version,
			h->flags & REC_HDR_FLIGHT ? ", flight-recorder window" : "");
		fprintf(out, "target:      pid %u, %s, Python %s\n", h->pid, h->comm, h->python);
		if (h->cmdline[0])
			fprintf(out, "command:     %s\n", h->cmdline);
		if (h->host[0])
			fprintf(out, "host:        %s\n", h->host);
		fprintf(out, "start:       %s\n", wall);
		if (last > h->start_ns)
			fprintf(out, "duration:    %.3f s of events\n", (double)(last - h->start_ns) / 1e9);
		fprintf(out, "size:        %zu bytes, %" PRIu64 " frames, %u segments%s\n", r->size, r->frames,
			r->nsegs, r->valid_end < r->size ? " (with a bad tail)" : "");
		fprintf(out, "events:      %" PRIu64 " (task_new %" PRIu64 ", step_begin %" PRIu64
			", step_end %" PRIu64 ", task_destroy %" PRIu64 ", type_name %" PRIu64
			", cancel %" PRIu64 ")\n",
			events, kinds[1], kinds[2], kinds[3], kinds[4], kinds[5], kinds[6]);
		if (events)
			fprintf(out, "bytes/event: %.2f (all data but the memory reads: frames, snapshots)\n",
				(double)(r->valid_end - r->data_start - read_bytes) / (double)events);
		fprintf(out, "task reads:  %" PRIu64 " from memory (%" PRIu64 " bytes), for ps/pstree --at\n",
			reads, read_bytes);
		if (stacks)
			fprintf(out, "stacks:      %" PRIu64 " of blocking steps (record --blocked)\n", stacks);
		fprintf(out, "lost:        %" PRIu64 " events\n", lost);
		if (ended)
			fprintf(out, "ended:       %s\n", end.reason);
		else
			fprintf(out, "ended:       no END record: the recorder was stopped abruptly\n");
		if (r->problem[0])
			fprintf(out, "problem:     %s\n", r->problem);
		if (loop_replay_is_loop(r))
			loop_replay_info(r, out, false);
	}
	rec_cursor_free(&c);
	free(it);
	return rc < 0 ? 1 : 0;
}

static int usage(const char *fmt, const char *arg)
{
	fputs("aps-bpf: replay: ", stderr);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", replay_usage);
	return 2;
}

static bool known_view(const char *v)
{
	static const char *const views[] = { "trace", "ps", "pstree", "top", "blocked", "info" };

	for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
		if (!strcmp(v, views[i]))
			return true;
	return false;
}

/* ps and pstree take --format; the other views do not */
static int parse_format(const char *arg, const char *view, enum task_view_format *f)
{
	if (strcmp(view, "ps") && strcmp(view, "pstree"))
		return -EINVAL;
	return task_view_parse_format(arg, !strcmp(view, "pstree"), f);
}

struct replay_opts {
	struct task_view_opts vo;
	struct top_view tv;
	const char *at_s, *format_s;
	uint64_t threshold;
	bool fail_on_cycle;
};

static int replay_opt(struct cli *c, int opt, const char *arg, void *ctx)
{
	struct replay_opts *o = ctx;
	unsigned long v;

	switch (opt) {
	case 'a': o->at_s = arg; return 0;
	case 'f': o->format_s = arg; return 0;
	case 'c':
		if (cli_uint(c, "--collapse", arg, 2, 100000000, &v))
			return 2;
		o->vo.collapse = (unsigned)v;
		return 0;
	case 'F': o->fail_on_cycle = true; return 0;
	case 'T': return cli_duration(c, "--threshold", arg, 1000, CLI_MAX_DURATION, &o->threshold);
	default: return view_opts_top(c, opt, arg, &o->tv);
	}
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPT_JSON, CLI_OPT_FROM, CLI_OPT_TO, CLI_OPT_OUTPUT,
		{ "at", required_argument, NULL, 'a' },
		VIEW_OPTS_TASKS,
		{ "threshold", required_argument, NULL, 'T' },
		VIEW_OPTS_TOP, CLI_OPT_HELP,
		{},
	};
	static char outbuf[1 << 20];
	static struct replay_opts o;
	struct cli cli = { .cmd = "replay", .usage = replay_usage, .target = CLI_FILE, .max_args = 1 };
	const char *path, *view, *from_s, *to_s, *out_path, *at_s, *format_s;
	struct task_view_opts vo;
	struct top_view tv;
	struct rec_reader r;
	uint64_t from, to, at, threshold;
	bool json, fail_on_cycle;
	FILE *out = stdout;
	int rc;

	memset(&o, 0, sizeof(o));
	o.vo.format = VIEW_TABLE;
	o.threshold = 100000000;
	top_view_init(&o.tv);
	if (!cli_parse(&cli, argc, argv, "jo:h", opts, replay_opt, &o, &rc))
		return rc;
	path = cli.args[0];
	view = cli.nargs > 1 ? cli.args[1] : "trace";
	from_s = cli.from;
	to_s = cli.to;
	out_path = cli.output;
	json = cli.json;
	vo = o.vo;
	tv = o.tv;
	at_s = o.at_s;
	format_s = o.format_s;
	threshold = o.threshold;
	fail_on_cycle = o.fail_on_cycle;
	if (!known_view(view))
		return usage("unknown view '%s' (trace, ps, pstree, top, blocked, info)", view);
	if (format_s && parse_format(format_s, view, &vo.format))
		return cli_bad(&cli, "--format", !strcmp(view, "pstree") ? "text or json (pstree)" :
			       !strcmp(view, "ps") ? "table, csv or json (ps)" :
			       "nothing: only ps and pstree take it", format_s);
	if (at_s && strcmp(view, "ps") && strcmp(view, "pstree"))
		return usage("--at goes with ps and pstree (%s)", view);
	if (open_reader(&r, path))
		return 1;
	if (parse_window(&r, from_s, to_s, &from, &to)) {
		rec_reader_close(&r);
		return 2;
	}
	if (at_s && rec_parse_time(&r, at_s, &at)) {
		fprintf(stderr, "aps-bpf: replay: --at wants seconds or HH:MM:SS[.fff], got '%s'\n", at_s);
		rec_reader_close(&r);
		return 2;
	}
	if (!at_s)
		at = replay_view_end_ts(&r);
	if (out_path) {
		out = fopen(out_path, "we");
		if (!out) {
			fprintf(stderr, "aps-bpf: cannot write %s: %s\n", out_path, strerror(errno));
			rec_reader_close(&r);
			return 1;
		}
	}
	if (!isatty(fileno(out)))
		setvbuf(out, outbuf, _IOFBF, sizeof(outbuf));
	if (!strcmp(view, "info")) {
		rc = view_info(&r, path, out, json);
	} else if (!strcmp(view, "ps") || !strcmp(view, "pstree")) {
		rc = replay_view_tasks(&r, out, !strcmp(view, "pstree"), at, &vo, fail_on_cycle);
	} else if (loop_replay_is_loop(&r) && !strcmp(view, "top")) {
		rc = loop_replay_top(&r, out, json, from, to);
	} else if (loop_replay_is_loop(&r) && !strcmp(view, "blocked")) {
		rc = loop_replay_blocked(&r, out, json, threshold, from, to);
	} else if (!strcmp(view, "top")) {
		tv.json = json;
		rc = replay_view_top(&r, out, &tv, from, to);
	} else if (!strcmp(view, "blocked")) {
		rc = replay_view_blocked(&r, out, json, threshold, from, to);
	} else {
		rc = view_trace(&r, out, json, from, to, from_s || to_s);
	}
	if (outfile_close_stream(out, out_path ? out_path : "stdout"))
		rc = 1;
	rec_reader_close(&r);
	return rc;
}
