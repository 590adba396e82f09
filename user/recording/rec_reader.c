// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "recording/rec_model.h"
#include "recording/rec_reader.h"
#include "recording/rec_tasks.h"
#include "recording/varint.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void copy_str(char *dst, size_t dstlen, const uint8_t *src, size_t n)
{
	/* header strings are shown: printable ASCII and UTF-8 bytes, the rest '?' */
	n = n < dstlen - 1 ? n : dstlen - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] < 0x20 || src[i] == 0x7f ? '?' : (char)src[i];
	dst[n] = '\0';
}

static int parse_header(struct rec_reader *r, char *err, size_t errlen)
{
	const uint8_t *p = r->data;
	uint32_t hlen;
	size_t off;

	if (r->size < REC_MAGIC_LEN || memcmp(p, REC_MAGIC, REC_MAGIC_LEN)) {
		snprintf(err, errlen, "not an aps-bpf recording (bad magic)");
		return -EINVAL;
	}
	if (r->size < REC_HDR_FIXED + 5) {
		snprintf(err, errlen, "recording header is cut short (%zu bytes)", r->size);
		return -EINVAL;
	}
	r->hdr.version = rd16(p + 12);
	if (r->hdr.version != REC_VERSION) {
		snprintf(err, errlen, "recording format version %u; this aps-bpf reads version %u",
			 r->hdr.version, REC_VERSION);
		return -EPROTONOSUPPORT;
	}
	hlen = rd32(p + 8);
	if (hlen < REC_HDR_FIXED + 5 || hlen > REC_HDR_MAX || hlen > r->size) {
		snprintf(err, errlen, "recording header is cut short or malformed (length %u)", hlen);
		return -EINVAL;
	}
	if (rd32(p + hlen - 4) != (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, hlen - 4)) {
		snprintf(err, errlen, "recording header is corrupt (CRC mismatch)");
		return -EINVAL;
	}
	r->hdr.flags = rd16(p + 14);
	r->hdr.pid = rd32(p + 16);
	r->hdr.clock_mono_ns = rd64(p + 24);
	r->hdr.clock_real_ns = rd64(p + 32);
	r->hdr.start_ns = rd64(p + 40);
	for (off = REC_HDR_FIXED; off < hlen - 4;) {
		unsigned tag = p[off];
		uint16_t n;

		if (tag == REC_TAG_END)
			break;
		if (off + 3 > hlen - 4 || off + 3 + rd16(p + off + 1) > hlen - 4) {
			snprintf(err, errlen, "recording header is malformed");
			return -EINVAL;
		}
		n = rd16(p + off + 1);
		switch (tag) {
		case REC_TAG_PYTHON: copy_str(r->hdr.python, sizeof(r->hdr.python), p + off + 3, n); break;
		case REC_TAG_COMM: copy_str(r->hdr.comm, sizeof(r->hdr.comm), p + off + 3, n); break;
		case REC_TAG_HOST: copy_str(r->hdr.host, sizeof(r->hdr.host), p + off + 3, n); break;
		case REC_TAG_ASYNCIO_OBJ:
			copy_str(r->hdr.asyncio_obj, sizeof(r->hdr.asyncio_obj), p + off + 3, n);
			break;
		case REC_TAG_CMDLINE: copy_str(r->hdr.cmdline, sizeof(r->hdr.cmdline), p + off + 3, n); break;
		default: break;	/* a newer writer's tag */
		}
		off += 3 + (size_t)n;
	}
	r->data_start = hlen;
	return 0;
}

/* The SEGMENT record at the start of a segment frame's payload. */
static int parse_segment(const uint8_t *p, const uint8_t *end, struct rec_segment_info *s)
{
	uint64_t len, seq, flags;
	const uint8_t *body;

	if (p >= end || *p++ != REC_SEGMENT || varint_get(&p, end, &len) ||
	    len > (uint64_t)(end - p))
		return -1;
	body = p;
	end = p + len;
	if (varint_get(&body, end, &seq) || varint_get(&body, end, &s->base_ts) ||
	    varint_get(&body, end, &flags) || seq > UINT32_MAX || flags > UINT32_MAX)
		return -1;
	s->seq = (uint32_t)seq;
	s->flags = (uint32_t)flags;
	return 0;
}

