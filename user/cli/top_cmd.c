// SPDX-License-Identifier: MIT
/* `aps-bpf top`: where the event loop's time goes, task by task, live. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/view_opts.h"
#include "cli/outfile.h"
#include "target/layout_runtime.h"
#include "model/stats.h"
#include "live/forks.h"
#include "live/session.h"
#include "output/top_view.h"
#include "loop/loop_cmds.h"
#include "loop/loop_session.h"
#include "util/monotime.h"

static const char top_usage[] =
	"usage: aps-bpf top [--mode loop|step] [-b] [--iterations N] [--delay DURATION] [--sort KEY]\n"
	"                   [--by task|coro] [--hz N] [--json] [--limit N] [--ringbuf-kb N]\n"
	"                   [-f] [--no-debuginfod] [-v] PID\n"
	"\n"
	"--mode loop (default; no uprobe): per interval each loop thread's busy %,\n"
	"loop stalls over 100ms, CPU % per task, per coroutine and per callback from\n"
	"a stack sampler (--hz, default 99), and tasks by state from snapshots.\n"
	"--mode step (a uprobe per step):\n"
	"Live view of a Python process's asyncio tasks: busy time, steps, step\n"
	"durations (mean, p50, p99, max), time since the last step, what each task\n"
	"awaits and since when; per coroutine function (--by coro, key c); per\n"
	"thread: loop busy fraction and steps/s. Counts only what happens while\n"
	"attached.\n"
	"  -b, --batch        print plain snapshots (no terminal UI), like top -b\n"
	"  --iterations N     stop after N snapshots (default: until Ctrl-C)\n"
	"  --delay DURATION   between snapshots (default 1s; 100ms to 1h)\n"
	"  --sort KEY         busy, max, steps, age, waiting (default busy)\n"
	"  --json             one JSON object per snapshot (implies -b)\n"
	"  -f, --follow-forks (--mode step) the processes PID forks too: each process\n"
	"                     is a section of its own (a JSON object per process and\n"
	"                     snapshot), named by its pid; a process that ended is\n"
	"                     shown once more. Without it, a fork is announced once\n"
	"Keys: b m s a w sort, c per-coroutine view, q quit.\n";

/* One process's tasks and stats: the target's, and with -f each child's. */
struct top_proc {
	pid_t pid;
	struct model model;
	struct stats stats;
	const char *ended;	/* NULL while traced, else why it ended */
};

struct top_ctx {
	struct session s;
	struct top_proc main;
	bool follow;
	struct forks forks;
	struct top_proc *kids[TRACER_MAX_PROCS];	/* shown after the target */
	unsigned nkids;
	struct top_view view;
	uint64_t next_render;
	unsigned delay_ms;
	long iterations, rendered;
	bool batch, tui;
	struct termios saved_tty;
	bool tty_raw;
};

static struct top_ctx *active;	/* for the signal handler's terminal restore */

static void on_model_event(void *ctx, const struct model_event *ev)
{
	struct top_proc *p = ctx;

	stats_on_event(&p->stats, ev);
}

static int on_record(void *ctx, const void *data, size_t len)
{
	struct top_proc *p = ctx;

	model_apply(&p->model, data, len, on_model_event, p);
	return 0;
}

static int proc_init(struct top_proc *p, pid_t pid)
{
	p->pid = pid;
	if (model_init(&p->model, 4096))
		return -ENOMEM;
	if (stats_init(&p->stats, monotime_ns())) {
		model_free(&p->model);
		return -ENOMEM;
	}
	p->model.keep_hists = true;
	return 0;
}

static void proc_free(struct top_proc *p)
{
	stats_free(&p->stats);
	model_free(&p->model);
}

/* -f: a forked child gets its own section, knowing its parent's type names. */
static void *open_child(void *ctx, pid_t pid, void *parent_ctx)
{
	struct top_ctx *c = ctx;
	const struct top_proc *parent = parent_ctx;
	struct top_proc *p = calloc(1, sizeof(*p));

	if (!p || c->nkids == TRACER_MAX_PROCS || proc_init(p, pid)) {
		fprintf(stderr, "aps-bpf: process %d: out of memory\n", pid);
		free(p);
		return NULL;
	}
	memcpy(p->model.types, parent->model.types, sizeof(p->model.types));
	p->model.ntypes = parent->model.ntypes;
	c->kids[c->nkids++] = p;
	return p;
}

