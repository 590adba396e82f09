// SPDX-License-Identifier: MIT
/* Recording format: records -> file -> records, torn tails, corrupt input,
 * snapshots of the model, the player. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "unit.h"
#include "model/model.h"
#include "cli/commands.h"
#include "recording/rec_codec.h"
#include "recording/rec_flight.h"
#include "recording/rec_model.h"
#include "recording/rec_reader.h"
#include "recording/rec_writer.h"

/* ---- a deterministic generator of BPF records ------------------------------- */

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

struct rec {
	size_t len;
	_Alignas(8) uint8_t b[REC_EVENT_MAX];
};

struct recs {
	struct rec *v;
	size_t n, cap;
};

static void push(struct recs *r, const void *ev, size_t len)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		r->v = realloc(r->v, sizeof(*r->v) * r->cap);
	}
	r->v[r->n].len = len;
	memcpy(r->v[r->n].b, ev, len);
	r->n++;
}

static void set_str(struct aps_pystr *s, const char *txt)
{
	size_t n = strlen(txt);

	memset(s, 0, sizeof(*s));
	s->kind = 1;
	s->nchars = (uint32_t)n;
	memcpy(s->data, txt, n < APS_STR_MAX ? n : APS_STR_MAX);
	s->truncated = n > APS_STR_MAX;
	/* what BPF leaves past the string: garbage, not recorded */
	for (size_t i = n; i < APS_STR_MAX; i++)
		s->data[i] = (uint8_t)rnd();
	s->pad = (uint8_t)rnd();
}

#define NTASKS 300

struct sim_task {
	uint64_t addr, waiter;
	uint32_t tid;
	bool alive, stepped;
};

/*
 * An asyncio-like stream: tasks created by others on a few threads, steps
 * that await futures or tasks, yield, return, raise; type names; renames;
 * destroys (and address reuse); eager nested steps; cancel() requests (by a
 * task or none, with or without a message, of done tasks). Plus, if wild, records
 * with random field values (any value must round-trip).
 */
