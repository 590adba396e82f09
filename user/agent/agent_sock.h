/* SPDX-License-Identifier: MIT */
/* The agent's side of its unix socket (agent_client.h has the protocol). */
#ifndef APS_AGENT_SOCK_H
#define APS_AGENT_SOCK_H

#include <stddef.h>
#include "agent/agent.h"

/*
 * Listen at path (its directory made 0700, the socket 0600; a stale socket
 * replaced, a live agent's refused). The fd, or -errno with a message.
 */
int agent_sock_listen(const char *path, char *err, size_t errlen);
/* Answer the clients waiting on lfd (non-blocking). Only uid 0 is answered. */
void agent_sock_serve(struct agent *a, int lfd);

#endif