/* A frame that starts with a TASKS record: its times. 1 if so, 0 if not. */
static int frame_tasks(const uint8_t *p, const uint8_t *end, struct rec_tasks_info *t)
{
	uint64_t len;

	if (p >= end || *p++ != REC_TASKS || varint_get(&p, end, &len) || len > (uint64_t)(end - p))
		return 0;
	return rec_tasks_times(p, (size_t)len, &t->t0, &t->t1) ? 0 : 1;
}

static int index_tasks(struct rec_reader *r, size_t off, const uint8_t *p, uint32_t len,
		       uint32_t *cap)
{
	struct rec_tasks_info t = { .off = off };

	if (!frame_tasks(p, p + len, &t))
		return 0;
	if (r->ntasks == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 16;
		struct rec_tasks_info *v = realloc(r->tasks, sizeof(*v) * ncap);

		if (!v)
			return -ENOMEM;
		r->tasks = v;
		*cap = ncap;
	}
	r->tasks[r->ntasks++] = t;
	return 0;
}

static int index_frames(struct rec_reader *r)
{
	size_t off = r->data_start, cap = 0;
	uint32_t tasks_cap = 0;

	r->valid_end = off;
	while (off < r->size) {
		const uint8_t *f = r->data + off;
		size_t left = r->size - off;
		uint32_t len;

		if (left < REC_FRAME_HDR) {
			snprintf(r->problem, sizeof(r->problem),
				 "torn tail: %zu bytes after the last complete frame", left);
			break;
		}
		if (f[0] != REC_FRAME_M0 || f[1] != REC_FRAME_M1 || (f[2] & ~REC_FRAME_SEGMENT) || f[3]) {
			snprintf(r->problem, sizeof(r->problem), "bad frame header at offset %zu", off);
			break;
		}
		len = rd32(f + 4);
		if (len > REC_FRAME_MAX) {
			snprintf(r->problem, sizeof(r->problem), "bad frame length %u at offset %zu", len, off);
			break;
		}
		if (len > left - REC_FRAME_HDR) {
			snprintf(r->problem, sizeof(r->problem),
				 "torn tail: a frame of %u bytes at offset %zu has only %zu", len, off,
				 left - REC_FRAME_HDR);
			break;
		}
		if (rd32(f + 8) != rec_format_frame_crc(f, f + REC_FRAME_HDR, len)) {
			snprintf(r->problem, sizeof(r->problem), "frame at offset %zu is corrupt (CRC mismatch)",
				 off);
			break;
		}
		if (f[2] & REC_FRAME_SEGMENT) {
			struct rec_segment_info s = { .off = off };

			if (parse_segment(f + REC_FRAME_HDR, f + REC_FRAME_HDR + len, &s)) {
				snprintf(r->problem, sizeof(r->problem),
					 "segment frame at offset %zu has no SEGMENT record", off);
				break;
			}
			if (r->nsegs == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct rec_segment_info *v = realloc(r->segs, sizeof(*v) * ncap);

				if (!v)
					return -ENOMEM;
				r->segs = v;
				cap = ncap;
			}
			r->segs[r->nsegs++] = s;
		} else if (!r->nsegs) {
			snprintf(r->problem, sizeof(r->problem), "first frame at offset %zu starts no segment",
				 off);
			break;
		} else if (index_tasks(r, off, f + REC_FRAME_HDR, len, &tasks_cap)) {
			return -ENOMEM;
		}
		off += REC_FRAME_HDR + (size_t)len;
		r->valid_end = off;
		r->frames++;
	}
	return 0;
}

int rec_reader_open_mem(struct rec_reader *r, const uint8_t *p, size_t n, char *err, size_t errlen)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->data = p;
	r->size = n;
	rc = parse_header(r, err, errlen);
	if (rc)
		return rc;
	rc = index_frames(r);
	if (rc)
		snprintf(err, errlen, "out of memory");
	return rc;
}

