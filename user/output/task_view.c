// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "output/task_view.h"
#include "output/fmt.h"
#include "util/u64_map.h"

#define MAX_DEPTH 2000		/* tree levels printed; deeper is cut with a mark */
#define LABEL_MAX 1024

/* The value of key in m, or -1. */
static int32_t id_of(const struct u64_map *m, uint64_t key)
{
	uint32_t v;

	return u64_map_get(m, key, &v) ? (int32_t)v : -1;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* ---- common ------------------------------------------------------------ */

int task_view_parse_format(const char *arg, bool tree, enum task_view_format *f)
{
	if (!strcmp(arg, "json"))
		*f = VIEW_JSON;
	else if (!tree && !strcmp(arg, "csv"))
		*f = VIEW_CSV;
	else if (!strcmp(arg, tree ? "text" : "table"))
		*f = VIEW_TABLE;
	else
		return -EINVAL;
	return 0;
}

void task_view_frame_label(const struct snap_frame *f, char *buf, size_t len)
{
	const char *file = f->filename ? f->filename : "";

	if (f->line <= 0 && !file[0])
		snprintf(buf, len, "%s", f->qualname ? f->qualname : "?");
	else if (f->line < 0)
		snprintf(buf, len, "%s %s", f->qualname ? f->qualname : "?", file);
	else
		snprintf(buf, len, "%s %s:%d", f->qualname ? f->qualname : "?", file, f->line);
}

static const struct task *timing_of(const struct task_view_opts *o, const struct snap_task *t)
{
	return o->timing ? model_find((struct model *)o->timing, t->addr) : NULL;
}

static const char *state_of(const struct task_view_opts *o, const struct snap_task *t)
{
	const struct task *m = timing_of(o, t);

	if (m && !m->destroyed) {
		switch (m->state) {
		case TASK_RUNNING: return "running";
		case TASK_AWAITING: return "awaiting";
		case TASK_SCHEDULED: return "ready";
		case TASK_DONE: return "done";
		}
	}
	switch (t->state) {
	case APS_FUT_PENDING: return "pending";
	case APS_FUT_CANCELLED: return "cancelled";
	case APS_FUT_FINISHED: return "finished";
	}
	return "?";
}

/* age / waiting in ns, or -1 when not known (never invented) */
static int64_t age_of(const struct task_view_opts *o, const struct snap_task *t)
{
	const struct task *m = timing_of(o, t);

	return m && m->create_ts && o->now > m->create_ts ? (int64_t)(o->now - m->create_ts) : -1;
}

static int64_t waiting_of(const struct task_view_opts *o, const struct snap_task *t)
{
	const struct task *m = timing_of(o, t);

	return m && m->state == TASK_AWAITING && o->now > m->await_since_ts ?
		       (int64_t)(o->now - m->await_since_ts) : -1;
}

static const char *fmt_opt_dur(int64_t ns, char *buf, size_t len)
{
	return ns < 0 ? "?" : fmt_dur((uint64_t)ns, buf, len);
}

/* n bytes of s at pos, cut to what fits before the NUL; the new pos. */
static size_t put_cut(char *buf, size_t len, size_t pos, const char *s, size_t n)
{
	if (n > len - 1 - pos)
		n = len - 1 - pos;
	memcpy(buf + pos, s, n);
	return pos + n;
}

/* " -> " joined function names, innermost first (3.14's ps) */
static void join_funcs(const struct snap_task *t, char *buf, size_t len)
{
	size_t pos = 0;

	for (uint32_t i = 0; t && i < t->nframes && pos + 1 < len; i++) {
		const char *q = t->frames[i].qualname ? t->frames[i].qualname : "?";

		if (i)
			pos = put_cut(buf, len, pos, " -> ", 4);
		pos = put_cut(buf, len, pos, q, strlen(q));
	}
	buf[pos] = '\0';
}

/* join_funcs(), again only for another stack (tasks share their frames) */
struct joined {
	const struct snap_frame *frames;
	uint32_t n;
	bool valid;
	char buf[8192];
};

static const char *join_funcs_of(struct joined *j, const struct snap_task *t)
{
	const struct snap_frame *frames = t ? t->frames : NULL;
	uint32_t n = t ? t->nframes : 0;

	if (!j->valid || j->frames != frames || j->n != n) {
		join_funcs(t, j->buf, sizeof(j->buf));
		j->frames = frames;
		j->n = n;
		j->valid = true;
	}
	return j->buf;
}

/* "0x%" PRIx64 */
static const char *fmt_hex(uint64_t v, char buf[24])
{
	char *p = buf + 23;

	*p = '\0';
	do {
		*--p = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	*--p = 'x';
	*--p = '0';
	return p;
}

/* "%u" */
static const char *fmt_u32(uint32_t v, char buf[16])
{
	char *p = buf + 15;

	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

static void json_opt_ns(FILE *out, const char *key, int64_t v)
{
	if (v < 0)
		fprintf(out, ",\"%s\":null", key);
	else
		fprintf(out, ",\"%s\":%" PRId64, key, v);
}

/* ---- ps ------------------------------------------------------------------ */

/* A table row, written at once: fields are bounded (names, 8 KiB stacks). */
struct row {
	size_t len;
	char buf[24576];
};

static void row_put(struct row *r, const char *s, size_t n)
{
	if (n > sizeof(r->buf) - r->len)
		n = sizeof(r->buf) - r->len;
	memcpy(r->buf + r->len, s, n);
	r->len += n;
}

/* s left-aligned in width characters (code points, as Python's :<N), no cut */
static void put_padded(struct row *r, const char *s, int width)
{
	static const char spaces[] = "                                                                ";
	const char *p = s;
	int chars = 0;

	for (; *p; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	row_put(r, s, (size_t)(p - s));
	for (; chars < width; chars += (int)sizeof(spaces) - 1) {
		int pad = width - chars < (int)sizeof(spaces) - 1 ? width - chars : (int)sizeof(spaces) - 1;

		row_put(r, spaces, (size_t)pad);
	}
}

static void ps_row(FILE *out, const struct task_view_opts *o, const char *f[10])
{
	static const int width[10] = { 10, 20, 20, 50, 50, 15, 15, 10, 10, 10 };
	static struct row r;

	if (o->format == VIEW_CSV) {
		for (int i = 0; i < 10; i++)
			fmt_csv_field(out, f[i], i == 9);
		return;
	}
	r.len = 0;
	for (int i = 0; i < 10; i++) {
		if (i)
			row_put(&r, " ", 1);
		put_padded(&r, f[i], width[i]);
	}
	row_put(&r, "\n", 1);
	fwrite(r.buf, 1, r.len, out);
}

static void ps_json_task(FILE *out, const struct snapshot *s, const struct task_view_opts *o,
			 const struct snap_task *t)
{
	const struct task *m = timing_of(o, t);

	fprintf(out, "{\"tid\":%u,\"task_id\":\"0x%" PRIx64 "\",\"task_name\":", t->tid, t->addr);
	fmt_json_str(out, t->name);
	fputs(",\"coroutine_stack\":[", out);
	for (uint32_t i = 0; i < t->nframes; i++) {
		fprintf(out, "%s{\"func\":", i ? "," : "");
		fmt_json_str(out, t->frames[i].qualname);
		fputs(",\"file\":", out);
		fmt_json_str(out, t->frames[i].filename);
		fprintf(out, ",\"line\":%d}", t->frames[i].line);
	}
	fputs("],\"state\":", out);
	fmt_json_str(out, state_of(o, t));
	json_opt_ns(out, "age_ns", age_of(o, t));
	json_opt_ns(out, "waiting_ns", waiting_of(o, t));
	json_opt_ns(out, "busy_ns", m ? (int64_t)m->busy_ns : -1);
	json_opt_ns(out, "steps", m ? (int64_t)m->steps : -1);
	json_opt_ns(out, "max_step_ns", m ? (int64_t)m->max_step_ns : -1);
	fputs(",\"awaiters\":[", out);
	for (uint32_t i = 0; i < t->nawaiters; i++) {
		const struct snap_awaiter *a = &t->awaiters[i];
		const struct snap_task *p = a->task >= 0 && (uint32_t)a->task < s->ntasks ?
						    &s->tasks[a->task] : NULL;

		fprintf(out, "%s{\"id\":\"0x%" PRIx64 "\",\"name\":", i ? "," : "", a->addr);
		fmt_json_str(out, p ? p->name : "Unknown");
		fputs(",\"is_task\":", out);
		fputs(p ? "true" : "false", out);
		fputc('}', out);
	}
	fputs("]}", out);
}

void ps_view(FILE *out, const struct snapshot *s, const struct task_view_opts *o)
{
	struct joined stack = { .valid = false }, chain = { .valid = false };
	char tid[16], id[24], aid[24], age[32], wait[32];
	bool first = true;

	if (o->format == VIEW_JSON) {
		fprintf(out, "{\"python\":\"%d.%d\",\"dropped\":%u,\"tasks\":[", s->major, s->minor,
			s->dropped);
		for (uint32_t i = 0; i < s->ntasks; i++) {
			if (!s->tasks[i].listed)
				continue;
			if (!first)
				fputc(',', out);
			first = false;
			ps_json_task(out, s, o, &s->tasks[i]);
		}
		fputs("]}\n", out);
		return;
	}
	{
		const char *h[10] = { "tid", "task id", "task name", "coroutine stack", "awaiter chain",
				      "awaiter name", "awaiter id", "state", "age", "waiting" };

		ps_row(out, o, h);
		if (o->format == VIEW_TABLE) {
			for (int i = 0; i < 213; i++)
				fputc('-', out);
			fputc('\n', out);
		}
	}
	for (uint32_t i = 0; i < s->ntasks; i++) {
		const struct snap_task *t = &s->tasks[i];
		const char *f[10];

		if (!t->listed)
			continue;
		f[0] = fmt_u32(t->tid, tid);
		f[1] = fmt_hex(t->addr, id);
		f[2] = t->name;
		f[3] = join_funcs_of(&stack, t);
		f[7] = state_of(o, t);
		f[8] = fmt_opt_dur(age_of(o, t), age, sizeof(age));
		f[9] = fmt_opt_dur(waiting_of(o, t), wait, sizeof(wait));
		if (!t->nawaiters) {
			f[4] = "";
			f[5] = "";
			f[6] = "0x0";
			ps_row(out, o, f);
			continue;
		}
		for (uint32_t k = 0; k < t->nawaiters; k++) {
			const struct snap_awaiter *a = &t->awaiters[k];
			const struct snap_task *p = a->task >= 0 && (uint32_t)a->task < s->ntasks ?
							    &s->tasks[a->task] : NULL;

			f[4] = join_funcs_of(&chain, p);
			f[5] = p ? p->name : "Unknown";
			f[6] = fmt_hex(a->addr, aid);
			ps_row(out, o, f);
		}
	}
}

/* ---- cycles ---------------------------------------------------------------- */

void await_cycles_free(struct await_cycles *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		free(c->path[i]);
	free(c->path);
	free(c->len);
	memset(c, 0, sizeof(*c));
}

static int add_cycle(struct await_cycles *c, const uint32_t *path, uint32_t from, uint32_t to,
		     uint32_t back)
{
	uint32_t n = to - from + 1;
	uint32_t **pv;
	uint32_t *lv;

	if (c->n >= 1000)	/* enough to show */
		return 0;
	pv = realloc(c->path, (c->n + 1) * sizeof(*pv));
	if (!pv)
		return -ENOMEM;
	c->path = pv;
	lv = realloc(c->len, (c->n + 1) * sizeof(*lv));
	if (!lv)
		return -ENOMEM;
	c->len = lv;
	c->path[c->n] = malloc((n + 1) * sizeof(uint32_t));
	if (!c->path[c->n])
		return -ENOMEM;
	memcpy(c->path[c->n], path + from, n * sizeof(uint32_t));
	c->path[c->n][n] = back;
	c->len[c->n++] = n + 1;
	return 0;
}

/* Iterative DFS with white/grey/black colours (3.14's _find_cycles), over
 * awaiter -> awaited task edges. */
int await_cycles_find(const struct snapshot *s, struct await_cycles *out)
{
	uint32_t n = s->ntasks, *first = NULL, *kids = NULL, *fill = NULL, *path = NULL,
		 *next = NULL, *pos = NULL;
	uint8_t *colour = NULL;
	size_t nedges = 0;
	int err = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!n)
		return 0;
	for (uint32_t c = 0; c < n; c++)
		nedges += s->tasks[c].nawaiters;
	/* children lists, parent (awaiter) -> child (awaited): parent p's
	 * children are kids[first[p]] to kids[first[p + 1] - 1] */
	first = calloc((size_t)n + 1, sizeof(*first));
	kids = malloc((nedges ? nedges : 1) * sizeof(*kids));
	fill = calloc(n, sizeof(*fill));
	colour = calloc(n, 1);
	path = calloc(n, sizeof(*path));
	next = calloc(n, sizeof(*next));
	pos = calloc(n, sizeof(*pos));
	if (!first || !kids || !fill || !colour || !path || !next || !pos)
		goto cleanup;
	for (uint32_t c = 0; c < n; c++)
		for (uint32_t k = 0; k < s->tasks[c].nawaiters; k++) {
			int32_t p = s->tasks[c].awaiters[k].task;

			if (p >= 0 && (uint32_t)p < n)
				first[p + 1]++;
		}
	for (uint32_t p = 0; p < n; p++)
		first[p + 1] += first[p];
	for (uint32_t c = 0; c < n; c++)
		for (uint32_t k = 0; k < s->tasks[c].nawaiters; k++) {
			int32_t p = s->tasks[c].awaiters[k].task;

			if (p >= 0 && (uint32_t)p < n)
				kids[first[p] + fill[p]++] = c;
		}
	for (uint32_t root = 0; root < n; root++) {
		uint32_t depth = 0;

		if (colour[root])
			continue;
		path[depth] = root;
		next[depth] = 0;
		pos[root] = depth;
		colour[root] = 1;
		depth = 1;
		while (depth) {
			uint32_t v = path[depth - 1];

			if (next[depth - 1] < first[v + 1] - first[v]) {
				uint32_t w = kids[first[v] + next[depth - 1]++];

				if (colour[w] == 0) {
					colour[w] = 1;
					pos[w] = depth;
					path[depth] = w;
					next[depth] = 0;
					depth++;
				} else if (colour[w] == 1) {
					err = add_cycle(out, path, pos[w], depth - 1, w);
					if (err)
						goto cleanup;
				}
			} else {
				colour[v] = 2;
				depth--;
			}
		}
	}
	err = 0;
cleanup:
	free(first);
	free(kids);
	free(fill);
	free(colour);
	free(path);
	free(next);
	free(pos);
	if (err)
		await_cycles_free(out);
	return err;
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
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 1024;
		struct node *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
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
	if (p->nkids == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 4;
		uint32_t *k = realloc(p->kids, cap * sizeof(*k));

		if (!k)
			return -ENOMEM;
		p->kids = k;
		p->cap = cap;
	}
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

static void task_annotation(const struct snapshot *s, const struct task_view_opts *o, uint32_t i,
			    char *buf, size_t len)
{
	const struct task *m = timing_of(o, &s->tasks[i]);
	char a[32], b[32], c[32];
	int64_t w = waiting_of(o, &s->tasks[i]), age = age_of(o, &s->tasks[i]);

	buf[0] = '\0';
	if (!m)
		return;
	if (w >= 0)
		snprintf(buf, len, " [waiting %s, %u steps, busy %s]", fmt_dur((uint64_t)w, a, 32),
			 m->steps, fmt_dur(m->busy_ns, b, 32));
	else if (m->state == TASK_RUNNING)
		snprintf(buf, len, " [running, %u steps, busy %s]", m->steps, fmt_dur(m->busy_ns, b, 32));
	else
		snprintf(buf, len, " [%s, %u steps, busy %s, longest %s%s%s]", state_of(o, &s->tasks[i]),
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

static void node_json_open(struct render *r, uint32_t node, bool ref, uint32_t group)
{
	const struct node *n = &r->t->v[node];
	const struct snap_task *st;

	switch (n->kind) {
	case NODE_TASK:
		st = &r->s->tasks[n->ref];
		fprintf(r->out, "{\"kind\":\"task\",\"task_id\":\"0x%" PRIx64 "\",\"name\":", st->addr);
		fmt_json_str(r->out, st->name);
		fputs(",\"state\":", r->out);
		fmt_json_str(r->out, state_of(r->o, st));
		json_opt_ns(r->out, "age_ns", age_of(r->o, st));
		json_opt_ns(r->out, "waiting_ns", waiting_of(r->o, st));
		if (ref)
			fputs(",\"ref\":true", r->out);
		if (group > 1)
			fprintf(r->out, ",\"like\":%u", group);
		break;
	case NODE_CORO:
		fputs("{\"kind\":\"coro\",\"frame\":", r->out);
		fmt_json_str(r->out, r->t->labels[n->ref]);
		break;
	case NODE_FUTURE:
		fprintf(r->out, "{\"kind\":\"future\",\"id\":\"0x%" PRIx64 "\"", n->addr);
		break;
	}
	fputs(",\"children\":[", r->out);
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
		node_json_open(r, root, false, 1);
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
		uint32_t kid, g;
		bool last, ref;

		if (f->i >= n->nkids || depth >= MAX_DEPTH) {
			if (depth >= MAX_DEPTH && f->i < n->nkids && !r->json)
				fprintf(r->out, "%.*s\u2514\u2500\u2500 ... (deeper levels cut)\n",
					(int)f->prefix_len, r->prefix);
			if (r->json)
				fputs("]}", r->out);
			depth--;
			continue;
		}
		g = group_size(r, n, f->i);
		kid = n->kids[f->i];
		f->i += g;
		last = f->i >= n->nkids;
		ref = r->t->v[kid].kind == NODE_TASK && r->t->shown[kid];
		if (r->json) {
			if (f->i - g > 0)
				fputc(',', r->out);
			node_json_open(r, kid, ref, g);
		} else {
			fprintf(r->out, "%.*s%s", (int)f->prefix_len, r->prefix,
				last ? "\u2514\u2500\u2500 " : "\u251c\u2500\u2500 ");
			node_text(r, kid, ref, g);
		}
		if (ref) {
			if (r->json)
				fputs("]}", r->out);
			continue;
		}
		r->t->shown[kid] = true;
		for (uint32_t k = 1; k < g; k++)
			r->t->shown[n->kids[f->i - g + k]] = true;
		/* the child's prefix: ours plus 4 columns */
		if (f->prefix_len + 8 > r->prefix_cap) {
			if (r->json)
				fputs("]}", r->out);
			continue;
		}
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
	bool first = true;
	int err;

	err = tree_build(&t, s);
	if (!err)
		err = await_cycles_find(s, &cyc);
	r.prefix_cap = MAX_DEPTH * 6 + 16;
	r.prefix = malloc(r.prefix_cap);
	r.stack = calloc(MAX_DEPTH + 1, sizeof(*r.stack));
	if (err || !r.prefix || !r.stack) {
		fprintf(stderr, "aps-bpf: out of memory building the tree\n");
		err = -ENOMEM;
		goto cleanup;
	}
	if (r.json)
		fprintf(out, "{\"python\":\"%d.%d\",\"dropped\":%u,\"roots\":[", s->major, s->minor,
			s->dropped);
	/* roots as 3.14 orders them: tasks nobody awaits, in task order; then
	 * futures that await tasks (3.14 leaves their subtrees out) */
	for (uint32_t i = 0; i < t.n; i++) {
		if (t.v[i].is_child || t.v[i].kind == NODE_CORO ||
		    (t.v[i].kind == NODE_TASK && !s->tasks[t.v[i].ref].listed && !t.v[i].nkids))
			continue;
		if (r.json && !first)
			fputc(',', out);
		first = false;
		render_root(&r, i);
	}
	/* tasks only reachable through a cycle: no root leads to them */
	for (uint32_t c = 0; c < cyc.n; c++) {
		uint32_t start = cyc.path[c][0];

		if (t.shown[start])
			continue;
		if (r.json && !first)
			fputc(',', out);
		first = false;
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
