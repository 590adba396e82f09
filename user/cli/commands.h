/* SPDX-License-Identifier: MIT */
/*
 * user/cli/: the commands: each `*_cmd.c` parses its options and wires the
 * other folders together.
 */
/* Subcommands. Each returns the process exit code: 0 ok, 1 error, 2 usage. */
#ifndef APS_COMMANDS_H
#define APS_COMMANDS_H

typedef int cmd_fn(int argc, char **argv);

cmd_fn cmd_trace, cmd_record, cmd_replay, cmd_export, cmd_top, cmd_ps, cmd_pstree, cmd_check,
	cmd_blocked, cmd_doctor, cmd_agent, cmd_profile;

#endif
