/* SPDX-License-Identifier: MIT */
/*
 * What ps/pstree add to a snapshot without --watch (output/task_view.h's
 * struct task_extra): child task counts, the asyncio.sleep timers (read
 * from memory now, no history needed), and the agent's history of the
 * process (agent_client.h), when one runs.
 */
#ifndef APS_TASK_EXTRA_H
#define APS_TASK_EXTRA_H

#include <stdint.h>
#include <sys/types.h>
#include "agent/agent_client.h"
#include "memory/snapshot.h"
#include "output/task_view.h"

/*
 * x: s->ntasks entries. h: the agent's answer, or NULL. now: CLOCK_MONOTONIC.
 * Returns how many tasks the agent knew.
 */
uint32_t task_extra_fill(const struct snapshot *s, pid_t pid, const struct py_layout *l,
			 const struct agent_tasks *h, uint64_t now, struct task_extra *x);

#endif
