// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "target/proc.h"
#include "output/trace_view.h"
#include "output/fmt.h"
#include "live/tracer.h"

#define JSON_STR 1024

int trace_view_init(struct trace_view *p, FILE *out, bool json, pid_t pid)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->json = json;
	p->pid = pid;
	return model_init(&p->model, 4096);
}

void trace_view_free(struct trace_view *p)
{
	model_free(&p->model);
}

static uint32_t ns_tid(struct trace_view *p, uint32_t tid)
{
	unsigned slot;

	for (unsigned i = 0; i < p->ntids && i < TID_CACHE; i++)
		if (p->tids[i].tid == tid)
			return p->tids[i].ns_tid;
	slot = p->ntids++ % TID_CACHE;
	p->tids[slot].tid = tid;
	p->tids[slot].ns_tid = p->pid > 0 ? proc_ns_tid(p->pid, tid) : tid;
	return p->tids[slot].ns_tid;
}

static const char *result_name(uint8_t r)
{
	static const char *names[] = {
		[APS_RES_UNKNOWN] = "unknown", [APS_RES_AWAITING] = "awaiting",
		[APS_RES_YIELDED] = "yielded", [APS_RES_RETURNED] = "returned",
		[APS_RES_RAISED] = "raised", [APS_RES_CANCELLED] = "cancelled",
	};
	return r <= APS_RES_CANCELLED ? names[r] : "unknown";
}

static const char *boundary_name(uint8_t b)
{
	static const char *names[] = {
		[APS_BND_NEXT_STEP] = "next_step", [APS_BND_LOOP_POLL] = "loop_poll",
		[APS_BND_DEALLOC] = "dealloc", [APS_BND_EAGER_RETURN] = "eager_return",
		[APS_BND_THREAD_EXIT] = "exit",
	};
	return b >= APS_BND_NEXT_STEP && b <= APS_BND_THREAD_EXIT ? names[b] : "unknown";
}

static const char *event_name(enum model_ev_kind k)
{
	switch (k) {
	case MEV_CREATED: return "created";
	case MEV_SEEN: return "seen";
	case MEV_RENAMED: return "renamed";
	case MEV_WOKEN: return "woken";
	case MEV_STEP: return "step";
	case MEV_STEP_END: return "step_end";
	case MEV_DONE: return "done";
	case MEV_DESTROYED: return "destroyed";
	case MEV_CANCEL_REQUESTED: return "cancel_requested";
	}
	return "?";
}

static void json_str_or_null(struct trace_view *p, const char *key, const char *s)
{
	if (!s) {
		fprintf(p->out, ",\"%s\":null", key);
		return;
	}
	fprintf(p->out, ",\"%s\":", key);
	fmt_json_str(p->out, s);
}

static void json_addr_or_null(struct trace_view *p, const char *key, uint64_t addr)
{
	if (addr)
		fprintf(p->out, ",\"%s\":\"0x%" PRIx64 "\"", key, addr);
	else
		fprintf(p->out, ",\"%s\":null", key);
}

/* The common head of a task event. */
static void head(struct trace_view *p, const struct model_event *ev)
{
	const struct task *t = ev->task;
	const char *name = ev->old_name ? ev->old_name : t ? t->name : "?";

	if (p->json) {
		fprintf(p->out, "{\"event\":\"%s\",\"ts_ns\":%" PRIu64 ",\"tid\":%u,\"task\":\"0x%" PRIx64 "\"",
			event_name(ev->kind), ev->ts, ns_tid(p, ev->tid), ev->addr);
		json_str_or_null(p, "name", name);
		json_str_or_null(p, "coro", t ? t->coro_name : "?");
		return;
	}
	if (!p->t0)
		p->t0 = ev->ts;
	fprintf(p->out, "%12.6f  tid %-7u %-9s 0x%-14" PRIx64 " %s",
		ev->ts >= p->t0 ? (double)(ev->ts - p->t0) / 1e9 : -(double)(p->t0 - ev->ts) / 1e9,
		ns_tid(p, ev->tid), event_name(ev->kind), ev->addr, name);
}

static void print_created(struct trace_view *p, const struct model_event *ev)
{
	if (p->json) {
		if (ev->kind == MEV_CREATED) {
			json_addr_or_null(p, "creator", ev->other_addr);
			json_str_or_null(p, "creator_name", ev->other ? ev->other->name : NULL);
		}
		return;
	}
	fprintf(p->out, "  coro=%s", ev->task->coro_name);
	if (ev->other)
		fprintf(p->out, "  by %s", ev->other->name);
}

