/* SPDX-License-Identifier: MIT */
/* The agent's exec and exit tracepoints (bpf/procwatch.bpf.c). */
#ifndef APS_PROCWATCH_H
#define APS_PROCWATCH_H

#include <stdint.h>
#include <sys/types.h>
#include "aps_events.h"

struct procwatch;

typedef void (*procwatch_fn)(void *ctx, const struct aps_proc_event *e);

/* Load and attach; 0 or -errno with a message in err. */
int procwatch_open(struct procwatch **out, procwatch_fn fn, void *ctx, char *err, size_t errlen);
void procwatch_close(struct procwatch *w);
/* A descriptor to poll for events. */
int procwatch_fd(const struct procwatch *w);
/* Hand the pending events to fn. */
int procwatch_consume(struct procwatch *w);
/* Watch (report the exit of) pid, or stop. */
int procwatch_watch(struct procwatch *w, pid_t pid, int on);
/* Events the ring buffer had no room for. */
uint64_t procwatch_lost(const struct procwatch *w);

#endif
