// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "aps_events.h"
#include "recording/rec_codec.h"
#include "recording/varint.h"
#include "util/grow.h"

/* The id of key in m, or -1. */
int64_t rec_codec_map_find(const struct u64_map *m, uint64_t key)
{
	uint32_t v;

	return u64_map_get(m, key, &v) ? (int64_t)v : -1;
}

/* ---- codec state ----------------------------------------------------------- */

int rec_codec_init(struct rec_codec *c, bool writer)
{
	memset(c, 0, sizeof(*c));
	c->writer = writer;
	rec_codec_reset(c, 0);
	return 0;
}

void rec_codec_free(struct rec_codec *c)
{
	free(c->threads);
	free(c->ids);
	free(c->free_ids);
	free(c->types);
	free(c->arena);
	free(c->str_off);
	free(c->str_len);
	free(c->str_slots);
	u64_map_free(&c->thread_map);
	u64_map_free(&c->task_map);
	u64_map_free(&c->type_map);
	memset(c, 0, sizeof(*c));
}

void rec_codec_reset(struct rec_codec *c, uint64_t base_ts)
{
	c->base_ts = base_ts;
	c->nthreads = 0;
	c->cur = -1;
	c->nids = c->nfree = 0;
	c->ntypes = 0;
	c->nstrings = 0;
	c->arena_len = 0;
	c->last_lit = c->last_type_lit = 0;
	u64_map_clear(&c->thread_map);
	u64_map_clear(&c->task_map);
	u64_map_clear(&c->type_map);
	if (c->str_slots)
		memset(c->str_slots, 0, sizeof(*c->str_slots) * c->str_slots_cap);
}

bool rec_codec_full(const struct rec_codec *c)
{
	return c->nthreads + 2 > REC_MAX_THREADS || c->nids - c->nfree + 4 > REC_MAX_TASK_IDS ||
	       c->nids + 4 > REC_MAX_TASK_IDS || c->ntypes + 4 > REC_MAX_TYPES ||
	       c->nstrings + 4 > REC_MAX_STRINGS ||
	       c->arena_len + 4 * REC_ENC_MAX > REC_MAX_STRING_BYTES;
}

uint32_t rec_codec_ns_tid(const struct rec_codec *c, uint32_t tid)
{
	for (uint32_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].tid == tid)
			return c->threads[i].ns_tid;
	return tid;
}

/* Room for one more in a table of at most max entries: 0, -1 (full) or -ENOMEM. */
#define GROW_TABLE(arr, n, cap, max, first) \
	((n) < (cap) ? 0 : (cap) >= (max) ? -1 : GROW(arr, cap, (n) + 1, first))

int rec_codec_grow_threads(struct rec_codec *c)
{
	return GROW_TABLE(c->threads, c->nthreads, c->threads_cap, REC_MAX_THREADS, 16);
}

int rec_codec_grow_types(struct rec_codec *c)
{
	return GROW_TABLE(c->types, c->ntypes, c->types_cap, REC_MAX_TYPES, 32);
}

int64_t rec_codec_task_id(const struct rec_codec *c, uint64_t addr)
{
	return addr ? rec_codec_map_find(&c->task_map, addr) : -1;
}

int rec_codec_assign_id(struct rec_codec *c, uint64_t addr)
{
	uint32_t id;

	if (c->nfree) {
		id = c->free_ids[--c->nfree];
	} else {
		if (c->nids >= REC_MAX_TASK_IDS)
			return -1;
		if (c->nids == c->ids_cap) {	/* free_ids: as many */
			uint32_t cap = c->ids_cap, fcap = c->ids_cap;

			if (GROW(c->ids, cap, c->nids + 1, 256) || GROW(c->free_ids, fcap, c->nids + 1, 256))
				return -ENOMEM;
			c->ids_cap = cap;
		}
		id = c->nids++;
	}
	if (u64_map_put(&c->task_map, addr, id))
		return -ENOMEM;
	c->ids[id] = (struct rec_taskid){ .addr = addr, .live = true };
	return 0;
}

