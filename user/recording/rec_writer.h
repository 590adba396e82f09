/* SPDX-License-Identifier: MIT */
/*
 * Writing a recording: records are encoded into frames (a frame is flushed
 * when it reaches REC_FRAME_TARGET bytes or on rec_writer_flush) and each
 * frame goes to a sink: a file (rec_file_sink) or the flight recorder's
 * memory (rec_flight.h). See docs/recording-format.md.
 */
#ifndef APS_REC_WRITER_H
#define APS_REC_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "model/model.h"
#include "recording/rec_codec.h"
#include "recording/rec_format.h"
#include "recording/rec_model.h"

/* Takes one complete frame; 0 or -errno (the writer then stops). */
typedef int (*rec_sink_fn)(void *ctx, const uint8_t *frame, size_t len, bool segment_start);

struct rec_writer {
	struct rec_codec codec;
	struct rec_buf frame;		/* REC_FRAME_HDR bytes of room, then the payload */
	bool frame_segment;		/* the pending frame starts a segment */
	struct rec_buf scratch;
	rec_sink_fn sink;
	void *sink_ctx;
	/*
	 * The model snapshots are taken from (NULL: empty snapshots). It must
	 * have applied every record written before, and not the one being
	 * written: apply a record to it after rec_writer_event().
	 */
	const struct model *model;
	uint64_t segment_bytes;		/* start a segment past this many bytes (0: never) */
	bool in_segment;
	uint32_t seq;			/* segments started */
	uint64_t last_ts;		/* the latest event time seen */
	uint64_t seg_payload;		/* payload bytes since the segment began */
	/* totals */
	uint64_t events;		/* BPF records written */
	uint64_t event_bytes;		/* their encoded bytes */
	uint64_t bytes;			/* everything handed to the sink */
	uint64_t frames, snapshot_bytes;
	uint64_t tasks_bytes;		/* TASKS bodies */
	int err;			/* first error, sticky */
};

int rec_writer_init(struct rec_writer *w, rec_sink_fn sink, void *ctx);
void rec_writer_free(struct rec_writer *w);
/*
 * Start a segment at ts: the pending frame is flushed, the codec state
 * forgotten, then SEGMENT and a SNAPSHOT of w->model begin a new frame.
 * The first record written starts one by itself if needed.
 */
int rec_writer_segment(struct rec_writer *w, uint64_t ts, unsigned flags);
/* One BPF record (as read from the ring buffer). -EINVAL: not a record. */
int rec_writer_event(struct rec_writer *w, const void *data, size_t len);
/* count events lost since the previous LOST record, total since the start. */
int rec_writer_lost(struct rec_writer *w, uint64_t ts, uint64_t count, uint64_t total);
/*
 * A TASKS record (body from rec_tasks_encode): the pending frame is flushed
 * so the record starts a frame of its own, where readers index it.
 */
int rec_writer_tasks(struct rec_writer *w, const void *body, size_t len);
/* A BLOCKED record (body from rec_blocked_encode). */
int rec_writer_blocked(struct rec_writer *w, const void *body, size_t len);
/* Any length-prefixed record (kind >= REC_EXT_FIRST), e.g. REC_LOOP. */
int rec_writer_ext(struct rec_writer *w, unsigned kind, const void *body, size_t len);
/* The END record; flushes. */
int rec_writer_end(struct rec_writer *w, const struct rec_end *e);
/* Hand the pending frame to the sink. */
int rec_writer_flush(struct rec_writer *w);

/* The header's bytes into b. */
int rec_header_encode(const struct rec_header *h, struct rec_buf *b);
/* A complete frame holding one END record, appended to b. */
int rec_end_frame(const struct rec_end *e, struct rec_buf *b);

/* A sink writing frames to a file descriptor. */
struct rec_file {
	int fd;
	uint64_t bytes;
};
int rec_file_sink(void *ctx, const uint8_t *frame, size_t len, bool segment_start);
/* Write all of p to fd (retrying short writes). 0 or -errno. */
int rec_write_all(int fd, const void *p, size_t len);

#endif
