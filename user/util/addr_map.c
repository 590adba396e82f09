// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include "util/addr_map.h"

static uint32_t slot_of(uint64_t key, uint32_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (uint32_t)key & (cap - 1);
}

static int resize(struct addr_map *m, uint32_t cap)
{
	uint64_t *keys = calloc(cap, sizeof(*keys));
	int32_t *vals = calloc(cap, sizeof(*vals));

	if (!keys || !vals || cap < m->cap) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->cap; i++) {
		uint32_t s;

		if (!m->keys[i])
			continue;
		for (s = slot_of(m->keys[i], cap); keys[s]; s = (s + 1) & (cap - 1))
			;
		keys[s] = m->keys[i];
		vals[s] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

int addr_map_reserve(struct addr_map *m, uint32_t n)
{
	uint32_t cap = m->cap ? m->cap : 64;

	if (n > (1u << 30))
		return -ENOMEM;
	while (n * 2 > cap)
		cap *= 2;
	return cap == m->cap ? 0 : resize(m, cap);
}

static int put(struct addr_map *m, uint64_t key, int32_t val, bool replace)
{
	uint32_t s;
	int err;

	if (!key)
		return -EINVAL;
	if ((m->n + 1) * 2 > m->cap && (err = resize(m, m->cap ? m->cap * 2 : 64)))
		return err;
	for (s = slot_of(key, m->cap); m->keys[s] && m->keys[s] != key; s = (s + 1) & (m->cap - 1))
		;
	if (m->keys[s] && !replace)
		return -EEXIST;
	if (!m->keys[s]) {
		m->keys[s] = key;
		m->n++;
	}
	m->vals[s] = val;
	return 0;
}

int addr_map_put(struct addr_map *m, uint64_t key, int32_t val)
{
	return put(m, key, val, true);
}

int addr_map_add(struct addr_map *m, uint64_t key, int32_t val)
{
	return put(m, key, val, false);
}

bool addr_map_get(const struct addr_map *m, uint64_t key, int32_t *val)
{
	if (!key || !m->cap)
		return false;
	for (uint32_t s = slot_of(key, m->cap); m->keys[s]; s = (s + 1) & (m->cap - 1)) {
		if (m->keys[s] == key) {
			if (val)
				*val = m->vals[s];
			return true;
		}
	}
	return false;
}

void addr_map_free(struct addr_map *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->n = 0;
}
