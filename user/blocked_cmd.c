// SPDX-License-Identifier: MIT
/*
 * `aps-bpf blocked`: steps that held the event loop longer than a threshold,
 * with the Python stack of the thread at the moment the threshold was
 * crossed, while the step was still running. The BPF side keeps each
 * thread's open step in a map; userspace looks at it every few ms and reads
 * the thread's frames from memory the moment a step gets too old. Steps
 * that stay under the threshold cost nothing extra.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <limits.h>
#include "commands.h"
#include "duration.h"
#include "proc.h"
#include "target_session.h"
#include "thread_stack.h"
#include "top_render.h"

#define MAX_PENDING 64		/* steps over the threshold, not ended yet */

static const char blocked_usage[] =
	"usage: aps-bpf blocked [--threshold DURATION] [--duration DURATION] [--json] [-v] PID\n"
	"\n"
	"Report every asyncio task step of PID that runs longer than --threshold\n"
	"(default 100ms): task, coroutine, duration, and the thread's Python stack\n"
	"taken while the step was still running, just after it crossed the\n"
	"threshold. Runs until Ctrl-C, --duration, or the target exits.\n";

struct blocked_step {
	uint32_t tid;
	uint64_t task, begin_ts, crossed_ts;
	struct thread_stack stack;
	int stack_err;
	char state;		/* the thread's scheduler state then: R running, S sleeping... */
	char wchan[64];		/* where the kernel had it waiting, if it was */
	bool used;
};

struct blocked_ctx {
	struct session s;
	struct model model;
	struct thread_stack_reader reader;
	uint64_t threshold;
	bool json;
	struct blocked_step pending[MAX_PENDING];
	uint64_t reported, missed_stacks;
	FILE *out;
};

static void on_signal(int sig)
{
	(void)sig;
	session_stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static struct blocked_step *find_pending(struct blocked_ctx *c, uint64_t task, uint64_t begin_ts)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (c->pending[i].used && c->pending[i].task == task &&
		    c->pending[i].begin_ts == begin_ts)
			return &c->pending[i];
	return NULL;
}

/* Line `line` of a source file of the target (through its root), stripped
 * and escaped; "" when unreadable. Bounded: 1 MiB scanned, 200 bytes kept. */
static void source_line(pid_t pid, const char *file, int line, char *out, size_t len)
{
	char path[PATH_MAX + 64], buf[4096];
	struct aps_pystr s = { .kind = 1 };
	size_t scanned = 0;
	FILE *f;
	char *p;

	out[0] = '\0';
	if (line <= 0 || file[0] != '/' || proc_root_path(pid, file, path, sizeof(path)))
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	for (int n = 1; fgets(buf, sizeof(buf), f) && scanned < (1 << 20); n++) {
		scanned += strlen(buf);
		if (n < line)
			continue;
		buf[strcspn(buf, "\r\n")] = '\0';
		for (p = buf; *p == ' ' || *p == '\t'; p++)
			;
		s.nchars = (uint32_t)strlen(p);
		s.truncated = s.nchars > APS_STR_MAX;
		memcpy(s.data, p, s.truncated ? APS_STR_MAX : s.nchars);
		pystr_to_utf8(&s, NULL, out, len);
		break;
	}
	fclose(f);
}

/* The thread's state and kernel wait channel at the crossing. */
static void thread_wait(pid_t pid, uint32_t tid, struct blocked_step *b)
{
	char path[96], buf[512], *p;
	FILE *f;

	b->state = '?';
	snprintf(path, sizeof(path), "/proc/%d/task/%u/stat", pid, tid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
			b->state = p[2];
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%u/wchan", pid, tid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(b->wchan, sizeof(b->wchan), f))
			b->wchan[strcspn(b->wchan, "\n")] = '\0';
		fclose(f);
		for (p = b->wchan; *p; p++)
			if (*p < 0x20 || *p >= 0x7f)
				*p = '?';
		if (!strcmp(b->wchan, "0"))
			b->wchan[0] = '\0';
	}
}

