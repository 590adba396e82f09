/* SPDX-License-Identifier: MIT */
/*
 * user/util/: primitives shared by every subsystem: the hash map, the
 * growable array, the binary search, the byte reader, the clock, the memory
 * pool, lazily loaded libraries.
 */
/*
 * The one hash map: u64 keys (any value, 0 included) to u32 values, open
 * addressing with linear probing, deletes leave tombstones. At most half
 * the slots are used or deleted.
 */
#ifndef APS_U64_MAP_H
#define APS_U64_MAP_H

#include <stdbool.h>
#include <stdint.h>

struct u64_map_slot {
	uint64_t key;
	uint32_t val;
	uint32_t st;		/* 0 empty, 1 used, 2 deleted */
};

struct u64_map {
	struct u64_map_slot *s;
	uint32_t cap, n, tomb;	/* cap: a power of two, or 0 */
};

/* The mixing step shared by every table keyed by an address. */
static inline uint64_t u64_map_mix(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return key;
}

/* Set key to val; 0, or -ENOMEM. */
int u64_map_put(struct u64_map *m, uint64_t key, uint32_t val);
/* u64_map_put() of a key not there yet; -EEXIST (unchanged) if it is. */
int u64_map_add(struct u64_map *m, uint64_t key, uint32_t val);
/* Room for n keys in all, without growing again; 0, or -ENOMEM. */
int u64_map_reserve(struct u64_map *m, uint32_t n);
/* Whether key is there; its value in *val (if val). */
bool u64_map_get(const struct u64_map *m, uint64_t key, uint32_t *val);
/* Remove key if there. */
void u64_map_del(struct u64_map *m, uint64_t key);
/* Remove every key, keeping the memory. */
void u64_map_clear(struct u64_map *m);
void u64_map_free(struct u64_map *m);

#endif
