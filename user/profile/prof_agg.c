// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "profile/prof_agg.h"
#include "util/grow.h"

#define PROBES 64		/* keys tried per hash (collisions of 64-bit hashes) */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV0 0xcbf29ce484222325ULL

/* The i-th key tried for hash h: never 0 (an empty addr_map slot). */
static uint64_t probe_key(uint64_t h, int i)
{
	uint64_t k = h + (uint64_t)i * 0x9e3779b97f4a7c15ULL;

	return k ? k : 1;
}

int prof_agg_init(struct prof_agg *a)
{
	uint32_t id;

	memset(a, 0, sizeof(*a));
	return prof_agg_str(a, "", &id);
}

void prof_agg_free(struct prof_agg *a)
{
	free(a->strs);
	free(a->nodes);
	free(a->ids);
	free(a->stacks);
	u64_map_free(&a->str_index);
	u64_map_free(&a->node_index);
	u64_map_free(&a->stack_index);
	mem_pool_free(&a->pool);
	memset(a, 0, sizeof(*a));
}

/*
 * The entry equal to key (eq) under hash h, else a new one (add appends it
 * and gives its id), indexed under the first free of h's probe keys.
 * 0 and *id, -ENOMEM, or -ENOSPC (every probe key taken by others).
 */
static int intern(struct prof_agg *a, struct u64_map *index, uint64_t h,
		  bool (*eq)(const struct prof_agg *a, uint32_t id, const void *key),
		  int (*add)(struct prof_agg *a, const void *key, uint32_t *id), const void *key,
		  uint32_t *id)
{
	for (int i = 0; i < PROBES; i++) {
		uint64_t k = probe_key(h, i);
		int err;

		if (u64_map_get(index, k, id)) {
			if (eq(a, *id, key))
				return 0;
			continue;
		}
		err = add(a, key, id);
		if (!err && u64_map_put(index, k, *id))
			err = -ENOMEM;
		return err;
	}
	return -ENOSPC;
}

static bool str_is(const struct prof_agg *a, uint32_t id, const void *key)
{
	return !strcmp(a->strs[id], key);
}

static int str_add(struct prof_agg *a, const void *key, uint32_t *id)
{
	const char *copy;

	if (GROW(a->strs, a->strs_cap, a->nstrs + 1, 64) || !(copy = mem_pool_strdup(&a->pool, key)))
		return -ENOMEM;
	a->strs[a->nstrs] = copy;
	*id = a->nstrs++;
	return 0;
}

int prof_agg_str(struct prof_agg *a, const char *s, uint32_t *id)
{
	return intern(a, &a->str_index, fnv(FNV0, s, strlen(s)), str_is, str_add, s, id);
}

static bool node_is(const struct prof_agg *a, uint32_t id, const void *key)
{
	const struct prof_node *x = &a->nodes[id], *y = key;

	return x->kind == y->kind && x->name == y->name && x->file == y->file &&
	       x->line == y->line && x->start_line == y->start_line;
}

static int node_add(struct prof_agg *a, const void *key, uint32_t *id)
{
	if (GROW(a->nodes, a->nodes_cap, a->nnodes + 1, 64))
		return -ENOMEM;
	a->nodes[a->nnodes] = *(const struct prof_node *)key;
	*id = a->nnodes++;
	return 0;
}

int prof_agg_node(struct prof_agg *a, const struct prof_node *n, uint32_t *id)
{
	struct prof_node key = {
		.kind = n->kind, .name = n->name, .file = n->file,
		.line = n->line, .start_line = n->start_line,
	};
	uint64_t h = FNV0;

	h = fnv(h, &key.kind, sizeof(key.kind));
	h = fnv(h, &key.name, sizeof(key.name));
	h = fnv(h, &key.file, sizeof(key.file));
	h = fnv(h, &key.line, sizeof(key.line));
	h = fnv(h, &key.start_line, sizeof(key.start_line));
	return intern(a, &a->node_index, h, node_is, node_add, &key, id);
}