static void generate(struct recs *out, size_t n, bool wild)
{
	static const char *coros[] = { "main", "worker", "Server.handle", "fetch.<locals>.inner",
				       "\xc3\xa9t\xc3\xa9" };
	struct sim_task t[NTASKS] = {};
	uint64_t ts = 1000000000000ull, types[8];
	uint32_t tids[4] = { 4242, 4243, 5000, 70000 };

	for (int i = 0; i < 8; i++)
		types[i] = 0x55d0c0de0000ull + (uint64_t)i * 0x1a0;
	for (size_t k = 0; k < n; k++) {
		unsigned i = rn(NTASKS), what = rn(100);
		struct sim_task *s = &t[i];

		ts += rn(5) ? rn(3000) : rn(2000000);
		if (wild && what < 3) {
			_Alignas(8) uint8_t raw[REC_EVENT_MAX];
			static const size_t sizes[] = { 0, sizeof(struct aps_ev_task_new),
				sizeof(struct aps_ev_step_begin), sizeof(struct aps_ev_step_end),
				sizeof(struct aps_ev_task_destroy), sizeof(struct aps_ev_type_name),
				sizeof(struct aps_ev_cancel) };
			unsigned type = 1 + rn(6);
			struct aps_event_hdr *h = (void *)raw;

			for (size_t j = 0; j < sizeof(raw); j++)
				raw[j] = (uint8_t)rnd();
			h->type = (uint16_t)type;
			if (rn(2))
				h->tid = tids[rn(4)];
			if (rn(2))
				h->ts_ns = ts;
			if (type == APS_EV_TASK_NEW && rn(2)) {
				struct aps_ev_task_new *e = (void *)raw;

				e->name.kind = (uint8_t)(1 << rn(3));
				e->name.nchars = rn(200);
			}
			push(out, raw, sizes[type]);
			continue;
		}
		if (!s->alive) {
			struct aps_ev_task_new e = {};
			char name[64];

			s->addr = 0x7f3a10000000ull + (uint64_t)i * 0x140 + (rn(4) ? 0 : 0x100000);
			s->tid = tids[rn(3)];
			s->alive = true;
			s->stepped = false;
			s->waiter = 0;
			e.hdr = (struct aps_event_hdr){ APS_EV_TASK_NEW, 0, s->tid, ts, s->addr };
			e.create_ts_ns = rn(10) ? ts - rn(5000) : 0;
			e.creator = rn(3) ? t[rn(NTASKS)].addr : 0;
			e.coro = s->addr + 0x1000 + rn(64) * 16;
			e.create_tid = e.create_ts_ns ? s->tid : 0;
			e.pad = (uint32_t)rnd();
			if (rn(2)) {
				memset(&e.name, 0, sizeof(e.name));
				e.name.is_int = 1;
				e.name.kind = 1;
				e.name.value = k;
			} else {
				snprintf(name, sizeof(name), "Task-%zu", k);
				set_str(&e.name, name);
			}
			set_str(&e.coro_qualname, coros[rn(5)]);
			if (!rn(20)) {	/* UCS-2, cut */
				e.coro_qualname.kind = 2;
				e.coro_qualname.nchars = 300;
				e.coro_qualname.truncated = 1;
				for (int j = 0; j < APS_STR_MAX; j++)
					e.coro_qualname.data[j] = (uint8_t)(j & 1 ? 0x04 : 0x30 + j % 10);
			}
			push(out, &e, sizeof(e));
			continue;
		}
		if (what < 75) {
			struct aps_ev_step_begin b = {};
			struct aps_ev_step_end e = {};
			uint64_t begin = ts;

			b.hdr = (struct aps_event_hdr){ APS_EV_STEP_BEGIN, 0, s->tid, ts, s->addr };
			b.waiter = rn(8) ? s->waiter : 0x7f3a20000000ull + rn(1 << 20) * 16;
			b.exc = rn(30) ? 0 : 0x7f3a30000000ull + rn(1000) * 32;
			b.pad = (uint32_t)rnd();
			push(out, &b, sizeof(b));
			s->stepped = true;
			if (!rn(15)) {	/* an eager step nested in this one */
				struct sim_task *q = &t[rn(NTASKS)];

				if (q->alive && q != s) {
					struct aps_ev_step_begin nb = { .hdr = { APS_EV_STEP_BEGIN, 0, s->tid,
										  ts + 10, q->addr },
									.depth = 1 };
					struct aps_ev_step_end ne = { .hdr = { APS_EV_STEP_END, 0, s->tid,
										ts + 50, q->addr },
								      .begin_ts_ns = ts + 10,
								      .result = APS_RES_YIELDED,
								      .boundary = APS_BND_EAGER_RETURN };

					push(out, &nb, sizeof(nb));
					push(out, &ne, sizeof(ne));
					ts += 60;
				}
			}
			ts += rn(4000);
			e.hdr = (struct aps_event_hdr){ APS_EV_STEP_END, 0, s->tid, ts, s->addr };
			e.begin_ts_ns = rn(50) ? begin : begin - rn(100);
			e.boundary = (uint8_t)(1 + rn(4));
			memset(e.pad, 0xab, sizeof(e.pad));
			switch (rn(6)) {
			case 0: case 1: case 2:
				e.result = APS_RES_AWAITING;
				e.waiter = rn(4) ? 0x7f3a20000000ull + rn(1 << 20) * 16 : t[rn(NTASKS)].addr;
				e.waiter_type = types[rn(8)];
				if (!rn(5)) {
					struct aps_ev_type_name tn = { .hdr = { APS_EV_TYPE_NAME, 0, s->tid, 0,
										e.waiter_type } };

					snprintf(tn.name, sizeof(tn.name), "_asyncio.Future%u", rn(9));
					push(out, &tn, sizeof(tn));
				}
				break;
			case 3:
				e.result = APS_RES_YIELDED;
				break;
			case 4:
				e.result = (uint8_t)(APS_RES_RETURNED + rn(3));
				if (e.result == APS_RES_RAISED)
					e.exc_type = types[rn(8)];
				break;
			default:
				e.result = rn(10) ? APS_RES_YIELDED : APS_RES_UNKNOWN;
			}
			s->waiter = e.waiter;
			push(out, &e, sizeof(e));
			continue;
		}
		if (what < 80) {	/* rename */
			struct aps_ev_task_new e = {};

			e.hdr = (struct aps_event_hdr){ APS_EV_TASK_NEW, APS_TASK_RENAMED, s->tid, ts, s->addr };
			set_str(&e.name, "renamed");
			set_str(&e.coro_qualname, coros[0]);
			push(out, &e, sizeof(e));
			continue;
		}
		if (what < 84) {	/* cancel() */
			struct aps_ev_cancel c = { .hdr = { APS_EV_CANCEL, 0, s->tid, ts, s->addr } };
			static const char *msgs[] = { "shutdown", "timeout", "\xc3\xa9" "chec" };

			c.requester = rn(3) ? t[rn(NTASKS)].addr : 0;
			c.hdr.flags = (uint16_t)(rn(6) ? 0 : rn(4));
			if (rn(3))
				set_str(&c.msg, msgs[rn(3)]);
			else
				memset(c.msg.data, 0xee, sizeof(c.msg.data));	/* no msg: garbage bytes */
			push(out, &c, sizeof(c));
			continue;
		}
		if (what < 90) {
			struct aps_ev_task_destroy d = { .hdr = { APS_EV_TASK_DESTROY, 0, s->tid, ts, s->addr },
							 .state = rn(3), .stepped = s->stepped };

			push(out, &d, sizeof(d));
			s->alive = false;
		}
	}
}

/* ---- memory sink, write / read ------------------------------------------------ */

struct mem {
	struct rec_buf b;
};

static int mem_sink(void *ctx, const uint8_t *frame, size_t len, bool seg)
{
	struct mem *m = ctx;

	(void)seg;
	if (rec_buf_reserve(&m->b, len))
		return -ENOMEM;
	memcpy(m->b.p + m->b.len, frame, len);
	m->b.len += len;
	return 0;
}

static void header(struct mem *m)
{
	struct rec_header h = { .pid = 1234, .clock_mono_ns = 1000000000000ull,
				.clock_real_ns = 1700000000000000000ull, .start_ns = 1000000000000ull };

	snprintf(h.python, sizeof(h.python), "3.12.1");
	snprintf(h.comm, sizeof(h.comm), "python3");
	rec_header_encode(&h, &m->b);
}

