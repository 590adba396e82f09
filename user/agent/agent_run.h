/* SPDX-License-Identifier: MIT */
/* Run the agent until SIGINT/SIGTERM. The exit code. */
#ifndef APS_AGENT_RUN_H
#define APS_AGENT_RUN_H

#include "agent/agent.h"

int agent_run(struct agent_opts *o);

#endif
