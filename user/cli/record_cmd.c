// SPDX-License-Identifier: MIT
/* `aps-bpf record`: the options; the engine is recording/recorder.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/outfile.h"
#include "loop/loop_cmds.h"
#include "loop/loop_record.h"
#include "recording/recorder.h"

static const char record_usage[] =
	"usage: aps-bpf record -o FILE [OPTIONS] PID\n"
	"       aps-bpf record -o FILE [OPTIONS] -- CMD [ARGS...]\n"
	"\n"
	"Record every asyncio task event of a Python process (3.10-3.14) to FILE,\n"
	"compactly (docs/recording-format.md), for `aps-bpf replay` and `aps-bpf export`.\n"
	"Ends on Ctrl-C, --duration, or when the target exits. The file is written as\n"
	"the recording goes: if aps-bpf is killed, it reads up to the last 100 ms.\n"
	"An existing FILE is replaced only once recording started.\n"
	"\n"
	"options:\n"
	"  -o, --output FILE     the recording (required)\n"
	"  --duration DURATION   stop after that long (e.g. 10s, 1.5m); with -- CMD, CMD\n"
	"                        keeps running, detached, unless --kill is given\n"
	"  --kill                with --duration and -- CMD: kill CMD at the end\n"
	"  --flight WINDOW       flight recorder: keep only the last WINDOW (e.g. 60s) in\n"
	"                        memory; write it to FILE on SIGUSR1, on Ctrl-C, when the\n"
	"                        target exits, and on --on-blocked. Later dumps go to\n"
	"                        FILE.1, FILE.2, ...\n"
	"  --flight-mb N         memory for the window, MiB (default 256): older data goes\n"
	"  --on-blocked DURATION with --flight: dump when a task step takes longer (e.g.\n"
	"                        200ms), seen when the step ends; at most once a window\n"
	"                        (loop mode: a loop stall that long, once it ends)\n"
	"  --blocked DURATION    keep the Python stack of every step that runs longer\n"
	"                        (e.g. 100ms), taken while it runs, as `blocked` shows\n"
	"                        it: `replay FILE blocked` prints them (loop mode: the\n"
	"                        stall threshold, default 100ms)\n"
	"  --tasks-every PERIOD  read every task from memory (names, coroutine stacks,\n"
	"                        who awaits whom) at attach and then at most this often\n"
	"                        while tasks change (default 1s; never more than 5%% of\n"
	"                        the recorder's time): `replay FILE ps|pstree --at T`\n"
	"                        shows the stacks of the last read before T\n"
	"  --no-tasks            no memory reads: replays know tasks from events only\n"
	"  --trace, --trace-json also print the events on stdout, as `trace` does\n"
	"  -f, --follow-forks    --mode step: record the processes the target forks too\n"
	"                        (the default with -- CMD; not with --flight), each as\n"
	"                        it runs to its own recording FILE.PID, as strace -ff -o\n"
	"                        does: `replay FILE.PID ps` shows that process's tasks.\n"
	"                        Without it, a fork is announced once\n"
	"  --ringbuf-kb N        ring buffer size, a power of two >= 4 (default 16384)\n"
	"  --no-debuginfod       never fetch debug files from the DEBUGINFOD_URLS servers\n"
	"  -q, --quiet           no status line, no final report\n"
	"  -v, --verbose         libbpf debug output\n"
	"\n"
	"  --mode loop|step      step (default; --flight: loop): a uprobe per task step,\n"
	"                        every event. loop: no uprobe (< 2%% on a busy server):\n"
	"                        each loop thread's busy spans (poll to poll), loop\n"
	"                        stalls over --blocked (default 100ms) with their stack,\n"
	"                        --hz stack samples with the running task, task reads;\n"
	"                        `replay FILE ps|pstree|top|blocked` and `export` read it\n"
	"  --hz N                loop mode: samples per second (default 99)\n"
	"  --min-span DURATION   loop mode: record only busy spans this long (default: all)\n"
	"\n"
	"Durations: 100ms, 1.5s, 2m, 500us; a bare number is seconds.\n"
	"A status line (events, bytes, lost events) is shown when stderr is a terminal.\n";

/* recorder_opts first: record_opt's ctx is either */
struct record_args {
	struct recorder_opts o;
	enum cmd_mode mode;		/* 0: by --flight */
	unsigned long hz;
	struct loop_record_opts lo;
};

enum { OPT_MIN_SPAN = 1000 };

static int record_opt(struct cli *c, int opt, const char *arg, void *ctx)
{
	struct recorder_opts *o = ctx;
	struct record_args *a = ctx;

	switch (opt) {
	case 'F': return cli_duration(c, "--flight", arg, 10 * CLI_MS, CLI_MAX_DURATION, &o->window_ns);
	case 'M': return cli_uint(c, "--flight-mb", arg, 1, 1 << 20, &o->flight_mb);
	case 'B': return cli_duration(c, "--on-blocked", arg, CLI_MS, CLI_MAX_DURATION, &o->blocked_ns);
	case 'S': return cli_duration(c, "--blocked", arg, CLI_MS, CLI_MAX_DURATION, &o->stack_ns);
	case CLI_TASKS_EVERY:
		return cli_duration(c, "--tasks-every", arg, 10 * CLI_MS, CLI_MAX_DURATION, &o->tasks_every);
	case 'N': o->no_tasks = true; return 0;
	case 't': o->printing = true; return 0;
	case 'J': o->printing = o->json = true; return 0;
	case 'q': o->quiet = true; return 0;
	case 'f': o->follow = true; return 0;
	case OPT_MIN_SPAN:
		return cli_duration(c, "--min-span", arg, 0, CLI_MAX_DURATION, &a->lo.min_span);
	default: return -1;
	}
}

