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
#include "recording/rec_reader.h"

struct loop_reader {
	const struct rec_reader *r;
	struct rec_cursor c;
	struct rec_item *it;
	struct stack_frame *frames;	/* LOOP_REC_MAX_FRAMES, this segment's */
	uint8_t *defined;
	struct loop_rec_info info;
	bool have_info;
	/* the record read: it->kind, and for LOOP records sub and its decoded form */
	unsigned sub;
	struct loop_rec_span span;
	struct loop_rec_sample smp;
	struct thread_stack st;		/* smp's frames (unknown ids left out) */
	struct loop_stall stall;
	struct loop_rec_lost lost;	/* the latest totals */
	char problem[200];
};

/* Whether r is a loop-mode recording. */
bool loop_replay_is_loop(const struct rec_reader *r);
int loop_reader_init(struct loop_reader *lr, const struct rec_reader *r);
void loop_reader_free(struct loop_reader *lr);
/*
 * The next record the views use: a LOOP SPAN, SAMPLE, STALL or LOST (sub
 * set), TASKS or END (sub 0). 1, 0 at the end, -1 malformed (problem says).
 */
int loop_reader_next(struct loop_reader *lr);

int loop_replay_blocked(const struct rec_reader *r, FILE *out, bool json, uint64_t threshold,
			uint64_t from, uint64_t to);
int loop_replay_top(const struct rec_reader *r, FILE *out, bool json, uint64_t from, uint64_t to);
/* export --format perfetto of a loop recording (user/loop/loop_export.c). */
int loop_export_perfetto(const struct rec_reader *r, FILE *out, uint64_t from, uint64_t to,
			 bool window, char *msg, size_t msglen);

#endif
