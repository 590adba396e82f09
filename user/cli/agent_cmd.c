// SPDX-License-Identifier: MIT
/* `aps-bpf agent`: the host agent (user/agent/), and asking it: dump, status. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "agent/agent_client.h"
#include "agent/agent.h"
#include "agent/agent_run.h"
#include "cli/commands.h"
#include "cli/options.h"

static const char agent_usage[] =
	"usage: aps-bpf agent [OPTIONS]          run the agent (root)\n"
	"       aps-bpf agent dump PID           write PID's flight recorder to the dump dir now\n"
	"       aps-bpf agent status             the processes the running agent watches\n"
	"       aps-bpf agent tasks PID          what it has seen of PID's tasks: task id,\n"
	"                                        age, waiting (s; a leading >= marks a lower bound)\n"
	"\n"
	"Watches every Python (3.10-3.14) process on the host that uses asyncio: found\n"
	"at start in /proc, then at each exec (a tracepoint) and by a periodic rescan\n"
	"(_asyncio may load late). For each, it reads the tasks from memory\n"
	"periodically (as `ps` does), remembers when each task appeared and since when\n"
	"it waits where it is (for `ps`, `pstree` and `check`, over --socket), keeps\n"
	"the last --window in a flight recorder, and writes it to --dump-dir on\n"
	"`agent dump PID`, SIGUSR1 (all processes), a loop stall (loop mode: no uprobe,\n"
	"the kernel's poll and a sampler) and an abnormal exit (non-zero\n"
	"status or a signal other than TERM/INT/HUP). Dumps are recordings:\n"
	"`replay` and `export` read them. /metrics in the Prometheus text format on\n"
	"--listen.\n"
	"\n"
	"options:\n"
	"  --match RULE          watch only processes matching one of these rules\n"
	"                        (repeatable): REGEX or cmd:REGEX (extended regex on the\n"
	"                        command line), uid:N, cgroup:PATH (that cgroup or below)\n"
	"  --exclude RULE        never watch processes matching (same forms)\n"
	"  --window DURATION     flight recorder window per process (default 5m)\n"
	"  --flight-mb N         flight recorder memory per process, MiB (default 16)\n"
	"  --max-mb N            flight recorder memory of all processes, MiB (default 128)\n"
	"  --tasks-every PERIOD  read each process's tasks this often (default 1s); not\n"
	"                        when it has not run since (its threads' schedstat), and\n"
	"                        less often when the reads of all processes together\n"
	"                        take more than --max-cpu (or one process more than 2%%)\n"
	"  --max-cpu PERMILLE    CPU budget of the reads, in thousandths of one CPU\n"
	"                        (default 4: 0.4%%)\n"
	"  --rescan PERIOD       rescan /proc this often (default 10s)\n"
	"  --dump-dir DIR        where dumps go (default " AGENT_DUMP_DIR_DEFAULT ")\n"
	"  --dump-keep N         dumps kept there, the oldest removed (default 20)\n"
	"  --dump-max-mb N       MiB of dumps kept there (default 512)\n"
	"  --listen HOST:PORT    serve /metrics (default " AGENT_LISTEN_DEFAULT "); 'off': no HTTP.\n"
	"                        Only loopback unless you give another address.\n"
	"  --socket PATH         the root-only socket (default " AGENT_SOCK_DEFAULT ")\n"
	"  --label SERVICE       the service label of every process (default: from its\n"
	"                        cgroup: the *.service part, else the last part)\n"
	"  --top-tasks N         per process, the N longest-waiting tasks in /metrics\n"
	"                        (default 5, at most 10): bounded label cardinality\n"
	"  --max-procs N         watch at most N processes (default 256)\n"
	"  --dump-on-stall D     loop mode: a loop thread busy longer than D since its last\n"
	"                        poll is a stall: its stack is read while stalled, kept in\n"
	"                        the flight recorder, and a dump written (at most one per\n"
	"                        process a minute; default 1s; 'off')\n"
	"  --hz N                loop mode's CPU sampler (default 49; 0: none)\n"
	"  --ringbuf-kb N        loop mode's ring buffer, KiB: a power of 2, at least the\n"
	"                        page size (default 4096); what does not fit is counted\n"
	"                        per process in aps_lost_events_total\n"
	"  --top-coros N         per process, the N coroutines with the most CPU samples in\n"
	"                        /metrics, the rest summed as \"(other)\" (default 10)\n"
	"  --no-loop             no loop mode (no BPF on the poll, no sampler): snapshots only\n"
	"  -v, --verbose\n";

static int parse_uint(const char *arg, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(arg, &end, 10);
	return errno || end == arg || *end || arg[0] == '-' || *out > max ? -EINVAL : 0;
}

static int client(const char *sock, const char *req)
{
	char *resp, *nl;
	size_t len;
	int rc;

	if (!strncmp(req, "tasks", 5)) {
		struct agent_tasks t;
		char msg[256];
		uint64_t now;

		rc = agent_client_tasks(sock, (pid_t)atoi(req + 6), &t, msg, sizeof(msg));
		if (rc) {
			fprintf(stderr, "aps-bpf: %s\n", msg);
			return 1;
		}
		now = agent_now();
		for (uint32_t i = 0; i < t.n; i++)
			printf("0x%llx %s%.3f %s%.3f\n", (unsigned long long)t.v[i].addr,
			       t.v[i].flags & TH_CREATED_SEEN ? "" : ">=",
			       now > t.v[i].first_ns ? (double)(now - t.v[i].first_ns) / 1e9 : 0.0,
			       t.v[i].flags & TH_WAIT_SEEN ? "" : ">=",
			       now > t.v[i].wait_ns ? (double)(now - t.v[i].wait_ns) / 1e9 : 0.0);
		agent_tasks_free(&t);
		return 0;
	}
	rc = agent_client_request(sock, req, &resp, &len);
	if (rc) {
		if (rc == -ENOENT || rc == -ECONNREFUSED)
			fprintf(stderr, "aps-bpf: no agent running (%s)\n", sock);
		else
			fprintf(stderr, "aps-bpf: asking the agent (%s): %s\n", sock,
				rc == -EACCES ? "permission denied: root only" : strerror(-rc));
		return 1;
	}
	if (strncmp(resp, "ok", 2)) {
		nl = strchr(resp, '\n');
		if (nl)
			*nl = 0;
		fprintf(stderr, "aps-bpf: the agent: %s\n", !strncmp(resp, "err ", 4) ? resp + 4 : resp);
		free(resp);
		return 1;
	}
	if (!strncmp(req, "dump", 4)) {
		nl = strchr(resp, '\n');
		if (nl)
			*nl = 0;
		printf("%s\n", resp + 3);
	} else {
		/* status: "p PID COMM PY k=v..." lines */
		char *save = NULL, *line = strtok_r(resp, "\n", &save);

		printf("%s process%s watched\n", line + 3, !strcmp(line + 3, "1") ? "" : "es");
		while ((line = strtok_r(NULL, "\n", &save)))
			if (line[0] == 'p' && line[1] == ' ')
				printf("%s\n", line + 2);
	}
	free(resp);
	return 0;
}

