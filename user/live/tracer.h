/* SPDX-License-Identifier: MIT */
/* Loading the BPF programs, attaching them to one target, reading events. */
#ifndef APS_TRACER_H
#define APS_TRACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "aps_events.h"
#include "hooks/hooks.h"
#include "target/interp.h"
#include "target/layout.h"
#include "live/prog_stat.h"

struct tracer;
typedef int (*tracer_event_fn)(void *ctx, const void *data, size_t len);

#define TRACER_DEFAULT_RINGBUF_KB (16 << 10)

/* Load the BPF object (needs CAP_BPF + CAP_PERFMON); 0 or -errno with a message. */
int tracer_load(struct tracer **out, tracer_event_fn fn, void *ctx, bool verbose,
		unsigned ringbuf_kb, char *err, size_t errlen);
#define TRACER_MAX_PROCS 64	/* the BPF layouts map's size */

/* Attach to one more process; the layout goes into the per-PID map first. */
int tracer_attach(struct tracer *t, const struct interp *ip, const struct py_layout *l,
		  const struct hook_set *hs, char *err, size_t errlen);
/* Stop tracing one process (its probes and layout). */
void tracer_detach(struct tracer *t, pid_t pid);
/* Exec and fork of a traced process (struct aps_ev_proc), from the ring
 * buffer's reader: never passed to the event function. */
typedef void (*tracer_proc_fn)(void *ctx, const struct aps_ev_proc *e);
void tracer_on_proc(struct tracer *t, tracer_proc_fn fn, void *ctx);
/* Whether execs are seen (sched_process_exec is attached). */
bool tracer_sees_exec(const struct tracer *t);
/* Whether loop-idle detection is attached: any of the epoll syscall
 * tracepoints (kernel_probe.h), each where the kernel has it. */
bool tracer_has_poll_boundary(const struct tracer *t);
/* Poll the ring buffer; >=0 events handled, or -errno. */
int tracer_poll(struct tracer *t, int timeout_ms);
/* Handle whatever is left in the ring buffer. */
int tracer_drain(struct tracer *t);
void tracer_counters(const struct tracer *t, struct aps_counters *c);
/* The step running on each traced thread now: fn(ctx, tid, task, begin_ts)
 * for the innermost open step of every thread that has one. */
typedef void (*tracer_open_step_fn)(void *ctx, uint32_t tid, uint64_t task, uint64_t begin_ts);
int tracer_open_steps(const struct tracer *t, tracer_open_step_fn fn, void *ctx);

/* Run counts of our BPF programs (kernel.bpf_stats_enabled=1), by name. */
#define TRACER_NPROGS 7
int tracer_prog_stats(const struct tracer *t, struct prog_stat out[TRACER_NPROGS]);
void tracer_close(struct tracer *t);

#endif