/* Its section is shown once more, then dropped (render). */
static void close_child(void *ctx, void *proc_ctx, pid_t pid, const char *reason, uint64_t ts)
{
	struct top_ctx *c = ctx;
	struct top_proc *p = proc_ctx;

	(void)ts;
	p->ended = reason;
	if (!c->tui && !strcmp(reason, "target_exited"))
		fprintf(stderr, "aps-bpf: process %d exited\n", pid);
}

static void tty_restore(struct top_ctx *c)
{
	if (!c->tui)
		return;
	fputs("\033[?25h\033[?1049l", stdout);	/* cursor on, main screen */
	fflush(stdout);
	if (c->tty_raw)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &c->saved_tty);
	c->tty_raw = false;
	c->tui = false;
}

static void tty_setup(struct top_ctx *c)
{
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &c->saved_tty) == 0) {
		raw = c->saved_tty;
		raw.c_lflag &= ~(ICANON | ECHO);	/* keys one by one; Ctrl-C still signals */
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		c->tty_raw = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
	}
	fputs("\033[?1049h\033[?25l", stdout);	/* alternate screen, cursor off */
	fflush(stdout);
}

static void read_keys(struct top_ctx *c)
{
	char k;

	if (!c->tty_raw)
		return;
	while (read(STDIN_FILENO, &k, 1) == 1) {
		switch (k) {
		case 'q': session_stop = 1; break;
		case 'c': c->view.by_coro = !c->view.by_coro; c->next_render = 0; break;
		default:
			if (top_view_sort_key(k, &c->view.sort) == 0)
				c->next_render = 0;
		}
	}
}

static void draw(struct top_ctx *c, struct top_proc *p, uint64_t now)
{
	c->view.pid = p->pid;
	c->view.live = !p->ended;
	top_view_draw(stdout, &c->view, &p->model, &p->stats, now);
	stats_mark(&p->stats, now);
}

/* A snapshot: the target's section, then each child's (-f). */
static void render(struct top_ctx *c, uint64_t now)
{
	struct aps_counters cnt;
	struct winsize ws;
	unsigned k = 0;

	tracer_counters(c->s.tracer, &cnt);
	c->view.lost_events = cnt.lost_events;
	c->view.rows = 0;
	if (c->tui && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
		c->view.rows = ws.ws_row / (1 + c->nkids);
		c->view.cols = ws.ws_col;
		fputs("\033[H\033[2J", stdout);
	}
	draw(c, &c->main, now);
	for (unsigned i = 0; i < c->nkids; i++) {
		struct top_proc *p = c->kids[i];

		if (!p->ended || strcmp(p->ended, "not_traced"))
			draw(c, p, now);
		if (p->ended) {	/* shown once more: gone */
			proc_free(p);
			free(p);
		} else {
			c->kids[k++] = p;
		}
	}
	c->nkids = k;
	fflush(stdout);
	c->rendered++;
}

static void on_tick(struct session *s, void *ctx)
{
	struct top_ctx *c = ctx;
	uint64_t now = monotime_ns();

	(void)s;
	read_keys(c);
	if (c->follow)
		forks_tick(&c->forks, now);
	if (now < c->next_render)
		return;
	render(c, now);
	c->next_render = now + (uint64_t)c->delay_ms * 1000000;
	if (c->iterations > 0 && c->rendered >= c->iterations)
		session_stop = 1;
	model_sweep(&c->main.model, now, 60ull * 1000000000);
	for (unsigned i = 0; i < c->nkids; i++)
		model_sweep(&c->kids[i]->model, now, 60ull * 1000000000);
}

static int top_opt(struct cli *cli, int opt, const char *arg, void *ctx)
{
	struct top_ctx *c = ctx;
	unsigned long v;
	uint64_t ns;

	switch (opt) {
	case 'b': c->batch = true; return 0;
	case 'f': c->follow = true; return 0;
	case 'n':
		if (cli_uint(cli, "--iterations", arg, 1, 1000000, &v))
			return 2;
		c->iterations = (long)v;
		return 0;
	case 'l':
		if (cli_uint(cli, "--limit", arg, 1, 10000000, &v))
			return 2;
		c->view.limit = (unsigned)v;
		return 0;
	case 'd':
		if (cli_duration(cli, "--delay", arg, 100 * CLI_MS, 3600 * CLI_S, &ns))
			return 2;
		c->delay_ms = (unsigned)(ns / CLI_MS);
		return 0;
	default: return view_opts_top(cli, opt, arg, &c->view);
	}
}

int cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "batch", no_argument, NULL, 'b' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "delay", required_argument, NULL, 'd' },
		VIEW_OPTS_TOP, CLI_OPT_JSON,
		{ "limit", required_argument, NULL, 'l' },
		{ "follow-forks", no_argument, NULL, 'f' },
		CLI_OPT_MODE, CLI_OPT_HZ, CLI_OPT_POLL_HOOK, CLI_OPT_VERBOSE, CLI_OPT_RINGBUF_KB,
		CLI_OPT_NO_DEBUGINFOD, CLI_OPT_HELP,
		{},
	};
	struct cli cli = { .cmd = "top", .usage = top_usage, .target = CLI_PID };
	struct top_ctx c = { .delay_ms = 1000, .iterations = -1 };
	int err, rc = 1;

	top_view_init(&c.view);
	if (!cli_parse(&cli, argc, argv, "bn:d:jl:fvh", opts, top_opt, &c, &rc))
		return rc;
	cli_apply(&cli, &c.s);
	if (cli.json)
		c.view.json = c.batch = true;
	if (c.follow && cli.mode != MODE_STEP) {
		fprintf(stderr, "aps-bpf: top: -f/--follow-forks needs --mode step (the loop mode "
			"traces one process)\n");
		return 2;
	}
	if (cli.mode != MODE_STEP)
		return loop_top_run(&(struct loop_opts){ .pid = cli.pid, .threshold = 100 * CLI_MS,
			.hz = cli.hz ? cli.hz : LOOP_DEFAULT_HZ, .hook = cli.hook, .json = c.view.json,
			.verbose = cli.verbose }, c.delay_ms, c.iterations);
	c.tui = !c.batch && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	cli_signals(NULL);
	if (proc_init(&c.main, c.s.pid)) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		return 1;
	}
	c.s.quiet = c.tui;
	if (c.follow)
		forks_init(&c.forks, &c.s, on_record, &c.main, open_child, close_child, &c);
	err = c.follow ? session_load(&c.s, forks_event, &c.forks) : session_load(&c.s, on_record, &c.main);
	if (!err)
		err = session_resolve(&c.s, false);
	if (!err)
		err = session_attach(&c.s);
	if (err) {
		fprintf(stderr, "aps-bpf: %s\n", c.s.err[0] ? c.s.err : strerror(-err));
		goto cleanup;
	}
	snprintf(c.view.interp, sizeof(c.view.interp), "Python %d.%d%s", c.s.ip.major, c.s.ip.minor,
		 "");
	if (c.s.ip.micro >= 0)
		snprintf(c.view.interp, sizeof(c.view.interp), "Python %d.%d.%d", c.s.ip.major,
			 c.s.ip.minor, c.s.ip.micro);
	c.main.stats.start_ts = c.main.stats.mark_ts = monotime_ns();
	c.next_render = c.main.stats.start_ts + (uint64_t)c.delay_ms * 1000000;
	if (c.tui) {
		active = &c;
		tty_setup(&c);
	}
	c.s.on_tick = on_tick;
	c.s.tick_ctx = &c;
	enum session_end why = session_run(&c.s, 0);
	tty_restore(&c);
	if (why == SESSION_ERROR) {
		fprintf(stderr, "aps-bpf: %s\n", c.s.err);
		goto cleanup;
	}
	if (why == SESSION_TARGET_EXITED || why == SESSION_TARGET_EXECED) {
		/* a last snapshot of what was seen, then say why we stopped */
		if (c.batch && (c.iterations < 0 || c.rendered < c.iterations))
			render(&c, monotime_ns());
		fprintf(stderr, "aps-bpf: process %d %s\n", c.s.pid,
			why == SESSION_TARGET_EXITED ? "exited" : "executed a new program");
	}
	rc = outfile_close_stream(stdout, "stdout");
cleanup:
	tty_restore(&c);
	active = NULL;
	session_close(&c.s);
	proc_free(&c.main);
	for (unsigned i = 0; i < c.nkids; i++) {
		proc_free(c.kids[i]);
		free(c.kids[i]);
	}
	return rc;
}