static void print_woken(struct trace_view *p, const struct model_event *ev)
{
	if (p->json) {
		fprintf(p->out, ",\"by\":\"0x%" PRIx64 "\",\"by_task\":%s", ev->other_addr,
			ev->other ? "true" : "false");
		json_str_or_null(p, "by_name", ev->other ? ev->other->name : NULL);
		fprintf(p->out, ",\"throw\":%s", ev->throw_ ? "true" : "false");
		return;
	}
	fprintf(p->out, "  by %s%s", ev->other ? ev->other->name : "future",
		ev->throw_ ? " (exception)" : "");
}

static void print_step(struct trace_view *p, const struct model_event *ev)
{
	if (p->json) {
		json_addr_or_null(p, "woken_by", ev->other_addr);
		fprintf(p->out, ",\"throw\":%s,\"nested\":%s", ev->throw_ ? "true" : "false",
			ev->nested ? "true" : "false");
		return;
	}
	if (ev->throw_)
		fprintf(p->out, "  (throw)");
	if (ev->nested)
		fprintf(p->out, "  (eager, nested)");
}

static void print_step_end(struct trace_view *p, const struct model_event *ev)
{
	bool raised = ev->result == APS_RES_RAISED;

	if (p->json) {
		fprintf(p->out, ",\"duration_ns\":%" PRIu64 ",\"result\":\"%s\",\"boundary\":\"%s\"",
			ev->duration_ns, result_name(ev->result), boundary_name(ev->boundary));
		if (ev->result == APS_RES_AWAITING) {
			fprintf(p->out, ",\"awaiting\":\"0x%" PRIx64 "\",\"awaiting_task\":%s",
				ev->other_addr, ev->other ? "true" : "false");
			json_str_or_null(p, "awaiting_name", ev->other ? ev->other->name : NULL);
			json_str_or_null(p, "awaiting_type", ev->other_type);
		}
		if (raised)
			json_str_or_null(p, "exception", ev->exception ? ev->exception : "?");
		return;
	}
	fprintf(p->out, "  %.1fus  %s", (double)ev->duration_ns / 1e3, result_name(ev->result));
	if (ev->result == APS_RES_AWAITING) {
		if (ev->other)
			fprintf(p->out, " task %s", ev->other->name);
		else
			fprintf(p->out, " %s 0x%" PRIx64, ev->other_type ? ev->other_type : "future",
				ev->other_addr);
	}
	if (raised)
		fprintf(p->out, " %s", ev->exception ? ev->exception : "?");
}

/* A requester for text: its name, "(no task)", or its address if unknown. */
static void text_requester(struct trace_view *p, uint64_t by, const struct task *bt)
{
	if (bt)
		fprintf(p->out, "%s", bt->name);
	else if (by)
		fprintf(p->out, "0x%" PRIx64, by);
	else
		fprintf(p->out, "(no task)");
}

static void print_done(struct trace_view *p, const struct model_event *ev)
{
	bool raised = ev->result == APS_RES_RAISED;
	const struct task *t = ev->task;
	uint32_t nreq = t ? t->cancel_requests : 0;
	const struct task *by = nreq && t->cancel_by ? model_find(&p->model, t->cancel_by) : NULL;

	if (p->json) {
		fprintf(p->out, ",\"result\":\"%s\"", result_name(ev->result));
		json_str_or_null(p, "exception", raised ? (ev->exception ? ev->exception : "?") : NULL);
		fprintf(p->out, ",\"cancel_requests\":%u", nreq);
		json_addr_or_null(p, "cancel_by", nreq ? t->cancel_by : 0);
		json_str_or_null(p, "cancel_by_name", by ? by->name : NULL);
		if (nreq)
			fprintf(p->out, ",\"cancel_ts_ns\":%" PRIu64, t->cancel_ts);
		else
			fprintf(p->out, ",\"cancel_ts_ns\":null");
		return;
	}
	fprintf(p->out, "  %s", result_name(ev->result));
	if (raised)
		fprintf(p->out, " %s", ev->exception ? ev->exception : "?");
	if (ev->result == APS_RES_CANCELLED && nreq) {
		fprintf(p->out, " by ");
		text_requester(p, t->cancel_by, by);
	}
}

static void print_cancel(struct trace_view *p, const struct model_event *ev)
{
	bool done = ev->cancel_flags & APS_CANCEL_DONE;
	bool unverified = ev->cancel_flags & APS_CANCEL_UNVERIFIED;
	char buf[JSON_STR];

	if (p->json) {
		json_addr_or_null(p, "by", ev->other_addr);
		json_str_or_null(p, "by_name", ev->other ? ev->other->name : NULL);
		fprintf(p->out, ",\"already_done\":%s,\"by_unverified\":%s,\"requests\":%u",
			done ? "true" : "false", unverified ? "true" : "false",
			ev->task ? ev->task->cancel_requests : 0);
		json_str_or_null(p, "msg", ev->cancel_msg);
		return;
	}
	fprintf(p->out, "  by ");
	text_requester(p, ev->other_addr, ev->other);
	if (unverified)
		fprintf(p->out, " (unverified)");
	if (ev->cancel_msg) {
		json_escape(ev->cancel_msg, buf, sizeof(buf));
		fprintf(p->out, "  msg=\"%s\"", buf);
	}
	if (done)
		fprintf(p->out, "  (already done: no effect)");
	else if (ev->task && ev->task->cancel_requests > 1)
		fprintf(p->out, "  (request %u)", ev->task->cancel_requests);
}