/* Write recs (a LOST record every lost_every records, if set) and an END. */
static int write_all(struct mem *m, const struct recs *r, uint64_t segment_bytes,
		     const struct model *model, size_t *written)
{
	struct rec_writer w;
	struct rec_end end = { .ts = 1, .lost = 7, .read_errors = 3 };
	int err = rec_writer_init(&w, mem_sink, m);

	if (err)
		return err;
	w.segment_bytes = segment_bytes;
	w.model = model;
	*written = 0;
	for (size_t i = 0; i < r->n && !err; i++) {
		err = rec_writer_event(&w, r->v[i].b, r->v[i].len);
		if (!err)
			(*written)++;
		if (!err && i % 5000 == 4999)
			err = rec_writer_lost(&w, 2 + i, 1, (i + 1) / 5000);
	}
	end.events = w.events;
	snprintf(end.reason, sizeof(end.reason), "target_exited");
	if (!err)
		err = rec_writer_end(&w, &end);
	rec_writer_free(&w);
	return err;
}

/* Decode events from a reader; checks them against recs (canonical); count. */
static size_t read_check(const struct rec_reader *rd, const struct recs *r, size_t from,
			 uint32_t seg, int *bad, bool *ended)
{
	struct rec_cursor c;
	struct rec_item *it = malloc(sizeof(*it));
	size_t i = from;
	int rc;

	*bad = 0;
	*ended = false;
	if (rec_cursor_init(&c, rd) || rec_cursor_seek_segment(&c, seg)) {
		*bad = 1;
		free(it);
		return 0;
	}
	while ((rc = rec_cursor_next(&c, it)) > 0) {
		_Alignas(8) uint8_t want[REC_EVENT_MAX];
		int n;

		if (it->kind == REC_ITEM_END) {
			*ended = true;
			CHECK_EQ_STR(it->end.reason, "target_exited");
			CHECK_EQ_INT(it->end.lost, 7);
			continue;
		}
		if (it->kind != REC_ITEM_EVENT)
			continue;
		if (i >= r->n) {
			(*bad)++;
			break;
		}
		n = rec_canonical(r->v[i].b, r->v[i].len, want);
		if (n != (int)it->len || memcmp(want, it->event, it->len)) {
			if (!*bad)
				fprintf(stderr, "record %zu (type %u) differs\n", i,
					((struct aps_event_hdr *)want)->type);
			(*bad)++;
		}
		i++;
	}
	if (rc < 0)
		(*bad)++;
	rec_cursor_free(&c);
	free(it);
	return i - from;
}

TEST(roundtrip_exact)
{
	struct recs r = {};
	struct mem m = {};
	struct rec_reader rd;
	char err[200];
	size_t written, got;
	bool ended;
	int bad;

	generate(&r, 60000, false);
	header(&m);
	REQUIRE(write_all(&m, &r, 0, NULL, &written) == 0);
	CHECK_EQ_INT(written, r.n);
	REQUIRE(rec_reader_open_mem(&rd, m.b.p, m.b.len, err, sizeof(err)) == 0);
	CHECK_EQ_STR(rd.problem, "");
	CHECK_EQ_INT(rd.nsegs, 1);
	CHECK_EQ_INT(rd.hdr.pid, 1234);
	CHECK_EQ_STR(rd.hdr.python, "3.12.1");
	got = read_check(&rd, &r, 0, 0, &bad, &ended);
	CHECK_EQ_INT(got, r.n);
	CHECK_EQ_INT(bad, 0);
	CHECK(ended);
	fprintf(stderr, "roundtrip: %zu records, %zu bytes, %.2f bytes/record\n", r.n, m.b.len,
		(double)m.b.len / (double)r.n);
	CHECK((double)m.b.len / (double)r.n < 24);
	rec_reader_close(&rd);
	rec_buf_free(&m.b);
	free(r.v);
}

TEST(roundtrip_wild_values)
{
	struct recs r = {};
	struct mem m = {};
	struct rec_reader rd;
	char err[200];
	size_t written, got;
	bool ended;
	int bad;

	generate(&r, 40000, true);
	header(&m);
	REQUIRE(write_all(&m, &r, 0, NULL, &written) == 0);
	CHECK_EQ_INT(written, r.n);
	REQUIRE(rec_reader_open_mem(&rd, m.b.p, m.b.len, err, sizeof(err)) == 0);
	got = read_check(&rd, &r, 0, 0, &bad, &ended);
	CHECK_EQ_INT(got, r.n);
	CHECK_EQ_INT(bad, 0);
	rec_reader_close(&rd);
	rec_buf_free(&m.b);
	free(r.v);
}

