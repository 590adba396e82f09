// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "output/task_view.h"
#include "output/fmt.h"
#include "util/u64_map.h"
#include "util/grow.h"

#define MAX_DEPTH 2000		/* tree levels printed; deeper is cut with a mark */
#define LABEL_MAX 1024

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The value of key in m, or -1. */
static int32_t id_of(const struct u64_map *m, uint64_t key)
{
	uint32_t v;

	return u64_map_get(m, key, &v) ? (int32_t)v : -1;
}

/* ---- pstree ---------------------------------------------------------------- */

enum node_kind { NODE_TASK, NODE_CORO, NODE_FUTURE };

struct node {
	uint8_t kind;
	bool is_child;
	uint32_t ref;		/* task index / label index */
	uint64_t addr;		/* NODE_FUTURE */
	uint32_t nkids, cap;
	uint32_t *kids;
};

struct tree {
	struct node *v;
	uint32_t n, cap;
	char **labels;		/* frame labels, interned */
	uint32_t nlabels, labels_cap;
	struct u64_map label_ids;	/* hash (+ k on collision) -> label */
	struct u64_map frame_labels;	/* &frames[i] -> label: stacks are shared */
	struct u64_map future;		/* addr -> node */
	int32_t *chain_end;		/* per task: the node its frames end at; -1 */
	bool *shown;
};

static int32_t new_node(struct tree *t, uint8_t kind, uint32_t ref, uint64_t addr)
{
	if (GROW(t->v, t->cap, t->n + 1, 1024))
		return -ENOMEM;
	memset(&t->v[t->n], 0, sizeof(t->v[0]));
	t->v[t->n].kind = kind;
	t->v[t->n].ref = ref;
	t->v[t->n].addr = addr;
	return (int32_t)t->n++;
}

/*
 * Add an edge once. A task's edges are all added in a row, and a new coro
 * node's one edge at once: a repeated edge can only repeat the last kid.
 */
static int add_kid(struct tree *t, uint32_t parent, uint32_t kid)
{
	struct node *p = &t->v[parent];

	if (p->nkids && p->kids[p->nkids - 1] == kid)
		return 0;
	if (GROW(p->kids, p->cap, p->nkids + 1, 4))
		return -ENOMEM;
	p->kids[p->nkids++] = kid;
	t->v[kid].is_child = true;
	return 0;
}

