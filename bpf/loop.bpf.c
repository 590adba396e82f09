// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Loop mode: what an event loop does, with no uprobe in the target.
 *
 * - The kernel's poll: each return from epoll_wait begins a busy span on
 *   that thread, the next entry ends it (fentry/fexit on do_epoll_wait
 *   where the kernel has BTF trampolines, else the syscall tracepoints).
 *   The thread's "busy since" stays in loop_threads for userspace's stall
 *   watcher.
 * - A perf-event sampler: each sample of a target thread reads its Python
 *   frames (code object and instruction offset) from the thread state
 *   userspace put in tstates, without stopping it.
 *
 * One object serves many targets: loop_targets is the filter.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "aps_events.h"

char LICENSE[] SEC("license") = "GPL";

#define OWNED_BY_GENERATOR 1

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);	/* resized by userspace */
} events SEC(".maps");

/* target tgid -> frame layout and flags; no entry, no work */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct aps_loop_target);
} loop_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, APS_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct aps_loop_thread);
} loop_threads SEC(".maps");

/* kernel tid -> its PyThreadState *, kept by userspace */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, APS_MAX_THREADS);
	__type(key, __u32);
	__type(value, __u64);
} tstates SEC(".maps");

/* a sample is built here (too large for the BPF stack), then copied out */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aps_ev_sample);
} sample_buf SEC(".maps");

/* tgid -> its own loss counters (entry made by userspace) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct aps_loop_pid_counters);
} loop_pid_counters SEC(".maps");

struct aps_loop_counters lcounters;

const volatile __u64 wakeup_bytes = 64 << 10;

static __always_inline void count(__u64 *c)
{
	__sync_fetch_and_add(c, 1);
}

static __always_inline struct aps_loop_pid_counters *pid_counters(__u32 tgid)
{
	return bpf_map_lookup_elem(&loop_pid_counters, &tgid);
}

static __always_inline __u64 wake_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
	       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline const struct aps_loop_target *target_of(__u32 *tid, __u32 *tgid)
{
	__u64 id = bpf_get_current_pid_tgid();

	*tid = (__u32)id;
	*tgid = id >> 32;
	return bpf_map_lookup_elem(&loop_targets, tgid);
}

/* The current thread's time spent runnable but not running, ns (0 where
 * the kernel keeps no sched_info): a loop kept off the CPU by others is
 * not stalled by its own code. */
static __always_inline __u64 run_delay(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	if (!bpf_core_field_exists(t->sched_info.run_delay))
		return 0;
	return BPF_CORE_READ(t, sched_info.run_delay);
}

/* The poll returned: the loop is busy from now. */
static __always_inline int poll_return(void)
{
	const struct aps_loop_target *l;
	struct aps_loop_thread *t, fresh = {};
	__u32 tid, tgid;

	l = target_of(&tid, &tgid);
	if (!l)
		return 0;
	count(&lcounters.polls);
	t = bpf_map_lookup_elem(&loop_threads, &tid);
	if (!t) {
		fresh.tgid = tgid;
		fresh.busy_since = bpf_ktime_get_ns();
		fresh.run_delay_at_busy = run_delay();
		bpf_map_update_elem(&loop_threads, &tid, &fresh, BPF_NOEXIST);
		return 0;
	}
	t->busy_since = bpf_ktime_get_ns();
	t->run_delay_at_busy = run_delay();
	return 0;
}

/* The loop is about to wait: the busy span since the last return ends. */
static __always_inline int poll_enter(void)
{
	const struct aps_loop_target *l;
	struct aps_loop_thread *t;
	struct aps_ev_loop_span *e;
	__u64 now, since, d, wait;
	__u32 tid, tgid;

	l = target_of(&tid, &tgid);
	if (!l)
		return 0;
	t = bpf_map_lookup_elem(&loop_threads, &tid);
	if (!t || !t->busy_since)
		return 0;
	now = bpf_ktime_get_ns();
	since = t->busy_since;
	t->busy_since = 0;
	d = now > since ? now - since : 0;
	t->busy_ns += d;
	t->spans++;
	if (d > t->max_busy_ns)
		t->max_busy_ns = d;
	wait = run_delay() - t->run_delay_at_busy;
	if (wait > d)
		wait = d;
	/* wall time: a stall the watcher caught gets its end, whatever its wait */
	if (!(l->flags & APS_LOOP_SPANS) || d < l->span_min_ns)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		struct aps_loop_pid_counters *pc = pid_counters(tgid);

		count(&lcounters.lost_spans);
		if (pc)
			count(&pc->lost_spans);
		return 0;
	}
	e->hdr.type = APS_EV_LOOP_SPAN;
	e->hdr.flags = 0;
	e->hdr.tid = tid;
	e->hdr.ts_ns = now;
	e->hdr.task = 0;
	e->begin_ts_ns = since;
	e->pid = tgid;
	e->pad = 0;
	e->run_delay_ns = wait;
	bpf_ringbuf_submit(e, wake_flag());
	return 0;
}

SEC("fentry/do_epoll_wait")
int epoll_fentry(void *ctx __attribute__((unused)))
{
	return poll_enter();
}

