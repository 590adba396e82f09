// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/commands.h"
#include "target/layout_runtime.h"
#include "live/session.h"
#include "output/trace_view.h"

static const char trace_usage[] =
	"usage: aps-bpf trace [--json] [-o FILE] [--duration SECONDS] [--ringbuf-kb N] [-v] PID\n"
	"       aps-bpf trace [--json] [-o FILE] [--duration SECONDS] [--ringbuf-kb N] [-v] -- CMD [ARGS...]\n"
	"\n"
	"Print every asyncio task event of a running Python process (3.10-3.14):\n"
	"created, step, step_end, done, destroyed. --json prints JSON lines\n"
	"(docs/trace-json.md). Ends on Ctrl-C, --duration, or when the target exits.\n"
	"-o FILE: write the events to FILE instead of stdout (CMD keeps stdout).\n"
	"--ringbuf-kb: ring buffer size, a power of two >= 4 (default 16384); events\n"
	"that do not fit are counted and shown as lost.\n"
	"--no-debuginfod: never fetch debug files from the DEBUGINFOD_URLS servers.\n";

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

struct trace_ctx {
	struct session *s;
};

static int check_first_task(void *ctx, uint64_t task)
{
	struct session *s = ctx;

	return layout_validate_task(s->pid, &s->layout, task, s->err, sizeof(s->err));
}

/* Each poll: lost events are shown as they happen; old dead tasks dropped. */
static void show_lost(struct session *s, void *ctx)
{
	struct trace_view *p = ctx;
	struct aps_counters c;

	tracer_counters(s->tracer, &c);
	if (c.lost_events > p->last_lost) {
		trace_view_lost(p, c.lost_events, now_ns());
		fflush(p->out);
	}
	/* tasks destroyed a minute ago are not named by new events any more */
	model_sweep(&p->model, now_ns(), 60ull * 1000000000);
}

static int parse_seconds(const char *arg, unsigned *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || v <= 0 || v > 1e6)
		return -EINVAL;
	*ms = (unsigned)(v * 1000);
	return 0;
}

static int parse_pow2_kb(const char *arg, unsigned *kb)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || v < 4 || v > (1ul << 20) || (v & (v - 1)))
		return -EINVAL;
	*kb = (unsigned)v;
	return 0;
}

static int parse_pid(const char *arg, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v <= 0 || v > 0x3fffffff)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

int cmd_trace(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "duration", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "ringbuf-kb", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "no-debuginfod", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct session s = {};
	struct trace_view p;
	struct aps_counters c;
	struct prog_stat stats[TRACER_NPROGS];
	static char outbuf[1 << 20];
	enum session_end why;
	unsigned duration_ms = 0;
	bool json = false, spawn;
	const char *out_path = NULL;
	FILE *out = stdout;
	int opt, err, rc = 1;

	s.hooks.opts.cancel = &session_stop;	/* Ctrl-C stops a debuginfod download */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+jd:vhr:o:", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'v': s.verbose = true; break;
		case 'd':
			if (parse_seconds(optarg, &duration_ms)) {
				fprintf(stderr, "aps-bpf: --duration wants seconds > 0, got '%s'\n", optarg);
				return 2;
			}
			break;
		case 'r':
			if (parse_pow2_kb(optarg, &s.ringbuf_kb)) {
				fprintf(stderr, "aps-bpf: --ringbuf-kb wants a power of two from 4 to 1048576, got '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'o': out_path = optarg; break;
		case 'D': s.hooks.opts.no_debuginfod = true; break;
		case 'h': fputs(trace_usage, stdout); return 0;
		default: fputs(trace_usage, stderr); return 2;
		}
	}
	spawn = optind > 1 && !strcmp(argv[optind - 1], "--");
	if (spawn && optind >= argc) {
		fprintf(stderr, "aps-bpf: trace: no command after --\n%s", trace_usage);
		return 2;
	}
	if (!spawn && (optind != argc - 1 || parse_pid(argv[optind], &s.pid))) {
		fprintf(stderr, "aps-bpf: trace: %s\n%s",
			optind >= argc ? "a PID or -- CMD is required" : "PID must be a positive number",
			trace_usage);
		return 2;
	}
	if (out_path) {
		out = fopen(out_path, "we");
		if (!out) {
			fprintf(stderr, "aps-bpf: cannot write %s: %s\n", out_path, strerror(errno));
			return 1;
		}
	}
	if (!isatty(fileno(out)))
		setvbuf(out, outbuf, _IOFBF, sizeof(outbuf));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	if (spawn) {
		err = session_spawn(&s, argv + optind);
		if (err) {
			fprintf(stderr, "aps-bpf: cannot start %s: %s\n", argv[optind], strerror(-err));
			return 1;
		}
	}
	if (trace_view_init(&p, out, json, s.pid)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		goto cleanup_nop;
	}
	p.on_first_task = check_first_task;
	p.first_task_ctx = &s;
	s.on_tick = show_lost;
	s.tick_ctx = &p;
	err = session_load(&s, trace_view_event, &p);
	if (err)
		goto fail;
	session_release_child(&s);
	err = session_resolve(&s, spawn);
	if (err)
		goto fail;
	err = session_attach(&s);
	if (err)
		goto fail;
	why = session_run(&s, duration_ms);
	if (p.fatal) {
		fprintf(stderr, "aps-bpf: %s\n", s.err);
		goto cleanup;
	}
	if (why == SESSION_ERROR)
		goto fail;
	tracer_counters(s.tracer, &c);
	if (tracer_prog_stats(s.tracer, stats))
		memset(stats, 0, sizeof(stats));
	trace_view_finish(&p, session_end_name(why), now_ns(), c.lost_events, c.read_errors,
			     stats, TRACER_NPROGS);
	if (why == SESSION_TARGET_EXECED)
		fprintf(stderr, "aps-bpf: process %d executed a new program; trace ended\n", s.pid);
	rc = 0;
	goto cleanup;
fail:
	fprintf(stderr, "aps-bpf: %s\n", s.err[0] ? s.err : strerror(-err));
cleanup:
	trace_view_free(&p);
cleanup_nop:
	session_close(&s);
	if (out != stdout && fclose(out) && rc == 0) {
		fprintf(stderr, "aps-bpf: writing %s: %s\n", out_path, strerror(errno));
		rc = 1;
	}
	return rc;
}
