/* SPDX-License-Identifier: MIT */
/*
 * Reading a loop-mode recording (record --mode loop, REC_HDR_LOOP): its
 * LOOP records decoded in order, sample frames resolved through the
 * segment's frame table; and the replay views built on it: `replay FILE
 * blocked` (the stalls as `blocked --mode loop` printed them) and `replay
 * FILE top` (loop top over the window). ps/pstree --at read its TASKS
 * records as for any recording.
 */
#ifndef APS_LOOP_REPLAY_H
#define APS_LOOP_REPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "loop/loop_rec.h"
#include "loop/loop_timeline.h"
#include "recording/rec_reader.h"

struct loop_reader {
	const struct rec_reader *r;
	struct rec_cursor c;
	struct rec_item *it;
	struct stack_frame *frames;	/* LOOP_REC_MAX_FRAMES, this segment's */
	uint8_t *defined;
	struct loop_rec_info info;
	bool have_info;
	uint64_t base;			/* the segment's base time */
	/* the record read: it->kind, and for LOOP records sub and its decoded form */
	unsigned sub;
	struct loop_rec_span span;
	struct loop_rec_sample smp;
	struct thread_stack st;		/* smp's frames (unknown ids left out) */
	struct loop_stall stall;
	struct loop_rec_lost lost;	/* the latest totals */
	uint64_t coro, coro_task;	/* CORO */
	char problem[200];
};

/*
 * The names of sampled tasks, by time (a first pass over the file): the
 * task reads' names per address, and the CORO records' tasks.
 */
struct loop_names {
	struct loop_timeline names;	/* task -> index in pool */
	struct loop_timeline coros;	/* coroutine -> task */
	struct u64_map by_name;		/* name hash -> index in pool */
	char (*pool)[128];
	uint32_t n;
};

/* 0, or -1 with the reader's problem in problem. */
int loop_names_read(struct loop_names *ln, const struct rec_reader *r, char *problem, size_t len);
void loop_names_free(struct loop_names *ln);
/* The task a sample at ts ran: its task, else its coroutine's (0: unknown). */
uint64_t loop_names_task(const struct loop_names *ln, const struct loop_rec_sample *s);
/* The name of task at ts, or "?". */
const char *loop_names_name(const struct loop_names *ln, uint64_t task, uint64_t ts);

/* Whether r is a loop-mode recording. */
bool loop_replay_is_loop(const struct rec_reader *r);
int loop_reader_init(struct loop_reader *lr, const struct rec_reader *r);
void loop_reader_free(struct loop_reader *lr);
/*
 * The next record the views use: a LOOP SPAN, SAMPLE, STALL, LOST or CORO (sub
 * set), TASKS or END (sub 0). 1, 0 at the end, -1 malformed (problem says).
 */
int loop_reader_next(struct loop_reader *lr);

/* replay info: what a loop recording holds, a text line or `,"loop":{...}`. */
void loop_replay_info(const struct rec_reader *r, FILE *out, bool json);
int loop_replay_blocked(const struct rec_reader *r, FILE *out, bool json, uint64_t threshold,
			uint64_t from, uint64_t to);
int loop_replay_top(const struct rec_reader *r, FILE *out, bool json, uint64_t from, uint64_t to);
/* export --format perfetto of a loop recording (user/loop/loop_export.c). */
int loop_export_perfetto(const struct rec_reader *r, FILE *out, uint64_t from, uint64_t to,
			 bool window, char *msg, size_t msglen);

#endif
