/* SPDX-License-Identifier: MIT */
/*
 * user/recording/: the recording file: its codec, writer, reader, flight
 * recorder, and tasks replayed at an instant.
 */
/*
 * The recording file format (docs/recording-format.md): constants shared by
 * the writer and the reader. A file is a header, then frames; a frame is a
 * CRC-checked batch of records; records are the BPF records of
 * include/aps_events.h, compactly encoded, plus a few of our own.
 */
#ifndef APS_REC_FORMAT_H
#define APS_REC_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* ---- file header ---------------------------------------------------------- */
#define REC_MAGIC "\x89" "APSREC\n"	/* 8 bytes */
#define REC_MAGIC_LEN 8
#define REC_VERSION 1
#define REC_HDR_FIXED 56		/* bytes before the TLV strings */
#define REC_HDR_MAX 4096

/* header.flags */
#define REC_HDR_FLIGHT 1		/* a flight-recorder dump (a window) */
#define REC_HDR_LOOP 2			/* loop mode: LOOP records, no step events */

/* header TLV tags: u8 tag, u16 length, bytes */
enum rec_hdr_tag {
	REC_TAG_END = 0,
	REC_TAG_PYTHON = 1,		/* "3.12.1" */
	REC_TAG_COMM = 2,		/* the target's comm */
	REC_TAG_ASYNCIO_OBJ = 3,	/* object holding the _asyncio code */
	REC_TAG_HOST = 4,		/* uname nodename */
	REC_TAG_CMDLINE = 5,		/* the target's cmdline, NULs as spaces */
};
#define REC_STR_MAX 512			/* bytes kept per header string */

/* ---- frames --------------------------------------------------------------- */
/*
 * u8 'A', u8 'F', u8 flags, u8 0, u32 payload length, u32 CRC-32 (zlib) of
 * the first 8 header bytes and the payload. Little-endian.
 */
#define REC_FRAME_HDR 12
#define REC_FRAME_M0 'A'
#define REC_FRAME_M1 'F'
#define REC_FRAME_SEGMENT 1		/* flags: starts with a SEGMENT record */
#define REC_FRAME_MAX (256u << 20)	/* payload bytes */
#define REC_FRAME_TARGET (64u << 10)	/* the writer flushes at this size */

/* ---- records -------------------------------------------------------------- */
/*
 * First byte: bits 0-3 the kind, bits 4-7 flags (REC_OP_*).
 * Kinds 1-6 are the BPF records (= enum aps_event_type), compact.
 * Kinds 8-15 are length-prefixed (varint length after the kind byte, flag
 * bits 0): a reader skips those it does not know.
 */
enum rec_kind {
	REC_TASK_NEW = 1,
	REC_STEP_BEGIN = 2,
	REC_STEP_END = 3,
	REC_TASK_DESTROY = 4,
	REC_TYPE_NAME = 5,
	REC_CANCEL = 6,
	REC_EXT_FIRST = 8,
	REC_SEGMENT = 8,	/* resynchronisation point: codec state reset */
	REC_SNAPSHOT = 9,	/* the model's live tasks (right after SEGMENT) */
	REC_LOST = 10,		/* events the ring buffer dropped */
	REC_END = 11,		/* the recording ended cleanly: why, totals */
	REC_TASKS = 12,		/* tasks read from memory (user/recording/rec_tasks.h); starts a frame */
	REC_BLOCKED = 13,	/* a step over the blocked threshold: its thread's stack */
	REC_LOOP = 14,		/* loop mode: u8 sub-type (REC_LOOP_*), varint ts, body */
};

/*
 * REC_LOOP sub-types (user/loop/loop_rec.h). A reader skips a sub-type it
 * does not know. Frame ids are per segment: a FRAME defines one before
 * the first SAMPLE that uses it; INFO follows each SEGMENT.
 */
enum rec_loop_sub {
	REC_LOOP_INFO = 1,	/* sampler hz, stall threshold, min span, poll hook */
	REC_LOOP_FRAME = 2,	/* id -> function, file, line */
	REC_LOOP_SPAN = 3,	/* a loop thread busy from poll return to the next poll entry */
	REC_LOOP_SAMPLE = 4,	/* a sampler hit: thread, task, frame ids */
	REC_LOOP_STALL = 5,	/* a loop stall: what ran, then a BLOCKED body (the stack) */
	REC_LOOP_LOST = 6,	/* lost samples and spans, totals */
	REC_LOOP_CORO = 7,	/* 3.10-3.13: the task of a coroutine samples named before */
};

#define REC_OP_KIND 0x0f
#define REC_OP_THREAD 0x10	/* a thread reference follows (else: the previous record's) */
#define REC_OP_X 0x20		/* an xflags varint follows */
#define REC_OP_K1 0x40		/* kind-specific */
#define REC_OP_K2 0x80

/* xflags, common */
#define REC_X_HFLAGS (1u << 0)	/* hdr.flags follows */
#define REC_X_TS_ZERO (1u << 1)	/* hdr.ts_ns is 0 (TYPE_NAME) */
/* xflags, kind-specific */
#define REC_X_DEPTH (1u << 4)	/* STEP_BEGIN: depth follows */
#define REC_X_BEGIN (1u << 4)	/* STEP_END: begin_ts follows (not the predicted one) */
#define REC_X_RAWRB (1u << 5)	/* STEP_END: result, boundary as two raw bytes */
#define REC_X_EXC (1u << 6)	/* STEP_END: exc_type follows */
#define REC_X_STEPPED (1u << 4)	/* TASK_DESTROY: stepped follows (not 0 or 1) */
#define REC_X_MSG (1u << 4)	/* CANCEL: msg follows (else the empty string) */

/* SEGMENT.flags: why the segment began */
#define REC_SEG_START 1		/* the recording began */
#define REC_SEG_PERIODIC 2	/* size or time interval */
#define REC_SEG_FLIGHT 4	/* a flight-recorder chunk */

/* ---- codec limits (per segment) ------------------------------------------- */
#define REC_MAX_THREADS 4096
#define REC_MAX_TASK_IDS (1u << 20)	/* task ids alive at once */
#define REC_MAX_TYPES 4096
#define REC_MAX_STRINGS 65536
#define REC_MAX_STRING_BYTES (8u << 20)

/* The largest decoded BPF record. */
#define REC_EVENT_MAX 512

/* ---- decoded forms ---------------------------------------------------------- */

/* The file header. */
struct rec_header {
	uint16_t version, flags;	/* REC_HDR_* */
	uint32_t pid;			/* the target, in the recorder's PID namespace */
	uint64_t clock_mono_ns;		/* CLOCK_MONOTONIC and CLOCK_REALTIME, read */
	uint64_t clock_real_ns;		/* together: maps event times to wall-clock */
	uint64_t start_ns;		/* CLOCK_MONOTONIC: where the data starts */
	char python[64];		/* "3.12.1" */
	char comm[64];
	char host[64];
	char asyncio_obj[REC_STR_MAX];
	char cmdline[REC_STR_MAX];
};

/* The END record. */
struct rec_end {
	uint64_t ts;			/* CLOCK_MONOTONIC */
	uint64_t lost;			/* events lost in the whole recording */
	uint64_t read_errors;
	uint64_t events;		/* BPF records written */
	char reason[32];		/* "interrupted", "duration", "target_exited", ... */
};

/* A frame's CRC-32: its first 8 header bytes, then its payload. */
uint32_t rec_format_frame_crc(const uint8_t *hdr8, const uint8_t *payload, size_t len);

#endif