static void print_stack(struct blocked_ctx *c, const struct blocked_step *b)
{
	char esc[3][1024], src[512];

	if (c->json) {
		fputs(",\"stack\":", c->out);
		if (!b) {
			fputs("null", c->out);
			return;
		}
		fputc('[', c->out);
		for (uint32_t i = 0; i < b->stack.n; i++) {
			const struct stack_frame *f = &b->stack.f[i];

			json_escape(f->func, esc[0], sizeof(esc[0]));
			json_escape(f->file, esc[1], sizeof(esc[1]));
			source_line(c->s.pid, f->file, f->line, src, sizeof(src));
			json_escape(src, esc[2], sizeof(esc[2]));
			fprintf(c->out, "%s{\"func\":\"%s\",\"file\":\"%s\",\"line\":%d,\"source\":\"%s\"}",
				i ? "," : "", esc[0], esc[1], f->line, esc[2]);
		}
		fprintf(c->out, "],\"thread_state\":\"%c\",\"wchan\":\"%s\"", b->state, b->wchan);
		return;
	}
	if (!b) {
		fprintf(c->out, "    (stack not taken: the step ended before aps-bpf looked)\n");
		return;
	}
	if (b->stack_err) {
		fprintf(c->out, "    (stack unreadable: %s)\n", strerror(-b->stack_err));
		return;
	}
	fprintf(c->out, "    stack when it crossed the threshold, innermost first (thread %s%s%s):\n",
		b->state == 'R' ? "running" : b->state == 'S' || b->state == 'D' ? "waiting" : "state ?",
		b->wchan[0] ? " in " : "", b->wchan);
	for (uint32_t i = 0; i < b->stack.n; i++) {
		fprintf(c->out, "      %s  %s:%d\n", b->stack.f[i].func, b->stack.f[i].file,
			b->stack.f[i].line);
		source_line(c->s.pid, b->stack.f[i].file, b->stack.f[i].line, src, sizeof(src));
		if (src[0])
			fprintf(c->out, "          %s\n", src);
	}
	if (b->stack.truncated)
		fprintf(c->out, "      ...\n");
}

static void report(struct blocked_ctx *c, const struct model_event *ev, struct blocked_step *b)
{
	const struct task *t = ev->task;
	char d[32], esc[2][1024];
	uint32_t ns_tid = proc_ns_tid(c->s.pid, ev->tid);

	c->reported++;
	if (!b)
		c->missed_stacks++;
	if (c->json) {
		json_escape(t ? t->name : "?", esc[0], sizeof(esc[0]));
		json_escape(t ? t->coro_name : "?", esc[1], sizeof(esc[1]));
		fprintf(c->out, "{\"event\":\"blocked\",\"ts_ns\":%" PRIu64 ",\"tid\":%u,\"task\":\"0x%" PRIx64
			"\",\"name\":\"%s\",\"coro\":\"%s\",\"duration_ns\":%" PRIu64 ",\"ended\":%s",
			ev->ts - ev->duration_ns, ns_tid, ev->addr, esc[0], esc[1], ev->duration_ns,
			ev->result == APS_RES_UNKNOWN ? "false" : "true");
		print_stack(c, b);
		fputs("}\n", c->out);
	} else {
		fprintf(c->out, "blocked %s: task %s (%s), tid %u%s\n",
			top_fmt_dur(ev->duration_ns, d, sizeof(d)), t ? t->name : "?",
			t ? t->coro_name : "?", ns_tid,
			ev->result == APS_RES_UNKNOWN ? ", still running at exit" : "");
		print_stack(c, b);
	}
	fflush(c->out);
	if (b)
		b->used = false;
}

static void on_model_event(void *ctx, const struct model_event *ev)
{
	struct blocked_ctx *c = ctx;

	if (ev->kind != MEV_STEP_END || ev->duration_ns < c->threshold)
		return;
	report(c, ev, find_pending(c, ev->addr, ev->ts - ev->duration_ns));
}

