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
#include "live/session.h"
#include "output/top_view.h"
#include "loop/loop_cmds.h"
#include "loop/loop_session.h"
#include "util/monotime.h"

static const char top_usage[] =
	"usage: aps-bpf top [--mode loop|step] [-b] [--iterations N] [--delay DURATION] [--sort KEY]\n"
	"                   [--by task|coro] [--hz N] [--json] [--limit N] [--ringbuf-kb N]\n"
	"                   [--no-debuginfod] [-v] PID\n"
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
	"Keys: b m s a w sort, c per-coroutine view, q quit.\n";

struct top_ctx {
	struct session s;
	struct model model;
	struct stats stats;
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
	struct top_ctx *c = ctx;

	stats_on_event(&c->stats, ev);
}

static int on_record(void *ctx, const void *data, size_t len)
{
	struct top_ctx *c = ctx;

	model_apply(&c->model, data, len, on_model_event, c);
	return 0;
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

static void render(struct top_ctx *c, uint64_t now)
{
	struct aps_counters cnt;
	struct winsize ws;

	tracer_counters(c->s.tracer, &cnt);
	c->view.lost_events = cnt.lost_events;
	c->view.rows = 0;
	if (c->tui && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
		c->view.rows = ws.ws_row;
		c->view.cols = ws.ws_col;
		fputs("\033[H\033[2J", stdout);
	}
	top_view_draw(stdout, &c->view, &c->model, &c->stats, now);
	fflush(stdout);
	stats_mark(&c->stats, now);
	c->rendered++;
}

static void on_tick(struct session *s, void *ctx)
{
	struct top_ctx *c = ctx;
	uint64_t now = monotime_ns();

	(void)s;
	read_keys(c);
	if (now < c->next_render)
		return;
	render(c, now);
	c->next_render = now + (uint64_t)c->delay_ms * 1000000;
	if (c->iterations > 0 && c->rendered >= c->iterations)
		session_stop = 1;
	model_sweep(&c->model, now, 60ull * 1000000000);
}

static int top_opt(struct cli *cli, int opt, const char *arg, void *ctx)
{
	struct top_ctx *c = ctx;
	unsigned long v;
	uint64_t ns;

	switch (opt) {
	case 'b': c->batch = true; return 0;
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
		CLI_OPT_MODE, CLI_OPT_HZ, CLI_OPT_POLL_HOOK, CLI_OPT_VERBOSE, CLI_OPT_RINGBUF_KB,
		CLI_OPT_NO_DEBUGINFOD, CLI_OPT_HELP,
		{},
	};
	struct cli cli = { .cmd = "top", .usage = top_usage, .target = CLI_PID };
	struct top_ctx c = { .delay_ms = 1000, .iterations = -1 };
	int err, rc = 1;

	top_view_init(&c.view);
	if (!cli_parse(&cli, argc, argv, "bn:d:jl:vh", opts, top_opt, &c, &rc))
		return rc;
	cli_apply(&cli, &c.s);
	if (cli.json)
		c.view.json = c.batch = true;
	if (cli.mode != MODE_STEP)
		return loop_top_run(&(struct loop_opts){ .pid = cli.pid, .threshold = 100 * CLI_MS,
			.hz = cli.hz ? cli.hz : LOOP_DEFAULT_HZ, .hook = cli.hook, .json = c.view.json,
			.verbose = cli.verbose }, c.delay_ms, c.iterations);
	c.tui = !c.batch && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	c.view.pid = c.s.pid;
	c.view.live = true;
	cli_signals(NULL);
	if (model_init(&c.model, 4096) || stats_init(&c.stats, monotime_ns())) {
		fprintf(stderr, "aps-bpf: out of memory\n");
		return 1;
	}
	c.model.keep_hists = true;
	c.s.quiet = c.tui;
	err = session_load(&c.s, on_record, &c);
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
	c.stats.start_ts = c.stats.mark_ts = monotime_ns();
	c.next_render = c.stats.start_ts + (uint64_t)c.delay_ms * 1000000;
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
	stats_free(&c.stats);
	model_free(&c.model);
	return rc;
}
