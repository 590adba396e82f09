// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's process watcher: every exec on the host (a new program may be
 * Python), and the end of each watched process with its wait status (an
 * abnormal end triggers a dump). Two tracepoints, no uprobe.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "aps_events.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10);
} proc_events SEC(".maps");

/* tgid -> 1: the processes the agent watches */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} watched SEC(".maps");

__u64 lost;

/* Execs are the host's (many): read at the agent's next tick, no wakeup each. */
static void emit(__u32 type, __u32 pid, __s32 code, __u64 wake)
{
	struct aps_proc_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		return;
	}
	e->type = type;
	e->pid = pid;
	e->exit_code = code;
	e->pad = 0;
	e->ts_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, wake);
}

SEC("tp/sched/sched_process_exec")
int proc_exec(void *ctx __attribute__((unused)))
{
	emit(APS_PROC_EXEC, bpf_get_current_pid_tgid() >> 32, 0, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp/sched/sched_process_exit")
int proc_exit(void *ctx __attribute__((unused)))
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *t;
	__s32 code;

	if (!bpf_map_lookup_elem(&watched, &tgid))
		return 0;
	t = (struct task_struct *)bpf_get_current_task();
	/* the last thread: the group is dead */
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0;
	code = BPF_CORE_READ(t, signal, group_exit_code);
	if (!code)
		code = BPF_CORE_READ(t, exit_code);
	emit(APS_PROC_EXIT, tgid, code, 0);
	return 0;
}
