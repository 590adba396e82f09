// SPDX-License-Identifier: GPL-2.0
/*
 * Task lifecycle probes on CPython's _asyncio module.
 *
 * A step costs one probe hit: the entry of task_step_impl. The end of a
 * step is taken from the next event on the same thread (another step,
 * the loop entering epoll_wait, the task's dealloc, or the return of an
 * eager step), and what the step left the task doing is read from the
 * task at that moment: its fields only change in its own steps. When a
 * step begins as the thread's one open step ends, both go in one
 * STEP_SWITCH record.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "aps_events.h"

char LICENSE[] SEC("license") = "GPL";

#define open_step aps_open_step
#define thread_state aps_thread_state

struct pending_task {
	__u64 create_ts;
	__u64 creator;
	__u32 tid;
	__u64 name;		/* task_name pointer when announced */
	__u8 announced;		/* TASK_NEW emitted */
	__u8 stepped;		/* a step began */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);	/* resized by userspace */
} events SEC(".maps");

/* target tgid -> layout; also the filter: no entry, no work */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct aps_layout);
} layouts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, APS_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct thread_state);
} threads SEC(".maps");

/* tasks we have announced (or are about to): task address -> creation info */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, APS_MAX_TASKS);
	__type(key, __u64);
	__type(value, struct pending_task);
} tasks SEC(".maps");

/* a zeroed thread_state to insert (too large for the BPF stack) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct thread_state);
} zero_thread SEC(".maps");

/*
 * The tasks map's key: the task's address and its process (a forked child
 * has its parent's tasks at the same addresses). User addresses are below
 * 2^47; the process goes above (pids apart by a multiple of 2^17 share).
 */
static __always_inline __u64 task_key(__u64 task)
{
	return task ^ ((bpf_get_current_pid_tgid() >> 32) << 47);
}

/* type pointers whose name we have sent */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} types SEC(".maps");

struct aps_counters counters;

static __always_inline void count(__u64 *c)
{
	__sync_fetch_and_add(c, 1);
}

static __always_inline __u64 read_ptr(__u64 addr)
{
	__u64 v = 0;

	if (bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		count(&counters.read_errors);
	return v;
}

/* The n-th (1-based) integer argument. The registers are loaded at fixed
 * offsets first: the verifier refuses a ctx access at a computed offset. */
static __always_inline __u64 arg_n(struct pt_regs *ctx, int n)
{
	volatile __u64 a1 = PT_REGS_PARM1(ctx), a2 = PT_REGS_PARM2(ctx);
	volatile __u64 a3 = PT_REGS_PARM3(ctx), a4 = PT_REGS_PARM4(ctx);

	switch (n) {
	case 1: return a1;
	case 2: return a2;
	case 3: return a3;
	case 4: return a4;
	}
	return 0;
}

/*
 * Wake the consumer only once a batch is waiting: a wakeup per record
 * costs the target more than the record. The consumer also polls on a
 * timer, so a quiet trace is still printed promptly.
 */
const volatile __u64 wakeup_bytes = 256 << 10;	/* set from the buffer size */

static __always_inline void submit(void *e)
{
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
		      BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;

	count(&counters.events);
	bpf_ringbuf_submit(e, flags);
}

/*
 * A record, or NULL (counted as lost). The one NULL test is the caller's
 * `if (!e)` right after: a second test of the same pointer (e.g. one here
 * to pick a counter) makes the 5.10 and 6.1 verifiers walk a path where
 * the reservation is held and never released ("Unreleased reference").
 * Every reserved record is submitted, so `events` is counted there.
 */
static __always_inline void *reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);

	if (!e)
		count(&counters.lost_events);
	return e;
}

static __always_inline void fill_hdr(struct aps_event_hdr *h, __u16 type,
				     __u32 tid, __u64 ts, __u64 task)
{
	h->type = type;
	h->flags = 0;
	h->tid = tid;
	h->ts_ns = ts;
	h->task = task;
}

/* Copy a str (or an int, for deferred Task-N names) from the target. */
static __always_inline void read_pystr(const struct aps_layout *l, __u64 obj,
				       struct aps_pystr *s)
{
	__u64 type, flags = 0;
	__u32 state = 0;
	__s64 len = 0;
	__u64 data, nbytes;
	__u8 kind;

