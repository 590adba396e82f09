// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the recording reader (docs/recording-format.md):
 * any bytes, as a file, must never crash the reader, the decoder, the
 * player or the snapshot restore, and whatever decodes must be canonical
 * and re-encode to the same records. `make fuzz` runs it briefly on the
 * seed corpus in tests/fuzz/corpus/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "model/model.h"
#include "recording/rec_codec.h"
#include "recording/rec_model.h"
#include "recording/rec_blocked.h"
#include "recording/rec_reader.h"
#include "recording/rec_tasks.h"
#include "loop/loop_rec.h"

static struct rec_codec enc;

/* Re-encoding a decoded record and decoding it again gives the same record. */
static void check_stable(const struct rec_item *it)
{
	_Alignas(8) uint8_t canon[REC_EVENT_MAX], again[REC_EVENT_MAX];
	uint8_t buf[REC_ENC_MAX];
	struct rec_codec dec;
	const uint8_t *p = buf;
	size_t len = 0;
	int n;

	if (rec_canonical(it->event, it->len, canon) != (int)it->len ||
	    memcmp(canon, it->event, it->len))
		__builtin_trap();	/* decoded records are canonical */
	/* a fresh pair of codecs: one record alone */
	rec_codec_reset(&enc, 0);
	n = rec_encode_event(&enc, it->event, it->len, buf);
	if (n <= 0 || n > REC_ENC_MAX)
		__builtin_trap();
	if (rec_codec_init(&dec, false))
		return;
	if (rec_decode_event(&dec, &p, buf + n, again, &len) || len != it->len ||
	    memcmp(again, it->event, len) || p != buf + n)
		__builtin_trap();
	rec_codec_free(&dec);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Mutations almost never keep the CRCs right, and a bad CRC stops the
 * reader before the decoder: recompute them, so the decoder sees the
 * mutated records.
 */
static void fix_crcs(uint8_t *d, size_t size)
{
	uint32_t hlen;
	size_t off;

	if (size < REC_HDR_FIXED + 5)
		return;
	hlen = rd32(d + 8);
	if (hlen < REC_HDR_FIXED + 5 || hlen > size)
		return;
	wr32(d + hlen - 4, (uint32_t)crc32(crc32(0L, Z_NULL, 0), d, hlen - 4));
	for (off = hlen; off + REC_FRAME_HDR <= size;) {
		uint32_t len = rd32(d + off + 4), crc;

		if (d[off] != REC_FRAME_M0 || d[off + 1] != REC_FRAME_M1 ||
		    len > size - off - REC_FRAME_HDR)
			return;
		crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), d + off, 8);
		crc = (uint32_t)crc32(crc, d + off + REC_FRAME_HDR, len);
		wr32(d + off + 8, crc);
		off += REC_FRAME_HDR + len;
	}
}

static void read_all(const uint8_t *data, size_t size);

/* TASKS, BLOCKED and LOOP bodies: malformed or not, never a crash or a leak. */
static void decode_bodies(const uint8_t *p, size_t n)
{
	static struct blocked_capture b;
	static struct loop_stall st;
	static struct loop_rec_sample smp;
	struct loop_rec_info info;
	struct loop_rec_span sp;
	struct loop_rec_lost lost;
	struct stack_frame f;
	struct rec_tasks t;
	uint64_t ts, v[2];
	unsigned sub;
	uint32_t id;

	rec_tasks_decode(p, n, &t);
	rec_tasks_free(&t);
	rec_blocked_decode(p, n, &b);
	if (loop_rec_head(p, n, 0, &sub, &ts))
		return;
	loop_rec_info_dec(p, n, 0, &info);
	loop_rec_frame_dec(p, n, 0, &id, &f);
	loop_rec_span_dec(p, n, 0, &sp);
	if (!loop_rec_sample_dec(p, n, 0, &smp) && smp.n > APS_SAMPLE_MAX_FRAMES)
		__builtin_trap();
	if (!loop_rec_stall_dec(p, n, 0, &st) && st.fn_frame >= (int)st.cap.stack.n)
		__builtin_trap();	/* the function's frame is in the stack */
	loop_rec_lost_dec(p, n, 0, &lost);
	loop_rec_coro_dec(p, n, 0, &v[0], &v[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	read_all(data, size);
	if (size >= REC_MAGIC_LEN && !memcmp(data, REC_MAGIC, REC_MAGIC_LEN)) {
		copy = malloc(size);
		if (copy) {
			memcpy(copy, data, size);
			fix_crcs(copy, size);
			read_all(copy, size);
			free(copy);
		}
	}
	return 0;
}

static void read_all(const uint8_t *data, size_t size)
{
	static bool init;
	struct model model = {};	/* the player (re)initialises it */
	struct rec_reader r;
	struct rec_cursor c;
	struct rec_player pl;
	struct rec_item *it;
	char err[200];
	uint64_t ts;

	if (!init) {
		if (rec_codec_init(&enc, true))
			abort();
		init = true;
	}
	if (size < REC_MAGIC_LEN || memcmp(data, REC_MAGIC, REC_MAGIC_LEN)) {
		/* not a file: the bytes as a SNAPSHOT, TASKS and BLOCKED body */
		if (!model_init(&model, 16))
			rec_model_restore(&model, data, size, &ts);
		model_free(&model);
		decode_bodies(data, size);
		return;
	}
	if (rec_reader_open_mem(&r, data, size, err, sizeof(err)))
		return;
	it = malloc(sizeof(*it));
	if (it && !rec_cursor_init(&c, &r)) {
		int n = 0;

		while (rec_cursor_next(&c, it) > 0 && n++ < 100000) {
			if (it->kind == REC_ITEM_EVENT)
				check_stable(it);
			else if (it->kind == REC_ITEM_TASKS || it->kind == REC_ITEM_BLOCKED ||
				 it->kind == REC_ITEM_LOOP)
				decode_bodies(it->body, it->body_len);
		}
		rec_cursor_free(&c);
	}
	free(it);
	/* the model at an instant, then the rest */
	if (!rec_player_init(&pl, &r, &model)) {
		uint64_t at = r.nsegs ? r.segs[r.nsegs / 2].base_ts + (size & 0xffff) : 0;

		if (!rec_player_seek(&pl, at))
			rec_player_run(&pl, UINT64_MAX, NULL, NULL, NULL);
		if (model.slots)
			model_close_open_steps(&model, pl.last_ts, NULL, NULL);
		rec_player_free(&pl);
	}
	model_free(&model);
	rec_reader_close(&r);
}
