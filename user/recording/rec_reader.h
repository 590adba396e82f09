/* SPDX-License-Identifier: MIT */
/*
 * Reading a recording (docs/recording-format.md). rec_reader_open() maps the
 * file, checks the header and every frame's CRC, and indexes the segments;
 * reading stops at the first bad frame (a torn tail, after a recorder was
 * killed, or corruption), which is reported, not fatal. A cursor then
 * decodes records in order; a player (rec_player) feeds them to a model, so
 * a view can ask for the model at any instant or replay a window.
 */
#ifndef APS_REC_READER_H
#define APS_REC_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "model/model.h"
#include "recording/rec_codec.h"
#include "recording/rec_format.h"

struct rec_segment_info {
	size_t off;			/* its first frame */
	uint64_t base_ts;
	uint32_t seq, flags;
};

/* A TASKS record that starts a frame (the writer puts each one so). */
struct rec_tasks_info {
	size_t off;			/* its frame */
	uint64_t t0, t1;		/* the memory read began, ended */
};

struct rec_reader {
	const uint8_t *data;
	size_t size;
	bool mapped;			/* data is an mmap of the file */
	struct rec_header hdr;
	size_t data_start;		/* first frame */
	size_t valid_end;		/* end of the last good frame */
	uint64_t frames;
	struct rec_segment_info *segs;
	uint32_t nsegs;
	struct rec_tasks_info *tasks;
	uint32_t ntasks;
	char problem[160];		/* why reading stopped before the end, or "" */
};

/* 0, or -errno with a message in err (not a recording, unsupported version...). */
int rec_reader_open(struct rec_reader *r, const char *path, char *err, size_t errlen);
/* The same on bytes in memory (kept by the caller while r is used). */
int rec_reader_open_mem(struct rec_reader *r, const uint8_t *p, size_t n, char *err, size_t errlen);
void rec_reader_close(struct rec_reader *r);
/* The segment to start from to know the state at ts: the last one before it. */
uint32_t rec_reader_segment_at(const struct rec_reader *r, uint64_t ts);
/* The latest TASKS record whose read ended by ts: its index, or -1. */
int64_t rec_reader_tasks_before(const struct rec_reader *r, uint64_t ts);
/* Its body: 0, or -1 if malformed. */
int rec_reader_tasks_body(const struct rec_reader *r, uint32_t i, const uint8_t **body, size_t *len);

enum rec_item_kind {
	REC_ITEM_EVENT = 1,	/* a BPF record: event, len */
	REC_ITEM_SEGMENT,	/* seg */
	REC_ITEM_SNAPSHOT,	/* body, body_len */
	REC_ITEM_LOST,		/* lost */
	REC_ITEM_END,		/* end */
	REC_ITEM_TASKS,		/* body, body_len: user/recording/rec_tasks.h; ts: the read's end */
	REC_ITEM_BLOCKED,	/* body, body_len: user/recording/rec_blocked.h; ts: threshold crossed */
	REC_ITEM_LOOP,		/* body, body_len: user/loop/loop_rec.h; ts: its time */
};

struct rec_item {
	enum rec_item_kind kind;
	uint64_t ts;			/* event: hdr.ts_ns (0 for TYPE_NAME); else its time */
	size_t frame_off;		/* offset of its frame in the file */
	_Alignas(8) uint8_t event[REC_EVENT_MAX];
	size_t len;
	struct { uint32_t seq, flags; uint64_t base_ts; } seg;
	const uint8_t *body;
	size_t body_len;
	struct { uint64_t count, total; } lost;
	struct rec_end end;
};

struct rec_cursor {
	const struct rec_reader *r;
	struct rec_codec codec;
	size_t next_frame;		/* offset of the frame after the current one */
	size_t frame_off;
	const uint8_t *p, *end;		/* the rest of the current frame's payload */
	bool started;			/* a SEGMENT has been read */
	char problem[160];
};

int rec_cursor_init(struct rec_cursor *c, const struct rec_reader *r);
void rec_cursor_free(struct rec_cursor *c);
/* Go to segment i (0 <= i < nsegs; the file's start if there are none). */
int rec_cursor_seek_segment(struct rec_cursor *c, uint32_t i);
/* 1 and the next item, 0 at the end of the good data, -1 on a malformed record. */
int rec_cursor_next(struct rec_cursor *c, struct rec_item *it);
/* The namespace tid of a kernel tid, as recorded in the current segment. */
uint32_t rec_cursor_ns_tid(const struct rec_cursor *c, uint32_t tid);

/* ---- a player: records into a model ------------------------------------------ */

typedef int (*rec_event_fn)(void *ctx, const void *data, size_t len);
typedef void (*rec_lost_fn)(void *ctx, uint64_t ts, uint64_t count, uint64_t total);

struct rec_player {
	struct rec_cursor cur;
	struct model *model;		/* the caller's; seeks reinitialise it */
	struct rec_item *it;		/* the item read ahead, if have_item */
	bool have_item;
	bool ended;			/* an END record was read */
	bool at_end;			/* no more items */
	struct rec_end end;
	uint64_t lost;			/* lost events so far */
	uint64_t last_ts;		/* the latest event time applied */
	uint64_t events;		/* records applied */
	uint64_t sweep_ts;		/* model_sweep cadence */
	int err;			/* -1 malformed data, -ENOMEM */
	/* optional: hears the TASKS and BLOCKED records rec_player_run passes */
	void (*on_item)(void *ctx, const struct rec_item *it);
	void *item_ctx;
};

int rec_player_init(struct rec_player *pl, const struct rec_reader *r, struct model *m);
void rec_player_free(struct rec_player *pl);
/*
 * The model as it was at ts: start from the last segment before ts,
 * restore its snapshot into the model (reinitialised), and apply, without
 * telling anyone, the records before ts. ts 0: the start of the file.
 */
int rec_player_seek(struct rec_player *pl, uint64_t ts);
/*
 * Feed the records up to and including time `to` (UINT64_MAX: all) to
 * on_event (NULL: model_apply), lost counts to on_lost (may be NULL).
 * Stops before the first record after `to`. 0, or the error.
 */
int rec_player_run(struct rec_player *pl, uint64_t to, rec_event_fn on_event,
		   rec_lost_fn on_lost, void *ctx);

/* "HH:MM:SS[.fff]" (wall-clock, the recording's day) or seconds from the start. */
int rec_parse_time(const struct rec_reader *r, const char *s, uint64_t *ts);
/* A monotonic time as wall-clock "YYYY-MM-DD HH:MM:SS.mmm" (local time). */
void rec_format_wall(const struct rec_reader *r, uint64_t ts, char *buf, size_t len);

#endif