TEST(canonical_drops_only_dont_care_bytes)
{
	struct aps_ev_task_new e = {}, c;
	struct aps_ev_type_name t = { .hdr = { .type = APS_EV_TYPE_NAME } }, ct;

	e.hdr.type = APS_EV_TASK_NEW;
	set_str(&e.name, "abc");
	set_str(&e.coro_qualname, "main");
	e.pad = 5;
	REQUIRE(rec_canonical(&e, sizeof(e), &c) == (int)sizeof(e));
	CHECK_EQ_INT(c.pad, 0);
	CHECK_EQ_INT(c.name.pad, 0);
	CHECK(!memcmp(c.name.data, "abc\0\0", 5));
	CHECK_EQ_INT(c.name.data[APS_STR_MAX - 1], 0);
	memcpy(t.name, "Foo\0garbage", 11);
	REQUIRE(rec_canonical(&t, sizeof(t), &ct) == (int)sizeof(t));
	CHECK(!memcmp(ct.name, "Foo\0\0\0\0", 7));
	CHECK(rec_canonical(&t, sizeof(t) - 1, &ct) == -1);
	t.hdr.type = 9;
	CHECK(rec_canonical(&t, sizeof(t), &ct) == -1);
}

/* A cancel record alone: every field back, compactly; a done task's too. */
TEST(cancel_record_roundtrip)
{
	struct rec_codec enc, dec;
	struct aps_ev_cancel c = { .hdr = { APS_EV_CANCEL, APS_CANCEL_DONE, 4242, 5000, 0x7f0000001000ull },
				   .requester = 0x7f0000002000ull }, out, canon;
	uint8_t buf[REC_ENC_MAX];
	const uint8_t *p;
	size_t len;
	int n, n2;

	REQUIRE(rec_codec_init(&enc, true) == 0);
	REQUIRE(rec_codec_init(&dec, false) == 0);
	set_str(&c.msg, "stop now");
	n = rec_encode_event(&enc, &c, sizeof(c), buf);
	REQUIRE(n > 0);
	p = buf;
	REQUIRE(rec_decode_event(&dec, &p, buf + n, &out, &len) == 0);
	CHECK(p == buf + n);
	CHECK_EQ_INT(len, sizeof(c));
	REQUIRE(rec_canonical(&c, sizeof(c), &canon) == (int)sizeof(c));
	CHECK(!memcmp(&canon, &out, sizeof(out)));
	CHECK_EQ_INT(out.hdr.type, APS_EV_CANCEL);
	CHECK_EQ_INT(out.hdr.flags, APS_CANCEL_DONE);
	CHECK_EQ_INT(out.requester, 0x7f0000002000ull);
	CHECK(!memcmp(out.msg.data, "stop now", 8));
	/* again, no message, no requester, both tasks known: a few bytes */
	memset(&c.msg, 0, sizeof(c.msg));
	c.requester = 0;
	c.hdr.flags = 0;
	c.hdr.ts_ns = 5100;
	n2 = rec_encode_event(&enc, &c, sizeof(c), buf);
	REQUIRE(n2 > 0);
	CHECK(n2 <= 5);		/* op, ts delta, task id, requester 0 */
	p = buf;
	REQUIRE(rec_decode_event(&dec, &p, buf + n2, &out, &len) == 0);
	CHECK_EQ_INT(out.requester, 0);
	CHECK_EQ_INT(out.msg.kind, 0);
	CHECK_EQ_INT(out.hdr.task, 0x7f0000001000ull);
	CHECK_EQ_INT(out.hdr.ts_ns, 5100);
	/* cut anywhere: refused, never read past the end */
	for (int cut = 0; cut < n; cut++) {
		struct rec_codec d2;

		rec_encode_event(&enc, &(struct aps_ev_cancel){ .hdr = { APS_EV_CANCEL, 0, 4242, 5200,
									0x7f0000003000ull } }, sizeof(c), buf);
		REQUIRE(rec_codec_init(&d2, false) == 0);
		p = buf;
		CHECK(rec_decode_event(&d2, &p, buf + cut, &out, &len) != 0);
		rec_codec_free(&d2);
	}
	rec_codec_free(&enc);
	rec_codec_free(&dec);
}

TEST(segments_are_self_contained)
{
	struct recs r = {};
	struct mem m = {};
	struct rec_reader rd;
	char err[200];
	size_t written, total = 0;
	bool ended;
	int bad;

	generate(&r, 60000, false);
	header(&m);
	REQUIRE(write_all(&m, &r, 20000, NULL, &written) == 0);
	REQUIRE(rec_reader_open_mem(&rd, m.b.p, m.b.len, err, sizeof(err)) == 0);
	CHECK(rd.nsegs > 5);
	/* from the start, through every segment */
	CHECK_EQ_INT(read_check(&rd, &r, 0, 0, &bad, &ended), r.n);
	CHECK_EQ_INT(bad, 0);
	/* from each segment: count where it starts, decode the rest alone */
	for (uint32_t s = 0; s < rd.nsegs; s++) {
		struct rec_cursor c;
		struct rec_item *it = malloc(sizeof(*it));
		size_t before = 0;

		/* records before segment s: decode from 0 until its frame */
		REQUIRE(rec_cursor_init(&c, &rd) == 0);
		while (rec_cursor_next(&c, it) > 0 && it->frame_off < rd.segs[s].off)
			before += it->kind == REC_ITEM_EVENT;
		rec_cursor_free(&c);
		free(it);
		total = read_check(&rd, &r, before, s, &bad, &ended);
		CHECK_EQ_INT(before + total, r.n);
		CHECK_EQ_INT(bad, 0);
	}
	rec_reader_close(&rd);
	rec_buf_free(&m.b);
	free(r.v);
}

