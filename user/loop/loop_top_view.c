// SPDX-License-Identifier: MIT
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "loop/loop_top_view.h"
#include "output/escape.h"
#include "output/fmt.h"

int ltv_rows_init(struct ltv_rows *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->r = calloc(LTV_MAX_ROWS, sizeof(*rs->r));
	return rs->r ? 0 : -1;
}

void ltv_rows_reset(struct ltv_rows *rs)
{
	u64_map_free(&rs->idx);
	rs->n = 0;
}

void ltv_rows_free(struct ltv_rows *rs)
{
	ltv_rows_reset(rs);
	free(rs->r);
	rs->r = NULL;
}

void ltv_rows_add(struct ltv_rows *rs, uint64_t key, const char *name, uint64_t task)
{
	uint32_t i;

	if (u64_map_get(&rs->idx, key, &i)) {
		rs->r[i].samples++;
		return;
	}
	if (rs->n == LTV_MAX_ROWS || u64_map_put(&rs->idx, key, rs->n))
		return;
	snprintf(rs->r[rs->n].name, sizeof(rs->r[rs->n].name), "%s", name);
	rs->r[rs->n].task = task;
	rs->r[rs->n].samples = 1;
	rs->n++;
}

uint64_t ltv_name_key(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h | 1;
}

static int cmp_rows(const void *a, const void *b)
{
	const struct ltv_row *x = a, *y = b;

	return x->samples < y->samples ? 1 : x->samples > y->samples ? -1 : strcmp(x->name, y->name);
}

static void print_rows(FILE *out, bool json, const char *key, struct ltv_rows *rs, double per_sample,
		       bool counts)
{
	char esc[400];

	qsort(rs->r, rs->n, sizeof(rs->r[0]), cmp_rows);
	if (json) {
		fprintf(out, ",\"%s\":[", key);
		for (uint32_t i = 0; i < rs->n; i++) {
			json_escape(rs->r[i].name, esc, sizeof(esc));
			fprintf(out, "%s{\"name\":\"%s\",", i ? "," : "", esc);
			if (counts) {
				fprintf(out, "\"count\":%" PRIu64 "}", rs->r[i].samples);
				continue;
			}
			if (rs->r[i].task)
				fprintf(out, "\"task\":\"0x%" PRIx64 "\",", rs->r[i].task);
			fprintf(out, "\"samples\":%" PRIu64 ",\"cpu_pct\":%.1f}", rs->r[i].samples,
				(double)rs->r[i].samples * per_sample);
		}
		fputc(']', out);
		return;
	}
	for (uint32_t i = 0; i < rs->n && i < 10; i++)
		if (counts)
			fprintf(out, "  %-9s %5" PRIu64 "x   %s\n", key, rs->r[i].samples, rs->r[i].name);
		else
			fprintf(out, "  %-9s %5.1f%%  %s\n", key, (double)rs->r[i].samples * per_sample,
				rs->r[i].name);
}

void loop_top_view_print(FILE *out, bool json, struct loop_top_report *t)
{
	double per_sample = t->secs > 0 && t->hz ? 100.0 / ((double)t->hz * t->secs) : 0;

	if (json) {
		fprintf(out, "{\"mode\":\"loop\",%s\"pid\":%d,\"interval_s\":%.3f,\"hz\":%u,\"loop_threads\":[",
			t->replay ? "\"replay\":true," : "", t->pid, t->secs, t->hz);
		for (uint32_t i = 0, n = 0; i < t->nthreads; i++)
			if (t->threads[i].busy_pct >= 0)
				fprintf(out, "%s{\"tid\":%u,\"busy_pct\":%.1f,\"polls\":%" PRIu64 "}",
					n++ ? "," : "", t->threads[i].tid, t->threads[i].busy_pct,
					t->threads[i].polls);
		fprintf(out, "],\"stalls\":%" PRIu64 ",\"stalls_total\":%" PRIu64 ",\"samples\":%" PRIu64
			",\"lost_samples\":%" PRIu64, t->stalls, t->stalls_total, t->samples, t->lost_samples);
		print_rows(out, true, "stalled_in", &t->stalled_in, 0, true);
		print_rows(out, true, "tasks", &t->tasks, per_sample, false);
		print_rows(out, true, "coros", &t->coros, per_sample, false);
		print_rows(out, true, "callbacks", &t->callbacks, per_sample, false);
		fprintf(out, ",\"other_cpu_pct\":%.1f", (double)t->other * per_sample);
		if (t->have_snap)
			fprintf(out, ",\"task_states\":{\"pending\":%u,\"cancelled\":%u,\"finished\":%u},"
				"\"snapshot_ms\":%.2f", t->states[0], t->states[1], t->states[2], t->snapshot_ms);
		fprintf(out, "}\n");
		return;
	}
	fprintf(out, "aps-bpf %s --mode loop, pid %d, %.1fs, sampler %u Hz: %" PRIu64 " samples, %" PRIu64
		" lost\n", t->replay ? "replay top" : "top", t->pid, t->secs, t->hz, t->samples,
		t->lost_samples);
	for (uint32_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].busy_pct >= 0)
			fprintf(out, "  loop thread %u: busy %.1f%%, %" PRIu64 " polls\n", t->threads[i].tid,
				t->threads[i].busy_pct, t->threads[i].polls);
	fprintf(out, "  stalls: %" PRIu64 " (total %" PRIu64 ")%s%s\n", t->stalls, t->stalls_total,
		t->last_stall[0] ? ", last " : "", t->last_stall);
	print_rows(out, false, "stalled", &t->stalled_in, 0, true);
	if (t->have_snap)
		fprintf(out, "  tasks: %u pending, %u cancelled, %u finished (snapshot %.1f ms)\n",
			t->states[0], t->states[1], t->states[2], t->snapshot_ms);
	print_rows(out, false, "task", &t->tasks, per_sample, false);
	print_rows(out, false, "coro", &t->coros, per_sample, false);
	print_rows(out, false, "callback", &t->callbacks, per_sample, false);
	fputc('\n', out);
}

void loop_top_stall(struct loop_top_report *t, const struct loop_stall *st)
{
	const struct stack_frame *f = st->fn_frame >= 0 ? &st->cap.stack.f[st->fn_frame] : NULL;
	char d[32], where[200];

	t->stalls++;
	t->stalls_total++;
	snprintf(where, sizeof(where), "%s %.150s",
		 st->kind == STALL_TASK ? "task" : st->kind == STALL_CALLBACK ? "callback" : "?",
		 st->kind == STALL_TASK ? st->task_name : f ? f->func : "?");
	ltv_rows_add(&t->stalled_in, ltv_name_key(where), where, 0);
	snprintf(t->last_stall, sizeof(t->last_stall), "%.31s in %s %.120s at %.200s:%d",
		 fmt_dur(st->duration_ns, d, sizeof(d)),
		 st->kind == STALL_TASK ? "task" : st->kind == STALL_CALLBACK ? "callback" : "?",
		 st->kind == STALL_TASK ? st->task_name : f ? f->func : "?", f ? f->file : "?",
		 f ? f->line : -1);
}
