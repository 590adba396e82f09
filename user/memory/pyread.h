/* SPDX-License-Identifier: MIT */
/*
 * Bounded, typed reads of Python objects in a live target. Everything read
 * is untrusted and may change between two reads: every pointer is checked
 * before use, every length is capped, and an object is only taken for what
 * it is after its type was read and checked.
 */
#ifndef APS_PYREAD_H
#define APS_PYREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "target/layout.h"
#include "memory/page_cache.h"

#define PYR_TYPE_CACHE 128
#define PYR_MAX_ITEMS (1 << 21)	/* entries of one container we look at */
#define PYR_STR_CHARS 1024	/* characters of one str we decode */

/* Py_TPFLAGS_* bits, the same in 3.10-3.14 */
#define PYR_TPF_INLINE_VALUES (1ULL << 2)	/* 3.13+ */
#define PYR_TPF_MANAGED_DICT (1ULL << 4)	/* 3.11+ */
#define PYR_TPF_HEAPTYPE (1ULL << 9)
#define PYR_TPF_LONG (1ULL << 24)
#define PYR_TPF_LIST (1ULL << 25)
#define PYR_TPF_TUPLE (1ULL << 26)
#define PYR_TPF_UNICODE (1ULL << 28)
#define PYR_TPF_DICT (1ULL << 29)

/* struct pytype.kind: what the type derives from */
#define PYR_FUTURE 1		/* _asyncio.Future (Task included) */
#define PYR_TASK 2		/* _asyncio.Task */

struct pytype {
	uint64_t addr;
	uint64_t flags, base, basicsize;
	int64_t dictoffset;
	unsigned kind;		/* PYR_FUTURE | PYR_TASK bits */
	char name[64];		/* tp_name */
};

struct pyreader {
	pid_t pid;
	int minor;
	const struct py_layout *l;
	uint64_t reads, budget;	/* reads done / allowed (then -E2BIG) */
	uint64_t calls;		/* process_vm_readv calls past the cache */
	struct page_cache *cache;	/* NULL: every read goes to the target */
	bool fresh;		/* read past the cache: reads that check others */
	uint32_t ntypes, next_evict;
	struct pytype types[PYR_TYPE_CACHE];
};

void pyread_init(struct pyreader *r, pid_t pid, const struct py_layout *l, uint64_t budget);
/* 0, -EFAULT (unmapped or short), -E2BIG (read budget spent), -errno. */
int pyread_read(struct pyreader *r, uint64_t addr, void *buf, size_t len);
/* pyread_read() past the cache: what the target holds now. */
int pyread_read_fresh(struct pyreader *r, uint64_t addr, void *buf, size_t len);
/* Forget what the cache holds (no-op without one). */
void pyread_refresh(struct pyreader *r);
/* process_vm_readv calls made, through the cache or past it. */
uint64_t pyread_calls(const struct pyreader *r);
int pyread_ptr(struct pyreader *r, uint64_t addr, uint64_t *v);
/* A user-space, 8-byte aligned address. */
bool pyread_addr_ok(uint64_t addr);

/* The type of a plausible object: aligned, live refcount, sane type. */
int pyread_typeof(struct pyreader *r, uint64_t obj, struct pytype *t);
int pyread_type(struct pyreader *r, uint64_t type, struct pytype *t);
bool pyread_is(const struct pytype *t, const char *name);

/* A str as escaped UTF-8 (escape.h rules), cut with "…" past len-1 bytes. */
int pyread_str(struct pyreader *r, uint64_t obj, char *out, size_t len);
/* Is obj an ASCII str equal to s? */
bool pyread_str_eq(struct pyreader *r, uint64_t obj, const char *s);
/* An int that fits in 62 bits. */
int pyread_long(struct pyreader *r, uint64_t obj, int64_t *v);

/* Items of a tuple / list / set (at most max; *n is how many were read). */
int pyread_tuple(struct pyreader *r, uint64_t obj, uint64_t *items, size_t max, size_t *n);
int pyread_list(struct pyreader *r, uint64_t obj, uint64_t *items, size_t max, size_t *n);
int pyread_set(struct pyreader *r, uint64_t obj, uint64_t *keys, size_t max, size_t *n);

/* dict[key] for a str key: 0, or -ENOENT. */
int pyread_dict_get(struct pyreader *r, uint64_t dict, const char *key, uint64_t *val);
/* An instance attribute from obj's __dict__ (plain, split or inline). */
int pyread_attr(struct pyreader *r, uint64_t obj, const char *name, uint64_t *val);
/* What a weakref points to (0 when dead). */
int pyread_weakref(struct pyreader *r, uint64_t ref, uint64_t *target);
/* The contents of a bytes object (at most max bytes; *n is the length read). */
int pyread_bytes(struct pyreader *r, uint64_t obj, uint8_t *buf, size_t max, size_t *n);

#endif
