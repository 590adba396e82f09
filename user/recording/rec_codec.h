/* SPDX-License-Identifier: MIT */
/*
 * The compact encoding of BPF records (docs/recording-format.md, "Event
 * records"). Writer and reader keep the same codec state -- thread table,
 * task ids, interned types and strings -- and update it the same way, so
 * the encoding can refer to what came before in the segment. A SEGMENT
 * record resets it (rec_codec_reset) on both sides.
 */
#ifndef APS_REC_CODEC_H
#define APS_REC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "recording/rec_format.h"
#include "util/u64_map.h"

#define REC_ENC_MAX 640		/* bytes of the longest encoded BPF record */

struct rec_thread {
	uint32_t tid, ns_tid;		/* kernel tid; as the target's PID namespace sees it */
	uint64_t last_ts;		/* of the previous record on this thread */
	uint64_t last_task;		/* task of its last STEP_BEGIN */
	uint64_t last_begin_ts;		/* and that step's ts */
};

struct rec_taskid {
	uint64_t addr;
	uint64_t last_waiter;		/* waiter of its last STEP_END */
	uint64_t last_begin_ts;		/* ts of its last STEP_BEGIN */
	bool live;
};

struct rec_codec {
	bool writer;
	uint64_t base_ts;
	struct rec_thread *threads;
	uint32_t nthreads, threads_cap;
	int32_t cur;			/* thread slot of the previous record, -1 none */
	struct u64_map thread_map;	/* writer: tid -> slot */
	struct rec_taskid *ids;
	uint32_t nids, ids_cap;		/* ids ever handed out this segment */
	uint32_t *free_ids;
	uint32_t nfree;
	struct u64_map task_map;	/* addr -> id */
	uint64_t last_lit, last_type_lit;
	uint64_t *types;
	uint32_t ntypes, types_cap;
	struct u64_map type_map;	/* type pointer -> id */
	uint8_t *arena;			/* string literals, as encoded */
	size_t arena_len, arena_cap;
	uint32_t *str_off, *str_len;
	uint32_t nstrings, str_cap;
	uint32_t *str_slots;		/* writer: hash of literal -> id + 1 */
	uint32_t str_slots_cap;
	/* writer: the target's view of a new thread's id (NULL: the same) */
	uint32_t (*ns_tid)(void *ctx, uint32_t tid);
	void *ns_ctx;
};

int rec_codec_init(struct rec_codec *c, bool writer);
void rec_codec_free(struct rec_codec *c);
/* Forget everything: a new segment whose timestamps start from base_ts. */
void rec_codec_reset(struct rec_codec *c, uint64_t base_ts);
/* Writer: a table is (nearly) full; start a new segment before the next record. */
bool rec_codec_full(const struct rec_codec *c);

/*
 * The canonical form of a BPF record: its struct with the bytes that carry
 * nothing zeroed (padding, string bytes past the copied length, bytes after
 * a type name's NUL). out has REC_EVENT_MAX bytes. Returns the struct's
 * size, or -1 if data is not a record of a known type (or too short).
 */
int rec_canonical(const void *data, size_t len, void *out);

/*
 * Encode one BPF record (canonicalised on the way) into out (REC_ENC_MAX
 * bytes); returns the bytes written, -1 if it is not a known record,
 * -ENOMEM.
 */
int rec_encode_event(struct rec_codec *c, const void *data, size_t len, uint8_t *out);
/*
 * Decode the BPF record at *p (its kind byte included) into out
 * (REC_EVENT_MAX bytes, the canonical struct) and advance *p; 0, or -1 if
 * it is malformed, -ENOMEM.
 */
int rec_decode_event(struct rec_codec *c, const uint8_t **p, const uint8_t *end, void *out,
		     size_t *len);
/* The namespace tid recorded for a kernel tid in this segment, or tid. */
uint32_t rec_codec_ns_tid(const struct rec_codec *c, uint32_t tid);

#endif
