// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "recording/rec_writer.h"
#include "recording/varint.h"

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int rec_writer_init(struct rec_writer *w, rec_sink_fn sink, void *ctx)
{
	int err;

	memset(w, 0, sizeof(*w));
	w->sink = sink;
	w->sink_ctx = ctx;
	err = rec_codec_init(&w->codec, true);
	if (err)
		return err;
	if (rec_buf_reserve(&w->frame, REC_FRAME_TARGET + REC_ENC_MAX + REC_FRAME_HDR)) {
		rec_codec_free(&w->codec);
		return -ENOMEM;
	}
	w->frame.len = REC_FRAME_HDR;
	return 0;
}

void rec_writer_free(struct rec_writer *w)
{
	rec_codec_free(&w->codec);
	rec_buf_free(&w->frame);
	rec_buf_free(&w->scratch);
}

static int fail(struct rec_writer *w, int err)
{
	if (!w->err)
		w->err = err;
	return err;
}

int rec_writer_flush(struct rec_writer *w)
{
	uint8_t *f = w->frame.p;
	size_t payload = w->frame.len - REC_FRAME_HDR;
	int err;

	if (w->err)
		return w->err;
	if (!payload)
		return 0;
	if (payload > REC_FRAME_MAX)
		return fail(w, -E2BIG);
	f[0] = REC_FRAME_M0;
	f[1] = REC_FRAME_M1;
	f[2] = w->frame_segment ? REC_FRAME_SEGMENT : 0;
	f[3] = 0;
	le32(f + 4, (uint32_t)payload);
	le32(f + 8, rec_format_frame_crc(f, f + REC_FRAME_HDR, payload));
	err = w->sink(w->sink_ctx, f, w->frame.len, w->frame_segment);
	if (err)
		return fail(w, err);
	w->bytes += w->frame.len;
	w->frames++;
	w->frame.len = REC_FRAME_HDR;
	w->frame_segment = false;
	return 0;
}

/* Append an extension record (kind, varint length, body). */
static int put_ext(struct rec_writer *w, unsigned kind, const void *body, size_t len)
{
	if (rec_buf_reserve(&w->frame, 1 + VARINT_MAX + len))
		return fail(w, -ENOMEM);
	w->frame.p[w->frame.len++] = (uint8_t)kind;
	w->frame.len += varint_put(w->frame.p + w->frame.len, len);
	memcpy(w->frame.p + w->frame.len, body, len);
	w->frame.len += len;
	w->seg_payload += 1 + varint_len(len) + len;
	return 0;
}

static int maybe_flush(struct rec_writer *w)
{
	return w->frame.len - REC_FRAME_HDR >= REC_FRAME_TARGET ? rec_writer_flush(w) : 0;
}

int rec_writer_segment(struct rec_writer *w, uint64_t ts, unsigned flags)
{
	uint8_t body[3 * VARINT_MAX];
	size_t n = 0;
	int err;

	if (w->err)
		return w->err;
	err = rec_writer_flush(w);
	if (err)
		return err;
	rec_codec_reset(&w->codec, ts);
	w->frame_segment = true;
	w->seg_payload = 0;
	n += varint_put(body + n, w->seq++);
	n += varint_put(body + n, ts);
	n += varint_put(body + n, flags);
	err = put_ext(w, REC_SEGMENT, body, n);
	if (err)
		return err;
	w->scratch.len = 0;
	if (w->model) {
		err = rec_model_encode(w->model, ts, &w->scratch);
	} else {
		struct model empty = {};

		err = rec_model_encode(&empty, ts, &w->scratch);
	}
	if (err)
		return fail(w, err);
	err = put_ext(w, REC_SNAPSHOT, w->scratch.p, w->scratch.len);
	if (err)
		return err;
	w->snapshot_bytes += w->scratch.len;
	w->in_segment = true;
	if (w->last_ts < ts)
		w->last_ts = ts;
	return maybe_flush(w);
}

int rec_writer_event(struct rec_writer *w, const void *data, size_t len)
{
	const struct aps_event_hdr *h = data;
	int n, err;

	if (w->err)
		return w->err;
	if (len < sizeof(*h) || h->type < APS_EV_TASK_NEW || h->type > APS_EV_CANCEL)
		return -EINVAL;
	if (!w->in_segment || rec_codec_full(&w->codec) ||
	    (w->segment_bytes && w->seg_payload >= w->segment_bytes)) {
		uint64_t base = w->last_ts ? w->last_ts : h->ts_ns;

		err = rec_writer_segment(w, base, w->in_segment ? REC_SEG_PERIODIC : REC_SEG_START);
		if (err)
			return err;
	}
	if (rec_buf_reserve(&w->frame, REC_ENC_MAX))
		return fail(w, -ENOMEM);
	n = rec_encode_event(&w->codec, data, len, w->frame.p + w->frame.len);
	if (n == -1)
		return -EINVAL;
	if (n < 0)
		return fail(w, n);
	w->frame.len += (size_t)n;
	w->seg_payload += (size_t)n;
	w->events++;
	w->event_bytes += (size_t)n;
	if (h->ts_ns > w->last_ts)
		w->last_ts = h->ts_ns;
	return maybe_flush(w);
}

/* Before an extension record: the sticky error, or a segment started if none is. */
static int ready(struct rec_writer *w, uint64_t ts)
{
	if (w->err)
		return w->err;
	return w->in_segment ? 0 : rec_writer_segment(w, ts, REC_SEG_START);
}