	s->kind = 0;
	s->is_int = 0;
	s->truncated = 0;
	s->nchars = 0;
	s->value = 0;
	if (!obj)
		return;
	type = read_ptr(obj + l->ob_type);
	if (!type)
		return;
	bpf_probe_read_user(&flags, sizeof(flags), (void *)(type + l->tp_flags));
	if (flags & (1ULL << 24)) {	/* Py_TPFLAGS_LONG_SUBCLASS */
		__u64 tag = 0;
		__u32 d[2] = {};

		bpf_probe_read_user(&tag, sizeof(tag), (void *)(obj + l->long_size));
		bpf_probe_read_user(d, sizeof(d), (void *)(obj + l->long_digits));
		__u64 ndigits = l->long_tagged ? tag >> 3 : tag;
		s->is_int = 1;
		s->kind = 1;
		if (ndigits == 0)
			s->value = 0;
		else if (ndigits == 1)
			s->value = d[0];
		else
			s->value = d[0] | ((__u64)(d[1] & 0x3fffffff) << 30);
		return;
	}
	if (!(flags & (1ULL << 28)))	/* Py_TPFLAGS_UNICODE_SUBCLASS */
		return;
	if (bpf_probe_read_user(&len, sizeof(len), (void *)(obj + l->unicode_length)) ||
	    bpf_probe_read_user(&state, sizeof(state), (void *)(obj + l->unicode_state))) {
		count(&counters.read_errors);
		return;
	}
	if (!(state & (1 << 5)) || len < 0)	/* not compact: not copied */
		return;
	kind = (state >> 2) & 7;
	if (kind != 1 && kind != 2 && kind != 4)
		return;
	data = obj + ((state & (1 << 6)) ? l->unicode_ascii_data : l->unicode_compact_data);
	nbytes = (__u64)len * kind;
	if (nbytes > APS_STR_MAX) {
		nbytes = APS_STR_MAX;
		s->truncated = 1;
	}
	s->kind = kind;
	s->nchars = len;
	barrier_var(nbytes);
	if (nbytes > APS_STR_MAX)
		return;
	if (bpf_probe_read_user(s->data, nbytes, (void *)data))
		count(&counters.read_errors);
}

/*
 * The functions below that are neither static nor inline are BPF global
 * functions: the verifier checks each once per program, on its own, instead
 * of once per call and caller state (step_begin was ~640k instructions on
 * 5.10, ~11 s under TCG). Their arguments can only be scalars on 5.10, so
 * each looks the layout (and the task's entry) up again.
 */
static __always_inline const struct aps_layout *this_layout(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	return bpf_map_lookup_elem(&layouts, &tgid);
}

/* Emit TASK_NEW (creation info from the task's entry, if any); returns
 * the task_name pointer it read. */
__noinline __u64 emit_task_new(__u64 ts, __u64 task, __u16 flags)
{
	const struct aps_layout *l = this_layout();
	__u64 key = task_key(task);
	const struct pending_task *p = bpf_map_lookup_elem(&tasks, &key);
	struct aps_ev_task_new *e;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 coro, qualname, name;

	if (!l)
		return 0;
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->hdr, APS_EV_TASK_NEW, tid, ts, task);
	e->hdr.flags = flags;
	e->create_ts_ns = p ? p->create_ts : 0;
	e->creator = p ? p->creator : 0;
	e->create_tid = p ? p->tid : 0;
	e->pad = 0;
	coro = read_ptr(task + l->task_coro);
	e->coro = coro;
	name = read_ptr(task + l->task_name);
	read_pystr(l, name, &e->name);
	qualname = coro ? read_ptr(coro + l->coro_qualname) : 0;
	read_pystr(l, qualname, &e->coro_qualname);
	submit(e);
	return name;
}

/* set_name() (or 3.12+'s lazy "Task-N" str) swapped the name object. */
static __always_inline void check_rename(const struct aps_layout *l, __u64 ts,
					 __u64 task, struct pending_task *p)
{
	__u64 name = read_ptr(task + l->task_name);

	if (name && name != p->name)
		p->name = emit_task_new(ts, task, APS_TASK_RENAMED);
}

