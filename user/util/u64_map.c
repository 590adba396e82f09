// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "util/u64_map.h"

#define MIN_CAP 64u

static int resize(struct u64_map *m, uint32_t cap)
{
	struct u64_map_slot *s = calloc(cap, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++) {
		uint32_t j;

		if (m->s[i].st != 1)
			continue;
		for (j = (uint32_t)u64_map_mix(m->s[i].key) & (cap - 1); s[j].st; j = (j + 1) & (cap - 1))
			;
		s[j] = m->s[i];
	}
	free(m->s);
	m->s = s;
	m->cap = cap;
	m->tomb = 0;
	return 0;
}

int u64_map_reserve(struct u64_map *m, uint32_t n)
{
	uint32_t cap = m->cap ? m->cap : MIN_CAP;

	if (n > (1u << 30))
		return -ENOMEM;
	while ((uint64_t)n * 2 > cap)
		cap *= 2;
	return cap == m->cap ? 0 : resize(m, cap);
}

/* Room for one more key: grow, or rehash away the tombstones. */
static int make_room(struct u64_map *m)
{
	uint32_t cap;

	if ((uint64_t)(m->n + m->tomb + 1) * 2 <= m->cap)
		return 0;
	if (m->n >= (1u << 30))
		return -ENOMEM;
	cap = m->cap ? m->cap : MIN_CAP;
	while ((uint64_t)(m->n + 1) * 3 > cap)	/* a third full at most after */
		cap *= 2;
	return resize(m, cap);
}

static int put(struct u64_map *m, uint64_t key, uint32_t val, bool replace)
{
	uint32_t i, mask, grave = UINT32_MAX;
	int err;

	if ((err = make_room(m)))
		return err;
	mask = m->cap - 1;
	for (i = (uint32_t)u64_map_mix(key) & mask; m->s[i].st; i = (i + 1) & mask) {
		if (m->s[i].st == 2) {
			if (grave == UINT32_MAX)
				grave = i;
		} else if (m->s[i].key == key) {
			if (!replace)
				return -EEXIST;
			m->s[i].val = val;
			return 0;
		}
	}
	if (grave != UINT32_MAX) {
		i = grave;
		m->tomb--;
	}
	m->s[i] = (struct u64_map_slot){ .key = key, .val = val, .st = 1 };
	m->n++;
	return 0;
}

int u64_map_put(struct u64_map *m, uint64_t key, uint32_t val)
{
	return put(m, key, val, true);
}

int u64_map_add(struct u64_map *m, uint64_t key, uint32_t val)
{
	return put(m, key, val, false);
}

static const struct u64_map_slot *find(const struct u64_map *m, uint64_t key)
{
	uint32_t mask = m->cap - 1;

	if (!m->cap)
		return NULL;
	for (uint32_t i = (uint32_t)u64_map_mix(key) & mask; m->s[i].st; i = (i + 1) & mask)
		if (m->s[i].key == key && m->s[i].st == 1)
			return &m->s[i];
	return NULL;
}

bool u64_map_get(const struct u64_map *m, uint64_t key, uint32_t *val)
{
	const struct u64_map_slot *s = find(m, key);

	if (s && val)
		*val = s->val;
	return s != NULL;
}

void u64_map_del(struct u64_map *m, uint64_t key)
{
	struct u64_map_slot *s = (struct u64_map_slot *)find(m, key);

	if (!s)
		return;
	s->st = 2;
	m->n--;
	m->tomb++;
}

void u64_map_clear(struct u64_map *m)
{
	if (m->s)
		memset(m->s, 0, (size_t)m->cap * sizeof(*m->s));
	m->n = m->tomb = 0;
}

void u64_map_free(struct u64_map *m)
{
	free(m->s);
	memset(m, 0, sizeof(*m));
}
