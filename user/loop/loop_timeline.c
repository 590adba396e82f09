// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include "loop/loop_timeline.h"

void loop_timeline_free(struct loop_timeline *t)
{
	u64_map_free(&t->last);
	free(t->s);
	t->s = NULL;
	t->n = t->cap = 0;
}

int loop_timeline_add(struct loop_timeline *t, uint64_t key, uint64_t first, uint64_t last,
		      uint64_t val)
{
	uint32_t i, prev = UINT32_MAX;

	if (u64_map_get(&t->last, key, &i)) {
		if (t->s[i].val == val) {
			if (last > t->s[i].last)
				t->s[i].last = last;
			return 0;
		}
		prev = i;
	}
	if (t->n == TIMELINE_MAX)
		return -ENOSPC;
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 1024;
		struct tl_span *s = realloc(t->s, (size_t)cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		t->s = s;
		t->cap = cap;
	}
	if (u64_map_put(&t->last, key, t->n))
		return -ENOMEM;
	t->s[t->n] = (struct tl_span){ first, last, val, prev };
	t->n++;
	return 0;
}

bool loop_timeline_at(const struct loop_timeline *t, uint64_t key, uint64_t ts, bool after,
		      uint64_t *val)
{
	const struct tl_span *later = NULL, *before = NULL;
	uint32_t i;

	if (!u64_map_get(&t->last, key, &i))
		return false;
	for (; i != UINT32_MAX; i = t->s[i].prev) {
		const struct tl_span *s = &t->s[i];

		if (s->first <= ts && ts <= s->last) {
			*val = s->val;
			return true;
		}
		if (s->first > ts) {
			later = s;
			continue;
		}
		before = s;	/* spans are in time order: the rest are older */
		break;
	}
	if (later && (after || !before || later->first - ts < ts - before->last)) {
		*val = later->val;
		return true;
	}
	if (!before || after)
		return false;
	*val = before->val;
	return true;
}
