/* SPDX-License-Identifier: MIT */
/*
 * The contract between the BPF programs (bpf/) and userspace (user/).
 * Plain fixed-size structs only: BPF includes this after vmlinux.h,
 * userspace includes it before the skeleton.
 */
#ifndef APS_EVENTS_H
#define APS_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define APS_STR_MAX 128        /* bytes of a Python str copied per string */
#define APS_MAX_NEST 4         /* eager steps nested inside another step */
#define APS_MAX_TASKS 131072   /* tasks tracked at once on the BPF side */
#define APS_MAX_THREADS 4096
#define APS_MAX_PENDING 4      /* tasks created on a thread, not yet announced */
#define APS_TYPE_NAME_MAX 64

/* fut_state values, the same in 3.10-3.14 */
enum aps_fut_state {
	APS_FUT_PENDING = 0,
	APS_FUT_CANCELLED = 1,
	APS_FUT_FINISHED = 2,
};

enum aps_event_type {
	APS_EV_TASK_NEW = 1,   /* created while traced, or first seen (pre-existing) */
	APS_EV_STEP_BEGIN = 2,
	APS_EV_STEP_END = 3,
	APS_EV_TASK_DESTROY = 4,
	APS_EV_TYPE_NAME = 5,  /* first sight of a type: hdr.task is the PyTypeObject* */
	APS_EV_CANCEL = 6,     /* Task.cancel() was called on hdr.task */
	APS_EV_STEP_SWITCH = 7,/* STEP_END (next_step) and STEP_BEGIN in one record */
};

/* What a step left the task doing, read from the task when the step closes. */
enum aps_step_result {
	APS_RES_UNKNOWN = 0,
	APS_RES_AWAITING = 1,  /* fut_waiter set: awaiting a future or a task */
	APS_RES_YIELDED = 2,   /* pending, no waiter: bare yield, rescheduled */
	APS_RES_RETURNED = 3,
	APS_RES_RAISED = 4,
	APS_RES_CANCELLED = 5,
};
/* APS_RES_UNKNOWN in a STEP_END: the step never ended (the thread or the
 * process exited during it, or the trace stopped). */

/*
 * Which event closed the step. Steps are closed lazily, by the next
 * event on the same thread, so that a step costs one probe hit.
 */
enum aps_step_boundary {
	APS_BND_NEXT_STEP = 1,    /* another task step began on this thread */
	APS_BND_LOOP_POLL = 2,    /* the thread entered epoll_wait: loop idle */
	APS_BND_DEALLOC = 3,      /* the task itself is being deallocated */
	APS_BND_EAGER_RETURN = 4, /* an eager first step returned to its creator */
	APS_BND_THREAD_EXIT = 5,  /* closed by userspace: thread/process gone */
};

/* A Python str (or, for deferred "Task-N" names, an int) copied from the target. */
struct aps_pystr {
	__u32 nchars;     /* length in characters, as the target says */
	__u8 kind;        /* 0 none/unreadable, 1 latin-1, 2 UCS-2, 4 UCS-4 */
	__u8 is_int;      /* value holds an int (3.12+: name is Task-<value>) */
	__u8 truncated;   /* data holds fewer than nchars characters */
	__u8 pad;
	__u64 value;
	__u8 data[APS_STR_MAX];
};

struct aps_event_hdr {
	__u16 type;       /* enum aps_event_type */
	__u16 flags;
	__u32 tid;        /* kernel (global) thread id */
	__u64 ts_ns;      /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 task;       /* TaskObj address in the target */
};

/* aps_event_hdr.flags of APS_EV_TASK_NEW */
#define APS_TASK_RENAMED 1	/* an announced task now has another name */

struct aps_ev_task_new {
	struct aps_event_hdr hdr;
	__u64 create_ts_ns;  /* 0: existed before we attached */
	__u64 creator;       /* task whose step created it; 0 if none */
	__u64 coro;
	__u32 create_tid;
	__u32 pad;
	struct aps_pystr name;
	struct aps_pystr coro_qualname;
};

struct aps_ev_step_begin {
	struct aps_event_hdr hdr;
	__u64 waiter;        /* future the task waited on (what woke it), or 0 */
	__u64 exc;           /* exception thrown into the coroutine, or 0 */
	__u32 depth;         /* >0: eager step nested in another step */
	__u32 pad;
};

struct aps_ev_step_end {
	struct aps_event_hdr hdr;
	__u64 begin_ts_ns;
	__u64 waiter;        /* APS_RES_AWAITING: the awaited object */
	__u64 waiter_type;   /* its PyTypeObject* */
	__u64 exc_type;      /* APS_RES_RAISED: the exception's PyTypeObject* */
	__u8 result;         /* enum aps_step_result */
	__u8 boundary;       /* enum aps_step_boundary */
	__u8 pad[6];
};

/*
 * A step begins and ends the one step open on its thread (boundary
 * APS_BND_NEXT_STEP): the usual case, one record instead of two. The
 * header and begin are the STEP_BEGIN's; the STEP_END has the same tid
 * and ts. Userspace splits it into the two events (step_switch.c).
 */