int rec_reader_open(struct rec_reader *r, const char *path, char *err, size_t errlen)
{
	struct stat st;
	void *map;
	int fd, rc;

	memset(r, 0, sizeof(*r));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st)) {
		rc = -errno;
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		snprintf(err, errlen, "%s: %s", path, st.st_size ? "not a regular file" : "empty file");
		close(fd);
		return -EINVAL;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	rc = -errno;
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %s: %s", path, strerror(-rc));
		return rc;
	}
	rc = rec_reader_open_mem(r, map, (size_t)st.st_size, err, errlen);
	r->mapped = true;
	if (rc)
		rec_reader_close(r);
	return rc;
}

void rec_reader_close(struct rec_reader *r)
{
	if (r->mapped && r->data)
		munmap((void *)r->data, r->size);
	free(r->segs);
	free(r->tasks);
	memset(r, 0, sizeof(*r));
}

uint32_t rec_reader_segment_at(const struct rec_reader *r, uint64_t ts)
{
	uint32_t best = 0;

	/* strictly before: a snapshot at ts may hold records at ts, which come "at" ts */
	for (uint32_t i = 0; i < r->nsegs; i++)
		if (r->segs[i].base_ts < ts)
			best = i;
	return best;
}

/* ---- cursor ------------------------------------------------------------------- */

int rec_cursor_init(struct rec_cursor *c, const struct rec_reader *r)
{
	int err;

	memset(c, 0, sizeof(*c));
	c->r = r;
	err = rec_codec_init(&c->codec, false);
	if (err)
		return err;
	return rec_cursor_seek_segment(c, 0);
}

void rec_cursor_free(struct rec_cursor *c)
{
	rec_codec_free(&c->codec);
}

int rec_cursor_seek_segment(struct rec_cursor *c, uint32_t i)
{
	const struct rec_reader *r = c->r;

	c->p = c->end = NULL;
	c->started = false;
	c->problem[0] = '\0';
	rec_codec_reset(&c->codec, 0);
	if (!r->nsegs) {
		c->next_frame = r->valid_end;
		return 0;
	}
	if (i >= r->nsegs)
		return -EINVAL;
	c->next_frame = r->segs[i].off;
	return 0;
}

int64_t rec_reader_tasks_before(const struct rec_reader *r, uint64_t ts)
{
	int64_t best = -1;

	/* in file order; reads end in time order, but a clock can only be trusted so far */
	for (uint32_t i = 0; i < r->ntasks; i++)
		if (r->tasks[i].t1 <= ts && (best < 0 || r->tasks[i].t1 >= r->tasks[best].t1))
			best = i;
	return best;
}

int rec_reader_tasks_body(const struct rec_reader *r, uint32_t i, const uint8_t **body, size_t *len)
{
	const uint8_t *p, *end;
	uint64_t n;

	if (i >= r->ntasks)
		return -1;
	p = r->data + r->tasks[i].off + REC_FRAME_HDR;
	end = p + rd32(r->data + r->tasks[i].off + 4);
	if (p >= end || *p++ != REC_TASKS || varint_get(&p, end, &n) || n > (uint64_t)(end - p))
		return -1;
	*body = p;
	*len = (size_t)n;
	return 0;
}

uint32_t rec_cursor_ns_tid(const struct rec_cursor *c, uint32_t tid)
{
	return rec_codec_ns_tid(&c->codec, tid);
}

static int malformed(struct rec_cursor *c, const char *what)
{
	snprintf(c->problem, sizeof(c->problem), "malformed %s in the frame at offset %zu", what,
		 c->frame_off);
	c->p = c->end = NULL;
	c->next_frame = c->r->valid_end;	/* stop */
	return -1;
}

static int ext_record(struct rec_cursor *c, unsigned kind, const uint8_t *body, size_t len,
		      struct rec_item *it)
{
	const uint8_t *q = body, *end = body + len;
	uint64_t v[5];

