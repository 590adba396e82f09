/* SPDX-License-Identifier: MIT */
/*
 * user/cli/: the commands: each `*_cmd.c` parses its options and wires the
 * other folders together.
 */
/* Subcommands. Each returns the process exit code: 0 ok, 1 error, 2 usage. */
#ifndef APS_COMMANDS_H
#define APS_COMMANDS_H

int cmd_trace(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_pstree(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_blocked(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_profile(int argc, char **argv);

#endif