struct aps_ev_step_switch {
	struct aps_event_hdr hdr;
	__u64 waiter;        /* as in aps_ev_step_begin */
	__u64 exc;
	__u64 end_task;      /* the step that ended: as in aps_ev_step_end */
	__u64 end_begin_ts_ns;
	__u64 end_waiter;
	__u64 end_waiter_type;
	__u64 end_exc_type;
	__u8 end_result;
	__u8 pad[7];
};

struct aps_ev_task_destroy {
	struct aps_event_hdr hdr;
	__u32 state;         /* fut_state at dealloc */
	__u32 stepped;       /* 1 if any step of this task was seen */
};

/* aps_event_hdr.flags of APS_EV_CANCEL */
#define APS_CANCEL_DONE 1	/* the task had finished: cancel() returned False, no effect */
#define APS_CANCEL_UNVERIFIED 2	/* requester = the open step's task; its coroutine is
				 * not a native coroutine or generator: not checked to run */

/*
 * Task.cancel(msg) on hdr.task. The requester is the task whose step
 * called it: the innermost open step of the calling thread whose
 * coroutine is running (steps are closed lazily: a loop callback right
 * after a step runs with that step still open, its coroutine suspended),
 * or whose step is ending by cancelling what it awaits (it was cancelled
 * during its own step). 0: called outside any task step.
 */
struct aps_ev_cancel {
	struct aps_event_hdr hdr;
	__u64 requester;
	struct aps_pystr msg;	/* the msg argument, a str (or int); kind 0: None, or another type */
};

struct aps_ev_type_name {
	struct aps_event_hdr hdr;
	char name[APS_TYPE_NAME_MAX];	/* tp_name, NUL-terminated, maybe cut */
};

/*
 * Per-interpreter layout, filled in by userspace from debug offsets or
 * version tables, stored per target PID. Offsets are bytes; arg indexes
 * are 1-based positions in the probed function's C signature.
 */
struct aps_layout {
	__u8 step_task_arg;     /* task_step_impl: TaskObj * */
	__u8 step_exc_arg;      /* task_step_impl: PyObject *exc */
	__u8 swap_task_arg;     /* swap_current_task: PyObject *task */
	__u8 long_tagged;       /* 3.12+: PyLongObject has lv_tag */
	__u16 ob_type;
	__u16 tp_name;
	__u16 fut_state;
	__u16 fut_exception;
	__u16 task_fut_waiter;
	__u16 task_coro;
	__u16 task_name;
	__u16 coro_qualname;
	__u16 unicode_length;
	__u16 unicode_state;
	__u16 unicode_ascii_data;   /* sizeof(PyASCIIObject) */
	__u16 unicode_compact_data; /* sizeof(PyCompactUnicodeObject) */
	__u16 long_size;            /* ob_size (<3.12) or lv_tag (3.12+) */
	__u16 long_digits;
	__u16 tp_flags;
	__u16 task_must_cancel;     /* byte holding TaskObj.task_must_cancel ... */
	__u8 must_cancel_mask;      /* ... and its bit(s) (3.13+: a bitfield) */
	__u8 pad;
	__u16 gen_frame;            /* 3.10: PyGenObject.gi_frame; 0: the state is in the generator */
	__u16 frame_state;          /* int8 frame state (0 = executing): in the frame (3.10) or the generator */
	__u32 task_size;            /* sizeof(TaskObj), checked at attach */
};

/*
 * Per-thread state, in the BPF `threads` map (key: kernel tid). Userspace
 * reads it to see steps while they run (the blocking detector).
 */
struct aps_open_step {
	__u64 task;
	__u64 begin_ts;
};

struct aps_thread_state {
	__u32 depth;		/* open steps: 0 none, >1 eager steps nested */
	__u32 npending;
	struct aps_open_step steps[APS_MAX_NEST];
	/* created on this thread, announced at its next event (name set by then) */
	__u64 pending[APS_MAX_PENDING];
};

/*
 * A traced process ran a new program (sched_process_exec: its layout is
 * dropped, its open steps cut) or forked (sched_process_fork; also for a
 * new thread: userspace tells them apart). Handled by the tracer itself:
 * never in the model or a recording. hdr.task is 0.
 */
#define APS_EV_PROC_EXEC 16
#define APS_EV_PROC_FORK 17

struct aps_ev_proc {
	struct aps_event_hdr hdr;
	__u32 pid;           /* the traced process (tgid) */
	__u32 child;         /* FORK: the new task's pid */
};

/* Counters kept by BPF, read by userspace. */
struct aps_counters {
	__u64 events;
	__u64 lost_events;     /* ring buffer full */
	__u64 read_errors;     /* bpf_probe_read_user failed */
	__u64 task_map_full;   /* task tracking map had no room */
	__u64 nest_overflow;   /* eager nesting deeper than APS_MAX_NEST */
};

/* The agent's process watcher (bpf/procwatch.bpf.c). */
enum aps_proc_event_type {
	APS_PROC_EXEC = 1,	/* a process executed a new program */
	APS_PROC_EXIT = 2,	/* a watched process ended (its last thread exited) */
};

