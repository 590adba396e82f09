/* SPDX-License-Identifier: MIT */
/*
 * The flight recorder: a rec_writer sink that keeps only the last window of
 * a recording in memory, as a ring of chunks. Each chunk is one segment
 * (it starts with a snapshot of the model), so whatever chunks are kept,
 * the oldest first, make a recording that replays on its own. Memory is
 * bounded by max_bytes; a dump writes the chunks that cover the window.
 */
#ifndef APS_REC_FLIGHT_H
#define APS_REC_FLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "recording/rec_format.h"
#include "recording/rec_writer.h"

struct rec_flight_chunk {
	uint8_t *p;
	size_t len, cap;
	uint64_t start_ts;		/* its SEGMENT's base_ts */
};

struct rec_flight {
	uint64_t window_ns;
	uint64_t chunk_ns;		/* a new chunk this often: window / 8 */
	uint64_t max_bytes;		/* all chunks together */
	struct rec_flight_chunk *chunks;	/* [0] the oldest */
	unsigned n, cap;
	uint64_t bytes;
	uint64_t dropped;		/* chunks dropped */
	unsigned dumps;			/* written so far */
};

int rec_flight_init(struct rec_flight *f, uint64_t window_ns, uint64_t max_bytes);
void rec_flight_free(struct rec_flight *f);
/* The rec_writer sink (ctx: the rec_flight). */
int rec_flight_sink(void *ctx, const uint8_t *frame, size_t len, bool segment_start);
/* Each poll: start a new chunk when the current one is old or big; drop old ones. */
int rec_flight_tick(struct rec_flight *f, struct rec_writer *w, uint64_t now);
/*
 * Write the window to path (through path.tmp, renamed): header h (start_ns
 * and the flight flag set here), the chunks, an END record e. The writer is
 * flushed first. 0 or -errno with a message in err; *bytes: file size.
 */
int rec_flight_dump(struct rec_flight *f, struct rec_writer *w, const struct rec_header *h,
		    const struct rec_end *e, const char *path, uint64_t *bytes, char *err,
		    size_t errlen);
/*
 * The next dump of a recorder writing to base: base, then base.1, base.2...
 * (e: its END record, e->ts now); says so on stderr unless quiet.
 */
int rec_flight_dump_next(struct rec_flight *f, struct rec_writer *w, const struct rec_header *h,
			 const struct rec_end *e, const char *base, bool quiet, char *err,
			 size_t errlen);
/* The time the kept data starts at (0: nothing yet). */
uint64_t rec_flight_start(const struct rec_flight *f);

#endif
