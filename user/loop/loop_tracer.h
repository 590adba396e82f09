/* SPDX-License-Identifier: MIT */
/*
 * Loop mode's BPF side (bpf/loop.bpf.c): the kernel's poll per loop thread
 * and a perf-event sampler, with no uprobe. One loaded object serves any
 * number of target pids (loop_tracer_add).
 */
#ifndef APS_LOOP_TRACER_H
#define APS_LOOP_TRACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "aps_events.h"
#include "live/prog_stat.h"

enum loop_poll_hook {
	LOOP_HOOK_AUTO = 0,	/* fentry/fexit where the kernel allows, else tracepoints */
	LOOP_HOOK_FENTRY,
	LOOP_HOOK_TRACEPOINT,
};

struct loop_tracer;
typedef int (*loop_event_fn)(void *ctx, const void *data, size_t len);
typedef void (*loop_thread_fn)(void *ctx, uint32_t tid, const struct aps_loop_thread *st);

#define LOOP_NPROGS 5

/* Load (CAP_BPF + CAP_PERFMON); 0 or -errno with a message. */
int loop_tracer_open(struct loop_tracer **out, enum loop_poll_hook want, loop_event_fn fn,
		     void *ctx, unsigned ringbuf_kb, bool verbose, char *err, size_t errlen);
/* "fentry/fexit do_epoll_wait" or "syscall tracepoints epoll_wait/pwait/pwait2". */
const char *loop_tracer_hook_name(const struct loop_tracer *t);
enum loop_poll_hook loop_tracer_hook(const struct loop_tracer *t);
/* Why the tracepoints are used instead of fentry ("" when not asked). */
const char *loop_tracer_fallback_reason(const struct loop_tracer *t);
/* doctor: load the loop probes (no target) and say how loop mode waits. */
void loop_tracer_doctor(void);
int loop_tracer_add(struct loop_tracer *t, pid_t pid, const struct aps_loop_target *cfg);
int loop_tracer_remove(struct loop_tracer *t, pid_t pid);
/* A cpu-clock perf event on every CPU at hz, running the sampler. */
int loop_tracer_start_sampler(struct loop_tracer *t, unsigned hz, char *err, size_t errlen);
/* Set (tstate != 0) or drop (0) the thread state of kernel tid. */
int loop_tracer_set_tstate(struct loop_tracer *t, uint32_t tid, uint64_t tstate);
/* Poll the ring buffer; >=0 records handled, or -errno. */
int loop_tracer_poll(struct loop_tracer *t, int timeout_ms);
int loop_tracer_drain(struct loop_tracer *t);
/* Every loop thread of pid (0: all pids): fn(ctx, tid, state). */
int loop_tracer_threads(struct loop_tracer *t, pid_t pid, loop_thread_fn fn, void *ctx);
int loop_tracer_forget_thread(struct loop_tracer *t, uint32_t tid);
void loop_tracer_counters(const struct loop_tracer *t, struct aps_loop_counters *c);
/* What was lost of one target (zero when it has no entry): 0 or -errno. */
int loop_tracer_pid_counters(const struct loop_tracer *t, pid_t pid, struct aps_loop_pid_counters *c);
/* Run counts of the programs (kernel.bpf_stats_enabled=1). */
int loop_tracer_prog_stats(const struct loop_tracer *t, struct prog_stat out[LOOP_NPROGS]);
void loop_tracer_close(struct loop_tracer *t);

#endif
