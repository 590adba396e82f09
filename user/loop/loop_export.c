// SPDX-License-Identifier: MIT
/*
 * `export --format perfetto` of a loop-mode recording: Chrome trace-event
 * JSON, per loop thread a track of "loop busy" slices (poll return -> next
 * poll entry) with the stalls as slices inside them (args: what ran, the
 * stack read while stalled), and per sampled thread a CPU track of its
 * samples (a slice of 1/hz named after the innermost function; args: the
 * task and the stack). Lost samples/spans are process-wide instants.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "loop/loop_replay.h"
#include "output/fmt.h"
#include "recording/rec_tasks.h"
#include "util/u64_map.h"

#define MAX_TRACKS 1024
#define SAMPLE_TRACK_BASE 1000000u	/* samples of thread T on track T + this */

struct lexp {
	FILE *out;
	uint64_t base, from, to;
	uint32_t pid;
	bool first;
	struct loop_names ln;
	uint32_t tracks[MAX_TRACKS];	/* threads (the target's ids) */
	bool sampled[MAX_TRACKS], busy[MAX_TRACKS];
	uint32_t ntracks;
	uint64_t slices, stalls, samples;
};

static void sep(struct lexp *x)
{
	fputs(x->first ? "\n" : ",\n", x->out);
	x->first = false;
}

static void us(struct lexp *x, uint64_t ts)
{
	uint64_t d = ts > x->base ? ts - x->base : 0;

	fprintf(x->out, "%" PRIu64 ".%03u", d / 1000, (unsigned)(d % 1000));
}

static void track(struct lexp *x, uint32_t tid, bool sampled)
{
	uint32_t i;

	for (i = 0; i < x->ntracks; i++)
		if (x->tracks[i] == tid)
			break;
	if (i == x->ntracks) {
		if (x->ntracks == MAX_TRACKS)
			return;
		x->tracks[x->ntracks++] = tid;
	}
	if (sampled)
		x->sampled[i] = true;
	else
		x->busy[i] = true;
}

static void stack_args(struct lexp *x, const struct thread_stack *st)
{
	char buf[600];

	fputs("\"stack\":[", x->out);
	for (uint32_t i = 0; i < st->n; i++) {
		snprintf(buf, sizeof(buf), "%s (%s:%d)", st->f[i].func, st->f[i].file, st->f[i].line);
		if (i)
			fputc(',', x->out);
		fmt_json_str(x->out, buf);
	}
	fputc(']', x->out);
}

static void on_span(struct lexp *x, const struct loop_rec_span *sp)
{
	if (sp->end < x->from || sp->begin > x->to)
		return;
	track(x, sp->ns_tid, false);
	sep(x);
	fprintf(x->out, "{\"ph\":\"X\",\"cat\":\"loop\",\"name\":\"loop busy\",\"pid\":%u,\"tid\":%u,\"ts\":",
		x->pid, sp->ns_tid);
	us(x, sp->begin);
	fprintf(x->out, ",\"dur\":%" PRIu64 ".%03u,\"args\":{\"run_delay_us\":%.3f}}",
		(sp->end - sp->begin) / 1000, (unsigned)((sp->end - sp->begin) % 1000),
		(double)sp->run_delay / 1e3);
	x->slices++;
}

static void on_stall(struct lexp *x, const struct loop_stall *st)
{
	const struct stack_frame *f = st->fn_frame >= 0 ? &st->cap.stack.f[st->fn_frame] : NULL;
	const char *kind = st->kind == STALL_TASK ? "task" : st->kind == STALL_CALLBACK ? "callback" : "unknown";
	char name[256];

	if (st->begin_ts < x->from || st->begin_ts > x->to)
		return;
	track(x, st->ns_tid, false);
	snprintf(name, sizeof(name), "stall: %s %s", kind,
		 st->kind == STALL_TASK ? (st->task_name[0] ? st->task_name : "?") : f ? f->func : "?");
	sep(x);
	fprintf(x->out, "{\"ph\":\"X\",\"cat\":\"stall\",\"name\":");
	fmt_json_str(x->out, name);
	fprintf(x->out, ",\"pid\":%u,\"tid\":%u,\"ts\":", x->pid, st->ns_tid);
	us(x, st->begin_ts);
	fprintf(x->out, ",\"dur\":%" PRIu64 ".%03u,\"args\":{\"kind\":\"%s\",\"function\":",
		st->duration_ns / 1000, (unsigned)(st->duration_ns % 1000), kind);
	fmt_json_str(x->out, f ? f->func : "?");
	fputs(",\"file\":", x->out);
	fmt_json_str(x->out, f ? f->file : "?");
	fprintf(x->out, ",\"line\":%d,\"run_delay_us\":%.3f,\"ended\":%s,", f ? f->line : -1,
		(double)st->run_delay_ns / 1e3, st->ended ? "true" : "false");
	if (st->kind == STALL_TASK) {
		fputs("\"task\":", x->out);
		fmt_json_str(x->out, st->task_name);
		fputs(",\"coro\":", x->out);
		fmt_json_str(x->out, st->coro);
		fputc(',', x->out);
	}
	stack_args(x, &st->cap.stack);
	fputs("}}", x->out);
	x->stalls++;
}