	it->body = body;
	it->body_len = len;
	switch (kind) {
	case REC_SEGMENT:
		if (varint_get(&q, end, &v[0]) || varint_get(&q, end, &v[1]) ||
		    varint_get(&q, end, &v[2]) || v[0] > UINT32_MAX || v[2] > UINT32_MAX)
			return malformed(c, "SEGMENT record");
		it->kind = REC_ITEM_SEGMENT;
		it->seg.seq = (uint32_t)v[0];
		it->seg.base_ts = v[1];
		it->seg.flags = (uint32_t)v[2];
		it->ts = v[1];
		rec_codec_reset(&c->codec, v[1]);
		c->started = true;
		return 1;
	case REC_SNAPSHOT:
	case REC_BLOCKED:	/* the time, then the body the item's reader decodes */
		if (varint_get(&q, end, &v[0]))
			return malformed(c, kind == REC_SNAPSHOT ? "SNAPSHOT record" : "BLOCKED record");
		it->kind = kind == REC_SNAPSHOT ? REC_ITEM_SNAPSHOT : REC_ITEM_BLOCKED;
		it->ts = v[0];
		return 1;
	case REC_LOST:
		if (varint_get(&q, end, &v[0]) || varint_get(&q, end, &v[1]) ||
		    varint_get(&q, end, &v[2]))
			return malformed(c, "LOST record");
		it->kind = REC_ITEM_LOST;
		it->ts = v[0];
		it->lost.count = v[1];
		it->lost.total = v[2];
		return 1;
	case REC_END:
		memset(&it->end, 0, sizeof(it->end));
		if (varint_get(&q, end, &it->end.ts) || varint_get(&q, end, &it->end.lost) ||
		    varint_get(&q, end, &it->end.read_errors) || varint_get(&q, end, &it->end.events) ||
		    varint_get(&q, end, &v[0]) || v[0] > (uint64_t)(end - q))
			return malformed(c, "END record");
		copy_str(it->end.reason, sizeof(it->end.reason), q, (size_t)v[0]);
		it->kind = REC_ITEM_END;
		it->ts = it->end.ts;
		return 1;
	case REC_TASKS:
		if (rec_tasks_times(body, len, &v[0], &v[1]))
			return malformed(c, "TASKS record");
		it->kind = REC_ITEM_TASKS;
		it->ts = v[1];
		return 1;
	case REC_LOOP:	/* u8 sub-type, zigzag(ts - the segment's base) */
		if (q >= end || (q++, varint_get(&q, end, &v[0])))
			return malformed(c, "LOOP record");
		it->kind = REC_ITEM_LOOP;
		it->ts = zigzag_undelta(c->codec.base_ts, v[0]);
		return 1;
	}
	return 0;	/* a newer writer's record: skipped */
}

int rec_cursor_next(struct rec_cursor *c, struct rec_item *it)
{
	const struct rec_reader *r = c->r;

	for (;;) {
		unsigned kind;

		if (c->p >= c->end) {
			const uint8_t *f;
			uint32_t len;

			if (c->next_frame >= r->valid_end)
				return 0;
			f = r->data + c->next_frame;
			len = rd32(f + 4);
			c->frame_off = c->next_frame;
			c->p = f + REC_FRAME_HDR;
			c->end = c->p + len;
			c->next_frame += REC_FRAME_HDR + (size_t)len;
			continue;
		}
		it->frame_off = c->frame_off;
		kind = *c->p & REC_OP_KIND;
		if (kind >= REC_EXT_FIRST) {
			const uint8_t *q = c->p + 1;
			uint64_t len;
			int rc;

			if (*c->p & ~REC_OP_KIND)
				return malformed(c, "record kind");
			if (varint_get(&q, c->end, &len) || len > (uint64_t)(c->end - q))
				return malformed(c, "record length");
			if (kind != REC_SEGMENT && !c->started)
				return malformed(c, "segment start");
			c->p = q + len;
			rc = ext_record(c, kind, q, (size_t)len, it);
			if (rc)
				return rc;
			continue;
		}
		if (!c->started)
			return malformed(c, "segment start");
		switch (rec_decode_event(&c->codec, &c->p, c->end, it->event, &it->len)) {
		case 0:
			break;
		case -ENOMEM:
			snprintf(c->problem, sizeof(c->problem), "out of memory");
			return -1;
		default:
			return malformed(c, "event record");
		}
		it->kind = REC_ITEM_EVENT;
		it->ts = ((const struct aps_event_hdr *)it->event)->ts_ns;
		return 1;
	}
}