/*
 * Announce a task (TASK_NEW) before the first event that names it: its
 * first step, the step end of a task awaiting it, or its dealloc. Its name
 * and coroutine are set by then; at __init__ entry they are not.
 */
__noinline int announce(__u64 ts, __u64 task, __u8 stepping)
{
	const struct aps_layout *l = this_layout();
	struct pending_task fresh = {};
	__u64 key = task_key(task);
	struct pending_task *p = bpf_map_lookup_elem(&tasks, &key);

	if (!l)
		return 0;
	if (p && p->announced) {
		if (stepping)
			p->stepped = 1;
		check_rename(l, ts, task, p);
		return 0;
	}
	if (p) {
		p->name = emit_task_new(ts, task, 0);
		p->announced = 1;
		if (stepping)
			p->stepped = 1;
		return 0;
	}
	fresh.name = emit_task_new(ts, task, 0);
	fresh.announced = 1;
	fresh.stepped = stepping;
	if (bpf_map_update_elem(&tasks, &key, &fresh, BPF_ANY))
		count(&counters.task_map_full);
	return 0;
}

/* The awaited object is a task we know, created but not yet announced. */
static __always_inline bool unannounced_task(__u64 addr)
{
	__u64 key = task_key(addr);
	struct pending_task *p = bpf_map_lookup_elem(&tasks, &key);

	return p && !p->announced;
}

/* Send a type's name the first time we see the type. */
__noinline int note_type(__u64 type)
{
	const struct aps_layout *l = this_layout();
	struct aps_ev_type_name *e;
	__u8 one = 1;
	__u64 name;

	if (!l || !type || bpf_map_lookup_elem(&types, &type))
		return 0;
	name = read_ptr(type + l->tp_name);
	if (!name)
		return 0;
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->hdr, APS_EV_TYPE_NAME, (__u32)bpf_get_current_pid_tgid(), 0, type);
	if (bpf_probe_read_user_str(e->name, sizeof(e->name), (void *)name) < 0)
		e->name[0] = '\0';
	submit(e);
	bpf_map_update_elem(&types, &type, &one, BPF_ANY);
	return 0;
}

struct step_end_info {
	__u64 waiter;
	__u64 waiter_type;
	__u64 exc_type;
	__u8 result;
};

/* Read what the step left the task doing (announcing the task it awaits,
 * naming new types first: the STEP_END refers to them). */
static __noinline void read_step_end(const struct aps_layout *l, __u64 ts, __u64 task,
				     __u8 boundary, struct step_end_info *o)
{
	__u32 state = 0;

	o->waiter = 0;
	o->waiter_type = 0;
	o->exc_type = 0;
	if (boundary == APS_BND_THREAD_EXIT) {
		o->result = APS_RES_UNKNOWN;	/* cut by exit: it never ended */
	} else if (bpf_probe_read_user(&state, sizeof(state), (void *)(task + l->fut_state))) {
		count(&counters.read_errors);
		o->result = APS_RES_UNKNOWN;
	} else if (state == APS_FUT_PENDING) {
		o->waiter = read_ptr(task + l->task_fut_waiter);
		o->result = o->waiter ? APS_RES_AWAITING : APS_RES_YIELDED;
		if (o->waiter)
			o->waiter_type = read_ptr(o->waiter + l->ob_type);
	} else if (state == APS_FUT_CANCELLED) {
		o->result = APS_RES_CANCELLED;
	} else if (state == APS_FUT_FINISHED) {
		__u64 exc = read_ptr(task + l->fut_exception);

		o->result = exc ? APS_RES_RAISED : APS_RES_RETURNED;
		o->exc_type = exc ? read_ptr(exc + l->ob_type) : 0;
	} else {
		o->result = APS_RES_UNKNOWN;
	}
	/* the edge must name a known task: announce it first */
	if (o->waiter && unannounced_task(o->waiter))
		announce(ts, o->waiter, 0);
	note_type(o->waiter_type);
	note_type(o->exc_type);
}