struct aps_proc_event {
	__u32 type;
	__u32 pid;		/* tgid, in the root PID namespace */
	__s32 exit_code;	/* EXIT: the wait status (exit code << 8, or the signal) */
	__u32 pad;
	__u64 ts_ns;
};

/* ---- loop mode (bpf/loop.bpf.c): no uprobe; the kernel's poll and a sampler ---- */

#define APS_SAMPLE_MAX_FRAMES 64   /* Python frames read per sample */

enum aps_loop_event_type {
	APS_EV_LOOP_SPAN = 32,   /* a loop thread was busy between two polls */
	APS_EV_SAMPLE = 33,      /* a perf-event sample of a target thread */
};

/* aps_loop_target.flags */
#define APS_LOOP_SPANS 1       /* send each busy span (record); else only counted */
#define APS_LOOP_SAMPLE 2      /* read Python frames in samples */

/*
 * Per target tgid (BPF map loop_targets; also the filter). Frame offsets
 * as in user/memory/thread_stack.c; 0 where a version lacks the field.
 */
struct aps_loop_target {
	__u16 ts_frame;        /* 3.10 frame, 3.11/3.12 cframe, 3.13+ current_frame */
	__u16 cf_current;      /* 3.11/3.12: _PyCFrame.current_frame */
	__u16 fr_previous;
	__u16 fr_code;
	__u16 fr_instr;        /* 3.10: int f_lasti; else instruction pointer */
	__u16 fr_owner;        /* 0: 3.10 */
	__u16 fr_gen;          /* 3.10: PyFrameObject.f_gen */
	__u16 gen_iframe;      /* 3.11+: frame inside its generator at this offset */
	__u16 co_code_adaptive;/* 3.11+: bytecode inside the code object */
	__u8 minor;
	__u8 tagged_code;      /* 3.14: f_executable is a tagged pointer */
	__u32 ts_running_task; /* 3.14: _PyThreadStateImpl.asyncio_running_task; 0 none */
	__u32 flags;           /* APS_LOOP_* */
	__u64 span_min_ns;     /* APS_LOOP_SPANS: send spans at least this long */
};

/* Per loop thread (BPF map loop_threads, key kernel tid). */
struct aps_loop_thread {
	__u64 busy_since;      /* poll returned at; 0: in poll (idle) */
	__u64 busy_ns;         /* total busy time of finished spans */
	__u64 spans;           /* finished spans */
	__u64 max_busy_ns;
	__u32 tgid;
	__u32 pad;
	__u64 run_delay_at_busy;   /* the thread's runqueue wait (sched_info.run_delay) then */
};

struct aps_ev_loop_span {
	struct aps_event_hdr hdr;  /* ts_ns: the span's end (poll entry); task 0 */
	__u64 begin_ts_ns;         /* the poll returned */
	__u32 pid;
	__u32 pad;
	__u64 run_delay_ns;        /* of it, waiting for a CPU (runnable, not running) */
};

/* One frame of a sample: userspace symbolises (code object -> name, file,
 * line table) with the readers ps uses. */
struct aps_sample_frame {
	__u64 code;            /* PyCodeObject * */
	__u32 instr;           /* byte offset of the instruction in the code */
	__u8 owner;            /* 3.11+ frame owner; 3.10: 1 if it has a generator */
	__u8 pad[3];
};

/* aps_event_hdr.flags of APS_EV_SAMPLE */
#define APS_SAMPLE_ON_CPU 1
#define APS_SAMPLE_TRUNCATED 2   /* deeper than APS_SAMPLE_MAX_FRAMES */
#define APS_SAMPLE_NO_TSTATE 4   /* the thread's state is not known (yet) */
#define APS_SAMPLE_LOOP_BUSY 8   /* a loop thread, between poll return and entry */

/*
 * hdr.task: the running task (3.14: the thread state's); 0 unknown. coro:
 * the generator of the outermost generator-owned frame (3.10-3.13: the
 * running task's coroutine, mapped to its task in userspace). Sent with
 * nframes frames only (the size is offsetof(f) + nframes * sizeof(f[0])).
 */
struct aps_ev_sample {
	struct aps_event_hdr hdr;
	__u64 coro;
	__u64 busy_since;          /* the loop thread's, or 0 */
	__u32 pid;
	__u16 nframes;
	__u16 pad;
	struct aps_sample_frame f[APS_SAMPLE_MAX_FRAMES];  /* innermost first */
};

struct aps_loop_counters {
	__u64 samples;             /* sent */
	__u64 lost_samples;        /* ring buffer full */
	__u64 lost_spans;
	__u64 read_errors;         /* a frame read failed: stack cut there */
	__u64 polls;               /* poll returns seen */
};

/* Per target (BPF map loop_pid_counters, key tgid; made and deleted by
 * userspace with its loop_targets entry): what was lost of that process. */
struct aps_loop_pid_counters {
	__u64 lost_samples;
	__u64 lost_spans;
	__u64 read_errors;
};

#endif /* APS_EVENTS_H */
