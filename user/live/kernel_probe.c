// SPDX-License-Identifier: MIT
/*
 * Kernel feature probes. The BPF programs need the ring buffer (5.8) and
 * nothing newer (they load on 5.10's verifier: no loops, one NULL test per
 * reservation, no CO-RE field that 5.10 lacks). What varies from kernel to
 * kernel is which epoll syscalls have a tracepoint for the loop-idle step
 * boundary: epoll_pwait2 came in 5.11, and arm64 has no epoll_wait.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/libbpf.h>
#include "live/kernel_probe.h"

const char *const kprobe_poll_syscalls[KPROBE_NPOLL] = {
	"sys_enter_epoll_wait", "sys_enter_epoll_pwait", "sys_enter_epoll_pwait2",
};

static const char *const tracefs_dirs[] = {
	"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events",
};

static bool tracepoint_exists(const char *name)
{
	char path[256];

	for (size_t i = 0; i < sizeof(tracefs_dirs) / sizeof(tracefs_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/syscalls/%s/id", tracefs_dirs[i], name);
		if (!access(path, F_OK))
			return true;
	}
	return false;
}

void kernel_probe_run(struct kernel_probe *k)
{
	struct utsname u;

	memset(k, 0, sizeof(*k));
	if (!uname(&u)) {
		snprintf(k->release, sizeof(k->release), "%s", u.release);
		snprintf(k->machine, sizeof(k->machine), "%s", u.machine);
	}
	k->ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
	k->uprobe_prog = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_KPROBE, NULL) == 1;
	for (size_t i = 0; i < sizeof(tracefs_dirs) / sizeof(tracefs_dirs[0]); i++)
		if (!access(tracefs_dirs[i], F_OK))
			k->tracefs = true;
	for (int i = 0; i < KPROBE_NPOLL; i++)
		k->poll_tp[i] = tracepoint_exists(kprobe_poll_syscalls[i]);
}

int kernel_probe_check(const struct kernel_probe *k, char *err, size_t errlen)
{
	if (!k->uprobe_prog) {
		snprintf(err, errlen, "kernel %s cannot load BPF uprobe programs (BPF_PROG_TYPE_KPROBE): "
			 "not root, or a kernel without CONFIG_BPF_SYSCALL / CONFIG_UPROBE_EVENTS",
			 k->release);
		return -ENOTSUP;
	}
	if (!k->ringbuf) {
		snprintf(err, errlen, "kernel %s has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF, Linux 5.8): "
			 "aps-bpf needs Linux 5.8 or newer (tested on 5.10 and later)", k->release);
		return -ENOTSUP;
	}
	return 0;
}

void kernel_probe_explain(const struct kernel_probe *k)
{
	int npoll = 0;

	printf("\nkernel\n");
	printf("  release:   %s (%s)\n", k->release, k->machine);
	printf("  BPF:       uprobe programs %s, ring buffer %s (5.8+ needed)\n",
	       k->uprobe_prog ? "yes" : "NO", k->ringbuf ? "yes" : "NO");
	printf("  programs:  one build for every kernel from 5.8: no loops, no helper or "
	       "kernel field newer than 5.8\n");
	printf("  loop idle: ");
	for (int i = 0; i < KPROBE_NPOLL; i++) {
		if (!k->poll_tp[i])
			continue;
		printf("%s%s", npoll ? ", " : "", kprobe_poll_syscalls[i] + strlen("sys_enter_"));
		npoll++;
	}
	if (!k->tracefs)
		printf("tracefs not mounted here (the tracer mounts it)\n");
	else if (!npoll)
		printf("no epoll tracepoint: a step followed by an idle loop ends at the next step\n");
	else
		printf(" tracepoints%s\n", k->poll_tp[2] ? "" :
		       " (no epoll_pwait2 tracepoint before 5.11: a loop calling it is seen "
		       "idle only at its next step)");
	if (kernel_probe_check(k, (char[256]){0}, 256))
		printf("  => cannot trace on this kernel\n");
}