/* A record of kind at ts, in a segment (started if need be). */
static int put_record(struct rec_writer *w, uint64_t ts, unsigned kind, const void *body, size_t len)
{
	int err = ready(w, ts);

	return err ? err : put_ext(w, kind, body, len);
}

int rec_writer_lost(struct rec_writer *w, uint64_t ts, uint64_t count, uint64_t total)
{
	uint8_t body[3 * VARINT_MAX];
	size_t n = 0;
	int err;

	n += varint_put(body + n, ts);
	n += varint_put(body + n, count);
	n += varint_put(body + n, total);
	err = put_record(w, ts, REC_LOST, body, n);
	return err ? err : maybe_flush(w);
}

int rec_writer_tasks(struct rec_writer *w, const void *body, size_t len)
{
	/* a frame of its own: the pending one first */
	int err = ready(w, w->last_ts);

	if (!err)
		err = rec_writer_flush(w);
	if (!err)
		err = put_ext(w, REC_TASKS, body, len);
	if (!err)
		w->tasks_bytes += len;
	return err ? err : rec_writer_flush(w);
}

int rec_writer_blocked(struct rec_writer *w, const void *body, size_t len)
{
	int err = put_record(w, w->last_ts, REC_BLOCKED, body, len);

	return err ? err : maybe_flush(w);
}

int rec_writer_ext(struct rec_writer *w, unsigned kind, const void *body, size_t len)
{
	int err;

	if (kind < REC_EXT_FIRST || kind > REC_OP_KIND)
		return -EINVAL;
	err = ready(w, w->last_ts);
	if (err)
		return err;
	err = put_ext(w, kind, body, len);
	return err ? err : maybe_flush(w);
}

static size_t end_body(const struct rec_end *e, uint8_t *body)
{
	size_t n = 0, rl = strnlen(e->reason, sizeof(e->reason));

	n += varint_put(body + n, e->ts);
	n += varint_put(body + n, e->lost);
	n += varint_put(body + n, e->read_errors);
	n += varint_put(body + n, e->events);
	n += varint_put(body + n, rl);
	memcpy(body + n, e->reason, rl);
	return n + rl;
}

int rec_writer_end(struct rec_writer *w, const struct rec_end *e)
{
	uint8_t body[5 * VARINT_MAX + sizeof(e->reason)];
	int err = put_record(w, e->ts, REC_END, body, end_body(e, body));

	return err ? err : rec_writer_flush(w);
}

int rec_end_frame(const struct rec_end *e, struct rec_buf *b)
{
	uint8_t body[5 * VARINT_MAX + sizeof(e->reason)];
	size_t n = end_body(e, body), start = b->len, payload;
	uint8_t *f;

	if (rec_buf_reserve(b, REC_FRAME_HDR + 1 + VARINT_MAX + n))
		return -ENOMEM;
	f = b->p + start;
	b->len += REC_FRAME_HDR;
	b->p[b->len++] = REC_END;
	b->len += varint_put(b->p + b->len, n);
	memcpy(b->p + b->len, body, n);
	b->len += n;
	payload = b->len - start - REC_FRAME_HDR;
	f[0] = REC_FRAME_M0;
	f[1] = REC_FRAME_M1;
	f[2] = 0;
	f[3] = 0;
	le32(f + 4, (uint32_t)payload);
	le32(f + 8, rec_format_frame_crc(f, f + REC_FRAME_HDR, payload));
	return 0;
}

static size_t put_tlv(uint8_t *p, unsigned tag, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (!n)
		return 0;
	if (n > REC_STR_MAX)
		n = REC_STR_MAX;
	p[0] = (uint8_t)tag;
	le16(p + 1, (uint16_t)n);
	memcpy(p + 3, s, n);
	return 3 + n;
}

int rec_header_encode(const struct rec_header *h, struct rec_buf *b)
{
	uint8_t *p;
	size_t n = REC_HDR_FIXED;

	if (rec_buf_reserve(b, REC_HDR_MAX))
		return -ENOMEM;
	p = b->p + b->len;
	memset(p, 0, REC_HDR_FIXED);
	memcpy(p, REC_MAGIC, REC_MAGIC_LEN);
	le16(p + 12, REC_VERSION);
	le16(p + 14, h->flags);
	le32(p + 16, h->pid);
	le64(p + 24, h->clock_mono_ns);
	le64(p + 32, h->clock_real_ns);
	le64(p + 40, h->start_ns);
	n += put_tlv(p + n, REC_TAG_PYTHON, h->python, sizeof(h->python));
	n += put_tlv(p + n, REC_TAG_COMM, h->comm, sizeof(h->comm));
	n += put_tlv(p + n, REC_TAG_ASYNCIO_OBJ, h->asyncio_obj, sizeof(h->asyncio_obj));
	n += put_tlv(p + n, REC_TAG_HOST, h->host, sizeof(h->host));
	n += put_tlv(p + n, REC_TAG_CMDLINE, h->cmdline, sizeof(h->cmdline));
	p[n++] = REC_TAG_END;
	le32(p + 8, (uint32_t)(n + 4));
	le32(p + n, (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n));
	b->len += n + 4;
	return 0;
}

int rec_write_all(int fd, const void *p, size_t len)
{
	const uint8_t *q = p;

	while (len) {
		ssize_t n = write(fd, q, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		q += n;
		len -= (size_t)n;
	}
	return 0;
}

int rec_file_sink(void *ctx, const uint8_t *frame, size_t len, bool segment_start)
{
	struct rec_file *f = ctx;
	int err;

	(void)segment_start;
	err = rec_write_all(f->fd, frame, len);
	if (!err)
		f->bytes += len;
	return err;
}