static void print_renamed(struct trace_view *p, const struct model_event *ev)
{
	char buf[JSON_STR];

	if (p->json) {
		json_escape(ev->task->name, buf, sizeof(buf));
		fprintf(p->out, ",\"new_name\":\"%s\"", buf);
		return;
	}
	fprintf(p->out, "  -> %s", ev->task->name);
}

static void print_event(void *ctx, const struct model_event *ev)
{
	struct trace_view *p = ctx;

	head(p, ev);
	switch (ev->kind) {
	case MEV_CREATED:
	case MEV_SEEN: print_created(p, ev); break;
	case MEV_RENAMED: print_renamed(p, ev); break;
	case MEV_WOKEN: print_woken(p, ev); break;
	case MEV_STEP: print_step(p, ev); break;
	case MEV_STEP_END: print_step_end(p, ev); break;
	case MEV_DONE: print_done(p, ev); break;
	case MEV_DESTROYED: break;
	case MEV_CANCEL_REQUESTED: print_cancel(p, ev); break;
	}
	fputs(p->json ? "}\n" : "\n", p->out);
	/* check the layout on live tasks until one is readable (bounded) */
	if ((ev->kind == MEV_CREATED || ev->kind == MEV_SEEN || ev->kind == MEV_STEP) &&
	    !p->first_task_checked && p->on_first_task && p->layout_checks < 1000) {
		int rc = p->on_first_task(p->first_task_ctx, ev->addr);

		p->layout_checks++;
		if (rc != -EAGAIN)
			p->first_task_checked = true;
		if (rc && rc != -EAGAIN)
			p->fatal = rc;
	}
}

int trace_view_event(void *ctx, const void *data, size_t len)
{
	struct trace_view *p = ctx;

	model_apply(&p->model, data, len, print_event, p);
	/* a non-zero return stops ring_buffer__poll: used for fatal errors */
	return p->fatal;
}

void trace_view_lost(struct trace_view *p, uint64_t lost_total, uint64_t ts)
{
	if (lost_total <= p->last_lost)
		return;
	if (p->json)
		fprintf(p->out, "{\"event\":\"lost\",\"ts_ns\":%" PRIu64 ",\"tid\":0,\"count\":%" PRIu64 "}\n",
			ts, lost_total - p->last_lost);
	else
		fprintf(p->out, "%12s  LOST %" PRIu64 " events (ring buffer full)\n", "",
			lost_total - p->last_lost);
	p->last_lost = lost_total;
}

void trace_view_finish(struct trace_view *p, const char *reason, uint64_t ts,
			  uint64_t lost, uint64_t read_errors,
			  const struct prog_stat *stats, int nstats)
{
	bool have_stats = false;

	trace_view_lost(p, lost, ts);
	model_close_open_steps(&p->model, ts, print_event, p);
	for (int i = 0; i < nstats; i++)
		have_stats |= stats[i].runs > 0;
	if (!p->json) {
		fprintf(p->out, "-- %s: %" PRIu64 " tasks, %" PRIu64 " steps, %" PRIu64
			" lost events, %" PRIu64 " read errors\n", reason, p->model.tasks_seen,
			p->model.steps, lost, read_errors);
		fflush(p->out);
		return;
	}
	fprintf(p->out, "{\"event\":\"summary\",\"ts_ns\":%" PRIu64 ",\"tid\":0,\"reason\":\"%s\","
		"\"tasks\":%" PRIu64 ",\"steps\":%" PRIu64 ",\"lost_events\":%" PRIu64
		",\"read_errors\":%" PRIu64 ",\"bad_events\":%" PRIu64,
		ts, reason, p->model.tasks_seen, p->model.steps, lost, read_errors,
		p->model.bad_events);
	if (have_stats) {
		fprintf(p->out, ",\"probe_runs\":{");
		for (int i = 0; i < nstats; i++)
			fprintf(p->out, "%s\"%s\":{\"runs\":%llu,\"ns\":%llu}", i ? "," : "",
				stats[i].name, stats[i].runs, stats[i].run_ns);
		fputc('}', p->out);
	}
	fputs("}\n", p->out);
	fflush(p->out);
}
