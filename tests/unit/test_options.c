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
	{ "json", no_argument, NULL, 'j' },
	CLI_OPT_DURATION, CLI_OPT_KILL, CLI_OPT_VERBOSE, CLI_OPT_RINGBUF_KB, CLI_OPT_NO_DEBUGINFOD,
	CLI_OPT_HELP,
	{},
};

struct own { uint64_t threshold; int json; };

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
	CHECK_EQ_INT(o.json, 1);
	CHECK(c.spawn == NULL);
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
	struct cli_out o;
	FILE *f;
	int fd;

	REQUIRE(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/keep.rec", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	REQUIRE(fd >= 0);
	CHECK_EQ_INT(write(fd, "yesterday", 9), 9);
	close(fd);

	REQUIRE(cli_out_open(&o, path) == 0);
	f = cli_out_stream(&o);
	REQUIRE(f);
	fputs("half", f);
	CHECK_EQ_INT(cli_out_close(&o), 0);	/* never committed */
	CHECK_EQ_INT(file_size(path), 9);

	REQUIRE(cli_out_open(&o, path) == 0);
	f = cli_out_stream(&o);
	REQUIRE(f);
	CHECK_EQ_INT(cli_out_commit(&o), 0);
	fputs("today!", f);
	CHECK_EQ_INT(cli_out_close(&o), 0);
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
	struct cli_out o;
	FILE *f;

	REQUIRE(cli_out_open(&o, "/dev/full") == 0);	/* a device: in place */
	f = cli_out_stream(&o);
	REQUIRE(f);
	CHECK_EQ_INT(cli_out_commit(&o), 0);
	fputs("x", f);
	CHECK_EQ_INT(cli_out_close(&o), 1);	/* ENOSPC at the final flush */
	CHECK(cli_out_open(&o, "/nonexistent-dir/x") < 0);
	CHECK(cli_out_open(&o, "/tmp") == -EISDIR);
}

UNIT_MAIN()
