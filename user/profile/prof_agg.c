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

int prof_agg_str(struct prof_agg *a, const char *s, uint32_t *id)
{
	uint64_t h = fnv(FNV0, s, strlen(s));
	const char *copy;
	uint32_t v;
	int err;

	for (int i = 0; i < PROBES; i++) {
		uint64_t k = probe_key(h, i);

		if (u64_map_get(&a->str_index, k, &v)) {
			if (!strcmp(a->strs[v], s)) {
				*id = (uint32_t)v;
				return 0;
			}
			continue;
		}
		err = GROW(a->strs, a->strs_cap, a->nstrs + 1, 64);
		if (err)
			return err;
		copy = mem_pool_strdup(&a->pool, s);
		if (!copy)
			return -ENOMEM;
		err = u64_map_put(&a->str_index, k, (uint32_t)a->nstrs);
		if (err)
			return err;
		a->strs[a->nstrs] = copy;
		*id = a->nstrs++;
		return 0;
	}
	return -ENOSPC;
}

static bool node_eq(const struct prof_node *x, const struct prof_node *y)
{
	return x->kind == y->kind && x->name == y->name && x->file == y->file &&
	       x->line == y->line && x->start_line == y->start_line;
}

int prof_agg_node(struct prof_agg *a, const struct prof_node *n, uint32_t *id)
{
	struct prof_node key = {
		.kind = n->kind, .name = n->name, .file = n->file,
		.line = n->line, .start_line = n->start_line,
	};
	uint64_t h = FNV0;
	uint32_t v;
	int err;

	h = fnv(h, &key.kind, sizeof(key.kind));
	h = fnv(h, &key.name, sizeof(key.name));
	h = fnv(h, &key.file, sizeof(key.file));
	h = fnv(h, &key.line, sizeof(key.line));
	h = fnv(h, &key.start_line, sizeof(key.start_line));
	for (int i = 0; i < PROBES; i++) {
		uint64_t k = probe_key(h, i);

		if (u64_map_get(&a->node_index, k, &v)) {
			if (node_eq(&a->nodes[v], &key)) {
				*id = (uint32_t)v;
				return 0;
			}
			continue;
		}
		err = GROW(a->nodes, a->nodes_cap, a->nnodes + 1, 64);
		if (!err)
			err = u64_map_put(&a->node_index, k, (uint32_t)a->nnodes);
		if (err)
			return err;
		a->nodes[a->nnodes] = key;
		*id = a->nnodes++;
		return 0;
	}
	return -ENOSPC;
}

int prof_agg_label(struct prof_agg *a, enum prof_node_kind kind, const char *label, uint32_t *id)
{
	struct prof_node n = { .kind = (uint8_t)kind, .line = -1, .start_line = -1 };
	int err = prof_agg_str(a, label, &n.name);

	return err ? err : prof_agg_node(a, &n, id);
}

static bool stack_eq(const struct prof_agg *a, const struct prof_stack *s, const uint32_t *nodes,
		     uint32_t n, uint32_t thread, uint32_t group, bool off_cpu)
{
	return s->n == n && s->thread == thread && s->group == group && s->off_cpu == off_cpu &&
	       !memcmp(a->ids + s->first, nodes, n * sizeof(*nodes));
}

int prof_agg_add(struct prof_agg *a, const uint32_t *nodes, uint32_t n, uint32_t thread,
		 uint32_t group, bool off_cpu, uint64_t count, uint64_t weight_ns)
{
	uint64_t h = FNV0;
	struct prof_stack *s;
	uint8_t off = off_cpu;
	uint32_t v;
	int err;

	if (n > PROF_MAX_DEPTH)
		n = PROF_MAX_DEPTH;
	h = fnv(h, nodes, n * sizeof(*nodes));
	h = fnv(h, &thread, sizeof(thread));
	h = fnv(h, &group, sizeof(group));
	h = fnv(h, &off, 1);
	for (int i = 0; i < PROBES; i++) {
		uint64_t k = probe_key(h, i);

		if (u64_map_get(&a->stack_index, k, &v)) {
			s = &a->stacks[v];
			if (!stack_eq(a, s, nodes, n, thread, group, off_cpu))
				continue;
			goto count;
		}
		if (a->nids + n > UINT32_MAX)
			return -ENOMEM;
		err = GROW(a->stacks, a->stacks_cap, a->nstacks + 1, 64);
		if (err)
			return err;
		if (GROW(a->ids, a->ids_cap, a->nids + n, 1024))
			return -ENOMEM;
		err = u64_map_put(&a->stack_index, k, (uint32_t)a->nstacks);
		if (err)
			return err;
		s = &a->stacks[a->nstacks++];
		*s = (struct prof_stack){
			.first = (uint32_t)a->nids, .n = n, .thread = thread, .group = group,
			.off_cpu = off_cpu,
		};
		memcpy(a->ids + a->nids, nodes, n * sizeof(*nodes));
		a->nids += n;
		goto count;
	}
	return -ENOSPC;
count:
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
