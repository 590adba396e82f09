/* SPDX-License-Identifier: MIT */
/* The loop-mode halves of the commands (`--mode loop`): no uprobe. */
#ifndef APS_LOOP_CMDS_H
#define APS_LOOP_CMDS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "loop/loop_tracer.h"

enum cmd_mode { MODE_LOOP = 1, MODE_STEP = 2 };

struct loop_opts {
	pid_t pid;
	uint64_t threshold;		/* stall threshold (blocked), --max-step (check) */
	uint64_t duration;		/* ns; 0: until Ctrl-C / exit */
	unsigned hz;			/* sampler; 0: default */
	enum loop_poll_hook hook;
	bool json, verbose;
};

/* Exit codes as the step-mode commands'. */
int loop_blocked_run(const struct loop_opts *o);
int loop_check_run(const struct loop_opts *o);
int loop_top_run(const struct loop_opts *o, unsigned interval_ms, long iterations);

#endif
