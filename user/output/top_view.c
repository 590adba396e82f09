// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "output/top_view.h"
#include "output/fmt.h"

void top_view_init(struct top_view *v)
{
	memset(v, 0, sizeof(*v));
	v->sort = SORT_BUSY;
}

int top_view_sort_key(char key, enum top_sort *s)
{
	switch (key) {
	case 'b': *s = SORT_BUSY; return 0;
	case 'm': *s = SORT_MAX; return 0;
	case 's': *s = SORT_STEPS; return 0;
	case 'a': *s = SORT_AGE; return 0;
	case 'w': *s = SORT_WAITING; return 0;
	}
	return -EINVAL;
}

int top_view_sort_name(const char *name, enum top_sort *s)
{
	static const char *const names[] = { "busy", "max", "steps", "age", "waiting" };

	for (int i = 0; i < 5; i++)
		if (!strcmp(name, names[i]))
			return top_view_sort_key(names[i][0], s);
	return -EINVAL;
}

const char *top_view_sparkline(const struct hist *h, char *buf, size_t len)
{
	static const char *const blocks[] = { " ", "\u2581", "\u2582", "\u2583", "\u2584",
					      "\u2585", "\u2586", "\u2587", "\u2588" };
	uint64_t bins[8] = {}, top = 0;
	size_t pos = 0;

	buf[0] = '\0';
	if (!h || !h->count)
		return buf;
	/* bins: <1us 1-10us 10-100us 100us-1ms 1-10ms 10-100ms 100ms-1s >=1s */
	for (int i = 0; i < HIST_BUCKETS; i++) {
		uint64_t lo = hist_bucket_low(i), edge = 1000;
		int bin = 0;

		while (bin < 7 && lo >= edge) {
			bin++;
			edge *= 10;
		}
		bins[bin] += h->b[i];
	}
	for (int i = 0; i < 8; i++)
		if (bins[i] > top)
			top = bins[i];
	for (int i = 0; i < 8 && pos + 4 < len; i++) {
		int level = bins[i] ? 1 + (int)((bins[i] * 7) / top) : 0;
		size_t n = strlen(blocks[level]);

		memcpy(buf + pos, blocks[level], n);
		pos += n;
	}
	buf[pos] = '\0';
	return buf;
}

static const char *state_name(uint8_t s)
{
	switch (s) {
	case TASK_RUNNING: return "running";
	case TASK_AWAITING: return "awaiting";
	case TASK_SCHEDULED: return "ready";
	case TASK_DONE: return "done";
	}
	return "?";
}

static uint64_t waiting_ns(const struct task *t, uint64_t now)
{
	return t->state == TASK_AWAITING && now > t->await_since_ts ? now - t->await_since_ts : 0;
}

static uint64_t sort_value(const struct task *t, enum top_sort s, uint64_t now)
{
	switch (s) {
	case SORT_BUSY: return t->busy_ns;
	case SORT_MAX: return t->max_step_ns;
	case SORT_STEPS: return t->steps;
	case SORT_AGE: return t->create_ts && now > t->create_ts ? now - t->create_ts :
			      now > t->first_seen_ts ? now - t->first_seen_ts : 0;
	case SORT_WAITING: return waiting_ns(t, now);
	}
	return 0;
}

struct sort_ctx {
	enum top_sort s;
	uint64_t now;
};

static struct sort_ctx sort_by;

static int cmp_tasks(const void *a, const void *b)
{
	const struct task *x = *(const struct task *const *)a, *y = *(const struct task *const *)b;
	uint64_t vx = sort_value(x, sort_by.s, sort_by.now), vy = sort_value(y, sort_by.s, sort_by.now);

	if (vx != vy)
		return vx < vy ? 1 : -1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int cmp_coros(const void *a, const void *b)
{
	const struct coro_stat *x = *(const struct coro_stat *const *)a;
	const struct coro_stat *y = *(const struct coro_stat *const *)b;
	uint64_t vx = sort_by.s == SORT_STEPS ? x->steps : sort_by.s == SORT_MAX ? x->h.max : x->busy_ns;
	uint64_t vy = sort_by.s == SORT_STEPS ? y->steps : sort_by.s == SORT_MAX ? y->h.max : y->busy_ns;

	if (vx != vy)
		return vx < vy ? 1 : -1;
	return strcmp(x->name, y->name);
}

static void json_str(FILE *out, const char *key, const char *s)
{
	fprintf(out, "\"%s\":", key);
	fmt_json_str(out, s);
}

static void json_hist(FILE *out, const struct hist *h)
{
	bool first = true;

	fputs("\"hist\":[", out);
	for (int i = 0; h && i < HIST_BUCKETS; i++) {
		if (!h->b[i])
			continue;
		fprintf(out, "%s[%" PRIu64 ",%u]", first ? "" : ",", hist_bucket_low(i), h->b[i]);
		first = false;
	}
	fputc(']', out);
}

static void json_dist(FILE *out, const struct hist *h)
{
	fprintf(out, ",\"mean_ns\":%" PRIu64 ",\"p50_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64
		",\"max_ns\":%" PRIu64 ",", h && h->count ? h->sum / h->count : 0,
		h ? hist_quantile(h, 0.5) : 0, h ? hist_quantile(h, 0.99) : 0, h ? h->max : 0);
	json_hist(out, h);
}

/* Live tasks, sorted. The caller frees. */
static const struct task **sorted_tasks(struct model *m, enum top_sort s, uint64_t now, size_t *n)
{
	const struct task **v = malloc(sizeof(*v) * (m->live + 1));
	size_t k = 0;

	if (!v)
		return NULL;
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->slots[i].used && !m->slots[i].destroyed)
			v[k++] = &m->slots[i];
	sort_by.s = s;
	sort_by.now = now;
	qsort(v, k, sizeof(*v), cmp_tasks);
	*n = k;
	return v;
}

