// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>
#include "cli/commands.h"

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
	"  profile  CPU time per task, coroutine and thread: top, folded stacks, pprof\n"
	"  doctor   how each hook is found (symbols, debug file, debuginfod, symbol-free), probe costs\n"
	"\n"
	"`aps-bpf COMMAND --help` for a command's options.\n";

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "trace"))
		return cmd_trace(argc - 1, argv + 1);
	if (!strcmp(argv[1], "record"))
		return cmd_record(argc - 1, argv + 1);
	if (!strcmp(argv[1], "replay"))
		return cmd_replay(argc - 1, argv + 1);
	if (!strcmp(argv[1], "export"))
		return cmd_export(argc - 1, argv + 1);
	if (!strcmp(argv[1], "blocked"))
		return cmd_blocked(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ps"))
		return cmd_ps(argc - 1, argv + 1);
	if (!strcmp(argv[1], "pstree"))
		return cmd_pstree(argc - 1, argv + 1);
	if (!strcmp(argv[1], "top"))
		return cmd_top(argc - 1, argv + 1);
	if (!strcmp(argv[1], "profile"))
		return cmd_profile(argc - 1, argv + 1);
	if (!strcmp(argv[1], "doctor"))
		return cmd_doctor(argc - 1, argv + 1);
	fprintf(stderr, "aps-bpf: unknown command '%s'\n%s", argv[1], usage);
	return 2;
}