/* Read what the step left the task doing, and emit STEP_END. */
__noinline int close_step(__u32 tid, __u64 ts, __u64 task, __u64 begin_ts, __u8 boundary)
{
	const struct aps_layout *l = this_layout();
	struct step_end_info info;
	struct aps_ev_step_end *e;

	if (!l)
		return 0;
	read_step_end(l, ts, task, boundary, &info);
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->hdr, APS_EV_STEP_END, tid, ts, task);
	e->begin_ts_ns = begin_ts;
	e->boundary = boundary;
	e->result = info.result;
	e->waiter = info.waiter;
	e->waiter_type = info.waiter_type;
	e->exc_type = info.exc_type;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	submit(e);
	return 0;
}

/* Announce the tasks created on this thread whose __init__ has set a name. */
static __always_inline void flush_pending(const struct aps_layout *l, __u64 ts,
					  struct thread_state *t)
{
	__u32 kept = 0;

	if (!t->npending)
		return;
	/* unrolled: 5.10-6.2 verifiers reject a loop whose head follows its
	 * latch by fall-through ("back-edge from insn X to Y") */
#pragma unroll
	for (int i = 0; i < APS_MAX_PENDING; i++) {
		__u64 task = t->pending[i];

		if (i >= (int)t->npending)
			break;
		if (read_ptr(task + l->task_name))
			announce(ts, task, 0);
		else
			t->pending[kept++ & (APS_MAX_PENDING - 1)] = task;
	}
	t->npending = kept;
}

/* Close every open step of the thread. */
static __always_inline void close_all(__u32 tid, __u64 ts, struct thread_state *t,
				      __u8 boundary)
{
#pragma unroll	/* see flush_pending */
	for (int i = APS_MAX_NEST - 1; i >= 0; i--) {
		if (i < (int)t->depth)
			close_step(tid, ts, t->steps[i].task, t->steps[i].begin_ts, boundary);
	}
	t->depth = 0;
}

static __always_inline const struct aps_layout *target_layout(__u32 *tid)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	*tid = (__u32)id;
	return bpf_map_lookup_elem(&layouts, &tgid);
}

static __always_inline struct thread_state *thread_get(__u32 tid)
{
	struct thread_state *t = bpf_map_lookup_elem(&threads, &tid);
	__u32 zero = 0;

	if (t)
		return t;
	t = bpf_map_lookup_elem(&zero_thread, &zero);
	if (!t)
		return NULL;
	t->depth = 0;
	bpf_map_update_elem(&threads, &tid, t, BPF_NOEXIST);
	return bpf_map_lookup_elem(&threads, &tid);
}

SEC("uprobe")
int step_begin(struct pt_regs *ctx)
{
	const struct aps_layout *l;
	struct thread_state *t;
	struct pending_task *p;
	struct step_end_info end;
	struct open_step prev = {};
	__u64 ts, task, exc, waiter, key;
	__u32 tid, depth;
	bool nested = false, switched = false;

	l = target_layout(&tid);
	if (!l)
		return 0;
	ts = bpf_ktime_get_ns();
	task = arg_n(ctx, l->step_task_arg);
	exc = arg_n(ctx, l->step_exc_arg);
	t = thread_get(tid);
	if (!t)
		return 0;
	key = task_key(task);
	p = bpf_map_lookup_elem(&tasks, &key);
	/* An eager first step runs inside its creator's step: it was
	 * created on this thread after the open step began. */
	if (t->depth > 0 && t->depth <= APS_MAX_NEST && p && !p->stepped &&
	    p->tid == tid && p->create_ts >= t->steps[(t->depth - 1) & (APS_MAX_NEST - 1)].begin_ts)
		nested = true;
	flush_pending(l, ts, t);
	if (!nested && t->depth == 1) {	/* the usual case: one STEP_SWITCH record */
		prev = t->steps[0];
		read_step_end(l, ts, prev.task, APS_BND_NEXT_STEP, &end);
		t->depth = 0;
		switched = true;
	} else if (!nested) {
		close_all(tid, ts, t, APS_BND_NEXT_STEP);
	}
	announce(ts, task, 1);

	waiter = read_ptr(task + l->task_fut_waiter);
	if (switched) {
		struct aps_ev_step_switch *e = reserve(sizeof(*e));

		if (e) {
			fill_hdr(&e->hdr, APS_EV_STEP_SWITCH, tid, ts, task);
			e->waiter = waiter;
			e->exc = exc;
			e->end_task = prev.task;
			e->end_begin_ts_ns = prev.begin_ts;
			e->end_waiter = end.waiter;
			e->end_waiter_type = end.waiter_type;
			e->end_exc_type = end.exc_type;
			e->end_result = end.result;
			__builtin_memset(e->pad, 0, sizeof(e->pad));
			submit(e);
		}
	} else {
		struct aps_ev_step_begin *e = reserve(sizeof(*e));

		if (e) {
			fill_hdr(&e->hdr, APS_EV_STEP_BEGIN, tid, ts, task);
			e->waiter = waiter;
			e->exc = exc;
			e->depth = t->depth;
			e->pad = 0;
			submit(e);
		}
	}
	depth = t->depth;
	if (depth >= APS_MAX_NEST) {
		count(&counters.nest_overflow);
		return 0;
	}
	t->steps[depth & (APS_MAX_NEST - 1)].task = task;
	t->steps[depth & (APS_MAX_NEST - 1)].begin_ts = ts;
	t->depth = depth + 1;
	return 0;
}

