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

struct session;

/* Long-only option codes of the shared options (a command's own use letters). */
enum {
	CLI_NO_DEBUGINFOD = 0x100,
	CLI_RINGBUF_KB,
	CLI_DURATION,
	CLI_KILL,
};

/* Entries for a command's option table. */
#define CLI_OPT_VERBOSE { "verbose", no_argument, NULL, 'v' }
#define CLI_OPT_NO_DEBUGINFOD { "no-debuginfod", no_argument, NULL, CLI_NO_DEBUGINFOD }
#define CLI_OPT_RINGBUF_KB { "ringbuf-kb", required_argument, NULL, CLI_RINGBUF_KB }
#define CLI_OPT_DURATION { "duration", required_argument, NULL, CLI_DURATION }
#define CLI_OPT_KILL { "kill", no_argument, NULL, CLI_KILL }
#define CLI_OPT_HELP { "help", no_argument, NULL, 'h' }

/* What the command takes after its options. */
enum cli_target {
	CLI_PID = 1,		/* exactly one PID */
	CLI_PID_OR_CMD,		/* PID, or -- CMD [ARGS...] */
};

#define CLI_MS 1000000ull
#define CLI_S 1000000000ull
/* The longest session: session_run counts milliseconds in an unsigned. */
#define CLI_MAX_DURATION (1000000ull * CLI_S)

struct cli {
	const char *cmd;	/* "trace": errors name it */
	const char *usage;
	enum cli_target target;
	/* results */
	pid_t pid;
	char **spawn;		/* -- CMD ARGS (NULL-terminated), or NULL */
	bool verbose, no_debuginfod, kill;
	unsigned ringbuf_kb;	/* 0: default */
	uint64_t duration_ns;	/* 0: none */
};

/*
 * A command's own option: 0, or an exit code (the error is printed; use
 * cli_bad and the parsers below), or -1 for "not mine" (usage, exit 2).
 */
typedef int (*cli_opt_fn)(struct cli *c, int opt, const char *arg, void *ctx);

/*
 * getopt_long over argv, options anywhere before `--`; shared options go into
 * c, the others to fn. Then the target. Returns true to go on; false with
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
/* A PID: 1 .. 2^30-1. 0 or -EINVAL. */
int cli_parse_pid(const char *arg, pid_t *pid);
/* "1ms", "1.5s", "100ms": for messages. */
const char *cli_fmt_duration(uint64_t ns, char *buf, size_t len);

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
