/* SPDX-License-Identifier: MIT */
/*
 * The recorder engine behind `aps-bpf record`: a live session's events to a
 * recording (docs/recording-format.md), or to the flight recorder's window,
 * with memory reads of all tasks and the stacks of long steps.
 */
#ifndef APS_RECORDER_H
#define APS_RECORDER_H

#include <stdbool.h>
#include <stdint.h>
#include "live/session.h"
#include "memory/task_sampler.h"
#include "memory/thread_stack.h"
#include "model/model.h"
#include "output/trace_view.h"
#include "recording/rec_flight.h"
#include "recording/rec_writer.h"

#define BLOCKED_SEEN 64			/* steps whose stack was taken, remembered */

/* What `record` asks for. */
struct recorder_opts {
	const char *path;
	uint64_t window_ns;		/* --flight (0: a file written as it goes) */
	unsigned long flight_mb;
	uint64_t blocked_ns;		/* --on-blocked */
	uint64_t stack_ns;		/* --blocked */
	uint64_t tasks_every;		/* 0: the default */
	bool no_tasks, printing, json, quiet;
};

struct recorder {
	struct session *s;
	struct rec_writer w;
	struct rec_file file;
	struct rec_flight fl;
	bool flight;
	struct rec_header hdr;
	const char *path;
	size_t hdr_len;
	struct model own_model;
	struct model *model;		/* snapshots come from it */
	struct trace_view p;
	bool printing, printer_ready;
	bool quiet, status_tty, status_shown;
	uint64_t last_lost, last_flush, next_status;
	/* --on-blocked */
	uint64_t blocked_ns;
	bool blocked_pending;
	uint64_t blocked_task, blocked_dur, last_blocked_dump;
	/* memory reads of all tasks (TASKS records) */
	struct task_sampler sampler;
	bool tasks_on;
	uint64_t tasks_every, next_tasks, tasks_events;	/* writer's events at the last start */
	uint32_t tasks_written, tasks_failed;
	bool tasks_attach;		/* the next read is the attach one */
	/* --blocked: stacks of long steps (BLOCKED records) */
	uint64_t stack_ns;
	struct thread_stack_reader stacks;
	bool stacks_ready;
	struct { uint64_t task, begin_ts; } stack_seen[BLOCKED_SEEN];
	unsigned nstack_seen;
	uint64_t stacks_taken;
	/* first task: the layout is checked against it */
	bool first_task_checked;
	int fatal;
	int werr;			/* writing failed: stop */
	char err[256];
};

/* Set up r for session s, writing to fd (-1 with --flight). 0 or -ENOMEM. */
int recorder_init(struct recorder *r, struct session *s, const struct recorder_opts *o, int fd);
/* Load, resolve, attach, write the header and the first segment: recording
 * has started. spawn: s is a spawned child. 0, or -errno with s->err set. */
int recorder_start(struct recorder *r, bool spawn);
/* Until stop, duration (ms, 0: none) or the target ends. */
enum session_end recorder_run(struct recorder *r, unsigned duration_ms);
/* The END record (or the last flight dump) and the report. 0, or 1 printed. */
int recorder_finish(struct recorder *r, enum session_end why);
void recorder_free(struct recorder *r);
/* Erase the status line before a message. */
void recorder_clear_status(struct recorder *r);
/* A file header for pid (interpreter ip), its data starting at start. */
void recorder_fill_header(struct rec_header *h, pid_t pid, const struct interp *ip, uint64_t start);
/* SIGUSR1: a flight dump at the next tick. */
void recorder_request_dump(int sig);
/* Whether a dump was asked for since the last call. */
bool recorder_dump_requested(void);

#endif