static const struct coro_stat **sorted_coros(struct stats *st, enum top_sort s, size_t *n)
{
	const struct coro_stat **v = malloc(sizeof(*v) * (st->ncoros + 1));
	size_t k = 0;

	if (!v)
		return NULL;
	for (uint32_t i = 0; i < st->coro_cap; i++)
		if (st->coros[i].used)
			v[k++] = &st->coros[i];
	sort_by.s = s;
	qsort(v, k, sizeof(*v), cmp_coros);
	*n = k;
	return v;
}

static void render_json(FILE *out, const struct top_view *v, struct model *m, struct stats *st,
			uint64_t now)
{
	double interval = (double)(now - st->mark_ts) / 1e9;
	size_t nt = 0, nc = 0;
	const struct task **tasks = sorted_tasks(m, v->sort, now, &nt);
	const struct coro_stat **coros = sorted_coros(st, v->sort, &nc);

	fprintf(out, "{\"ts_ns\":%" PRIu64 ",\"pid\":%d,\"interval_s\":%.3f,\"lost_events\":%" PRIu64
		",\"threads\":[", now, v->pid, interval, v->lost_events);
	for (int i = 0; i < st->nthreads; i++) {
		const struct thread_stat *t = &st->threads[i];

		fprintf(out, "%s{\"tid\":%u,\"steps\":%" PRIu64 ",\"busy_ns\":%" PRIu64
			",\"steps_per_s\":%.1f,\"loop_busy\":%.4f}", i ? "," : "", t->tid, t->steps,
			t->busy_ns, interval > 0 ? (double)(t->steps - t->last_steps) / interval : 0,
			interval > 0 ? (double)(t->busy_ns - t->last_busy_ns) / 1e9 / interval : 0);
	}
	fputs("],\"tasks\":[", out);
	for (size_t i = 0; tasks && i < nt && (!v->limit || i < v->limit); i++) {
		const struct task *t = tasks[i];
		const struct task *w = t->state == TASK_AWAITING ? model_find(m, t->awaiting) : NULL;

		fprintf(out, "%s{\"task\":\"0x%" PRIx64 "\",", i ? "," : "", t->addr);
		json_str(out, "name", t->name);
		fputc(',', out);
		json_str(out, "coro", t->coro_name);
		fprintf(out, ",\"tid\":%u,\"state\":\"%s\"", t->tid, state_name(t->state));
		if (t->create_ts)
			fprintf(out, ",\"age_ns\":%" PRIu64, now > t->create_ts ? now - t->create_ts : 0);
		else
			fputs(",\"age_ns\":null", out);
		fprintf(out, ",\"busy_ns\":%" PRIu64 ",\"steps\":%u", t->busy_ns, t->steps);
		if (t->last_step_end_ts && t->state != TASK_RUNNING)
			fprintf(out, ",\"since_last_step_ns\":%" PRIu64, now - t->last_step_end_ts);
		else
			fputs(",\"since_last_step_ns\":null", out);
		if (t->state == TASK_AWAITING) {
			fprintf(out, ",\"awaiting\":\"0x%" PRIx64 "\",", t->awaiting);
			if (w)
				json_str(out, "awaiting_name", w->name);
			else
				fputs("\"awaiting_name\":null", out);
			fprintf(out, ",\"waiting_ns\":%" PRIu64, waiting_ns(t, now));
		} else {
			fputs(",\"awaiting\":null,\"awaiting_name\":null,\"waiting_ns\":null", out);
		}
		if (t->state == TASK_DONE && t->exception[0]) {
			fputc(',', out);
			json_str(out, "exception", t->exception);
		}
		json_dist(out, t->hist);
		fputc('}', out);
	}
	fputs("],\"coros\":[", out);
	for (size_t i = 0; coros && i < nc && (!v->limit || i < v->limit); i++) {
		const struct coro_stat *c = coros[i];

		fprintf(out, "%s{", i ? "," : "");
		json_str(out, "coro", c->name);
		fprintf(out, ",\"tasks\":%" PRIu64 ",\"live\":%" PRIu64 ",\"steps\":%" PRIu64
			",\"busy_ns\":%" PRIu64, c->tasks, c->live, c->steps, c->busy_ns);
		json_dist(out, &c->h);
		fputc('}', out);
	}
	fputs("]}\n", out);
	free(tasks);
	free(coros);
}