static int32_t intern_label(struct tree *t, const char *s)
{
	uint64_t h = hash_str(s);
	int32_t id;

	/* linear probe on the hash: h + k for k = 0.. until a match or a gap */
	for (uint64_t k = 0;; k++) {
		id = id_of(&t->label_ids, h + k);
		if (id < 0)
			break;
		if (!strcmp(t->labels[id], s))
			return id;
	}
	if (t->nlabels == t->labels_cap) {
		uint32_t cap = t->labels_cap ? t->labels_cap * 2 : 256;
		char **v = realloc(t->labels, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->labels = v;
		t->labels_cap = cap;
	}
	t->labels[t->nlabels] = strdup(s);
	if (!t->labels[t->nlabels])
		return -ENOMEM;
	for (uint64_t k = 0;; k++)
		if (id_of(&t->label_ids, h + k) < 0)
			return u64_map_put(&t->label_ids, h + k, t->nlabels) ? -ENOMEM :
										 (int32_t)t->nlabels++;
}

/* The label of frame i of a stack; equal stacks share their frames. */
static int32_t frame_label(struct tree *t, const struct snap_frame *frames, uint32_t i)
{
	char label[LABEL_MAX];
	int32_t lab = id_of(&t->frame_labels, (uintptr_t)&frames[i]);

	if (lab >= 0)
		return lab;
	task_view_frame_label(&frames[i], label, sizeof(label));
	lab = intern_label(t, label);
	if (lab >= 0 && u64_map_put(&t->frame_labels, (uintptr_t)&frames[i], (uint32_t)lab))
		return -ENOMEM;
	return lab;
}

/*
 * Under task node ti, the frames of its stack outermost first (3.14's
 * reversed(stack)): a chain of coro nodes made the first time, then the
 * same chain again (only this task's frames hang from its node).
 */
static int32_t descend(struct tree *t, uint32_t ti, const struct snap_task *st)
{
	uint32_t cur = ti;

	if (t->chain_end[ti] >= 0)
		return t->chain_end[ti];
	for (uint32_t i = st->nframes; i-- > 0;) {
		int32_t lab = frame_label(t, st->frames, i), node;

		if (lab < 0)
			return lab;
		node = new_node(t, NODE_CORO, (uint32_t)lab, 0);
		if (node < 0 || add_kid(t, cur, (uint32_t)node))
			return -ENOMEM;
		cur = (uint32_t)node;
	}
	t->chain_end[ti] = (int32_t)cur;
	return (int32_t)cur;
}

static void tree_free(struct tree *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		free(t->v[i].kids);
	for (uint32_t i = 0; i < t->nlabels; i++)
		free(t->labels[i]);
	free(t->v);
	free(t->labels);
	free(t->shown);
	free(t->chain_end);
	u64_map_free(&t->label_ids);
	u64_map_free(&t->frame_labels);
	u64_map_free(&t->future);
}

/* Nodes 0..ntasks-1 are the tasks; then coroutine frames and futures. */
static int tree_build(struct tree *t, const struct snapshot *s)
{
	bool *awaiting;
	int err = 0;

	memset(t, 0, sizeof(*t));
	/* room for every node: tasks, their frames, futures among the awaiters */
	t->cap = s->ntasks;
	for (uint32_t i = 0; i < s->ntasks; i++)
		t->cap += s->tasks[i].nframes + s->tasks[i].nawaiters;
	t->cap = t->cap < UINT32_MAX / 2 ? t->cap + 1 : UINT32_MAX / 2;
	t->v = malloc(t->cap * sizeof(*t->v));
	t->chain_end = malloc((s->ntasks ? s->ntasks : 1) * sizeof(*t->chain_end));
	if (!t->v || !t->chain_end)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->ntasks; i++) {
		t->chain_end[i] = -1;
		if (new_node(t, NODE_TASK, i, s->tasks[i].addr) < 0)
			return -ENOMEM;
	}
	awaiting = calloc(s->ntasks ? s->ntasks : 1, 1);
	if (!awaiting)
		return -ENOMEM;
	for (uint32_t c = 0; c < s->ntasks && !err; c++) {
		for (uint32_t k = 0; k < s->tasks[c].nawaiters && !err; k++) {
			const struct snap_awaiter *a = &s->tasks[c].awaiters[k];
			int32_t parent, cur;

			if (a->task >= 0 && (uint32_t)a->task < s->ntasks) {
				parent = a->task;
				awaiting[a->task] = true;
				cur = descend(t, (uint32_t)parent, &s->tasks[a->task]);
			} else {
				/* a plain Future awaits it: a node of its own */
				parent = id_of(&t->future, a->addr);
				if (parent < 0) {
					parent = new_node(t, NODE_FUTURE, 0, a->addr);
					if (parent < 0 || u64_map_put(&t->future, a->addr, (uint32_t)parent)) {
						err = -ENOMEM;
						break;
					}
				}
				cur = parent;
			}
			if (cur < 0 || add_kid(t, (uint32_t)cur, c))
				err = -ENOMEM;
		}
	}
	/* leaf tasks show their own stack */
	for (uint32_t i = 0; i < s->ntasks && !err; i++)
		if (!awaiting[i] && s->tasks[i].nframes && descend(t, i, &s->tasks[i]) < 0)
			err = -ENOMEM;
	free(awaiting);
	if (!err) {
		t->shown = calloc(t->n ? t->n : 1, sizeof(bool));
		if (!t->shown)
			err = -ENOMEM;
	}
	return err;
}

