// SPDX-License-Identifier: MIT
/* cli/options.c: durations, PIDs, the shared options, PID | -- CMD; cli/outfile.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "cli/options.h"
#include "cli/outfile.h"

TEST(duration_syntax)
{
	static const struct { const char *arg; uint64_t ns; } ok[] = {
		{ "100ms", 100000000ull }, { "1.5s", 1500000000ull }, { "2m", 120000000000ull },
		{ "500us", 500000ull }, { "1h", 3600000000000ull }, { "10", 10000000000ull },
		{ "0.25", 250000000ull }, { "7ns", 7 }, { "0", 0 }, { "1e-3", 1000000ull },
	};
	static const char *const bad[] = {
		"nan", "NaN", "inf", "-inf", "-5", "-0.1", "", "s", "10x", "1 s", "1e30", "ms", "10min",
	};
	uint64_t ns;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ns = 12345;
		CHECK_EQ_INT(cli_parse_duration(ok[i].arg, &ns), 0);
		CHECK_EQ_INT(ns, ok[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ns = 12345;
		CHECK(cli_parse_duration(bad[i], &ns) != 0);
		CHECK_EQ_INT(ns, 12345);
	}
}

TEST(duration_minimum_and_maximum)
{
	struct cli c = { .cmd = "test", .usage = "" };
	uint64_t ns = 7;

	CHECK_EQ_INT(cli_duration(&c, "--duration", "0.0009", CLI_MS, CLI_MAX_DURATION, &ns), 2);
	CHECK_EQ_INT(cli_duration(&c, "--duration", "1e-9", CLI_MS, CLI_MAX_DURATION, &ns), 2);
	CHECK_EQ_INT(cli_duration(&c, "--duration", "nan", CLI_MS, CLI_MAX_DURATION, &ns), 2);
	CHECK_EQ_INT(cli_duration(&c, "--duration", "0", CLI_MS, CLI_MAX_DURATION, &ns), 2);
	CHECK_EQ_INT(cli_duration(&c, "--duration", "2000000", CLI_MS, CLI_MAX_DURATION, &ns), 2);
	CHECK_EQ_INT(ns, 7);
	CHECK_EQ_INT(cli_duration(&c, "--duration", "1ms", CLI_MS, CLI_MAX_DURATION, &ns), 0);
	CHECK_EQ_INT(ns, CLI_MS);
	CHECK_EQ_INT(cli_duration(&c, "--delay", "99ms", 100 * CLI_MS, 3600 * CLI_S, &ns), 2);
	CHECK_EQ_INT(cli_duration(&c, "--delay", "1h", 100 * CLI_MS, 3600 * CLI_S, &ns), 0);
	CHECK_EQ_INT(ns, 3600 * CLI_S);
}

TEST(fmt_duration)
{
	char b[32];

	CHECK_EQ_STR(cli_fmt_duration(CLI_MS, b, sizeof(b)), "1ms");
	CHECK_EQ_STR(cli_fmt_duration(10 * CLI_MS, b, sizeof(b)), "10ms");
	CHECK_EQ_STR(cli_fmt_duration(1000, b, sizeof(b)), "1us");
	CHECK_EQ_STR(cli_fmt_duration(1500 * CLI_MS, b, sizeof(b)), "1.5s");
	CHECK_EQ_STR(cli_fmt_duration(CLI_MAX_DURATION, b, sizeof(b)), "1000000s");
	CHECK_EQ_STR(cli_fmt_duration(3600 * CLI_S, b, sizeof(b)), "1h");
}

TEST(pid_and_uint)
{
	struct cli c = { .cmd = "test", .usage = "" };
	unsigned long v = 9;
	pid_t pid = 9;

	CHECK_EQ_INT(cli_parse_pid("123", &pid), 0);
	CHECK_EQ_INT(pid, 123);
	CHECK(cli_parse_pid("0", &pid));
	CHECK(cli_parse_pid("-5", &pid));
	CHECK(cli_parse_pid("12abc", &pid));
	CHECK(cli_parse_pid("abc", &pid));
	CHECK(cli_parse_pid("", &pid));
	CHECK(cli_parse_pid(" 12", &pid));
	CHECK(cli_parse_pid("1073741824", &pid));
	CHECK_EQ_INT(pid, 123);
	CHECK_EQ_INT(cli_uint(&c, "--n", "-5", 1, 10, &v), 2);	/* strtoul would wrap it */
	CHECK_EQ_INT(cli_uint(&c, "--n", "11", 1, 10, &v), 2);
	CHECK_EQ_INT(cli_uint(&c, "--n", "10", 1, 10, &v), 0);
	CHECK_EQ_INT(v, 10);
}