int prof_agg_label(struct prof_agg *a, enum prof_node_kind kind, const char *label, uint32_t *id)
{
	struct prof_node n = { .kind = (uint8_t)kind, .line = -1, .start_line = -1 };
	int err = prof_agg_str(a, label, &n.name);

	return err ? err : prof_agg_node(a, &n, id);
}

struct stack_key {
	const uint32_t *nodes;
	uint32_t n, thread, group;
	bool off_cpu;
};

static bool stack_is(const struct prof_agg *a, uint32_t id, const void *key)
{
	const struct prof_stack *s = &a->stacks[id];
	const struct stack_key *k = key;

	return s->n == k->n && s->thread == k->thread && s->group == k->group &&
	       s->off_cpu == k->off_cpu && !memcmp(a->ids + s->first, k->nodes, k->n * sizeof(*k->nodes));
}

static int stack_add(struct prof_agg *a, const void *key, uint32_t *id)
{
	const struct stack_key *k = key;

	if (a->nids + k->n > UINT32_MAX || GROW(a->stacks, a->stacks_cap, a->nstacks + 1, 64) ||
	    GROW(a->ids, a->ids_cap, a->nids + k->n, 1024))
		return -ENOMEM;
	a->stacks[a->nstacks] = (struct prof_stack){
		.first = (uint32_t)a->nids, .n = k->n, .thread = k->thread, .group = k->group,
		.off_cpu = k->off_cpu,
	};
	memcpy(a->ids + a->nids, k->nodes, k->n * sizeof(*k->nodes));
	a->nids += k->n;
	*id = a->nstacks++;
	return 0;
}

int prof_agg_add(struct prof_agg *a, const uint32_t *nodes, uint32_t n, uint32_t thread,
		 uint32_t group, bool off_cpu, uint64_t count, uint64_t weight_ns)
{
	struct stack_key key = { nodes, n < PROF_MAX_DEPTH ? n : PROF_MAX_DEPTH, thread, group,
				 off_cpu };
	uint64_t h = FNV0;
	struct prof_stack *s;
	uint8_t off = off_cpu;
	uint32_t v;
	int err;

	h = fnv(h, nodes, key.n * sizeof(*nodes));
	h = fnv(h, &thread, sizeof(thread));
	h = fnv(h, &group, sizeof(group));
	h = fnv(h, &off, 1);
	err = intern(a, &a->stack_index, h, stack_is, stack_add, &key, &v);
	if (err)
		return err;
	s = &a->stacks[v];
	s->count += count;
	s->weight_ns += weight_ns;
	a->count += count;
	a->weight_ns += weight_ns;
	if (off_cpu)
		a->off_cpu_count += count;
	return 0;
}

/* Append s to out at *pos, ';' as "\x3b"; always NUL-terminated. */
static void put_text(char *out, size_t len, size_t *pos, const char *s)
{
	for (; *s && *pos + 1 < len; s++) {
		if (*s == ';') {
			if (*pos + 5 >= len)
				break;
			memcpy(out + *pos, "\\x3b", 4);
			*pos += 4;
			continue;
		}
		out[(*pos)++] = *s;
	}
	out[*pos] = 0;
}

const char *prof_node_text(const struct prof_agg *a, const struct prof_node *n, char *out,
			   size_t len)
{
	size_t pos = 0;
	char num[24];

	if (!len)
		return out;
	out[0] = 0;
	put_text(out, len, &pos, a->strs[n->name]);
	if (n->kind != PROF_N_FRAME)
		return out;
	put_text(out, len, &pos, " (");
	put_text(out, len, &pos, a->strs[n->file]);
	if (n->line >= 0) {
		snprintf(num, sizeof(num), ":%d", n->line);
		put_text(out, len, &pos, num);
	}
	put_text(out, len, &pos, ")");
	return out;
}