static void on_sample(struct lexp *x, const struct loop_reader *lr, unsigned hz)
{
	const struct loop_rec_sample *s = &lr->smp;
	uint64_t dur = hz ? 900000000ull / hz : 1000000;	/* 0.9 / hz: slices never overlap */
	const char *name = lr->st.n ? lr->st.f[0].func : "(no Python frame)";
	uint64_t task = loop_names_task(&x->ln, s);

	if (s->ts < x->from || s->ts > x->to)
		return;
	track(x, s->ns_tid, true);
	sep(x);
	fprintf(x->out, "{\"ph\":\"X\",\"cat\":\"sample\",\"name\":");
	fmt_json_str(x->out, name);
	fprintf(x->out, ",\"pid\":%u,\"tid\":%u,\"ts\":", x->pid, s->ns_tid + SAMPLE_TRACK_BASE);
	us(x, s->ts);
	fprintf(x->out, ",\"dur\":%" PRIu64 ".%03u,\"args\":{\"thread\":%u,\"on_cpu\":%s,\"loop_busy\":%s,",
		dur / 1000, (unsigned)(dur % 1000), s->ns_tid, s->flags & LOOP_REC_ON_CPU ? "true" : "false",
		s->flags & LOOP_REC_BUSY ? "true" : "false");
	if (task) {
		fprintf(x->out, "\"task_id\":\"0x%" PRIx64 "\",\"task\":", task);
		fmt_json_str(x->out, loop_names_name(&x->ln, task, s->ts));
		fputc(',', x->out);
	}
	stack_args(x, &lr->st);
	fputs("}}", x->out);
	x->samples++;
}

static void on_lost(struct lexp *x, uint64_t ts, const struct loop_rec_lost *l)
{
	if (ts < x->from || ts > x->to)
		return;
	sep(x);
	fprintf(x->out, "{\"ph\":\"i\",\"s\":\"p\",\"cat\":\"lost\",\"name\":\"lost\",\"pid\":%u,\"tid\":%u,"
		"\"ts\":", x->pid, x->pid);
	us(x, ts);
	fprintf(x->out, ",\"args\":{\"samples_total\":%" PRIu64 ",\"spans_total\":%" PRIu64 "}}",
		l->samples, l->spans);
}

static void metadata(struct lexp *x, const struct rec_header *h)
{
	char name[256];

	sep(x);
	fprintf(x->out, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%u,\"args\":{\"name\":", x->pid);
	snprintf(name, sizeof(name), "%s (pid %u, Python %s, loop mode)", h->comm[0] ? h->comm : "python",
		 x->pid, h->python);
	fmt_json_str(x->out, name);
	fputs("}}", x->out);
	for (uint32_t i = 0; i < x->ntracks; i++)
		for (int smp = 0; smp < 2; smp++) {
			uint32_t tid = x->tracks[i] + (smp ? SAMPLE_TRACK_BASE : 0);

			if (smp ? !x->sampled[i] : !x->busy[i])
				continue;
			snprintf(name, sizeof(name), smp ? "thread %u: CPU samples" : "loop thread %u",
				 x->tracks[i]);
			sep(x);
			fprintf(x->out, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%u,\"tid\":%u,"
				"\"args\":{\"name\":", x->pid, tid);
			fmt_json_str(x->out, name);
			fputs("}}", x->out);
			sep(x);
			fprintf(x->out, "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":%u,\"tid\":%u,"
				"\"args\":{\"sort_index\":%u}}", x->pid, tid, 2 * i + (unsigned)smp);
		}
}

int loop_export_perfetto(const struct rec_reader *r, FILE *out, uint64_t from, uint64_t to,
			 bool window, char *msg, size_t msglen)
{
	static struct loop_reader lr;
	static struct lexp x;
	const struct rec_header *h = &r->hdr;
	int rc, err = -1;

	memset(&x, 0, sizeof(x));
	x.out = out;
	x.pid = h->pid;
	x.from = from;
	x.to = to;
	x.base = window ? from : h->start_ns;
	x.first = true;
	/* pass 1: the names of sampled tasks */
	if (loop_names_read(&x.ln, r, msg, msglen)) {
		loop_names_free(&x.ln);
		return -1;
	}
	if (loop_reader_init(&lr, r)) {
		snprintf(msg, msglen, "out of memory");
		loop_names_free(&x.ln);
		return -ENOMEM;
	}
	fprintf(out, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"tool\":\"aps-bpf\",\"mode\":\"loop\","
		"\"pid\":%u,\"python\":", x.pid);
	fmt_json_str(out, h->python);
	fprintf(out, ",\"clock_mono_ns_at_ts0\":%" PRIu64 ",\"clock_real_ns_at_ts0\":%" PRIu64 "},"
		"\"traceEvents\":[", x.base, h->clock_real_ns + (x.base - h->clock_mono_ns));
	while ((rc = loop_reader_next(&lr)) > 0) {
		switch (lr.sub) {
		case REC_LOOP_SPAN: on_span(&x, &lr.span); break;
		case REC_LOOP_STALL: on_stall(&x, &lr.stall); break;
		case REC_LOOP_SAMPLE: on_sample(&x, &lr, lr.info.hz); break;
		case REC_LOOP_LOST: on_lost(&x, lr.it->ts, &lr.lost); break;
		default: break;
		}
	}
	if (rc < 0) {
		snprintf(msg, msglen, "%s", lr.problem);
		goto out;
	}
	metadata(&x, h);
	fputs("\n]}\n", out);
	fprintf(stderr, "aps-bpf: export: %u loop threads, %" PRIu64 " busy slices, %" PRIu64
		" stalls, %" PRIu64 " samples\n", x.ntracks, x.slices, x.stalls, x.samples);
	err = 0;
out:
	loop_reader_free(&lr);
	loop_names_free(&x.ln);
	return err;
}
