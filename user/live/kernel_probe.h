/* SPDX-License-Identifier: MIT */
/* What the running kernel offers the tracer, probed at start up. */
#ifndef APS_KERNEL_PROBE_H
#define APS_KERNEL_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#define KPROBE_NPOLL 3

struct kernel_probe {
	char release[65];	/* uname -r */
	char machine[65];	/* uname -m */
	bool ringbuf;		/* BPF_MAP_TYPE_RINGBUF (5.8) */
	bool uprobe_prog;	/* BPF_PROG_TYPE_KPROBE, the uprobe programs' type */
	bool tracefs;		/* syscall tracepoints can be looked up */
	bool poll_tp[KPROBE_NPOLL];	/* each of kprobe_poll_syscalls' tracepoints */
};

/* The loop-idle tracepoints, in the order the tracer attaches them. */
extern const char *const kprobe_poll_syscalls[KPROBE_NPOLL];

/* Probe the kernel (needs CAP_BPF for the BPF probes; false without). */
void kernel_probe_run(struct kernel_probe *k);
/* 0 if the tracer can load here; else -ENOTSUP with one line in err
 * naming the kernel and what it lacks. */
int kernel_probe_check(const struct kernel_probe *k, char *err, size_t errlen);
/* Print which path this kernel gets and why (doctor). */
void kernel_probe_explain(const struct kernel_probe *k);

#endif
