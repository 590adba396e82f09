// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cli/options.h"
#include "live/session.h"

int cli_parse_duration(const char *arg, uint64_t *ns)
{
	static const struct { const char *unit; double mult; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
		{ "", 1e9 },	/* a bare number is seconds */
	};
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || !isfinite(v) || v < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		v *= units[i].mult;
		if (v > 1e18)
			return -ERANGE;
		*ns = (uint64_t)v;
		return 0;
	}
	return -EINVAL;
}

const char *cli_fmt_duration(uint64_t ns, char *buf, size_t len)
{
	if (ns && ns % 3600000000000ull == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ns / 3600000000000ull));
	else if (ns >= CLI_S && ns % CLI_S == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ns / CLI_S));
	else if (ns >= CLI_S)
		snprintf(buf, len, "%.9gs", (double)ns / 1e9);
	else if (ns >= CLI_MS)
		snprintf(buf, len, "%gms", (double)ns / 1e6);
	else if (ns >= 1000)
		snprintf(buf, len, "%gus", (double)ns / 1e3);
	else
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
	return buf;
}

int cli_bad(const struct cli *c, const char *opt, const char *want, const char *arg)
{
	fprintf(stderr, "aps-bpf: %s: %s wants %s, got '%s'\n", c->cmd, opt, want, arg);
	return 2;
}

int cli_usage(const struct cli *c, const char *what)
{
	fprintf(stderr, "aps-bpf: %s: %s\n%s", c->cmd, what, c->usage);
	return 2;
}

int cli_duration(const struct cli *c, const char *opt, const char *arg, uint64_t min,
		 uint64_t max, uint64_t *ns)
{
	char want[128], lo[32], hi[32];
	uint64_t v;

	if (!cli_parse_duration(arg, &v) && v >= min && v <= max) {
		*ns = v;
		return 0;
	}
	snprintf(want, sizeof(want), "a duration from %s to %s (e.g. 100ms, 1.5s, 2m; a bare number is seconds)",
		 cli_fmt_duration(min, lo, sizeof(lo)), cli_fmt_duration(max, hi, sizeof(hi)));
	return cli_bad(c, opt, want, arg);
}