/* ---- player --------------------------------------------------------------------- */

#define SWEEP_EVERY_NS 100000000ull	/* like a live trace's poll tick */
#define SWEEP_KEEP_NS 60000000000ull

int rec_player_init(struct rec_player *pl, const struct rec_reader *r, struct model *m)
{
	memset(pl, 0, sizeof(*pl));
	pl->model = m;
	pl->it = malloc(sizeof(*pl->it));
	if (!pl->it)
		return -ENOMEM;
	return rec_cursor_init(&pl->cur, r);
}

void rec_player_free(struct rec_player *pl)
{
	rec_cursor_free(&pl->cur);
	free(pl->it);
	pl->it = NULL;
}

/* The next item into pl->it (the one read ahead, if any). 1, 0 end, -1. */
static int next_item(struct rec_player *pl)
{
	int rc;

	if (pl->have_item) {
		pl->have_item = false;
		return 1;
	}
	if (pl->at_end)
		return 0;
	rc = rec_cursor_next(&pl->cur, pl->it);
	if (rc <= 0) {
		pl->at_end = true;
		if (rc < 0)
			pl->err = -1;
	}
	return rc;
}

static void sweep(struct rec_player *pl, uint64_t ts)
{
	if (ts < pl->sweep_ts + SWEEP_EVERY_NS)
		return;
	if (pl->sweep_ts)
		model_sweep(pl->model, ts, SWEEP_KEEP_NS);
	pl->sweep_ts = ts;
}

int rec_player_seek(struct rec_player *pl, uint64_t ts)
{
	const struct rec_reader *r = pl->cur.r;
	uint32_t seg = rec_reader_segment_at(r, ts);
	bool restored = false, keep_hists = pl->model->keep_hists;
	int rc;

	pl->have_item = pl->at_end = pl->ended = false;
	pl->lost = pl->last_ts = pl->events = pl->sweep_ts = 0;
	pl->err = 0;
	model_free(pl->model);
	if (model_init(pl->model, 16))
		return pl->err = -ENOMEM;
	pl->model->keep_hists = keep_hists;	/* the caller's choice outlives the reset */
	rec_cursor_seek_segment(&pl->cur, seg);
	while ((rc = next_item(pl)) > 0) {
		struct rec_item *it = pl->it;

		if (it->kind == REC_ITEM_SNAPSHOT && !restored) {
			uint64_t snap_ts;
			int err = rec_model_restore(pl->model, it->body, it->body_len, &snap_ts);

			if (err) {
				snprintf(pl->cur.problem, sizeof(pl->cur.problem),
					 "malformed SNAPSHOT record in the frame at offset %zu", it->frame_off);
				return pl->err = err == -ENOMEM ? -ENOMEM : -1;
			}
			pl->last_ts = snap_ts;
			restored = true;
			continue;
		}
		/* a BLOCKED record at or after ts is the caller's too (a recording may hold no events) */
		if ((it->kind == REC_ITEM_EVENT || it->kind == REC_ITEM_BLOCKED) && it->ts && it->ts >= ts) {
			pl->have_item = true;
			break;
		}
		if (it->kind == REC_ITEM_EVENT) {
			model_apply(pl->model, it->event, it->len, NULL, NULL);
			pl->events++;
			if (it->ts > pl->last_ts)
				pl->last_ts = it->ts;
			sweep(pl, it->ts);
		} else if (it->kind == REC_ITEM_LOST) {
			pl->lost += it->lost.count;
		} else if (it->kind == REC_ITEM_END) {
			pl->ended = true;
			pl->end = it->end;
		}
	}
	return pl->err;
}