void rec_codec_free_id(struct rec_codec *c, uint64_t addr)
{
	int64_t id = rec_codec_task_id(c, addr);

	if (id < 0)
		return;
	u64_map_del(&c->task_map, addr);
	c->ids[id].live = false;
	c->free_ids[c->nfree++] = (uint32_t)id;
}

/* ---- canonical records ----------------------------------------------------- */

size_t rec_codec_event_size(unsigned type)
{
	switch (type) {
	case APS_EV_TASK_NEW: return sizeof(struct aps_ev_task_new);
	case APS_EV_STEP_BEGIN: return sizeof(struct aps_ev_step_begin);
	case APS_EV_STEP_END: return sizeof(struct aps_ev_step_end);
	case APS_EV_TASK_DESTROY: return sizeof(struct aps_ev_task_destroy);
	case APS_EV_TYPE_NAME: return sizeof(struct aps_ev_type_name);
	case APS_EV_CANCEL: return sizeof(struct aps_ev_cancel);
	}
	return 0;
}

/* Bytes of data a pystr carries. */
size_t rec_codec_pystr_nbytes(uint8_t kind, uint8_t is_int, uint32_t nchars)
{
	uint64_t n;

	if (is_int || (kind != 1 && kind != 2 && kind != 4))
		return 0;
	n = (uint64_t)nchars * kind;
	return n < APS_STR_MAX ? (size_t)n : APS_STR_MAX;
}

static void canon_pystr(struct aps_pystr *s)
{
	size_t nb = rec_codec_pystr_nbytes(s->kind, s->is_int, s->nchars);

	s->pad = 0;
	memset(s->data + nb, 0, sizeof(s->data) - nb);
}

int rec_canonical(const void *data, size_t len, void *out)
{
	const struct aps_event_hdr *h = data;
	union rec_any *e = out;
	size_t want;

	if (len < sizeof(*h))
		return -1;
	want = rec_codec_event_size(h->type);
	if (!want || len < want)
		return -1;
	memcpy(e, data, want);
	switch (h->type) {
	case APS_EV_TASK_NEW:
		e->tn.pad = 0;
		canon_pystr(&e->tn.name);
		canon_pystr(&e->tn.coro_qualname);
		break;
	case APS_EV_STEP_BEGIN:
		e->sb.pad = 0;
		break;
	case APS_EV_STEP_END:
		memset(e->se.pad, 0, sizeof(e->se.pad));
		break;
	case APS_EV_TYPE_NAME: {
		size_t n = strnlen(e->ty.name, sizeof(e->ty.name));

		memset(e->ty.name + n, 0, sizeof(e->ty.name) - n);
		break;
	}
	case APS_EV_CANCEL:
		canon_pystr(&e->ca.msg);
		break;
	}
	return (int)want;
}

bool rec_codec_pystr_empty(const struct aps_pystr *s)
{
	return !s->nchars && !s->kind && !s->is_int && !s->truncated && !s->value;
}

int rec_codec_intern(struct rec_codec *c, const uint8_t *lit, size_t n)
{
	if (c->nstrings >= REC_MAX_STRINGS || c->arena_len + n > REC_MAX_STRING_BYTES)
		return -1;
	if (GROW(c->arena, c->arena_cap, c->arena_len + n, 4096))
		return -ENOMEM;
	if (c->nstrings == c->str_cap) {	/* str_off and str_len in step */
		uint32_t ocap = c->str_cap, lcap = c->str_cap;

		if (GROW(c->str_off, ocap, c->nstrings + 1, 64) ||
		    GROW(c->str_len, lcap, c->nstrings + 1, 64))
			return -ENOMEM;
		c->str_cap = ocap;
	}
	memcpy(c->arena + c->arena_len, lit, n);
	c->str_off[c->nstrings] = (uint32_t)c->arena_len;
	c->str_len[c->nstrings] = (uint32_t)n;
	c->arena_len += n;
	c->nstrings++;
	return 0;
}
