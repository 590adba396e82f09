// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "model/step_switch.h"
#include "live/kernel_probe.h"
#include "live/ringbuf.h"
#include "live/tracer.h"
#include "live/verifier_log.h"
#include "tasks.skel.h"

struct tracer {
	struct tasks_bpf *skel;
	struct ring_buffer *rb;
	struct proc_links {
		pid_t pid;	/* 0: free */
		struct bpf_link *links[HOOK_COUNT][HOOK_MAX_PROBES];
	} procs[TRACER_MAX_PROCS];
	struct bpf_link *poll_links[KPROBE_NPOLL];
	int npoll;			/* how many of them attached */
	struct bpf_link *exit_links[2];
	struct bpf_link *proc_links[2];	/* exec, fork */
	tracer_event_fn fn;
	void *ctx;
	tracer_proc_fn proc_fn;
	void *proc_ctx;
};

static bool verbose_libbpf;

/* libbpf finds tracepoint ids in tracefs; mount it where it is missing. */
static void ensure_tracefs(void)
{
	if (!access("/sys/kernel/tracing/events", F_OK) ||
	    !access("/sys/kernel/debug/tracing/events", F_OK))
		return;
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) && verbose_libbpf)
		fprintf(stderr, "aps-bpf: cannot mount tracefs: %s\n", strerror(errno));
}

static int libbpf_print(enum libbpf_print_level level __attribute__((unused)),
			const char *fmt, va_list args)
{
	if (!verbose_libbpf)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static int on_ringbuf(void *ctx, void *data, size_t len)
{
	struct tracer *t = ctx;
	struct aps_ev_step_begin begin;
	struct aps_ev_step_end end;
	const struct aps_event_hdr *h = data;
	int rc;

	if (len >= sizeof(struct aps_ev_proc) &&
	    (h->type == APS_EV_PROC_EXEC || h->type == APS_EV_PROC_FORK)) {
		if (t->proc_fn)
			t->proc_fn(t->proc_ctx, data);
		return 0;
	}
	if (step_switch_split(data, len, &end, &begin) <= 0)
		return t->fn(t->ctx, data, len);
	rc = t->fn(t->ctx, &end, sizeof(end));
	return rc ? rc : t->fn(t->ctx, &begin, sizeof(begin));
}

int tracer_load(struct tracer **out, tracer_event_fn fn, void *ctx, bool verbose,
		unsigned ringbuf_kb, char *err, size_t errlen)
{
	struct verifier_log *vlog = NULL;
	struct kernel_probe k;
	struct tracer *t;
	int rc;

	verbose_libbpf = verbose;
	libbpf_set_print(libbpf_print);
	kernel_probe_run(&k);
	rc = kernel_probe_check(&k, err, errlen);
	if (rc)
		return rc;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fn = fn;
	t->ctx = ctx;
	t->skel = tasks_bpf__open();
	if (!t->skel) {
		rc = -errno;
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(-rc));
		goto cleanup;
	}
	if (!ringbuf_kb)
		ringbuf_kb = TRACER_DEFAULT_RINGBUF_KB;
	/* wake the consumer when a quarter is filled, at most every 256 KiB */
	t->skel->rodata->wakeup_bytes = ringbuf_kb >= 1024 ? 256 << 10 : ringbuf_kb * 1024 / 4;
	{
		rc = bpf_map__set_max_entries(t->skel->maps.events, ringbuf_kb * 1024);
		if (rc) {
			snprintf(err, errlen, "ring buffer size %u KiB: %s", ringbuf_kb, strerror(-rc));
			goto cleanup;
		}
	}
	if (verbose)
		vlog = verifier_log_arm(t->skel->obj);
	rc = tasks_bpf__load(t->skel);
	verifier_log_print(vlog, stderr);
	verifier_log_free(vlog);
	if (rc) {
		if ((rc == -EPERM || rc == -EACCES) && geteuid() != 0)
			snprintf(err, errlen, "cannot load BPF programs: %s; aps-bpf needs root, "
				 "or CAP_BPF and CAP_PERFMON (and CAP_SYS_PTRACE to read the target)",
				 strerror(-rc));
		else
			snprintf(err, errlen, "cannot load BPF programs: %s (the kernel refused them; -v shows libbpf's log)",
				 strerror(-rc));
		goto cleanup;
	}
	rc = ringbuf_open(&t->rb, bpf_map__fd(t->skel->maps.events), on_ringbuf, t, err, errlen);
	if (rc)
		goto cleanup;
	*out = t;
	return 0;
cleanup:
	tracer_close(t);
	return rc;
}

