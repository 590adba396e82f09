/* SPDX-License-Identifier: MIT */
/*
 * user/model/: the task model rebuilt from BPF records, with step-switch
 * decoding, stats and histograms.
 */
/*
 * The task model: what we know of each task, rebuilt from BPF records.
 * Live tracing and replays feed it the same records; views read
 * it and the typed model events it reports, never the raw records.
 */
#ifndef APS_MODEL_H
#define APS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "aps_events.h"
#include "util/u64_map.h"
#include "output/escape.h"
#include "model/hist.h"

#define MODEL_TYPE_CACHE 256
#define MODEL_TYPE_NAME 96

enum task_state {
	TASK_UNKNOWN = 0,
	TASK_RUNNING,		/* a step is open */
	TASK_AWAITING,		/* suspended on a future or a task */
	TASK_SCHEDULED,		/* created, or yielded: waiting for the loop */
	TASK_DONE,		/* returned, raised or cancelled */
};

struct task {
	uint64_t addr;
	uint64_t creator;		/* 0: none or unknown */
	uint64_t create_ts;		/* 0: existed before we attached */
	uint64_t first_seen_ts;
	uint64_t coro;
	uint32_t tid;			/* thread of its last step (or creation) */
	uint32_t steps;
	uint64_t busy_ns;		/* sum of step durations */
	uint64_t max_step_ns;
	uint64_t step_begin_ts;		/* of the open step, 0 if none */
	uint64_t last_step_end_ts;
	uint64_t awaiting;		/* TASK_AWAITING: what */
	uint64_t await_since_ts;
	uint64_t done_ts, destroyed_ts;
	/*
	 * The last Task.cancel() while it was pending: the task whose step
	 * requested it (0: none, a loop callback or another thread) and when.
	 * The last, not the first: asyncio.timeout() and TaskGroup withdraw
	 * their own requests (uncancel()), so the last is the one standing
	 * when the task ends. Every request is a MEV_CANCEL_REQUESTED.
	 */
	uint64_t cancel_by, cancel_ts;
	uint32_t cancel_requests;	/* cancel() calls while it was pending */
	uint8_t state;			/* enum task_state */
	uint8_t result;			/* enum aps_step_result of the last step end */
	bool destroyed, used;
	/* strings owned by the task (model_set_str), never NULL: "" if unknown */
	const char *name;
	const char *coro_name;
	const char *exception;		/* type name, when it raised */
	struct hist *hist;		/* step durations (model.keep_hists), else NULL */
};

struct model {
	struct task *slots;		/* slots[0 .. live-1] used, the rest zero */
	uint32_t cap;
	uint32_t live;			/* used slots (including destroyed, until reused) */
	struct u64_map index;		/* task address -> slot */
	uint64_t tasks_seen;
	uint64_t steps;
	uint64_t bad_events;
	uint32_t destroyed;		/* destroyed tasks still in the table */
	bool keep_hists;		/* keep a step histogram per task */
	struct { uint64_t ptr; char name[MODEL_TYPE_NAME]; } types[MODEL_TYPE_CACHE];
	unsigned ntypes;
};

enum model_ev_kind {
	MEV_CREATED = 1,	/* created while traced (ts is the creation time) */
	MEV_SEEN,		/* existed before we attached */
	MEV_RENAMED,
	MEV_WOKEN,		/* the awaited object completed; the step follows */
	MEV_STEP,
	MEV_STEP_END,
	MEV_DONE,
	MEV_DESTROYED,
	MEV_CANCEL_REQUESTED,	/* Task.cancel() was called on it (other: the requester) */
};

/* What one record changed, for printers; pointers valid during the callback. */
struct model_event {
	enum model_ev_kind kind;
	uint64_t ts;
	uint32_t tid;			/* kernel tid */
	uint64_t addr;			/* the task */
	struct task *task;		/* NULL if never announced */
	uint64_t other_addr;		/* creator / woken by / awaiting / cancel requester */
	struct task *other;		/* that, if it is a known task */
	const char *other_type;		/* awaiting: the awaited object's type name */
	const char *exception;		/* raised: the exception's type name */
	const char *old_name;		/* renamed */
	uint64_t duration_ns;		/* step_end */
	uint8_t result, boundary;	/* step_end, done */
	bool throw_, nested;		/* step, woken */
	uint16_t cancel_flags;		/* cancel_requested: APS_CANCEL_* */
	const char *cancel_msg;		/* cancel_requested: the msg (UTF-8, safe), or NULL */
};

typedef void (*model_event_fn)(void *ctx, const struct model_event *ev);

int model_init(struct model *m, uint32_t cap_hint);
void model_free(struct model *m);
struct task *model_find(struct model *m, uint64_t addr);
/* Find or add; a destroyed task at the same address is replaced. */
struct task *model_get(struct model *m, uint64_t addr);

/* Validate a raw ring-buffer record: its type if well-formed, else -1. */
int event_check(const void *data, size_t len);
/* Apply one record; fn (may be NULL) hears each change. -EINVAL if malformed. */
int model_apply(struct model *m, const void *data, size_t len, model_event_fn fn, void *ctx);
/* Close the steps still open at ts (the trace ends): result unknown, boundary exit. */
void model_close_open_steps(struct model *m, uint64_t ts, model_event_fn fn, void *ctx);
/* Drop tasks destroyed before ts - keep_ns (bounded memory on long runs).
 * Task pointers are invalid afterwards. */
int model_sweep(struct model *m, uint64_t ts, uint64_t keep_ns);
/* Set a task's string field to a copy of s (NULL or "": empty). -ENOMEM leaves it empty. */
int model_set_str(const char **field, const char *s);

/* The name BPF sent for a type pointer, or NULL. */
const char *model_type_name(const struct model *m, uint64_t type);

#endif