/* A duration of at least min ns into *ns: 0, or 2 (a bad value). */
static int dur_min(const char *arg, uint64_t min, uint64_t *ns)
{
	return cli_parse_duration(arg, ns) || *ns < min ? 2 : 0;
}

/* A whole number from lo to hi: 0, or 2 (a bad value). */
static int uint_in(const char *arg, unsigned long lo, unsigned long hi, unsigned *out)
{
	unsigned long v;

	if (parse_uint(arg, hi, &v) || v < lo)
		return 2;
	*out = (unsigned)v;
	return 0;
}

/* One option into o: 0, 1 (failed, printed), 2 (a bad value) or -1 (usage). */
static int agent_opt(struct agent_opts *o, int opt, const char *arg)
{
	char err[256];
	unsigned v;
	int rc;

	switch (opt) {
	case 'm':
	case 'x':
		if (discover_add(&o->disc, opt == 'x', arg, err, sizeof(err))) {
			fprintf(stderr, "aps-bpf agent: %s\n", err);
			return 1;
		}
		return 0;
	case 'W': return dur_min(arg, 1000000000ull, &o->window_ns);
	case 'e': return dur_min(arg, 10000000ull, &o->every_ns);
	case 'r': return dur_min(arg, 100000000ull, &o->rescan_ns);
	case 'S':
		if (!strcmp(arg, "off")) {
			o->stall_ns = 0;
			return 0;
		}
		return dur_min(arg, 10000000ull, &o->stall_ns);
	case 'F':
	case 'M':
	case 'D':
		if ((rc = uint_in(arg, 1, 1 << 20, &v)))
			return rc;
		*(opt == 'F' ? &o->proc_bytes : opt == 'M' ? &o->total_bytes : &o->dump_bytes) = (uint64_t)v << 20;
		return 0;
	case 'C':
		if ((rc = uint_in(arg, 1, 100, &v)))
			return rc;
		o->max_cpu = (double)v / 1000;
		return 0;
	case 'k': return uint_in(arg, 1, 100000, &o->dump_keep);
	case 't': return uint_in(arg, 0, AGENT_TOP_TASKS, &o->top_tasks);
	case 'P': return uint_in(arg, 1, 4096, &o->max_procs);
	case 'H': return uint_in(arg, 0, 1000, &o->hz);
	case 'c': return uint_in(arg, 0, 100, &o->top_coros);
	case 'R':
		if ((rc = uint_in(arg, 1, 1u << 20, &v)))
			return rc;
		if (v * 1024ul < (unsigned long)sysconf(_SC_PAGESIZE) || (v & (v - 1)))
			return 2;
		o->ringbuf_kb = v;
		return 0;
	case 'n': o->no_loop = true; return 0;
	case 'd': o->dump_dir = arg; return 0;
	case 'l': o->listen = !strcmp(arg, "off") ? NULL : arg; return 0;
	case 's': o->sock_path = arg; return 0;
	case 'L': o->label = arg; return 0;
	case 'v': o->verbose = true; return 0;
	default: return -1;
	}
}