static void text_header(FILE *out, const struct top_view *v, struct stats *st, uint64_t now,
			size_t ntasks)
{
	double interval = (double)(now - st->mark_ts) / 1e9;

	fprintf(out, "aps-bpf top - pid %d (%s) - %zu tasks - lost events %" PRIu64 "%s\n",
		v->pid, v->interp, ntasks, v->lost_events, v->lost_events ? " (!)" : "");
	for (int i = 0; i < st->nthreads; i++) {
		const struct thread_stat *t = &st->threads[i];

		fprintf(out, "  thread %-8u loop busy %5.1f%%  %8.0f steps/s  %" PRIu64 " steps\n",
			t->tid, interval > 0 ? 100.0 * (double)(t->busy_ns - t->last_busy_ns) / 1e9 / interval : 0,
			interval > 0 ? (double)(t->steps - t->last_steps) / interval : 0, t->steps);
	}
	fputc('\n', out);
}

static void render_text(FILE *out, const struct top_view *v, struct model *m, struct stats *st,
			uint64_t now)
{
	char b[8][32], spark[64];
	size_t nt = 0, nc = 0, max_rows;
	const struct task **tasks = sorted_tasks(m, v->sort, now, &nt);

	text_header(out, v, st, now, nt);
	max_rows = v->rows > 4 + (unsigned)st->nthreads + 3 ? v->rows - 4 - st->nthreads - 3 : 0;
	if (v->limit && (!max_rows || v->limit < max_rows))
		max_rows = v->limit;
	if (v->by_coro) {
		const struct coro_stat **coros = sorted_coros(st, v->sort, &nc);

		fprintf(out, "%-32s %6s %6s %8s %9s %8s %8s %8s %8s  %s\n", "COROUTINE", "TASKS", "LIVE",
			"STEPS", "BUSY", "MEAN", "P50", "P99", "MAX", "STEP TIMES 1us..1s+");
		for (size_t i = 0; coros && i < nc && (!max_rows || i < max_rows); i++) {
			const struct coro_stat *c = coros[i];

			fprintf(out, "%-32.32s %6" PRIu64 " %6" PRIu64 " %8" PRIu64 " %9s %8s %8s %8s %8s  %s\n",
				c->name, c->tasks, c->live, c->steps, fmt_dur(c->busy_ns, b[0], 32),
				fmt_dur(c->steps ? c->busy_ns / c->steps : 0, b[1], 32),
				fmt_dur(hist_quantile(&c->h, 0.5), b[2], 32),
				fmt_dur(hist_quantile(&c->h, 0.99), b[3], 32),
				fmt_dur(c->h.max, b[4], 32), top_view_sparkline(&c->h, spark, sizeof(spark)));
		}
		free(coros);
		free(tasks);
		return;
	}
	fprintf(out, "%-8s %-20s %-24s %-8s %8s %9s %7s %8s %8s %8s %8s %8s  %s\n", "TID", "NAME",
		"COROUTINE", "STATE", "AGE", "BUSY", "STEPS", "MEAN", "P99", "MAX", "IDLE", "WAITING",
		"ON");
	for (size_t i = 0; tasks && i < nt && (!max_rows || i < max_rows); i++) {
		const struct task *t = tasks[i];
		const struct task *w = t->state == TASK_AWAITING ? model_find(m, t->awaiting) : NULL;
		const char *on = t->state == TASK_AWAITING ? (w ? w->name : "future") : "";

		fprintf(out, "%-8u %-20.20s %-24.24s %-8s %8s %9s %7u %8s %8s %8s %8s %8s  %s\n",
			t->tid, t->name, t->coro_name, state_name(t->state),
			t->create_ts ? fmt_dur(now - t->create_ts, b[0], 32) : "?",
			fmt_dur(t->busy_ns, b[1], 32), t->steps,
			fmt_dur(t->steps ? t->busy_ns / t->steps : 0, b[2], 32),
			fmt_dur(t->hist ? hist_quantile(t->hist, 0.99) : 0, b[3], 32),
			fmt_dur(t->max_step_ns, b[4], 32),
			t->last_step_end_ts && t->state != TASK_RUNNING ?
				fmt_dur(now - t->last_step_end_ts, b[5], 32) : "-",
			t->state == TASK_AWAITING ? fmt_dur(waiting_ns(t, now), b[6], 32) : "-", on);
	}
	free(tasks);
}

void top_view_draw(FILE *out, const struct top_view *v, struct model *m, struct stats *st,
		uint64_t now)
{
	if (v->json)
		render_json(out, v, m, st, now);
	else
		render_text(out, v, m, st, now);
	if (!v->json && !v->rows)
		fputc('\n', out);
}