TEST(torn_tails_read_up_to_the_last_frame)
{
	struct recs r = {};
	struct mem m = {};
	struct rec_reader full;
	char err[200];
	size_t written;
	bool ended;
	int bad;

	generate(&r, 15000, false);
	header(&m);
	REQUIRE(write_all(&m, &r, 30000, NULL, &written) == 0);
	REQUIRE(rec_reader_open_mem(&full, m.b.p, m.b.len, err, sizeof(err)) == 0);
	REQUIRE(full.frames > 3);
	for (size_t cut = 0; cut < m.b.len; cut += cut < full.data_start + 64 ? 1 : 1 + rn(997)) {
		struct rec_reader rd;
		uint8_t *copy = malloc(cut ? cut : 1);
		size_t got;

		memcpy(copy, m.b.p, cut);
		if (rec_reader_open_mem(&rd, copy, cut, err, sizeof(err))) {
			CHECK(cut < full.data_start);	/* only a cut header is refused */
			free(copy);
			continue;
		}
		CHECK(rd.valid_end <= cut);
		CHECK(cut == rd.valid_end || rd.problem[0]);
		got = read_check(&rd, &r, 0, 0, &bad, &ended);
		CHECK_EQ_INT(bad, 0);
		CHECK(got <= r.n);
		CHECK(!ended || cut == m.b.len);
		rec_reader_close(&rd);
		free(copy);
	}
	CHECK_EQ_INT(read_check(&full, &r, 0, 0, &bad, &ended), r.n);
	rec_reader_close(&full);
	rec_buf_free(&m.b);
	free(r.v);
}

TEST(corrupt_input_never_crashes)
{
	struct recs r = {};
	struct mem m = {};
	char err[200];
	size_t written;

	generate(&r, 5000, true);
	header(&m);
	REQUIRE(write_all(&m, &r, 8000, NULL, &written) == 0);
	for (int round = 0; round < 400; round++) {
		uint8_t *copy = malloc(m.b.len);
		struct rec_reader rd;
		struct model model;
		struct rec_player pl;
		int flips = 1 + rn(8);

		memcpy(copy, m.b.p, m.b.len);
		for (int f = 0; f < flips; f++)
			copy[rn((unsigned)m.b.len)] ^= (uint8_t)(1 + rn(255));
		if (round & 1) {
			/* recompute the CRCs, so the corruption reaches the decoder */
			REQUIRE(rec_reader_open_mem(&rd, m.b.p, m.b.len, err, sizeof(err)) == 0);
			for (size_t off = rd.data_start; off + REC_FRAME_HDR <= m.b.len;) {
				uint32_t len = (uint32_t)m.b.p[off + 4] | (uint32_t)m.b.p[off + 5] << 8 |
					       (uint32_t)m.b.p[off + 6] << 16 | (uint32_t)m.b.p[off + 7] << 24;
				uint32_t crc;

				memcpy(copy + off, m.b.p + off, 8);
				crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), copy + off, 8);
				crc = (uint32_t)crc32(crc, copy + off + REC_FRAME_HDR, len);
				for (int i = 0; i < 4; i++)
					copy[off + 8 + i] = (uint8_t)(crc >> (8 * i));
				off += REC_FRAME_HDR + len;
			}
			rec_reader_close(&rd);
		}
		if (rec_reader_open_mem(&rd, copy, m.b.len, err, sizeof(err)) == 0) {
			REQUIRE(model_init(&model, 16) == 0);
			REQUIRE(rec_player_init(&pl, &rd, &model) == 0);
			rec_player_seek(&pl, rn(2) ? 0 : 1000000000000ull + rnd() % 10000000000ull);
			rec_player_run(&pl, UINT64_MAX, NULL, NULL, NULL);
			rec_player_free(&pl);
			model_free(&model);
			rec_reader_close(&rd);
		}
		free(copy);
	}
	rec_buf_free(&m.b);
	free(r.v);
}

/* ---- snapshots and the player ---------------------------------------------------- */

static int same_task(const struct task *a, const struct task *b)
{
	return a->addr == b->addr && a->creator == b->creator && a->create_ts == b->create_ts &&
	       a->first_seen_ts == b->first_seen_ts && a->coro == b->coro && a->tid == b->tid &&
	       a->steps == b->steps && a->busy_ns == b->busy_ns && a->max_step_ns == b->max_step_ns &&
	       a->step_begin_ts == b->step_begin_ts && a->last_step_end_ts == b->last_step_end_ts &&
	       a->awaiting == b->awaiting && a->await_since_ts == b->await_since_ts &&
	       a->done_ts == b->done_ts && a->state == b->state && a->result == b->result &&
	       !strcmp(a->name, b->name) && !strcmp(a->coro_name, b->coro_name) &&
	       !strcmp(a->exception, b->exception) && a->cancel_by == b->cancel_by &&
	       a->cancel_ts == b->cancel_ts && a->cancel_requests == b->cancel_requests;
}