/* Without --watch: what the agent or the sleep's timer tells. */
static void extra_annotation(const struct snapshot *s, const struct task_view_opts *o, uint32_t i,
			     char *buf, size_t len)
{
	const struct task_extra *x = o->extra ? &o->extra[i] : NULL;
	size_t n = 0;
	bool wl;
	int64_t ww;

	if (!x)
		return;
	ww = task_view_waiting_of(o, s, &s->tasks[i], &wl);
	if (x->child_tasks)
		n += (size_t)snprintf(buf + n, len - n, " [%u task%s]", x->child_tasks,
				      x->child_tasks == 1 ? "" : "s");
	if (x->sleep_left_ns >= 0 && n < len)
		n += (size_t)snprintf(buf + n, len - n, " [sleeping %.1f s]",
				      (double)x->sleep_left_ns / 1e9);
	else if (!x->child_tasks && ww >= 0 && n < len)
		n += (size_t)snprintf(buf + n, len - n, " [%s%.1f s]", wl ? "\u2265" : "",
				      (double)ww / 1e9);
	/* the seed's red flag: a leaf waiting past --stuck */
	if (!x->child_tasks && o->stuck_ns && ww >= 0 && (uint64_t)ww > o->stuck_ns && n < len) {
		snprintf(buf + n, len - n, " \u26a0 stuck");
		((struct task_view_opts *)o)->stuck++;
	}
}

static void task_annotation(const struct snapshot *s, const struct task_view_opts *o, uint32_t i,
			    char *buf, size_t len)
{
	const struct task *m = task_view_timing_of(o, &s->tasks[i]);
	char a[32], b[32], c[32];
	bool lower;
	int64_t w = task_view_waiting_of(o, NULL, &s->tasks[i], &lower);
	int64_t age = task_view_age_of(o, NULL, &s->tasks[i], &lower);

	buf[0] = '\0';
	if (!m) {
		extra_annotation(s, o, i, buf, len);
		return;
	}
	if (w >= 0)
		snprintf(buf, len, " [waiting %s, %u steps, busy %s]", fmt_dur((uint64_t)w, a, 32),
			 m->steps, fmt_dur(m->busy_ns, b, 32));
	else if (m->state == TASK_RUNNING)
		snprintf(buf, len, " [running, %u steps, busy %s]", m->steps, fmt_dur(m->busy_ns, b, 32));
	else
		snprintf(buf, len, " [%s, %u steps, busy %s, longest %s%s%s]", task_view_state_of(o, &s->tasks[i]),
			 m->steps, fmt_dur(m->busy_ns, b, 32), fmt_dur(m->max_step_ns, c, 32),
			 age >= 0 ? ", age " : "", age >= 0 ? fmt_dur((uint64_t)age, a, 32) : "");
}

/* Leaf tasks under one node with the same frames: the collapse key. */
static uint64_t leaf_key(const struct tree *t, uint32_t node)
{
	const struct node *n = &t->v[node];
	uint64_t h = 0x12345;

	if (n->kind != NODE_TASK)
		return 0;
	for (uint32_t cur = node; t->v[cur].nkids == 1; cur = t->v[cur].kids[0]) {
		const struct node *k = &t->v[t->v[cur].kids[0]];

		if (k->kind != NODE_CORO)
			return 0;
		h = h * 31 + k->ref + 1;
	}
	{
		uint32_t cur = node;

		while (t->v[cur].nkids == 1)
			cur = t->v[cur].kids[0];
		if (t->v[cur].nkids)
			return 0;	/* not a leaf chain */
	}
	return h;
}

struct frame_state {
	uint32_t node;
	uint32_t id;		/* JSON: the node's id in the output */
	uint32_t i;		/* next kid */
	size_t prefix_len;
	bool last;
};

struct render {
	FILE *out;
	const struct snapshot *s;
	const struct task_view_opts *o;
	struct tree *t;
	char *prefix;
	size_t prefix_cap;
	struct frame_state *stack;
	uint32_t max_depth;
	uint32_t next_id;	/* JSON: nodes written */
	bool json;
};

static void node_text(struct render *r, uint32_t node, bool ref, uint32_t group)
{
	const struct node *n = &r->t->v[node];
	char ann[256];

	switch (n->kind) {
	case NODE_TASK:
		task_annotation(r->s, r->o, n->ref, ann, sizeof(ann));
		if (group > 1)
			fprintf(r->out, "(T) [\u00d7 %u like %s]%s\n", group, r->s->tasks[n->ref].name, ann);
		else
			fprintf(r->out, "(T) %s%s%s\n", r->s->tasks[n->ref].name, ann,
				ref ? " [shown above]" : "");
		break;
	case NODE_CORO:
		fprintf(r->out, " %s\n", r->t->labels[n->ref]);
		break;
	case NODE_FUTURE:
		fprintf(r->out, "(F) future 0x%" PRIx64 "\n", n->addr);
		break;
	}
}

