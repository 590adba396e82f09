/* SPDX-License-Identifier: MIT */
/*
 * What every command shares: the target (PID | -- CMD), -v, --no-debuginfod,
 * --ringbuf-kb, --duration, --kill; numbers and durations with one-line
 * errors that name the option; the signals and the clock.
 */
#ifndef APS_CLI_OPTIONS_H
#define APS_CLI_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "loop/loop_cmds.h"

struct session;

/* Long-only option codes of the shared options (a command's own use letters). */
enum {
	CLI_NO_DEBUGINFOD = 0x100,
	CLI_RINGBUF_KB,
	CLI_DURATION,
	CLI_KILL,
	CLI_MODE,
	CLI_POLL_HOOK,
	CLI_HZ,
	CLI_FROM,
	CLI_TO,
	CLI_AGENT_SOCKET,
	CLI_TASKS_EVERY,
	CLI_SORT,
	CLI_BY,
};

/* Entries for a command's option table. */
#define CLI_OPT_VERBOSE { "verbose", no_argument, NULL, 'v' }
#define CLI_OPT_NO_DEBUGINFOD { "no-debuginfod", no_argument, NULL, CLI_NO_DEBUGINFOD }
#define CLI_OPT_RINGBUF_KB { "ringbuf-kb", required_argument, NULL, CLI_RINGBUF_KB }
#define CLI_OPT_DURATION { "duration", required_argument, NULL, CLI_DURATION }
#define CLI_OPT_KILL { "kill", no_argument, NULL, CLI_KILL }
#define CLI_OPT_HELP { "help", no_argument, NULL, 'h' }
/* Parsed into struct cli by every command that lists them: */
#define CLI_OPT_JSON { "json", no_argument, NULL, 'j' }
#define CLI_OPT_OUTPUT { "output", required_argument, NULL, 'o' }
#define CLI_OPT_MODE { "mode", required_argument, NULL, CLI_MODE }
#define CLI_OPT_POLL_HOOK { "poll-hook", required_argument, NULL, CLI_POLL_HOOK }
#define CLI_OPT_HZ { "hz", required_argument, NULL, CLI_HZ }
#define CLI_OPT_FROM { "from", required_argument, NULL, CLI_FROM }
#define CLI_OPT_TO { "to", required_argument, NULL, CLI_TO }
/* Parsed by the command (one name, one meaning): */
#define CLI_OPT_AGENT_SOCKET { "agent-socket", required_argument, NULL, CLI_AGENT_SOCKET }
#define CLI_OPT_TASKS_EVERY { "tasks-every", required_argument, NULL, CLI_TASKS_EVERY }

/* What the command takes after its options. */
enum cli_target {
	CLI_PID = 1,		/* exactly one PID */
	CLI_PID_OR_CMD,		/* PID, or -- CMD [ARGS...] */
	CLI_FILE,		/* FILE, then up to max_args more words */
};

#define CLI_MS 1000000ull
#define CLI_S 1000000000ull
/* The longest session: session_run counts milliseconds in an unsigned. */
#define CLI_MAX_DURATION (1000000ull * CLI_S)

struct cli {
	const char *cmd;	/* "trace": errors name it */
	const char *usage;
	enum cli_target target;
	int max_args;		/* CLI_FILE: words after FILE */
	unsigned max_hz;	/* --hz: 0 for 10000 */
	/* results */
	pid_t pid;
	char **spawn;		/* -- CMD ARGS (NULL-terminated), or NULL */
	bool verbose, no_debuginfod, kill;
	unsigned ringbuf_kb;	/* 0: default */
	uint64_t duration_ns;	/* 0: none */
	bool json;		/* --json */
	const char *output;	/* -o, --output */
	const char *from, *to;	/* --from, --to: recording times, as given */
	enum cmd_mode mode;	/* --mode; 0: not given */
	enum loop_poll_hook hook;	/* --poll-hook */
	unsigned hz;		/* --hz (1 to 10000); 0: not given */
	char **args;		/* CLI_FILE: FILE and the words after it */
	int nargs;
};

/*
 * A command's own option: 0, or an exit code (the error is printed; use
 * cli_bad and the parsers below), or -1 for "not mine" (usage, exit 2).
 */
typedef int (*cli_opt_fn)(struct cli *c, int opt, const char *arg, void *ctx);

/*
 * getopt_long over argv, options anywhere before `--`; shared options go into
 * c, the others to fn (options with a flag pointer set it themselves). Then the target. Returns true to go on; false with
 * *rc the exit code (0 after --help, 2 on a usage error, printed).
 */
bool cli_parse(struct cli *c, int argc, char **argv, const char *shortopts,
	       const struct option *opts, cli_opt_fn fn, void *ctx, int *rc);

/* "aps-bpf: CMD: OPT wants WANT, got 'ARG'"; returns 2. */
int cli_bad(const struct cli *c, const char *opt, const char *want, const char *arg);
/* A usage error with the usage text; returns 2. */
int cli_usage(const struct cli *c, const char *what);

/* Durations: "100ms", "1.5s", "2m", "500us"; a bare number is seconds.
 * 0, -EINVAL (not a duration, NaN, inf, negative) or -ERANGE. */
int cli_parse_duration(const char *arg, uint64_t *ns);
/* A duration option from min to max ns: 0 or 2 (printed, naming both). */
int cli_duration(const struct cli *c, const char *opt, const char *arg, uint64_t min,
		 uint64_t max, uint64_t *ns);
/* A whole number from lo to hi: 0 or 2 (printed). */
int cli_uint(const struct cli *c, const char *opt, const char *arg, unsigned long lo,
	     unsigned long hi, unsigned long *out);
/* The index of arg in words[n], or -1. */
int cli_word(const char *arg, const char *const *words, int n);
/* A PID: 1 .. 2^30-1. 0 or -EINVAL. */
int cli_parse_pid(const char *arg, pid_t *pid);
/* "1ms", "1.5s", "100ms": for messages. */
const char *cli_fmt_duration(uint64_t ns, char *buf, size_t len);

/* -- CMD: start CMD, held until the session attaches. 0 (also without
 * -- CMD) or -errno, printed. */
int cli_spawn(const struct cli *c, struct session *s);
/* The shared options into a session (-v, --no-debuginfod, --ringbuf-kb). */
void cli_apply(const struct cli *c, struct session *s);
/* SIGINT/SIGTERM stop the session (SIGUSR1 too when usr1 is set: it calls it);
 * SIGPIPE is ignored. */
void cli_signals(void (*usr1)(int));
/*
 * The end of a session with -- CMD: at the end of --duration CMD keeps
 * running, detached (said on stderr), unless --kill: then it is killed.
 * Call before session_close.
 */
void cli_end_child(const struct cli *c, struct session *s, int why);

#endif