/* Every live task of a is in b, the same; and b has no other live task. */
static int same_model(struct model *a, struct model *b)
{
	uint32_t na = 0, nb = 0;

	for (uint32_t i = 0; i < a->cap; i++) {
		struct task *t = &a->slots[i], *u;

		if (!t->used || t->destroyed)
			continue;
		na++;
		u = model_find(b, t->addr);
		if (!u || u->destroyed || !same_task(t, u)) {
			fprintf(stderr, "task 0x%llx differs", (unsigned long long)t->addr);
			if (u)
				fprintf(stderr, ": steps %u/%u state %u/%u begin %llu/%llu name %s/%s",
					t->steps, u->steps, t->state, u->state,
					(unsigned long long)t->step_begin_ts, (unsigned long long)u->step_begin_ts,
					t->name, u->name);
			fputc('\n', stderr);
			return 0;
		}
	}
	for (uint32_t i = 0; i < b->cap; i++)
		nb += b->slots[i].used && !b->slots[i].destroyed;
	if (na != nb || a->tasks_seen != b->tasks_seen || a->steps != b->steps ||
	    a->ntypes != b->ntypes || memcmp(a->types, b->types, sizeof(a->types)))
		return 0;
	return 1;
}

TEST(snapshot_restores_the_model)
{
	struct recs r = {};
	struct model a, b;
	struct rec_buf buf = {};
	uint64_t ts = 0;

	generate(&r, 20000, false);
	REQUIRE(model_init(&a, 16) == 0);
	for (size_t i = 0; i < r.n; i++)
		model_apply(&a, r.v[i].b, r.v[i].len, NULL, NULL);
	REQUIRE(rec_model_encode(&a, 1234567, &buf) == 0);
	REQUIRE(model_init(&b, 16) == 0);
	REQUIRE(rec_model_restore(&b, buf.p, buf.len, &ts) == 0);
	CHECK_EQ_INT(ts, 1234567);
	CHECK(same_model(&a, &b));
	/* every cut of the body is refused or restores a prefix, never crashes */
	for (size_t cut = 0; cut < buf.len; cut += 1 + rn(500)) {
		struct model c;

		REQUIRE(model_init(&c, 16) == 0);
		CHECK(rec_model_restore(&c, buf.p, cut, NULL) == -1);
		model_free(&c);
	}
	model_free(&a);
	model_free(&b);
	rec_buf_free(&buf);
	free(r.v);
}

TEST(snapshot_of_many_uniquely_named_tasks)
{
	struct model a, b;
	struct rec_buf buf = {};

	REQUIRE(model_init(&a, 16) == 0);
	for (uint32_t i = 0; i < 70000; i++) {
		struct task *t = model_get(&a, 0x7f0000000000ull + i * 0x100);

		char name[32];

		REQUIRE(t != NULL);
		snprintf(name, sizeof(name), "Task-%u", i);
		model_set_str(&t->name, name);
		snprintf(name, sizeof(name), "coro%u", i % 7);
		model_set_str(&t->coro_name, name);
		t->state = TASK_AWAITING;
		t->awaiting = 0x7f1000000000ull + i;
		t->tid = 77;
	}
	a.tasks_seen = 70000;
	REQUIRE(rec_model_encode(&a, 99, &buf) == 0);
	fprintf(stderr, "snapshot of 70000 tasks: %zu bytes\n", buf.len);
	REQUIRE(model_init(&b, 16) == 0);
	REQUIRE(rec_model_restore(&b, buf.p, buf.len, NULL) == 0);
	CHECK(same_model(&a, &b));
	model_free(&a);
	model_free(&b);
	rec_buf_free(&buf);
}

TEST(player_model_at_any_instant)
{
	struct recs r = {};
	struct mem m = {};
	struct model live, replay;
	struct rec_reader rd;
	struct rec_writer w;
	struct rec_player pl;
	char err[200];
	uint64_t probes[6];
	int np = 0;

	generate(&r, 40000, false);
	header(&m);
	REQUIRE(model_init(&live, 16) == 0);
	REQUIRE(rec_writer_init(&w, mem_sink, &m) == 0);
	w.model = &live;
	w.segment_bytes = 15000;
	for (size_t i = 0; i < r.n; i++) {
		REQUIRE(rec_writer_event(&w, r.v[i].b, r.v[i].len) == 0);
		model_apply(&live, r.v[i].b, r.v[i].len, NULL, NULL);
		if (i % 7000 == 3000 && np < 6)
			probes[np++] = ((struct aps_event_hdr *)r.v[i].b)->ts_ns;
	}
	REQUIRE(rec_writer_flush(&w) == 0);
	rec_writer_free(&w);
	REQUIRE(rec_reader_open_mem(&rd, m.b.p, m.b.len, err, sizeof(err)) == 0);
	CHECK(rd.nsegs > 4);
	REQUIRE(model_init(&replay, 16) == 0);
	REQUIRE(rec_player_init(&pl, &rd, &replay) == 0);
	for (int k = 0; k < np; k++) {
		struct model want;

		/* the reference: every record before the first one at or after probes[k] */
		REQUIRE(model_init(&want, 16) == 0);
		for (size_t i = 0; i < r.n; i++) {
			uint64_t t = ((struct aps_event_hdr *)r.v[i].b)->ts_ns;

			if (t && t >= probes[k])
				break;
			model_apply(&want, r.v[i].b, r.v[i].len, NULL, NULL);
		}
		REQUIRE(rec_player_seek(&pl, probes[k]) == 0);
		CHECK(same_model(&want, &replay));
		model_free(&want);
	}
	/* and to the end */
	REQUIRE(rec_player_seek(&pl, 0) == 0);
	REQUIRE(rec_player_run(&pl, UINT64_MAX, NULL, NULL, NULL) == 0);
	CHECK(same_model(&live, &replay));
	CHECK_EQ_INT(pl.events, r.n);
	rec_player_free(&pl);
	model_free(&replay);
	model_free(&live);
	rec_reader_close(&rd);
	rec_buf_free(&m.b);
	free(r.v);
}

