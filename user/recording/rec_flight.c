// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "recording/rec_flight.h"
#include "recording/varint.h"
#include "util/grow.h"

int rec_flight_init(struct rec_flight *f, uint64_t window_ns, uint64_t max_bytes)
{
	memset(f, 0, sizeof(*f));
	f->window_ns = window_ns;
	f->chunk_ns = window_ns / 8 ? window_ns / 8 : 1;
	f->max_bytes = max_bytes;
	f->cap = 16;
	f->chunks = calloc(f->cap, sizeof(*f->chunks));
	return f->chunks ? 0 : -ENOMEM;
}

void rec_flight_free(struct rec_flight *f)
{
	for (unsigned i = 0; i < f->n; i++)
		free(f->chunks[i].p);
	free(f->chunks);
	memset(f, 0, sizeof(*f));
}

static void drop_oldest(struct rec_flight *f)
{
	f->bytes -= f->chunks[0].len;
	free(f->chunks[0].p);
	memmove(f->chunks, f->chunks + 1, sizeof(*f->chunks) * (f->n - 1));
	f->n--;
	f->dropped++;
}

/* The chunks needed for the window ending at now, within the byte budget. */
static void evict(struct rec_flight *f, uint64_t now)
{
	uint64_t from = now > f->window_ns ? now - f->window_ns : 0;

	while (f->n >= 2 && f->chunks[1].start_ts <= from)
		drop_oldest(f);
	while (f->n >= 2 && f->bytes > f->max_bytes)
		drop_oldest(f);
}

int rec_flight_sink(void *ctx, const uint8_t *frame, size_t len, bool segment_start)
{
	struct rec_flight *f = ctx;
	struct rec_flight_chunk *c;

	if (segment_start || !f->n) {
		const uint8_t *p = frame + REC_FRAME_HDR + 1, *end = frame + len;
		uint64_t blen, seq, base = 0;

		/* the SEGMENT record's base_ts: kind, length, seq, base_ts */
		if (!segment_start || varint_get(&p, end, &blen) || varint_get(&p, end, &seq) ||
		    varint_get(&p, end, &base))
			return -EINVAL;
		if (f->n == f->cap) {
			struct rec_flight_chunk *v = realloc(f->chunks, sizeof(*v) * f->cap * 2);

			if (!v)
				return -ENOMEM;
			f->chunks = v;
			f->cap *= 2;
		}
		f->chunks[f->n++] = (struct rec_flight_chunk){ .start_ts = base };
	}
	c = &f->chunks[f->n - 1];
	if (GROW(c->p, c->cap, c->len + len, 256 << 10))
		return -ENOMEM;
	memcpy(c->p + c->len, frame, len);
	c->len += len;
	f->bytes += len;
	/* the byte budget holds even within a window */
	while (f->n >= 2 && f->bytes > f->max_bytes)
		drop_oldest(f);
	return 0;
}

int rec_flight_tick(struct rec_flight *f, struct rec_writer *w, uint64_t now)
{
	if (f->n && w->in_segment) {
		const struct rec_flight_chunk *c = &f->chunks[f->n - 1];

		if (now >= c->start_ts + f->chunk_ns || c->len >= f->max_bytes / 8) {
			/* flushed at once: the new chunk exists from now on */
			int err = rec_writer_segment(w, now, REC_SEG_FLIGHT);

			if (!err)
				err = rec_writer_flush(w);
			if (err)
				return err;
		}
	}
	evict(f, now);
	return 0;
}

uint64_t rec_flight_start(const struct rec_flight *f)
{
	return f->n ? f->chunks[0].start_ts : 0;
}

int rec_flight_dump(struct rec_flight *f, struct rec_writer *w, const struct rec_header *h,
		    const struct rec_end *e, const char *path, uint64_t *bytes, char *err,
		    size_t errlen)
{
	struct rec_header hh = *h;
	struct rec_buf head = {}, tail = {};
	char tmp[4096];
	int fd, rc;

	rc = rec_writer_flush(w);
	if (rc) {
		snprintf(err, errlen, "flight recorder: %s", strerror(-rc));
		return rc;
	}
	evict(f, e->ts);
	hh.flags |= REC_HDR_FLIGHT;
	hh.start_ns = f->n ? f->chunks[0].start_ts : e->ts;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	if (rec_header_encode(&hh, &head) || rec_end_frame(e, &tail)) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	*bytes = head.len + tail.len;
	rc = rec_write_all(fd, head.p, head.len);
	for (unsigned i = 0; !rc && i < f->n; i++) {
		rc = rec_write_all(fd, f->chunks[i].p, f->chunks[i].len);
		*bytes += f->chunks[i].len;
	}
	if (!rc)
		rc = rec_write_all(fd, tail.p, tail.len);
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc) {
		snprintf(err, errlen, "writing %s: %s", path, strerror(-rc));
		unlink(tmp);
		goto out;
	}
	f->dumps++;
out:
	rec_buf_free(&head);
	rec_buf_free(&tail);
	return rc;
}

int rec_flight_dump_next(struct rec_flight *f, struct rec_writer *w, const struct rec_header *h,
			 const struct rec_end *e, const char *base, bool quiet, char *err,
			 size_t errlen)
{
	char path[4096];
	uint64_t bytes, from;
	int rc;

	if (f->dumps)
		snprintf(path, sizeof(path), "%s.%u", base, f->dumps);
	else
		snprintf(path, sizeof(path), "%s", base);
	rc = rec_flight_dump(f, w, h, e, path, &bytes, err, errlen);
	if (rc)
		return rc;
	from = rec_flight_start(f);
	if (!quiet)
		fprintf(stderr, "aps-bpf: flight recorder (%s): wrote the last %.1f s to %s (%" PRIu64
			" bytes)\n", e->reason, from && e->ts > from ? (double)(e->ts - from) / 1e9 : 0.0,
			path, bytes);
	return 0;
}