static int on_record(void *ctx, const void *data, size_t len)
{
	struct blocked_ctx *c = ctx;

	model_apply(&c->model, data, len, on_model_event, c);
	return 0;
}

/* A step is running on tid: if it just got too old, take the stack now. */
static void on_open_step(void *ctx, uint32_t tid, uint64_t task, uint64_t begin_ts)
{
	struct blocked_ctx *c = ctx;
	uint64_t now = now_ns();
	struct blocked_step *b;

	if (now < begin_ts || now - begin_ts < c->threshold || find_pending(c, task, begin_ts))
		return;
	for (b = c->pending; b < c->pending + MAX_PENDING && b->used; b++)
		;
	if (b == c->pending + MAX_PENDING)
		return;		/* that many at once: the next look will retry */
	memset(b, 0, sizeof(*b));
	b->used = true;
	b->tid = tid;
	b->task = task;
	b->begin_ts = begin_ts;
	b->crossed_ts = now;
	b->stack_err = thread_stack_read(&c->reader, proc_ns_tid(c->s.pid, tid), &b->stack);
	thread_wait(c->s.pid, tid, b);
}

static void on_tick(struct session *s, void *ctx)
{
	struct blocked_ctx *c = ctx;

	tracer_open_steps(s->tracer, on_open_step, c);
	model_sweep(&c->model, now_ns(), 60ull * 1000000000);
}

int cmd_blocked(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "threshold", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	static struct blocked_ctx c;
	uint64_t duration = 0;
	char *end;
	long pid;
	int opt, err, rc = 1;

	memset(&c, 0, sizeof(c));
	c.threshold = 100ull * 1000000;
	c.out = stdout;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+t:d:jvh", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (duration_parse(optarg, &c.threshold) || c.threshold < 1000000)
				goto usage;
			break;
		case 'd':
			if (duration_parse(optarg, &duration) || !duration)
				goto usage;
			break;
		case 'j': c.json = true; break;
		case 'v': c.s.verbose = true; break;
		case 'h': fputs(blocked_usage, stdout); return 0;
		default: goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	errno = 0;
	pid = strtol(argv[optind], &end, 10);
	if (errno || end == argv[optind] || *end || pid <= 0 || pid > 0x3fffffff)
		goto usage;
	c.s.pid = (pid_t)pid;
	/* look often enough to catch a step soon after it crosses the threshold */
	c.s.poll_ms = c.threshold / 4000000 < 20 ? (int)(c.threshold / 4000000) : 20;
	if (c.s.poll_ms < 1)
		c.s.poll_ms = 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (model_init(&c.model, 4096)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		return 1;
	}
	err = session_load(&c.s, on_record, &c);
	if (!err)
		err = session_resolve(&c.s, false);
	if (!err)
		err = thread_stack_reader_init(&c.reader, &c.s.ip, &c.s.layout, c.s.err, sizeof(c.s.err));
	if (!err)
		err = session_attach(&c.s);
	if (err) {
		fprintf(stderr, "aps-bpf: %s\n", c.s.err[0] ? c.s.err : strerror(-err));
		goto cleanup;
	}
	c.s.on_tick = on_tick;
	c.s.tick_ctx = &c;
	enum session_end why = session_run(&c.s, (unsigned)(duration / 1000000));
	if (why == SESSION_ERROR) {
		fprintf(stderr, "aps-bpf: %s\n", c.s.err);
		goto cleanup;
	}
	/* steps still running when we stop: report them with their stacks */
	model_close_open_steps(&c.model, now_ns(), on_model_event, &c);
	fprintf(stderr, "aps-bpf: %" PRIu64 " blocking step%s (threshold %s)%s\n", c.reported,
		c.reported == 1 ? "" : "s", top_fmt_dur(c.threshold, (char[32]){0}, 32),
		c.missed_stacks ? ", some ended before their stack could be taken" : "");
	rc = 0;
cleanup:
	thread_stack_reader_free(&c.reader);
	session_close(&c.s);
	model_free(&c.model);
	return rc;
usage:
	fputs(blocked_usage, stderr);
	return 2;
}