/* One node of the flat JSON list (docs/ps-pstree-json.md); its id. */
static uint32_t node_json(struct render *r, uint32_t node, bool ref, uint32_t group,
			  int64_t parent)
{
	const struct node *n = &r->t->v[node];
	const struct snap_task *st;
	uint32_t id = r->next_id++;

	if (id)
		fputc(',', r->out);
	fprintf(r->out, "{\"id\":%u,\"parent\":", id);
	if (parent < 0)
		fputs("null,", r->out);
	else
		fprintf(r->out, "%" PRId64 ",", parent);
	switch (n->kind) {
	case NODE_TASK:
		st = &r->s->tasks[n->ref];
		fprintf(r->out, "\"kind\":\"task\",\"task_id\":\"0x%" PRIx64 "\",\"name\":", st->addr);
		fmt_json_str(r->out, st->name);
		fputs(",\"state\":", r->out);
		fmt_json_str(r->out, task_view_state_of(r->o, st));
		task_view_json_bounds(r->out, r->o, r->s, st);
		if (ref)
			fputs(",\"ref\":true", r->out);
		if (group > 1)
			fprintf(r->out, ",\"like\":%u", group);
		break;
	case NODE_CORO:
		fputs("\"kind\":\"coro\",\"frame\":", r->out);
		fmt_json_str(r->out, r->t->labels[n->ref]);
		break;
	case NODE_FUTURE:
		fprintf(r->out, "\"kind\":\"future\",\"future_id\":\"0x%" PRIx64 "\"", n->addr);
		break;
	}
	fputc('}', r->out);
	return id;
}

/* How many following siblings (from kid index i) collapse with kid i. */
static uint32_t group_size(struct render *r, const struct node *p, uint32_t i)
{
	uint64_t key;
	uint32_t g = 1;

	if (!r->o->collapse)
		return 1;
	key = leaf_key(r->t, p->kids[i]);
	if (!key)
		return 1;
	while (i + g < p->nkids && leaf_key(r->t, p->kids[i + g]) == key)
		g++;
	return g >= r->o->collapse ? g : 1;
}

/* Depth-first, iteratively (trees can be deep): each task is expanded once. */
static int render_root(struct render *r, uint32_t root)
{
	uint32_t depth = 0;

	if (r->t->shown[root])
		return 0;
	r->prefix[0] = '\0';
	r->stack[0] = (struct frame_state){ .node = root, .prefix_len = 0, .last = true };
	if (r->json)
		r->stack[0].id = node_json(r, root, false, 1, -1);
	else {
		fputs("\u2514\u2500\u2500 ", r->out);
		node_text(r, root, false, 1);
	}
	r->t->shown[root] = true;
	memcpy(r->prefix, "    ", 5);
	r->stack[0].prefix_len = 4;
	depth = 1;
	while (depth) {
		struct frame_state *f = &r->stack[depth - 1];
		const struct node *n = &r->t->v[f->node];
		uint32_t kid, g, id = 0;
		bool last, ref;

		if (f->i >= n->nkids || depth >= r->max_depth) {
			if (depth >= r->max_depth && f->i < n->nkids && !r->json)
				fprintf(r->out, "%.*s\u2514\u2500\u2500 ... (deeper levels cut)\n",
					(int)f->prefix_len, r->prefix);
			depth--;
			continue;
		}
		g = group_size(r, n, f->i);
		kid = n->kids[f->i];
		f->i += g;
		last = f->i >= n->nkids;
		ref = r->t->v[kid].kind == NODE_TASK && r->t->shown[kid];
		if (r->json) {
			id = node_json(r, kid, ref, g, f->id);
		} else {
			fprintf(r->out, "%.*s%s", (int)f->prefix_len, r->prefix,
				last ? "\u2514\u2500\u2500 " : "\u251c\u2500\u2500 ");
			node_text(r, kid, ref, g);
		}
		if (ref)
			continue;
		r->t->shown[kid] = true;
		for (uint32_t k = 1; k < g; k++)
			r->t->shown[n->kids[f->i - g + k]] = true;
		if (r->json) {	/* flat: no prefix, no depth limit but the tree's size */
			r->stack[depth] = (struct frame_state){ .node = kid, .id = id };
			depth++;
			continue;
		}
		/* the child's prefix: ours plus 4 columns */
		if (f->prefix_len + 8 > r->prefix_cap)
			continue;
		memcpy(r->prefix + f->prefix_len, last ? "    " : "\u2502   ", last ? 4 : 6);
		r->stack[depth] = (struct frame_state){ .node = kid, .i = 0,
							.prefix_len = f->prefix_len + (last ? 4 : 6) };
		depth++;
	}
	if (!r->json)
		fflush(r->out);
	return 0;
}

