/* SPDX-License-Identifier: MIT */
/* /metrics: what the agent has seen, in the Prometheus text format (0.0.4). */
#ifndef APS_AGENT_METRICS_H
#define APS_AGENT_METRICS_H

#include <stddef.h>
#include <stdio.h>
#include "agent/agent.h"

/* A label value escaped as the text format requires: \\, \", \n. */
void prom_escape(const char *in, char *out, size_t len);
/* Every metric; the caller holds a->lock. */
void agent_metrics_render(struct agent *a, FILE *out);

#endif