int cmd_agent(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "match", required_argument, NULL, 'm' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "window", required_argument, NULL, 'W' },
		{ "flight-mb", required_argument, NULL, 'F' },
		{ "max-mb", required_argument, NULL, 'M' },
		{ "tasks-every", required_argument, NULL, 'e' },
		{ "rescan", required_argument, NULL, 'r' },
		{ "max-cpu", required_argument, NULL, 'C' },
		{ "dump-dir", required_argument, NULL, 'd' },
		{ "dump-keep", required_argument, NULL, 'k' },
		{ "dump-max-mb", required_argument, NULL, 'D' },
		{ "listen", required_argument, NULL, 'l' },
		{ "socket", required_argument, NULL, 's' },
		{ "label", required_argument, NULL, 'L' },
		{ "top-tasks", required_argument, NULL, 't' },
		{ "max-procs", required_argument, NULL, 'P' },
		{ "dump-on-stall", required_argument, NULL, 'S' },
		{ "hz", required_argument, NULL, 'H' },
		{ "top-coros", required_argument, NULL, 'c' },
		{ "ringbuf-kb", required_argument, NULL, 'R' },
		{ "no-loop", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct agent_opts o = {
		.window_ns = 300000000000ull,
		.proc_bytes = 16ull << 20,
		.total_bytes = 128ull << 20,
		.every_ns = 1000000000ull,
		.max_cpu = 0.004,
		.rescan_ns = 10000000000ull,
		.dump_dir = AGENT_DUMP_DIR_DEFAULT,
		.dump_keep = 20,
		.dump_bytes = 512ull << 20,
		.listen = AGENT_LISTEN_DEFAULT,
		.sock_path = AGENT_SOCK_DEFAULT,
		.max_procs = 256,
		.top_tasks = 5,
		.top_coros = 10,
		.hz = 49,
		.stall_ns = 1000000000ull,
	};
	unsigned long v;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(agent_usage, stdout);
			discover_free(&o.disc);
			return 0;
		}
		rc = agent_opt(&o, opt, optarg);
		if (rc == 1)
			goto fail;
		if (rc == 2)
			goto bad;
		if (rc)
			goto usage;
	}
	if (optind < argc) {
		char req[AGENT_REQ_MAX];

		if (!strcmp(argv[optind], "dump") && optind + 2 == argc) {
			if (parse_uint(argv[optind + 1], 0x3fffffff, &v) || !v)
				goto usage;
			snprintf(req, sizeof(req), "dump %lu", v);
		} else if (!strcmp(argv[optind], "tasks") && optind + 2 == argc) {
			if (parse_uint(argv[optind + 1], 0x3fffffff, &v) || !v)
				goto usage;
			snprintf(req, sizeof(req), "tasks %lu", v);
		} else if (!strcmp(argv[optind], "status") && optind + 1 == argc) {
			snprintf(req, sizeof(req), "status");
		} else {
			goto usage;
		}
		discover_free(&o.disc);
		return client(o.sock_path, req);
	}
	if (geteuid() != 0) {
		fprintf(stderr, "aps-bpf agent: needs root (it reads other processes' memory and loads BPF)\n");
		goto fail;
	}
	rc = agent_run(&o);
	discover_free(&o.disc);
	return rc;
bad:
	fprintf(stderr, "aps-bpf agent: bad value '%s'\n", optarg);
usage:
	fputs(agent_usage, stderr);
	discover_free(&o.disc);
	return 2;
fail:
	discover_free(&o.disc);
	return 1;
}