/* _asyncio_Task___init__(self, args, kwargs): remember who created it. */
SEC("uprobe")
int task_init(struct pt_regs *ctx)
{
	const struct aps_layout *l;
	struct thread_state *t;
	struct pending_task p = {};
	__u64 task = PT_REGS_PARM1(ctx), key;
	__u32 tid;

	l = target_layout(&tid);
	if (!l)
		return 0;
	p.create_ts = bpf_ktime_get_ns();
	p.tid = tid;
	t = thread_get(tid);
	if (t && t->depth > 0 && t->depth <= APS_MAX_NEST)
		p.creator = t->steps[(t->depth - 1) & (APS_MAX_NEST - 1)].task;
	/* __init__ on a live task re-initialises it: a new task to us. */
	key = task_key(task);
	if (bpf_map_update_elem(&tasks, &key, &p, BPF_ANY))
		count(&counters.task_map_full);
	if (!t)
		return 0;
	if (t->npending >= APS_MAX_PENDING)
		flush_pending(l, p.create_ts, t);
	if (t->npending < APS_MAX_PENDING)
		t->pending[t->npending++ & (APS_MAX_PENDING - 1)] = task;
	return 0;
}

/* TaskObj_dealloc(self) */
SEC("uprobe")
int task_dealloc(struct pt_regs *ctx)
{
	const struct aps_layout *l;
	struct thread_state *t;
	struct pending_task *p;
	struct aps_ev_task_destroy *e;
	__u64 task = PT_REGS_PARM1(ctx);
	__u64 ts, key;
	__u32 tid, state = 0, stepped = 0;

	l = target_layout(&tid);
	if (!l)
		return 0;
	ts = bpf_ktime_get_ns();
	t = bpf_map_lookup_elem(&threads, &tid);
	if (t)
		flush_pending(l, ts, t);
	if (t && t->depth > 0 && t->depth <= APS_MAX_NEST &&
	    t->steps[(t->depth - 1) & (APS_MAX_NEST - 1)].task == task)
		close_all(tid, ts, t, APS_BND_DEALLOC);
	key = task_key(task);
	p = bpf_map_lookup_elem(&tasks, &key);
	if (p)
		stepped = p->stepped;
	if (!p || !p->announced)
		emit_task_new(ts, task, 0);
	else
		check_rename(l, ts, task, p);
	bpf_map_delete_elem(&tasks, &key);
	bpf_probe_read_user(&state, sizeof(state), (void *)(task + l->fut_state));
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->hdr, APS_EV_TASK_DESTROY, tid, ts, task);
	e->state = state;
	e->stepped = stepped;
	submit(e);
	return 0;
}

/* swap_current_task(..., task): after an eager step, the creator is
 * swapped back in; that ends the nested step. */
SEC("uprobe")
int swap_task(struct pt_regs *ctx)
{
	const struct aps_layout *l;
	struct thread_state *t;
	__u64 task, ts;
	__u32 tid, d;

	l = target_layout(&tid);
	if (!l)
		return 0;
	t = bpf_map_lookup_elem(&threads, &tid);
	if (!t || t->depth < 2 || t->depth > APS_MAX_NEST)
		return 0;
	task = arg_n(ctx, l->swap_task_arg);
	d = (t->depth - 1) & (APS_MAX_NEST - 1);
	/* swapping back to the step below the top: the top eager step is over
	 * (swapping a new eager task in is not: its step is about to nest) */
	if (t->steps[(d - 1) & (APS_MAX_NEST - 1)].task != task)
		return 0;
	ts = bpf_ktime_get_ns();
	close_step(tid, ts, t->steps[d].task, t->steps[d].begin_ts, APS_BND_EAGER_RETURN);
	t->depth = d;
	return 0;
}

