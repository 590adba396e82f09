// SPDX-License-Identifier: MIT
/* `check --mode loop`: exit 1 when the loop stalled longer than --max-step. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "live/session.h"
#include "loop/loop_cmds.h"
#include "loop/loop_stall.h"
#include "output/escape.h"
#include "output/fmt.h"
#include "util/monotime.h"

#define MAX_STALLS 1000

struct stall_row {
	uint64_t dur, run_delay;
	uint32_t tid, ns_tid;
	int line;
	bool ended;
	enum stall_kind kind;
	char func[160], file[256], task[STALL_NAME_MAX];
};

struct lc_ctx {
	struct loop_session s;
	struct loop_stall_watch w;
	struct stall_row *rows;
	size_t n, more;
};

static void on_stall(void *ctx, const struct loop_stall *st)
{
	struct lc_ctx *c = ctx;
	const struct stack_frame *f = st->fn_frame >= 0 ? &st->cap.stack.f[st->fn_frame] : NULL;
	struct stall_row *r;

	if (c->n == MAX_STALLS) {
		c->more++;
		return;
	}
	r = &c->rows[c->n++];
	r->dur = st->duration_ns;
	r->run_delay = st->run_delay_ns;
	r->tid = st->tid;
	r->ns_tid = st->ns_tid;
	r->ended = st->ended;
	r->kind = st->kind;
	r->line = f ? f->line : -1;
	snprintf(r->func, sizeof(r->func), "%s", f ? f->func : "?");
	snprintf(r->file, sizeof(r->file), "%s", f ? f->file : "?");
	snprintf(r->task, sizeof(r->task), "%s", st->task_name[0] ? st->task_name : "?");
}

static void on_tick(struct loop_session *s, void *ctx)
{
	(void)s;
	loop_stall_look(&((struct lc_ctx *)ctx)->w);
}

static const char *kind_name(enum stall_kind k)
{
	return k == STALL_TASK ? "task" : k == STALL_CALLBACK ? "callback" : "unknown";
}

static void print_rows(struct lc_ctx *c, bool json)
{
	char d[32], t[40], esc[3][600];

	if (json) {
		printf("{\"pid\":%d,\"mode\":\"loop\",\"healthy\":%s,\"offenders\":[", c->s.pid,
		       c->n ? "false" : "true");
		for (size_t i = 0; i < c->n; i++) {
			const struct stall_row *r = &c->rows[i];

			json_escape(r->func, esc[0], sizeof(esc[0]));
			json_escape(r->file, esc[1], sizeof(esc[1]));
			json_escape(r->task, esc[2], sizeof(esc[2]));
			printf("%s{\"kind\":\"stall\",\"ran\":\"%s\",\"function\":\"%s\",\"file\":\"%s\","
			       "\"line\":%d,\"name\":\"%s\",", i ? "," : "",
			       kind_name(r->kind), esc[0], esc[1], r->line, esc[2]);
			fmt_json_tid(stdout, r->tid, r->ns_tid);
			printf(",\"duration_ns\":%" PRIu64 ",\"run_delay_ns\":%" PRIu64 ",\"ended\":%s}", r->dur,
			       r->run_delay, r->ended ? "true" : "false");
		}
		printf("],\"more_offenders\":%zu}\n", c->more);
		return;
	}
	if (!c->n) {
		printf("aps-bpf check: pid %d healthy\n", c->s.pid);
		return;
	}
	printf("aps-bpf check: pid %d: %zu offender%s\n", c->s.pid, c->n + c->more,
	       c->n + c->more == 1 ? "" : "s");
	for (size_t i = 0; i < c->n; i++) {
		const struct stall_row *r = &c->rows[i];

		printf("  loop stall %s > --max-step in %s %s%s%s%s at %s:%d, tid %s%s\n",
		       fmt_dur(r->dur, d, sizeof(d)), kind_name(r->kind),
		       r->kind == STALL_TASK ? r->task : r->func,
		       r->kind == STALL_TASK ? " (" : "", r->kind == STALL_TASK ? r->func : "",
		       r->kind == STALL_TASK ? ")" : "", r->file, r->line,
		       fmt_tid(r->tid, r->ns_tid, t, sizeof(t)), r->ended ? "" : ", still running");
	}
	if (c->more)
		printf("  ... and %zu more\n", c->more);
}

int loop_check_run(const struct loop_opts *o)
{
	static struct lc_ctx c;
	int err, why, rc = 3;

	memset(&c, 0, sizeof(c));
	c.rows = calloc(MAX_STALLS, sizeof(*c.rows));
	if (!c.rows) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		return 3;
	}
	err = loop_stall_start(&c.w, &c.s, o, APS_LOOP_SPANS, on_stall, NULL, &c);
	if (err)
		goto cleanup;
	c.s.on_tick = on_tick;
	c.s.tick_ctx = &c;
	why = loop_session_run(&c.s, (unsigned)(o->duration / 1000000));
	if (why == SESSION_ERROR) {
		fprintf(stderr, "aps-bpf: %s\n", c.s.err);
		goto cleanup;
	}
	if (why == SESSION_INTERRUPTED) {
		fprintf(stderr, "aps-bpf check: interrupted before --for ended\n");
		goto cleanup;
	}
	if (why == SESSION_TARGET_EXITED)
		fprintf(stderr, "aps-bpf check: process %d exited during the check; judging what was seen\n",
			c.s.pid);
	loop_stall_finish(&c.w, monotime_ns());
	print_rows(&c, o->json);
	rc = c.n ? 1 : 0;
cleanup:
	loop_session_close(&c.s);
	free(c.rows);
	return rc;
}
