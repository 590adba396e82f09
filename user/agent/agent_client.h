/* SPDX-License-Identifier: MIT */
/*
 * Asking a running agent over its unix socket (root only). One request per
 * connection, a line of text: "tasks PID", "dump PID", "status". The
 * answer is "ok ..." then lines then "end", or one "err MESSAGE" line.
 */
#ifndef APS_AGENT_CLIENT_H
#define APS_AGENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_REQ_MAX 128
#define AGENT_TASKS_MAX (1u << 22)

struct agent_task_info {
	uint64_t addr;
	uint64_t first_ns;	/* CLOCK_MONOTONIC: created (TH_CREATED_SEEN) or first seen */
	uint64_t wait_ns;	/* at its current await since (TH_WAIT_SEEN) or at least since */
	uint8_t flags;		/* TH_* of agent/task_hist.h */
};

struct agent_tasks {
	uint64_t watched_ns;	/* when the agent began watching the process */
	uint64_t period_ns;	/* the snapshot period: the precision of the times */
	uint32_t n;
	struct agent_task_info *v;	/* sorted by addr */
};

/*
 * Send req, the whole answer in *resp (NUL-terminated; free it). 0;
 * -ENOENT / -ECONNREFUSED: no agent; -EACCES: not allowed; -errno.
 */
int agent_client_request(const char *sock, const char *req, char **resp, size_t *len);
/*
 * What the agent has seen of pid's tasks. 0; -ESRCH: the agent does not
 * watch pid; the errors of agent_client_request; -EPROTO: a bad answer.
 * A message in err.
 */
int agent_client_tasks(const char *sock, pid_t pid, struct agent_tasks *out, char *err, size_t errlen);
void agent_tasks_free(struct agent_tasks *t);
const struct agent_task_info *agent_tasks_find(const struct agent_tasks *t, uint64_t addr);

#endif
