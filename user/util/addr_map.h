/* SPDX-License-Identifier: MIT */
/* A map from target addresses to small integers (open addressing). */
#ifndef APS_ADDR_MAP_H
#define APS_ADDR_MAP_H

#include <stdbool.h>
#include <stdint.h>

struct addr_map {
	uint64_t *keys;		/* 0: empty slot */
	int32_t *vals;
	uint32_t cap, n;	/* cap: a power of two, or 0 */
};

/* Set key (non-zero) to val; 0, or -ENOMEM / -EINVAL. */
int addr_map_put(struct addr_map *m, uint64_t key, int32_t val);
/* addr_map_put() of a key not there yet; -EEXIST (unchanged) if it is. */
int addr_map_add(struct addr_map *m, uint64_t key, int32_t val);
/* Room for n keys in all, without growing again; 0, or -ENOMEM. */
int addr_map_reserve(struct addr_map *m, uint32_t n);
bool addr_map_get(const struct addr_map *m, uint64_t key, int32_t *val);
void addr_map_free(struct addr_map *m);

#endif