static struct bpf_program *hook_prog(struct tracer *t, enum hook_id id)
{
	switch (id) {
	case HOOK_STEP: return t->skel->progs.step_begin;
	case HOOK_INIT: return t->skel->progs.task_init;
	case HOOK_DEALLOC: return t->skel->progs.task_dealloc;
	case HOOK_SWAP: return t->skel->progs.swap_task;
	case HOOK_CANCEL: return t->skel->progs.task_cancel;
	default: return NULL;
	}
}

int tracer_attach(struct tracer *t, const struct interp *ip, const struct py_layout *l,
		  const struct hook_set *hs, char *err, size_t errlen)
{
	__u32 key = (__u32)ip->pid;
	struct proc_links *pl = NULL;
	int rc;

	for (int i = 0; i < TRACER_MAX_PROCS && !pl; i++)
		if (!t->procs[i].pid)
			pl = &t->procs[i];
	if (!pl) {
		snprintf(err, errlen, "tracing %d processes already", TRACER_MAX_PROCS);
		return -ENOSPC;
	}
	pl->pid = ip->pid;
	rc = bpf_map_update_elem(bpf_map__fd(t->skel->maps.layouts), &key, &l->bpf, BPF_ANY);
	if (rc) {
		rc = -errno;
		snprintf(err, errlen, "cannot store the layout: %s", strerror(-rc));
		return rc;
	}
	for (int i = 0; i < HOOK_COUNT; i++) {
		const struct hook *h = &hs->h[i];

		if (!h->found)
			continue;
		if (i == HOOK_SWAP && !l->bpf.swap_task_arg)
			continue;
		for (int j = 0; j < h->nprobes && j < HOOK_MAX_PROBES; j++) {
			pl->links[i][j] = bpf_program__attach_uprobe(hook_prog(t, i), false, ip->pid,
								    hs->obj_host_path, h->file_offset[j]);
			if (pl->links[i][j])
				continue;
			rc = -errno;
			if (!h->required) {	/* optional: go on without it */
				fprintf(stderr, "aps-bpf: warning: cannot attach a uprobe to %s (%s): "
					"traced without it\n", h->func, strerror(-rc));
				for (int k = 0; k < j; k++) {
					bpf_link__destroy(pl->links[i][k]);
					pl->links[i][k] = NULL;
				}
				break;
			}
			snprintf(err, errlen, "cannot attach a uprobe to %s (%s+0x%llx): %s",
				 h->func, hs->obj_host_path,
				 (unsigned long long)h->file_offset[j], strerror(-rc));
			return rc;
		}
	}
	if (t->exit_links[0] || t->poll_links[0])
		return 0;	/* tracepoints: attached with the first process */
	ensure_tracefs();
	/* each that exists: arm64 has no epoll_wait syscall (glibc's
	 * epoll_wait() calls epoll_pwait), 5.10 no epoll_pwait2 */
	for (int i = 0; i < KPROBE_NPOLL; i++) {
		t->poll_links[i] = bpf_program__attach_tracepoint(t->skel->progs.loop_poll,
								  "syscalls", kprobe_poll_syscalls[i]);
		if (t->poll_links[i])
			t->npoll++;
		else if (verbose_libbpf)
			fprintf(stderr, "aps-bpf: no %s tracepoint (%s): not used\n",
				kprobe_poll_syscalls[i], strerror(errno));
	}
	if (!t->npoll)
		fprintf(stderr, "aps-bpf: warning: cannot attach to any epoll syscall tracepoint "
			"(%s, %s, %s): a step followed by an idle loop ends at the next step\n",
			kprobe_poll_syscalls[0], kprobe_poll_syscalls[1], kprobe_poll_syscalls[2]);
	for (int i = 0; i < 2; i++) {
		static const char *const exits[2] = { "sys_enter_exit", "sys_enter_exit_group" };

		t->exit_links[i] = bpf_program__attach_tracepoint(t->skel->progs.thread_exit,
								  "syscalls", exits[i]);
		if (!t->exit_links[i])
			fprintf(stderr, "aps-bpf: warning: cannot attach to the %s tracepoint (%s): "
				"steps cut by an exit show as unknown\n", exits[i], strerror(errno));
	}
	if (!t->proc_links[0]) {
		t->proc_links[0] = bpf_program__attach(t->skel->progs.proc_exec);
		if (!t->proc_links[0])
			fprintf(stderr, "aps-bpf: warning: cannot attach to the sched_process_exec "
				"tracepoint (%s): an exec is seen only by its new executable\n",
				strerror(errno));
		t->proc_links[1] = bpf_program__attach(t->skel->progs.proc_fork);
		if (!t->proc_links[1])
			fprintf(stderr, "aps-bpf: warning: cannot attach to the sched_process_fork "
				"tracepoint (%s): forks are not seen\n", strerror(errno));
	}
	return 0;
}

