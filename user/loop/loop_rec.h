/* SPDX-License-Identifier: MIT */
/*
 * The LOOP record of a loop-mode recording (REC_LOOP in
 * user/recording/rec_format.h): its sub-types, encoded and decoded. Each
 * body is u8 sub-type, zigzag(ts - base) with base the segment's base time,
 * then the sub-type's fields; strings are
 * varint length + bytes, cut on reading. A STALL ends with a BLOCKED body
 * (user/recording/rec_blocked.h) when its stack was taken.
 */
#ifndef APS_LOOP_REC_H
#define APS_LOOP_REC_H

#include <stddef.h>
#include <stdint.h>
#include "aps_events.h"
#include "loop/loop_stall.h"
#include "memory/thread_stack.h"
#include "recording/rec_format.h"
#include "recording/rec_model.h"

#define LOOP_REC_MAX_FRAMES 16384	/* frame ids per segment */

/* sample flags */
#define LOOP_REC_ON_CPU 1
#define LOOP_REC_BUSY 2			/* its loop was busy */
#define LOOP_REC_TRUNCATED 4
#define LOOP_REC_CORO 8			/* 3.10-3.13: coro follows; task is a guess (see CORO) */

struct loop_rec_info {
	uint32_t hz;			/* 0: no sampler */
	uint64_t threshold, min_span;
	char hook[64];
};

struct loop_rec_span {
	uint64_t end, begin, run_delay;
	uint32_t tid, ns_tid;
};

struct loop_rec_sample {
	uint64_t ts, task;		/* task 0: none known */
	uint64_t coro;			/* LOOP_REC_CORO: the outermost coroutine */
	uint32_t tid, ns_tid, flags, n;
	uint32_t ids[APS_SAMPLE_MAX_FRAMES];	/* innermost first: frame id << 1 | in a generator */
};

struct loop_rec_lost {
	uint64_t samples, spans, read_errors;	/* totals since the start */
};

/* Bodies appended to b (0 or -ENOMEM); base: the segment's base time. */
int loop_rec_info_enc(struct rec_buf *b, uint64_t base, uint64_t ts, const struct loop_rec_info *i);
int loop_rec_frame_enc(struct rec_buf *b, uint64_t base, uint64_t ts, uint32_t id, const struct stack_frame *f);
int loop_rec_span_enc(struct rec_buf *b, uint64_t base, const struct loop_rec_span *s);
int loop_rec_sample_enc(struct rec_buf *b, uint64_t base, const struct loop_rec_sample *s);
int loop_rec_stall_enc(struct rec_buf *b, uint64_t base, const struct loop_stall *st);
int loop_rec_lost_enc(struct rec_buf *b, uint64_t base, uint64_t ts, const struct loop_rec_lost *l);
int loop_rec_coro_enc(struct rec_buf *b, uint64_t base, uint64_t ts, uint64_t coro, uint64_t task);

/* The sub-type and time of a body: 0, or -1 if malformed. */
int loop_rec_head(const uint8_t *body, size_t len, uint64_t base, unsigned *sub, uint64_t *ts);
/* Decoders: 0, or -1 if malformed (or not that sub-type). */
int loop_rec_info_dec(const uint8_t *body, size_t len, uint64_t base, struct loop_rec_info *i);
int loop_rec_frame_dec(const uint8_t *body, size_t len, uint64_t base, uint32_t *id,
		      struct stack_frame *f);
int loop_rec_span_dec(const uint8_t *body, size_t len, uint64_t base, struct loop_rec_span *s);
int loop_rec_sample_dec(const uint8_t *body, size_t len, uint64_t base, struct loop_rec_sample *s);
int loop_rec_stall_dec(const uint8_t *body, size_t len, uint64_t base, struct loop_stall *st);
int loop_rec_lost_dec(const uint8_t *body, size_t len, uint64_t base, struct loop_rec_lost *l);
int loop_rec_coro_dec(const uint8_t *body, size_t len, uint64_t base, uint64_t *coro,
		     uint64_t *task);

#endif