/* The first 10 bytes of a type name, as two words (BPF has no memcmp). */
struct name10 {
	__u64 lo;
	__u16 hi;
} __attribute__((packed));

#define NAME_COROUTINE_LO 0x6e6974756f726f63ULL	/* "coroutin" */
#define NAME_COROUTINE_HI 0x0065			/* "e\0" */
#define NAME_GENERATOR_LO 0x6f746172656e6567ULL	/* "generato" */
#define NAME_GENERATOR_HI 0x0072			/* "r\0" */

/* 1: the task's coroutine is executing; 0: it is not (suspended, done,
 * none); -1: cannot tell (not a native coroutine or generator). */
static __always_inline int coro_running(const struct aps_layout *l, __u64 task)
{
	__u64 coro = read_ptr(task + l->task_coro), type, state_at;
	struct name10 n = {};
	__s8 state = -1;

	if (!coro || !l->frame_state)
		return coro ? -1 : 0;
	type = read_ptr(coro + l->ob_type);
	if (!type || bpf_probe_read_user(&n, sizeof(n), (void *)read_ptr(type + l->tp_name)))
		return -1;
	if (!(n.lo == NAME_COROUTINE_LO && n.hi == NAME_COROUTINE_HI) &&
	    !(n.lo == NAME_GENERATOR_LO && n.hi == NAME_GENERATOR_HI))
		return -1;
	state_at = coro;
	if (l->gen_frame) {	/* 3.10: the state is in the frame object */
		state_at = read_ptr(coro + l->gen_frame);
		if (!state_at)
			return 0;	/* finished: no frame */
	}
	if (bpf_probe_read_user(&state, sizeof(state), (void *)(state_at + l->frame_state)))
		return -1;
	return state == 0;	/* FRAME_EXECUTING, in 3.10-3.14 */
}

/*
 * Which task's step calls cancel() on target: the innermost open step of
 * the thread whose coroutine runs. An open step whose coroutine does not
 * run has ended (steps are closed lazily, by the next event: a loop
 * callback right after it runs with it still open), unless it is ending
 * by cancelling what it awaits: cancelled during its own step, the task
 * cancels the future it now awaits (target) from task_step_impl.
 */
static __always_inline __u64 cancel_requester(const struct aps_layout *l, struct thread_state *t,
					      __u64 target, __u16 *flags)
{
#pragma unroll	/* see flush_pending */
	for (int i = APS_MAX_NEST - 1; i >= 0; i--) {
		__u64 task;
		__u8 must = 0;
		int run;

		if (i >= (int)t->depth)
			continue;
		task = t->steps[i].task;
		run = coro_running(l, task);
		if (run > 0)
			return task;
		if (run < 0) {
			*flags |= APS_CANCEL_UNVERIFIED;
			return task;
		}
		bpf_probe_read_user(&must, sizeof(must), (void *)(task + l->task_must_cancel));
		if ((must & l->must_cancel_mask) && read_ptr(task + l->task_fut_waiter) == target)
			return task;
	}
	return 0;
}

/*
 * _asyncio_Task_cancel(self, args, nargs, kwnames): Task.cancel(msg=None),
 * the method every cancel goes through (Python calls, and C's own
 * waiter.cancel() calls, which look the method up). Runs only on cancel().
 */