void tracer_detach(struct tracer *t, pid_t pid)
{
	__u32 key = (__u32)pid;

	for (int k = 0; k < TRACER_MAX_PROCS; k++) {
		if (t->procs[k].pid != pid)
			continue;
		for (int i = 0; i < HOOK_COUNT; i++)
			for (int j = 0; j < HOOK_MAX_PROBES; j++) {
				bpf_link__destroy(t->procs[k].links[i][j]);
				t->procs[k].links[i][j] = NULL;
			}
		t->procs[k].pid = 0;
	}
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.layouts), &key);
}

void tracer_on_proc(struct tracer *t, tracer_proc_fn fn, void *ctx)
{
	t->proc_fn = fn;
	t->proc_ctx = ctx;
}

bool tracer_sees_exec(const struct tracer *t)
{
	return t->proc_links[0] != NULL;
}

bool tracer_has_poll_boundary(const struct tracer *t)
{
	return t->npoll > 0;
}

int tracer_poll(struct tracer *t, int timeout_ms)
{
	return ringbuf_poll(t->rb, timeout_ms);
}

int tracer_drain(struct tracer *t)
{
	return ring_buffer__consume(t->rb);
}

void tracer_counters(const struct tracer *t, struct aps_counters *c)
{
	*c = t->skel->bss->counters;
}

int tracer_open_steps(const struct tracer *t, tracer_open_step_fn fn, void *ctx)
{
	int fd = bpf_map__fd(t->skel->maps.threads);
	__u32 key, next, *prev = NULL;
	struct aps_thread_state st;
	int n = 0;

	/* bounded: the map holds at most APS_MAX_THREADS entries */
	while (n < APS_MAX_THREADS && bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		n++;
		if (bpf_map_lookup_elem(fd, &key, &st) || st.depth == 0 || st.depth > APS_MAX_NEST)
			continue;
		fn(ctx, key, st.steps[st.depth - 1].task, st.steps[st.depth - 1].begin_ts);
	}
	return 0;
}

int tracer_prog_stats(const struct tracer *t, struct prog_stat out[TRACER_NPROGS])
{
	struct bpf_program *progs[TRACER_NPROGS] = {
		t->skel->progs.step_begin, t->skel->progs.task_init, t->skel->progs.task_dealloc,
		t->skel->progs.swap_task, t->skel->progs.loop_poll, t->skel->progs.thread_exit,
		t->skel->progs.task_cancel,
	};

	for (int i = 0; i < TRACER_NPROGS; i++) {
		int err = prog_stat_read(progs[i], &out[i]);

		if (err)
			return err;
	}
	return 0;
}

void tracer_close(struct tracer *t)
{
	if (!t)
		return;
	for (int k = 0; k < TRACER_MAX_PROCS; k++)
		for (int i = 0; i < HOOK_COUNT; i++)
			for (int j = 0; j < HOOK_MAX_PROBES; j++)
				bpf_link__destroy(t->procs[k].links[i][j]);
	for (int i = 0; i < KPROBE_NPOLL; i++)
		bpf_link__destroy(t->poll_links[i]);
	for (int i = 0; i < 2; i++) {
		bpf_link__destroy(t->exit_links[i]);
		bpf_link__destroy(t->proc_links[i]);
	}
	ring_buffer__free(t->rb);
	tasks_bpf__destroy(t->skel);
	free(t);
}