TEST(flight_recorder_keeps_the_last_window)
{
	struct recs r = {};
	struct model live, replay;
	struct rec_flight fl;
	struct rec_writer w;
	struct rec_reader rd;
	struct rec_player pl;
	struct rec_header h = { .pid = 42, .clock_mono_ns = 1, .clock_real_ns = 2 };
	struct rec_end e = { .reason = "flight:sigusr1" };
	const uint64_t window = 2000000000ull;
	char path[] = "/tmp/aps-test-flight-XXXXXX", err[200];
	uint64_t bytes, first_ts, last_tick = 0, last_ts = 0;
	size_t in_window = 0;
	int fd = mkstemp(path);

	REQUIRE(fd >= 0);
	close(fd);
	generate(&r, 40000, false);
	first_ts = ((struct aps_event_hdr *)r.v[0].b)->ts_ns;
	REQUIRE(model_init(&live, 16) == 0);
	REQUIRE(rec_flight_init(&fl, window, 64 << 20) == 0);
	REQUIRE(rec_writer_init(&w, rec_flight_sink, &fl) == 0);
	w.model = &live;
	for (size_t i = 0; i < r.n; i++) {
		uint64_t ts = ((struct aps_event_hdr *)r.v[i].b)->ts_ns;

		REQUIRE(rec_writer_event(&w, r.v[i].b, r.v[i].len) == 0);
		model_apply(&live, r.v[i].b, r.v[i].len, NULL, NULL);
		if (ts > last_ts)
			last_ts = ts;
		if (last_ts >= last_tick + 100000000ull) {
			REQUIRE(rec_flight_tick(&fl, &w, last_ts) == 0);
			last_tick = last_ts;
		}
	}
	CHECK(last_ts - first_ts > 3 * window);	/* the run is longer than the window */
	CHECK(fl.dropped > 0);
	e.ts = last_ts;
	REQUIRE(rec_flight_dump(&fl, &w, &h, &e, path, &bytes, err, sizeof(err)) == 0);
	rec_writer_free(&w);
	REQUIRE(rec_reader_open(&rd, path, err, sizeof(err)) == 0);
	CHECK_EQ_STR(rd.problem, "");
	CHECK(rd.hdr.flags & REC_HDR_FLIGHT);
	/* about the last window: at most one chunk more */
	CHECK(rd.hdr.start_ns <= last_ts - window);
	CHECK(rd.hdr.start_ns >= last_ts - window - window / 8 - 200000000ull);
	CHECK(rd.nsegs >= 6 && rd.nsegs <= 10);
	/* the records from the first at or after the window's start */
	for (size_t i = 0; i < r.n && !in_window; i++)
		if (((struct aps_event_hdr *)r.v[i].b)->ts_ns >= rd.hdr.start_ns)
			in_window = r.n - i;
	/* replayed from its start, the window ends with the live model,
	 * tasks created before the window included */
	REQUIRE(model_init(&replay, 16) == 0);
	REQUIRE(rec_player_init(&pl, &rd, &replay) == 0);
	REQUIRE(rec_player_seek(&pl, 0) == 0);
	REQUIRE(rec_player_run(&pl, UINT64_MAX, NULL, NULL, NULL) == 0);
	CHECK(pl.ended);
	CHECK_EQ_STR(pl.end.reason, "flight:sigusr1");
	CHECK(pl.events <= in_window + 20 && pl.events + 20 >= in_window);
	fprintf(stderr, "flight: %zu records over %.1f s, window %u segments, %llu records, %zu from its start\n",
		r.n, (double)(last_ts - first_ts) / 1e9, rd.nsegs, (unsigned long long)pl.events, in_window);
	CHECK(same_model(&live, &replay));
	rec_player_free(&pl);
	model_free(&replay);
	model_free(&live);
	rec_reader_close(&rd);
	rec_flight_free(&fl);
	if (!getenv("KEEP")) unlink(path); else fprintf(stderr, "kept %s\n", path);
	free(r.v);
}

static size_t count_in_file(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	size_t n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		for (char *p = line; (p = strstr(p, needle)); p++)
			n++;
	fclose(f);
	return n;
}