SEC("fexit/do_epoll_wait")
int epoll_fexit(void *ctx __attribute__((unused)))
{
	return poll_return();
}

/* Fallback: sys_enter/sys_exit of epoll_wait, epoll_pwait, epoll_pwait2. */
SEC("tracepoint")
int epoll_tp_enter(void *ctx __attribute__((unused)))
{
	return poll_enter();
}

SEC("tracepoint")
int epoll_tp_exit(void *ctx __attribute__((unused)))
{
	return poll_return();
}

static __always_inline __u64 rd_ptr(__u64 addr, int *bad)
{
	__u64 v = 0;

	if (bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		*bad = 1;
	return v;
}

/*
 * Walk the thread's frames, innermost first, into e->f: one slot per frame,
 * entry frames included (userspace skips them: owner >= 3 on 3.12+), so
 * the slot index is the loop index and the verifier's states stay few.
 */
static __always_inline void walk(const struct aps_loop_target *l, __u64 tstate,
				 struct aps_ev_sample *e)
{
	__u64 frame, code, ip, gen;
	__u32 n = 0;
	int bad = 0;

	frame = rd_ptr(tstate + l->ts_frame, &bad);
	if (frame && (l->minor == 11 || l->minor == 12))
		frame = rd_ptr(frame + l->cf_current, &bad);
	for (int i = 0; i < APS_SAMPLE_MAX_FRAMES; i++) {
		struct aps_sample_frame *f = &e->f[i];
		__u8 owner = 0;

		if (!frame || bad)
			break;
		code = rd_ptr(frame + l->fr_code, &bad);
		ip = rd_ptr(frame + l->fr_instr, &bad);
		if (l->fr_owner)
			bpf_probe_read_user(&owner, 1, (void *)(frame + l->fr_owner));
		if (l->tagged_code)
			code &= ~3ULL;
		f->code = code;
		if (l->fr_gen) {	/* 3.10: int f_lasti, in code units; f_gen */
			f->instr = (__s32)ip > 0 ? (__u32)ip * 2 : 0;
			gen = rd_ptr(frame + l->fr_gen, &bad);
			owner = gen ? OWNED_BY_GENERATOR : 0;
		} else {
			code += l->co_code_adaptive;
			f->instr = ip >= code && ip - code < (1 << 30) ? (__u32)(ip - code) : 0;
			gen = frame - l->gen_iframe;
		}
		if (owner == OWNED_BY_GENERATOR)
			e->coro = gen;
		f->owner = owner;
		n = i + 1;
		frame = rd_ptr(frame + l->fr_previous, &bad);
	}
	if (frame && !bad)
		e->hdr.flags |= APS_SAMPLE_TRUNCATED;
	if (bad) {
		struct aps_loop_pid_counters *pc = pid_counters(e->pid);

		count(&lcounters.read_errors);
		if (pc)
			count(&pc->read_errors);
	}
	e->nframes = n;
}

SEC("perf_event")
int sample(void *ctx __attribute__((unused)))
{
	const struct aps_loop_target *l;
	struct aps_loop_thread *lt;
	struct aps_ev_sample *e;
	__u64 *tstate, size;
	__u32 tid, tgid, zero = 0, n;

	l = target_of(&tid, &tgid);
	if (!l || !tid)
		return 0;
	e = bpf_map_lookup_elem(&sample_buf, &zero);
	if (!e)
		return 0;
	e->hdr.type = APS_EV_SAMPLE;
	e->hdr.flags = APS_SAMPLE_ON_CPU;
	e->hdr.tid = tid;
	e->hdr.ts_ns = bpf_ktime_get_ns();
	e->hdr.task = 0;
	e->coro = 0;
	e->busy_since = 0;
	e->pid = tgid;
	e->nframes = 0;
	e->pad = 0;
	lt = bpf_map_lookup_elem(&loop_threads, &tid);
	if (lt && lt->busy_since) {
		e->hdr.flags |= APS_SAMPLE_LOOP_BUSY;
		e->busy_since = lt->busy_since;
	}
	tstate = bpf_map_lookup_elem(&tstates, &tid);
	if (!tstate || !*tstate) {
		e->hdr.flags |= APS_SAMPLE_NO_TSTATE;
	} else if (l->flags & APS_LOOP_SAMPLE) {
		if (l->ts_running_task) {
			int bad = 0;

			e->hdr.task = rd_ptr(*tstate + l->ts_running_task, &bad);
		}
		walk(l, *tstate, e);
	}
	n = e->nframes;
	if (n > APS_SAMPLE_MAX_FRAMES)
		n = APS_SAMPLE_MAX_FRAMES;
	size = __builtin_offsetof(struct aps_ev_sample, f) + (__u64)n * sizeof(e->f[0]);
	if (bpf_ringbuf_output(&events, e, size, wake_flag())) {
		struct aps_loop_pid_counters *pc = pid_counters(tgid);

		count(&lcounters.lost_samples);
		if (pc)
			count(&pc->lost_samples);
	} else
		count(&lcounters.samples);
	return 0;
}
