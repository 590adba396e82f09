// SPDX-License-Identifier: MIT
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "output/task_view.h"
#include "output/fmt.h"

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
		char gap[48];

		if (snap_frame_gap(&t->frames[i])) {
			task_view_frame_label(&t->frames[i], gap, sizeof(gap));
			q = gap;
		}
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
	const struct task *m = task_view_timing_of(o, t);
	uint64_t omitted = 0;

	fprintf(out, "{\"tid\":%u,", t->tid);
	if (t->ns_tid && t->ns_tid != t->tid)
		fprintf(out, "\"ns_tid\":%u,", t->ns_tid);
	fprintf(out, "\"task_id\":\"0x%" PRIx64 "\",\"task_name\":", t->addr);
	fmt_json_str(out, t->name);
	fputs(",\"coroutine_stack\":[", out);
	for (uint32_t i = 0; i < t->nframes; i++) {
		uint32_t gap = snap_frame_gap(&t->frames[i]);

		if (gap) {	/* a stack too deep to keep whole: the frames left out */
			fprintf(out, "%s{\"func\":\"\u2026 %u frames \u2026\",\"file\":null,"
				"\"line\":null,\"omitted\":%u}", i ? "," : "", gap, gap);
			omitted += gap;
			continue;
		}
		fprintf(out, "%s{\"func\":", i ? "," : "");
		fmt_json_str(out, t->frames[i].qualname);
		fputs(",\"file\":", out);
		fmt_json_str(out, t->frames[i].filename);
		fprintf(out, ",\"line\":%d}", t->frames[i].line);
	}
	fprintf(out, "],\"frames_omitted\":%" PRIu64 ",\"state\":", omitted);
	fmt_json_str(out, task_view_state_of(o, t));
	task_view_json_bounds(out, o, s, t);
	task_view_json_opt_ns(out, "busy_ns", m ? (int64_t)m->busy_ns : -1);
	task_view_json_opt_ns(out, "steps", m ? (int64_t)m->steps : -1);
	task_view_json_opt_ns(out, "max_step_ns", m ? (int64_t)m->max_step_ns : -1);
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
				      "awaiter name", "awaiter id", "state", "runtime", "waiting" };

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
		f[7] = task_view_state_of(o, t);
		{
			bool al, wl;
			int64_t a = task_view_age_of(o, s, t, &al), w = task_view_waiting_of(o, s, t, &wl);

			f[8] = task_view_fmt_bound(a, al, age, sizeof(age));
			f[9] = task_view_fmt_bound(w, wl, wait, sizeof(wait));
		}
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