/* `replay` and `export` end to end on a generated recording (under ASan). */
TEST(replay_and_export_commands)
{
	struct recs r = {};
	struct mem m = {};
	struct model live;
	struct rec_writer w;
	char rec[] = "/tmp/aps-test-rec-XXXXXX", out[64], json[64];
	char *replay_argv[] = { "replay", rec, "trace", "--json", "-o", out, NULL };
	char *window_argv[] = { "replay", rec, "--from", "3", "--to", "4.5", "-o", out, NULL };
	char *export_argv[] = { "export", rec, "--format", "perfetto", "-o", json, NULL };
	char *export_window[] = { "export", rec, "--format", "perfetto", "--from", "2", "--to", "3",
				  "-o", json, NULL };
	size_t ends = 0;
	FILE *f;
	int fd = mkstemp(rec);

	REQUIRE(fd >= 0);
	close(fd);
	snprintf(out, sizeof(out), "%s.out", rec);
	snprintf(json, sizeof(json), "%s.json", rec);
	generate(&r, 30000, false);
	for (size_t i = 0; i < r.n; i++)
		ends += ((struct aps_event_hdr *)r.v[i].b)->type == APS_EV_STEP_END;
	header(&m);
	REQUIRE(model_init(&live, 16) == 0);
	REQUIRE(rec_writer_init(&w, mem_sink, &m) == 0);
	w.model = &live;
	w.segment_bytes = 20000;
	for (size_t i = 0; i < r.n; i++) {
		REQUIRE(rec_writer_event(&w, r.v[i].b, r.v[i].len) == 0);
		model_apply(&live, r.v[i].b, r.v[i].len, NULL, NULL);
	}
	REQUIRE(rec_writer_flush(&w) == 0);
	rec_writer_free(&w);
	model_free(&live);
	f = fopen(rec, "w");
	REQUIRE(f != NULL);
	REQUIRE(fwrite(m.b.p, 1, m.b.len, f) == m.b.len);
	fclose(f);

	CHECK_EQ_INT(cmd_replay(6, replay_argv), 0);
	/* every step ends once (steps still open at the end are closed: "exit") */
	CHECK(count_in_file(out, "\"event\":\"step_end\"") >= ends);
	CHECK_EQ_INT(count_in_file(out, "\"event\":\"summary\""), 1);
	CHECK_EQ_INT(count_in_file(out, "\"reason\":\"truncated\""), 1);
	CHECK_EQ_INT(cmd_replay(8, window_argv), 0);
	CHECK_EQ_INT(count_in_file(out, "-- window:"), 1);
	CHECK_EQ_INT(cmd_export(6, export_argv), 0);
	/* as many slices as the JSON replay has step_end lines; flows paired */
	CHECK_EQ_INT(cmd_replay(6, replay_argv), 0);
	CHECK_EQ_INT(count_in_file(json, "\"ph\":\"X\""), count_in_file(out, "\"event\":\"step_end\""));
	CHECK(count_in_file(json, "\"ph\":\"s\"") > 0);
	CHECK_EQ_INT(count_in_file(json, "\"ph\":\"s\""), count_in_file(json, "\"ph\":\"f\""));
	CHECK_EQ_INT(cmd_export(10, export_window), 0);
	CHECK(count_in_file(json, "\"ph\":\"X\"") > 0);
	unlink(rec);
	unlink(out);
	unlink(json);
	rec_buf_free(&m.b);
	free(r.v);
}

TEST(bad_headers_are_refused)
{
	struct mem m = {};
	struct rec_reader rd;
	char err[200];

	header(&m);
	CHECK(rec_reader_open_mem(&rd, m.b.p, m.b.len, err, sizeof(err)) == 0);
	CHECK_EQ_INT(rd.nsegs, 0);
	rec_reader_close(&rd);
	m.b.p[20] ^= 1;
	CHECK(rec_reader_open_mem(&rd, m.b.p, m.b.len, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "CRC") != NULL);
	m.b.p[20] ^= 1;
	m.b.p[12] = 9;
	CHECK(rec_reader_open_mem(&rd, m.b.p, m.b.len, err, sizeof(err)) == -EPROTONOSUPPORT);
	CHECK(rec_reader_open_mem(&rd, (const uint8_t *)"hello", 5, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "not an aps-bpf recording") != NULL);
	rec_buf_free(&m.b);
}

TEST(times)
{
	struct rec_reader rd = {};
	uint64_t ts;
	char buf[64];

	rd.hdr.clock_mono_ns = 5000000000000ull;
	rd.hdr.clock_real_ns = 1700000000123000000ull;
	rd.hdr.start_ns = 5000000000000ull + 2000000000ull;
	CHECK(rec_parse_time(&rd, "1.5", &ts) == 0);
	CHECK(ts == rd.hdr.start_ns + 1500000000ull);
	CHECK(rec_parse_time(&rd, "250ms", &ts) == 0);
	CHECK(ts == rd.hdr.start_ns + 250000000ull);
	CHECK(rec_parse_time(&rd, "abc", &ts) == -EINVAL);
	CHECK(rec_parse_time(&rd, "25:00:00", &ts) == -EINVAL);
	/* wall-clock: back and forth */
	rec_format_wall(&rd, rd.hdr.start_ns + 3000000000ull, buf, sizeof(buf));
	CHECK(rec_parse_time(&rd, strchr(buf, ' ') + 1, &ts) == 0);
	CHECK(ts == rd.hdr.start_ns + 3000000000ull - 123000000ull + 125000000ull ||
	      (ts >= rd.hdr.start_ns + 3000000000ull - 1000000ull &&
	       ts <= rd.hdr.start_ns + 3000000000ull + 1000000ull));
}

UNIT_MAIN()