int pstree_view(FILE *out, const struct snapshot *s, const struct task_view_opts *o)
{
	struct await_cycles cyc = {};
	struct tree t;
	struct render r = { .out = out, .s = s, .o = o, .t = &t, .json = o->format == VIEW_JSON };
	int err;

	err = tree_build(&t, s);
	if (!err)
		err = await_cycles_find(s, &cyc);
	/* text is cut at MAX_DEPTH levels; JSON is flat: every level */
	r.max_depth = r.json ? t.n + 1 : MAX_DEPTH;
	r.prefix_cap = MAX_DEPTH * 6 + 16;
	r.prefix = malloc(r.prefix_cap);
	r.stack = calloc((size_t)r.max_depth + 1, sizeof(*r.stack));
	if (err || !r.prefix || !r.stack) {
		fprintf(stderr, "aps-bpf: out of memory building the tree\n");
		err = -ENOMEM;
		goto cleanup;
	}
	if (r.json)
		fprintf(out, "{\"python\":\"%d.%d\",\"dropped\":%u,\"nodes\":[", s->major, s->minor,
			s->dropped);
	/* roots as 3.14 orders them: tasks nobody awaits, in task order; then
	 * futures that await tasks (3.14 leaves their subtrees out) */
	for (uint32_t i = 0; i < t.n; i++) {
		if (t.v[i].is_child || t.v[i].kind == NODE_CORO ||
		    (t.v[i].kind == NODE_TASK && !s->tasks[t.v[i].ref].listed && !t.v[i].nkids))
			continue;
		render_root(&r, i);
	}
	/* tasks only reachable through a cycle: no root leads to them */
	for (uint32_t c = 0; c < cyc.n; c++) {
		uint32_t start = cyc.path[c][0];

		if (t.shown[start])
			continue;
		render_root(&r, start);
	}
	if (r.json) {
		fputs("],\"cycles\":[", out);
		for (uint32_t c = 0; c < cyc.n; c++) {
			fprintf(out, "%s[", c ? "," : "");
			for (uint32_t k = 0; k < cyc.len[c]; k++) {
				fprintf(out, "%s{\"task_id\":\"0x%" PRIx64 "\",\"name\":", k ? "," : "",
					s->tasks[cyc.path[c][k]].addr);
				fmt_json_str(out, s->tasks[cyc.path[c][k]].name);
				fputc('}', out);
			}
			fputc(']', out);
		}
		fputs("]}\n", out);
	} else if (cyc.n) {
		fputs("\nDEADLOCK: the await graph has cycles (each task awaits the next):\n", out);
		for (uint32_t c = 0; c < cyc.n; c++) {
			fputs("cycle: ", out);
			for (uint32_t k = 0; k < cyc.len[c]; k++)
				fprintf(out, "%s%s (0x%" PRIx64 ")", k ? " \u2192 " : "",
					s->tasks[cyc.path[c][k]].name, s->tasks[cyc.path[c][k]].addr);
			fputc('\n', out);
		}
	}
	err = (int)cyc.n;
cleanup:
	free(r.prefix);
	free(r.stack);
	await_cycles_free(&cyc);
	tree_free(&t);
	return err;
}