SEC("uprobe")
int task_cancel(struct pt_regs *ctx)
{
	const struct aps_layout *l;
	struct thread_state *t;
	struct aps_ev_cancel *e;
	__u64 task = PT_REGS_PARM1(ctx), args = PT_REGS_PARM2(ctx), kwnames = PT_REGS_PARM4(ctx);
	__s64 nargs = (__s64)PT_REGS_PARM3(ctx), nkw = 0;
	__u64 ts, by = 0;
	__u32 tid, state = 0;
	__u16 flags = 0;

	l = target_layout(&tid);
	if (!l)
		return 0;
	if (kwnames)
		bpf_probe_read_user(&nkw, sizeof(nkw), (void *)(kwnames + 16));	/* ob_size */
	if (nargs < 0 || nkw < 0 || nargs + nkw > 1)
		return 0;	/* a TypeError: nothing is cancelled */
	ts = bpf_ktime_get_ns();
	t = bpf_map_lookup_elem(&threads, &tid);
	if (t) {
		flush_pending(l, ts, t);
		if (t->depth <= APS_MAX_NEST)
			by = cancel_requester(l, t, task, &flags);
	}
	/* the event must name a known task: announce it first */
	announce(ts, task, 0);
	bpf_probe_read_user(&state, sizeof(state), (void *)(task + l->fut_state));
	if (state != APS_FUT_PENDING)
		flags |= APS_CANCEL_DONE;
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->hdr, APS_EV_CANCEL, tid, ts, task);
	e->hdr.flags = flags;
	e->requester = by;
	read_pystr(l, nargs + nkw == 1 ? read_ptr(args) : 0, &e->msg);
	e->msg.pad = 0;
	submit(e);
	return 0;
}

/* The loop is about to wait for I/O: any open step has ended. Attached to
 * sys_enter_epoll_wait, _pwait and _pwait2. */
SEC("tracepoint")
int loop_poll(void *ctx __attribute__((unused)))
{
	const struct aps_layout *l;
	struct thread_state *t;
	__u32 tid;

	l = target_layout(&tid);
	if (!l)
		return 0;
	t = bpf_map_lookup_elem(&threads, &tid);
	if (!t || (t->depth == 0 && t->npending == 0))
		return 0;
	flush_pending(l, bpf_ktime_get_ns(), t);
	close_all(tid, bpf_ktime_get_ns(), t, APS_BND_LOOP_POLL);
	return 0;
}

/* The thread (sys_enter_exit) or the process (sys_enter_exit_group) is
 * exiting: memory is still intact, so announce what is pending and mark
 * open steps as cut. */
SEC("tracepoint")
int thread_exit(void *ctx __attribute__((unused)))
{
	const struct aps_layout *l;
	struct thread_state *t;
	__u64 ts;
	__u32 tid;

	l = target_layout(&tid);
	if (!l)
		return 0;
	t = bpf_map_lookup_elem(&threads, &tid);
	if (!t)
		return 0;
	ts = bpf_ktime_get_ns();
	flush_pending(l, ts, t);
	close_all(tid, ts, t, APS_BND_THREAD_EXIT);
	bpf_map_delete_elem(&threads, &tid);
	return 0;
}

static __always_inline void emit_proc(__u16 type, __u32 tid, __u32 pid, __u32 child)
{
	struct aps_ev_proc *e = reserve(sizeof(*e));

	if (!e)
		return;
	fill_hdr(&e->hdr, type, tid, bpf_ktime_get_ns(), 0);
	e->pid = pid;
	e->child = child;
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

/* A traced process runs a new program: its old memory is gone, so open
 * steps are cut, and its layout is dropped until userspace attaches
 * again: the new program's probe hits are not read with the old layout. */
SEC("tracepoint/sched/sched_process_exec")
int proc_exec(void *ctx __attribute__((unused)))
{
	const struct aps_layout *l;
	struct thread_state *t;
	__u32 tid, pid = bpf_get_current_pid_tgid() >> 32;

	l = target_layout(&tid);
	if (!l)
		return 0;
	t = bpf_map_lookup_elem(&threads, &tid);
	if (t) {
		close_all(tid, bpf_ktime_get_ns(), t, APS_BND_THREAD_EXIT);
		bpf_map_delete_elem(&threads, &tid);
	}
	emit_proc(APS_EV_PROC_EXEC, tid, pid, 0);
	bpf_map_delete_elem(&layouts, &pid);
	return 0;
}

/* A traced process forked (or made a thread). */
SEC("tracepoint/sched/sched_process_fork")
int proc_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	__u32 tid;

	if (!target_layout(&tid))
		return 0;
	emit_proc(APS_EV_PROC_FORK, tid, bpf_get_current_pid_tgid() >> 32,
		  (__u32)BPF_CORE_READ(ctx, child_pid));
	return 0;
}
