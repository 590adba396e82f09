/* SPDX-License-Identifier: MIT */
/* The agent's HTTP endpoint (/metrics), served by libmicrohttpd on its own thread. */
#ifndef APS_AGENT_HTTP_H
#define APS_AGENT_HTTP_H

#include <stddef.h>
#include "agent/agent.h"

struct agent_http;

/* "HOST:PORT" ("[V6]:PORT"). 0 or -errno with a message in err. */
int agent_http_start(struct agent *a, const char *listen, struct agent_http **out, char *err,
		     size_t errlen);
void agent_http_stop(struct agent_http *h);

#endif