int rec_player_run(struct rec_player *pl, uint64_t to, rec_event_fn on_event,
		   rec_lost_fn on_lost, void *ctx)
{
	while (next_item(pl) > 0) {
		struct rec_item *it = pl->it;

		switch (it->kind) {
		case REC_ITEM_EVENT:
			if (it->ts && it->ts > to) {
				pl->have_item = true;
				return pl->err;
			}
			if (on_event) {
				if (on_event(ctx, it->event, it->len))
					return pl->err;
			} else {
				model_apply(pl->model, it->event, it->len, NULL, NULL);
			}
			pl->events++;
			if (it->ts > pl->last_ts)
				pl->last_ts = it->ts;
			sweep(pl, it->ts);
			break;
		case REC_ITEM_LOST:
			if (it->ts > to) {
				pl->have_item = true;
				return pl->err;
			}
			pl->lost += it->lost.count;
			if (on_lost)
				on_lost(ctx, it->ts, it->lost.count, pl->lost);
			break;
		case REC_ITEM_END:
			pl->ended = true;
			pl->end = it->end;
			break;
		case REC_ITEM_TASKS:
		case REC_ITEM_BLOCKED:
			if (it->ts > to) {
				pl->have_item = true;
				return pl->err;
			}
			if (pl->on_item)
				pl->on_item(pl->item_ctx, it);
			break;
		default:
			/* SEGMENT, SNAPSHOT: the model already holds that state */
			break;
		}
	}
	return pl->err;
}

/* ---- times ------------------------------------------------------------------------- */

int rec_parse_time(const struct rec_reader *r, const char *s, uint64_t *ts)
{
	const struct rec_header *h = &r->hdr;
	unsigned hh, mm;
	double sec;
	int n = 0;

	if (sscanf(s, "%u:%u:%lf%n", &hh, &mm, &sec, &n) == 3 && !s[n]) {
		int64_t start_real = (int64_t)h->clock_real_ns + (int64_t)(h->start_ns - h->clock_mono_ns);
		time_t t = (time_t)(start_real / 1000000000);
		struct tm tm;
		int64_t real;

		if (hh > 23 || mm > 59 || sec < 0 || sec >= 61 || !localtime_r(&t, &tm))
			return -EINVAL;
		tm.tm_hour = (int)hh;
		tm.tm_min = (int)mm;
		tm.tm_sec = 0;
		tm.tm_isdst = -1;
		t = mktime(&tm);
		if (t == (time_t)-1)
			return -EINVAL;
		real = (int64_t)t * 1000000000 + (int64_t)(sec * 1e9 + 0.5);
		/* the recording's day, or the next if that time came after midnight */
		if (real + 43200ll * 1000000000 < start_real)
			real += 86400ll * 1000000000;
		*ts = h->clock_mono_ns + (uint64_t)(real - (int64_t)h->clock_real_ns);
		return 0;
	}
	{
		char *end;
		double v = strtod(s, &end);

		if (end == s || v < 0 || v > 1e9)
			return -EINVAL;
		if (!strcmp(end, "ms"))
			v /= 1e3;
		else if (*end && strcmp(end, "s"))
			return -EINVAL;
		*ts = h->start_ns + (uint64_t)(v * 1e9 + 0.5);
		return 0;
	}
}

void rec_format_wall(const struct rec_reader *r, uint64_t ts, char *buf, size_t len)
{
	int64_t real = (int64_t)r->hdr.clock_real_ns + (int64_t)(ts - r->hdr.clock_mono_ns);
	time_t t = (time_t)(real / 1000000000);
	struct tm tm;
	size_t n;

	if (real < 0 || !localtime_r(&t, &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	if (n && n < len)
		snprintf(buf + n, len - n, ".%03d", (int)((real % 1000000000) / 1000000));
}