static const struct option opts[] = {
	{ "threshold", required_argument, NULL, 't' },
	CLI_OPT_JSON, CLI_OPT_MODE, CLI_OPT_POLL_HOOK, CLI_OPT_HZ, CLI_OPT_FROM, CLI_OPT_TO,
	CLI_OPT_OUTPUT, CLI_OPT_DURATION, CLI_OPT_KILL, CLI_OPT_VERBOSE, CLI_OPT_RINGBUF_KB, CLI_OPT_NO_DEBUGINFOD,
	CLI_OPT_HELP,
	{},
};

struct own { uint64_t threshold; int json; };	/* json: 'j' must not reach it */

static int own_opt(struct cli *c, int opt, const char *arg, void *ctx)
{
	struct own *o = ctx;

	switch (opt) {
	case 't': return cli_duration(c, "--threshold", arg, CLI_MS, CLI_MAX_DURATION, &o->threshold);
	case 'j': o->json++; return 0;
	default: return -1;
	}
}

/* argv from a NULL-terminated list (cli_parse permutes it) */
static int parse(struct cli *c, struct own *o, const char **args, int *rc)
{
	static char *argv[32];
	int argc = 0;

	while (args[argc] && argc < 31) {
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	*rc = -100;
	return cli_parse(c, argc, argv, "t:jvh", opts, own_opt, o, rc);
}

TEST(parse_options_anywhere_before_dashdash)
{
	const char *a[] = { "blocked", "42", "--threshold", "100ms", "-v", "--duration", "1.5s",
			    "--no-debuginfod", "--ringbuf-kb", "64", "--json", NULL };
	struct cli c = { .cmd = "blocked", .usage = "usage\n", .target = CLI_PID };
	struct own o = {};
	int rc;

	REQUIRE(parse(&c, &o, a, &rc));
	CHECK_EQ_INT(rc, -100);	/* untouched on success */
	CHECK_EQ_INT(c.pid, 42);
	CHECK_EQ_INT(o.threshold, 100 * CLI_MS);
	CHECK_EQ_INT(c.duration_ns, 1500 * CLI_MS);
	CHECK(c.verbose && c.no_debuginfod);
	CHECK_EQ_INT(c.ringbuf_kb, 64);
	CHECK(c.json);
	CHECK_EQ_INT(o.json, 0);
	CHECK(c.spawn == NULL);
	CHECK_EQ_INT(c.mode, 0);	/* not given */
	CHECK_EQ_INT(c.hz, 0);
}

/* The options of the loop-mode commands and of the recordings: one parser. */
TEST(parse_shared_values)
{
	const char *a[] = { "top", "--mode", "step", "--poll-hook", "tracepoint", "--hz", "250",
			    "--output", "out.json", "--from", "1.5", "--to", "12:00:01", "7", NULL };
	const char *hz_max[] = { "profile", "--hz", "1001", "7", NULL };
	const char *bad_mode[] = { "top", "--mode", "both", "7", NULL };
	const char *bad_hook[] = { "top", "--poll-hook", "kprobe", "7", NULL };
	static const char *const words[] = { "task", "coro", "thread" };
	struct cli c = { .cmd = "top", .usage = "usage\n", .target = CLI_PID };
	struct own o = {};
	int rc;

	REQUIRE(parse(&c, &o, a, &rc));
	CHECK_EQ_INT(c.mode, MODE_STEP);
	CHECK_EQ_INT(c.hook, LOOP_HOOK_TRACEPOINT);
	CHECK_EQ_INT(c.hz, 250);
	CHECK_EQ_STR(c.output, "out.json");
	CHECK_EQ_STR(c.from, "1.5");
	CHECK_EQ_STR(c.to, "12:00:01");
	CHECK_EQ_INT(c.pid, 7);
	c = (struct cli){ .cmd = "profile", .usage = "usage\n", .target = CLI_PID, .max_hz = 1000 };
	CHECK(!parse(&c, &o, hz_max, &rc));
	CHECK_EQ_INT(rc, 2);
	c = (struct cli){ .cmd = "top", .usage = "usage\n", .target = CLI_PID };
	CHECK(!parse(&c, &o, bad_mode, &rc));
	CHECK_EQ_INT(rc, 2);
	c = (struct cli){ .cmd = "top", .usage = "usage\n", .target = CLI_PID };
	CHECK(!parse(&c, &o, bad_hook, &rc));
	CHECK_EQ_INT(rc, 2);
	CHECK_EQ_INT(cli_word("coro", words, 3), 1);
	CHECK_EQ_INT(cli_word("thread", words, 3), 2);
	CHECK_EQ_INT(cli_word("Task", words, 3), -1);
}

/* An option with a flag pointer sets it; nothing reaches the command's function. */
TEST(parse_flag_option)
{
	static int flag;
	static const struct option fopts[] = {
		{ "explain", no_argument, &flag, 1 }, CLI_OPT_HELP, {},
	};
	char *argv[] = { "doctor", "42", "--explain", NULL };
	struct cli c = { .cmd = "doctor", .usage = "usage\n", .target = CLI_PID };
	int rc = -100;

	flag = 0;
	REQUIRE(cli_parse(&c, 3, argv, "h", fopts, NULL, NULL, &rc));
	CHECK_EQ_INT(flag, 1);
	CHECK_EQ_INT(c.pid, 42);
	CHECK_EQ_INT(rc, -100);
}

/* replay FILE [VIEW], export FILE: options before, between and after the words. */
TEST(parse_file_target)
{
	const char *replay[] = { "replay", "--json", "a.rec", "--from", "2", "top", NULL };
	const char *dashdash[] = { "replay", "--json", "--", "-odd.rec", NULL };
	const char *none[] = { "replay", "--json", NULL };
	const char *three[] = { "replay", "a.rec", "top", "extra", NULL };
	const char *two_files[] = { "export", "a.rec", "b.rec", NULL };
	struct cli c = { .cmd = "replay", .usage = "usage\n", .target = CLI_FILE, .max_args = 1 };
	struct own o = {};
	int rc;

	REQUIRE(parse(&c, &o, replay, &rc));
	REQUIRE(c.nargs == 2);
	CHECK_EQ_STR(c.args[0], "a.rec");
	CHECK_EQ_STR(c.args[1], "top");
	CHECK_EQ_STR(c.from, "2");
	CHECK(c.json);
	c = (struct cli){ .cmd = "replay", .usage = "usage\n", .target = CLI_FILE, .max_args = 1 };
	REQUIRE(parse(&c, &o, dashdash, &rc));
	REQUIRE(c.nargs == 1);
	CHECK_EQ_STR(c.args[0], "-odd.rec");
	c = (struct cli){ .cmd = "replay", .usage = "usage\n", .target = CLI_FILE, .max_args = 1 };
	CHECK(!parse(&c, &o, none, &rc));
	CHECK_EQ_INT(rc, 2);
	c = (struct cli){ .cmd = "replay", .usage = "usage\n", .target = CLI_FILE, .max_args = 1 };
	CHECK(!parse(&c, &o, three, &rc));
	CHECK_EQ_INT(rc, 2);
	c = (struct cli){ .cmd = "export", .usage = "usage\n", .target = CLI_FILE };
	CHECK(!parse(&c, &o, two_files, &rc));
	CHECK_EQ_INT(rc, 2);
}

TEST(parse_spawn)
{
	const char *a[] = { "trace", "--duration", "2", "--kill", "--", "python3", "-v", "x.py", NULL };
	const char *both[] = { "trace", "42", "--", "python3", NULL };
	const char *none[] = { "trace", "--", NULL };
	const char *kill_pid[] = { "trace", "--kill", "--duration", "1", "42", NULL };
	const char *kill_nodur[] = { "trace", "--kill", "--", "python3", NULL };
	struct cli c = { .cmd = "trace", .usage = "usage\n", .target = CLI_PID_OR_CMD };
	struct own o = {};
	int rc;

	REQUIRE(parse(&c, &o, a, &rc));
	REQUIRE(c.spawn != NULL);
	CHECK_EQ_STR(c.spawn[0], "python3");
	CHECK_EQ_STR(c.spawn[1], "-v");	/* CMD's options are CMD's */
	CHECK_EQ_STR(c.spawn[2], "x.py");
	CHECK(c.spawn[3] == NULL);
	CHECK(c.kill);
	CHECK_EQ_INT(c.duration_ns, 2 * CLI_S);
	CHECK_EQ_INT(o.json, 0);
	c = (struct cli){ .cmd = "trace", .usage = "usage\n", .target = CLI_PID_OR_CMD };
	CHECK(!parse(&c, &o, both, &rc));
	CHECK_EQ_INT(rc, 2);
	c = (struct cli){ .cmd = "trace", .usage = "usage\n", .target = CLI_PID_OR_CMD };
	CHECK(!parse(&c, &o, none, &rc));
	CHECK_EQ_INT(rc, 2);
	c = (struct cli){ .cmd = "trace", .usage = "usage\n", .target = CLI_PID_OR_CMD };
	CHECK(!parse(&c, &o, kill_pid, &rc));
	CHECK_EQ_INT(rc, 2);
	c = (struct cli){ .cmd = "trace", .usage = "usage\n", .target = CLI_PID_OR_CMD };
	CHECK(!parse(&c, &o, kill_nodur, &rc));
	CHECK_EQ_INT(rc, 2);
}

TEST(parse_errors)
{
	static const char *cases[][6] = {
		{ "ps", NULL },				/* no PID */
		{ "ps", "abc", NULL },			/* not a PID */
		{ "ps", "1", "2", NULL },		/* two */
		{ "ps", "--threshold", "0", "1", NULL },	/* under the minimum */
		{ "ps", "--duration", "nan", "1", NULL },
		{ "ps", "--ringbuf-kb", "3", "1", NULL },	/* not a power of two */
		{ "ps", "--bogus", "1", NULL },		/* unknown */
		{ "ps", "--", "python3", NULL },	/* CMD where only a PID goes */
	};
	struct cli c;
	struct own o = {};
	int rc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = (struct cli){ .cmd = "ps", .usage = "usage\n", .target = CLI_PID };
		CHECK(!parse(&c, &o, cases[i], &rc));
		CHECK_EQ_INT(rc, 2);
	}
	{
		const char *help[] = { "ps", "--help", NULL };

		c = (struct cli){ .cmd = "ps", .usage = "", .target = CLI_PID };
		CHECK(!parse(&c, &o, help, &rc));
		CHECK_EQ_INT(rc, 0);
	}
	{
		const char *after[] = { "ps", "-v", "--", "77", NULL };	/* ps -- PID */

		c = (struct cli){ .cmd = "ps", .usage = "", .target = CLI_PID };
		CHECK(parse(&c, &o, after, &rc));
		CHECK_EQ_INT(c.pid, 77);
	}
}