static int parse_ulong(const char *arg, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	/* strtoul takes "-5" as a huge number: digits only */
	if (*arg < '0' || *arg > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_uint(const struct cli *c, const char *opt, const char *arg, unsigned long lo,
	     unsigned long hi, unsigned long *out)
{
	char want[96];

	if (!parse_ulong(arg, lo, hi, out))
		return 0;
	snprintf(want, sizeof(want), "a whole number from %lu to %lu", lo, hi);
	return cli_bad(c, opt, want, arg);
}

int cli_word(const char *arg, const char *const *words, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(arg, words[i]))
			return i;
	return -1;
}

int cli_parse_pid(const char *arg, pid_t *pid)
{
	unsigned long v;

	if (parse_ulong(arg, 1, 0x3fffffff, &v))
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

/* The shared options: 0, an exit code, or -1 when opt is not one of them. */
static int shared_opt(struct cli *c, int opt, const char *arg)
{
	static const char *const modes[] = { "loop", "step" };
	static const char *const hooks[] = { "auto", "fentry", "tracepoint" };
	unsigned long v;
	int i;

	switch (opt) {
	case 'v': c->verbose = true; return 0;
	case CLI_NO_DEBUGINFOD: c->no_debuginfod = true; return 0;
	case CLI_KILL: c->kill = true; return 0;
	case CLI_DURATION:
		return cli_duration(c, "--duration", arg, CLI_MS, CLI_MAX_DURATION, &c->duration_ns);
	case CLI_RINGBUF_KB:
		if (parse_ulong(arg, 4, 1ul << 20, &v) || (v & (v - 1)))
			return cli_bad(c, "--ringbuf-kb", "a power of two from 4 to 1048576", arg);
		c->ringbuf_kb = (unsigned)v;
		return 0;
	case 'j': c->json = true; return 0;
	case 'o': c->output = arg; return 0;
	case CLI_FROM: c->from = arg; return 0;
	case CLI_TO: c->to = arg; return 0;
	case CLI_MODE:
		if ((i = cli_word(arg, modes, 2)) < 0)
			return cli_bad(c, "--mode", "loop or step", arg);
		c->mode = i ? MODE_STEP : MODE_LOOP;
		return 0;
	case CLI_POLL_HOOK:
		if ((i = cli_word(arg, hooks, 3)) < 0)
			return cli_bad(c, "--poll-hook", "auto, fentry or tracepoint", arg);
		c->hook = i == 0 ? LOOP_HOOK_AUTO : i == 1 ? LOOP_HOOK_FENTRY : LOOP_HOOK_TRACEPOINT;
		return 0;
	case CLI_HZ:
		if (cli_uint(c, "--hz", arg, 1, c->max_hz ? c->max_hz : 10000, &v))
			return 2;
		c->hz = (unsigned)v;
		return 0;
	default: return -1;
	}
}

static int parse_target(struct cli *c, char **pos, int npos, char **after, int nafter, bool dashdash)
{
	if (c->target == CLI_FILE) {
		if (dashdash) {		/* the words after -- too: over the "--" */
			memmove(pos + 1, pos, (size_t)npos * sizeof(*pos));
			pos++;
			npos += nafter;
		}
		if (!npos)
			return cli_usage(c, "FILE is required");
		if (npos > 1 + c->max_args)
			return cli_usage(c, c->max_args ? "too many arguments" : "one FILE only");
		c->args = pos;
		c->nargs = npos;
		return 0;
	}
	if (c->target == CLI_PID_OR_CMD && dashdash) {
		if (npos)
			return cli_usage(c, "a PID or -- CMD, not both");
		if (!nafter)
			return cli_usage(c, "no command after --");
		c->spawn = after;
		return 0;
	}
	if (c->target == CLI_PID && dashdash) {
		/* `ps -- PID`: the PID may follow -- */
		if (npos + nafter == 1 && !npos)
			pos = after;
		npos += nafter;
	}
	if (npos == 0)
		return cli_usage(c, c->target == CLI_PID ? "a PID is required"
							 : "a PID or -- CMD is required");
	if (npos > 1)
		return cli_usage(c, "one PID only");
	if (cli_parse_pid(pos[0], &c->pid))
		return cli_bad(c, "PID", "a process id (a positive number)", pos[0]);
	return 0;
}

bool cli_parse(struct cli *c, int argc, char **argv, const char *shortopts,
	       const struct option *opts, cli_opt_fn fn, void *ctx, int *rc)
{
	int nopt = argc, opt, err;

	/* options anywhere before `--`; what follows it is the command's */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			nopt = i;
			break;
		}
	optind = 0;	/* a full reset: GNU getopt permutes */
	while ((opt = getopt_long(nopt, argv, shortopts, opts, NULL)) != -1) {
		if (opt == 0)
			continue;	/* an option with a flag: getopt_long set it */
		if (opt == 'h') {
			fputs(c->usage, stdout);
			*rc = 0;
			return false;
		}
		if (opt == '?') {
			fputs(c->usage, stderr);
			*rc = 2;
			return false;
		}
		err = shared_opt(c, opt, optarg);
		if (err < 0 && fn)
			err = fn(c, opt, optarg, ctx);
		if (err < 0) {
			fputs(c->usage, stderr);
			err = 2;
		}
		if (err) {
			*rc = err;
			return false;
		}
	}
	err = parse_target(c, argv + optind, nopt - optind, argv + nopt + 1,
			   nopt < argc ? argc - nopt - 1 : 0, nopt < argc);
	if (!err && c->kill && (!c->spawn || !c->duration_ns)) {
		fprintf(stderr, "aps-bpf: %s: --kill goes with --duration D -- CMD (a process given by "
			"PID is never stopped)\n", c->cmd);
		err = 2;
	}
	if (err)
		*rc = err;
	return !err;
}

void cli_apply(const struct cli *c, struct session *s)
{
	s->pid = c->pid;
	s->verbose = c->verbose;
	s->ringbuf_kb = c->ringbuf_kb;
	s->hooks.opts.no_debuginfod = c->no_debuginfod;
}

int cli_spawn(const struct cli *c, struct session *s)
{
	int err = c->spawn ? session_spawn(s, c->spawn) : 0;

	if (err)
		fprintf(stderr, "aps-bpf: cannot start %s: %s\n", c->spawn[0], strerror(-err));
	return err;
}

static void (*usr1_fn)(int);

static void on_signal(int sig)
{
	if (sig == SIGUSR1 && usr1_fn)
		usr1_fn(sig);
	else
		session_stop = 1;
}

void cli_signals(void (*usr1)(int))
{
	usr1_fn = usr1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (usr1)
		signal(SIGUSR1, on_signal);
	signal(SIGPIPE, SIG_IGN);
}

void cli_end_child(const struct cli *c, struct session *s, int why)
{
	pid_t child = s->child;

	if (child <= 0 || why != SESSION_DURATION)
		return;
	if (waitpid(child, NULL, WNOHANG) == child) {
		s->child = 0;
		return;
	}
	if (!c->kill) {
		fprintf(stderr, "aps-bpf: --duration ended; process %d keeps running, detached "
			"(--kill stops it)\n", child);
		s->child = 0;	/* session_close does not wait for it */
		return;
	}
	kill(child, SIGTERM);
	for (int i = 0; i < 100; i++) {		/* 2 s to end, then SIGKILL */
		if (waitpid(child, NULL, WNOHANG) == child) {
			child = 0;
			break;
		}
		usleep(20000);
	}
	if (child) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	fprintf(stderr, "aps-bpf: --duration ended; process %d killed (--kill)\n", s->child);
	s->child = 0;
}