/* Checks across options: 0 or 2 (printed). */
static int check_opts(const struct cli *c, const struct recorder_opts *o)
{
	if (!o->path)
		return cli_usage(c, "-o FILE is required");
	if (o->blocked_ns && !o->window_ns)
		return cli_usage(c, "--on-blocked goes with --flight");
	if (o->no_tasks && o->tasks_every)
		return cli_usage(c, "--no-tasks and --tasks-every do not go together");
	if (o->follow && o->window_ns)
		return cli_usage(c, "-f/--follow-forks does not go with --flight");
	return 0;
}

static int check_mode(const struct cli *c, const struct record_args *a)
{
	if (a->mode == MODE_LOOP && a->o.printing)
		return cli_usage(c, "--trace and --trace-json need --mode step");
	if (a->mode == MODE_STEP && (a->hz || a->lo.min_span))
		return cli_usage(c, "--hz and --min-span go with --mode loop");
	if (a->mode == MODE_LOOP && a->o.follow)
		return cli_usage(c, "-f/--follow-forks needs --mode step");
	return 0;
}

static int commit_file(void *ctx)
{
	return outfile_commit(ctx);
}

/* FILE: a temp file renamed into place once recording started; --flight
 * writes it only at a dump, but fails early if it cannot. */
static int open_file(const struct recorder_opts *o, struct outfile *out)
{
	out->fd = -1;
	if (!o->window_ns)
		return outfile_open(out, o->path);
	if (access(o->path, F_OK) ? 0 : access(o->path, W_OK)) {
		fprintf(stderr, "aps-bpf: cannot write %s: %s\n", o->path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int record_loop(struct cli *cli, struct record_args *a)
{
	struct session s = {};
	struct outfile out = { .fd = -1 };
	int err, why = SESSION_ERROR, rc = 1;

	cli_apply(cli, &s);
	a->lo.hz = (unsigned)a->hz;
	a->lo.verbose = s.verbose;
	if (open_file(&a->o, &out))
		return 1;
	cli_signals(recorder_request_dump);
	if (cli->spawn) {
		err = session_spawn(&s, cli->spawn);
		if (err) {
			fprintf(stderr, "aps-bpf: cannot start %s: %s\n", cli->spawn[0], strerror(-err));
			goto cleanup;
		}
	}
	rc = loop_record_run(&s, cli->spawn != NULL, &a->o, &a->lo, out.fd,
			     (unsigned)(cli->duration_ns / CLI_MS), commit_file, &out, &why);
	cli_end_child(cli, &s, why);
cleanup:
	session_close(&s);
	if (out.fd >= 0 && outfile_close(&out))
		rc = 1;
	return rc;
}

int cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPT_OUTPUT,
		{ "flight", required_argument, NULL, 'F' },
		{ "flight-mb", required_argument, NULL, 'M' },
		{ "on-blocked", required_argument, NULL, 'B' },
		{ "blocked", required_argument, NULL, 'S' },
		CLI_OPT_TASKS_EVERY,
		{ "no-tasks", no_argument, NULL, 'N' },
		{ "trace", no_argument, NULL, 't' },
		{ "trace-json", no_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "follow-forks", no_argument, NULL, 'f' },
		CLI_OPT_MODE, CLI_OPT_HZ,
		{ "min-span", required_argument, NULL, OPT_MIN_SPAN },
		CLI_OPT_DURATION, CLI_OPT_KILL, CLI_OPT_RINGBUF_KB, CLI_OPT_NO_DEBUGINFOD, CLI_OPT_VERBOSE,
		CLI_OPT_HELP,
		{},
	};
	struct cli cli = { .cmd = "record", .usage = record_usage, .target = CLI_PID_OR_CMD };
	struct record_args a = { .o.flight_mb = 256 };
	struct recorder_opts o;
	static struct recorder r;
	struct session s = {};
	struct outfile out = { .fd = -1 };
	enum session_end why;
	int err, rc = 1;

	if (!cli_parse(&cli, argc, argv, "o:qfvh", opts, record_opt, &a, &rc))
		return rc;
	a.o.path = cli.output;
	a.mode = cli.mode;
	a.hz = cli.hz;
	o = a.o;
	rc = check_opts(&cli, &o);
	if (!rc && !a.mode)
		a.mode = o.window_ns ? MODE_LOOP : MODE_STEP;
	if (!rc)
		rc = check_mode(&cli, &a);
	if (rc)
		return rc;
	if (a.mode == MODE_LOOP)
		return record_loop(&cli, &a);
	rc = 1;
	o.follow |= cli.spawn && !o.window_ns;
	cli_apply(&cli, &s);
	if (open_file(&o, &out))
		return 1;
	if (recorder_init(&r, &s, &o, out.fd)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		goto cleanup;
	}
	cli_signals(recorder_request_dump);
	if (cli_spawn(&cli, &s))
		goto cleanup;
	err = recorder_start(&r, cli.spawn != NULL);
	if (err) {
		recorder_clear_status(&r);
		fprintf(stderr, "aps-bpf: %s\n", s.err[0] ? s.err : strerror(-err));
		goto cleanup;
	}
	/* recording really started: FILE is the recording now */
	if (!o.window_ns && outfile_commit(&out))
		goto cleanup;
	why = recorder_run(&r, (unsigned)(cli.duration_ns / CLI_MS));
	cli_end_child(&cli, &s, why);
	rc = recorder_finish(&r, why);
cleanup:
	session_close(&s);
	recorder_free(&r);
	if (out.fd >= 0 && outfile_close(&out))
		rc = 1;
	return rc;
}
