// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>
#include "cli/commands.h"
#include "cli/outfile.h"

static const char usage[] =
	"usage: aps-bpf COMMAND [OPTIONS] (PID | -- CMD [ARGS...])\n"
	"\n"
	"Shows what a live CPython (3.10-3.14) asyncio program is doing, from outside.\n"
	"\n"
	"commands:\n"
	"  trace    stream task lifecycle events (created, step, done, ...)\n"
	"  record   save the events to a file (or keep the last minute: --flight)\n"
	"  replay   print a recording as trace did, or a window of it\n"
	"  export   a recording as a Perfetto / Chrome trace (trace-event JSON)\n"
	"  ps       the tasks alive now: a table, as Python 3.14's `-m asyncio ps`\n"
	"  pstree   the tasks alive now: who awaits whom, with coroutine frames\n"
	"  top      live per-task / per-coroutine / per-loop timing\n"
	"  blocked  steps that blocked the event loop, with the Python stack while blocked\n"
	"  check    health check: fail if a step blocked the loop or a task waited too long\n"
	"  agent    the host agent: watches every asyncio process, metrics, dumps\n"
	"  profile  CPU time per task, coroutine and thread: top, folded stacks, pprof\n"
	"  doctor   how each hook is found (symbols, debug file, debuginfod, symbol-free), probe costs\n"
	"\n"
	"`aps-bpf COMMAND --help` for a command's options.\n";

static const struct { const char *name; int (*fn)(int argc, char **argv); } cmds[] = {
	{ "trace", cmd_trace }, { "record", cmd_record }, { "replay", cmd_replay },
	{ "export", cmd_export }, { "blocked", cmd_blocked }, { "check", cmd_check },
	{ "ps", cmd_ps }, { "pstree", cmd_pstree }, { "top", cmd_top }, { "profile", cmd_profile },
	{ "agent", cmd_agent }, { "doctor", cmd_doctor },
};

int main(int argc, char **argv)
{
	int rc;

	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		rc = cmds[i].fn(argc - 1, argv + 1);
		/* output a command did not check (doctor, usage): a full disk is an error */
		if (rc == 0 && outfile_close_stream(stdout, "stdout"))
			rc = 1;
		return rc;
	}
	fprintf(stderr, "aps-bpf: unknown command '%s'\n%s", argv[1], usage);
	return 2;
}