static size_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? (size_t)-1 : (size_t)st.st_size;
}

/* A failed start leaves FILE as it was; a started one replaces it, no temp left. */
TEST(outfile_replaced_only_at_commit)
{
	char dir[] = "/tmp/aps-unit-XXXXXX", path[64], cmd[96];
	struct outfile o;
	FILE *f;
	int fd;

	REQUIRE(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/keep.rec", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	REQUIRE(fd >= 0);
	CHECK_EQ_INT(write(fd, "yesterday", 9), 9);
	close(fd);

	REQUIRE(outfile_open(&o, path) == 0);
	f = outfile_stream(&o);
	REQUIRE(f);
	fputs("half", f);
	CHECK_EQ_INT(outfile_close(&o), 0);	/* never committed */
	CHECK_EQ_INT(file_size(path), 9);

	REQUIRE(outfile_open(&o, path) == 0);
	f = outfile_stream(&o);
	REQUIRE(f);
	CHECK_EQ_INT(outfile_commit(&o), 0);
	fputs("today!", f);
	CHECK_EQ_INT(outfile_close(&o), 0);
	CHECK_EQ_INT(file_size(path), 6);
	CHECK_EQ_INT((int)(access(path, F_OK) == 0), 1);
	{
		struct stat st;

		CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);	/* its mode kept */
	}
	/* only keep.rec is left: no temp file */
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) = 1", dir);
	CHECK_EQ_INT(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ_INT(system(cmd), 0);
}

TEST(outfile_write_errors)
{
	struct outfile o;
	FILE *f;

	REQUIRE(outfile_open(&o, "/dev/full") == 0);	/* a device: in place */
	f = outfile_stream(&o);
	REQUIRE(f);
	CHECK_EQ_INT(outfile_commit(&o), 0);
	fputs("x", f);
	CHECK_EQ_INT(outfile_close(&o), 1);	/* ENOSPC at the final flush */
	CHECK(outfile_open(&o, "/nonexistent-dir/x") < 0);
	CHECK(outfile_open(&o, "/tmp") == -EISDIR);
}

UNIT_MAIN()
