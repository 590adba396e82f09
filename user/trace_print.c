// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "proc.h"
#include "tracer.h"
#include "trace_print.h"

#define JSON_STR 1024

int trace_printer_init(struct trace_printer *p, FILE *out, bool json, pid_t pid)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->json = json;
	p->pid = pid;
	return model_init(&p->model, 4096);
}

void trace_printer_free(struct trace_printer *p)
{
	model_free(&p->model);
}

static uint32_t ns_tid(struct trace_printer *p, uint32_t tid)
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

static const char *type_name(struct trace_printer *p, uint64_t type)
{
	unsigned slot;

	if (!type)
		return NULL;
	for (unsigned i = 0; i < p->ntypes && i < TYPE_CACHE; i++)
		if (p->types[i].ptr == type)
			return p->types[i].name[0] ? p->types[i].name : NULL;
	slot = p->ntypes++ % TYPE_CACHE;
	p->types[slot].ptr = type;
	p->types[slot].name[0] = '\0';
	if (p->read_type_name &&
	    p->read_type_name(p->pid, type, p->types[slot].name, sizeof(p->types[slot].name)))
		p->types[slot].name[0] = '\0';
	return p->types[slot].name[0] ? p->types[slot].name : NULL;
}

/* BPF sends a type's name once, the first time a step end names the type. */
static void on_type_name(struct trace_printer *p, const struct aps_ev_type_name *e)
{
	unsigned slot = TYPE_CACHE;
	size_t j = 0;

	for (unsigned i = 0; i < p->ntypes && i < TYPE_CACHE; i++)
		if (p->types[i].ptr == e->hdr.task)
			slot = i;
	if (slot == TYPE_CACHE)
		slot = p->ntypes++ % TYPE_CACHE;
	p->types[slot].ptr = e->hdr.task;
	for (size_t i = 0; i < sizeof(e->name) && e->name[i] && j + 5 < sizeof(p->types[slot].name); i++) {
		unsigned char c = (unsigned char)e->name[i];

		if (c < 0x20 || c >= 0x7f)
			j += (size_t)snprintf(p->types[slot].name + j, sizeof(p->types[slot].name) - j,
					      "\\x%02x", c);
		else
			p->types[slot].name[j++] = (char)c;
	}
	p->types[slot].name[j] = '\0';
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

static bool finished(uint8_t r)
{
	return r == APS_RES_RETURNED || r == APS_RES_RAISED || r == APS_RES_CANCELLED;
}

/* Print the common head of a task event. */
static void head(struct trace_printer *p, const char *event, uint64_t ts, uint32_t tid,
		 const struct task *t, uint64_t addr)
{
	char buf[JSON_STR];
	const char *name = t ? t->name : "?";

	if (p->json) {
		fprintf(p->out, "{\"event\":\"%s\",\"ts_ns\":%" PRIu64 ",\"tid\":%u,\"task\":\"0x%" PRIx64 "\"",
			event, ts, ns_tid(p, tid), addr);
		json_escape(name, buf, sizeof(buf));
		fprintf(p->out, ",\"name\":\"%s\"", buf);
		json_escape(t ? t->coro_name : "?", buf, sizeof(buf));
		fprintf(p->out, ",\"coro\":\"%s\"", buf);
		return;
	}
	if (!p->t0)
		p->t0 = ts;
	fprintf(p->out, "%12.6f  tid %-7u %-9s 0x%-14" PRIx64 " %s",
		ts >= p->t0 ? (double)(ts - p->t0) / 1e9 : -(double)(p->t0 - ts) / 1e9,
		ns_tid(p, tid), event, addr, name);
}

static void json_str_or_null(struct trace_printer *p, const char *key, const char *s)
{
	char buf[JSON_STR];

	if (!s) {
		fprintf(p->out, ",\"%s\":null", key);
		return;
	}
	json_escape(s, buf, sizeof(buf));
	fprintf(p->out, ",\"%s\":\"%s\"", key, buf);
}

static void end_line(struct trace_printer *p)
{
	fputs(p->json ? "}\n" : "\n", p->out);
}

static void on_rename(struct trace_printer *p, const struct aps_ev_task_new *e)
{
	struct task *t = model_find(&p->model, e->hdr.task);
	char name[APS_NAME_MAX], buf[JSON_STR];

	if (!t)
		return;
	pystr_to_utf8(&e->name, "Task-", name, sizeof(name));
	if (!strcmp(name, t->name))
		return;		/* 3.12+: the int name became the same "Task-N" str */
	head(p, "renamed", e->hdr.ts_ns, e->hdr.tid, t, e->hdr.task);
	if (p->json) {
		json_escape(name, buf, sizeof(buf));
		fprintf(p->out, ",\"new_name\":\"%s\"", buf);
	} else {
		fprintf(p->out, "  -> %s", name);
	}
	end_line(p);
	memcpy(t->name, name, sizeof(t->name));
}

static void on_task_new(struct trace_printer *p, const struct aps_ev_task_new *e)
{
	struct task *t, *c;

	if (e->hdr.flags & APS_TASK_RENAMED) {
		on_rename(p, e);
		return;
	}
	t = model_get(&p->model, e->hdr.task);
	bool created = e->create_ts_ns != 0;
	uint64_t ts = created ? e->create_ts_ns : e->hdr.ts_ns;

	if (!t) {
		p->model.bad_events++;
		return;
	}
	p->model.tasks_seen++;
	t->creator = e->creator;
	t->create_ts = e->create_ts_ns;
	t->first_seen_ts = e->hdr.ts_ns;
	t->coro = e->coro;
	t->tid = e->hdr.tid;
	pystr_to_utf8(&e->name, "Task-", t->name, sizeof(t->name));
	pystr_to_utf8(&e->coro_qualname, NULL, t->coro_name, sizeof(t->coro_name));
	c = e->creator ? model_find(&p->model, e->creator) : NULL;
	head(p, created ? "created" : "seen", ts, created ? e->create_tid : e->hdr.tid, t,
	     e->hdr.task);
	if (p->json) {
		if (created) {
			if (e->creator)
				fprintf(p->out, ",\"creator\":\"0x%" PRIx64 "\"", (uint64_t)e->creator);
			else
				fprintf(p->out, ",\"creator\":null");
			json_str_or_null(p, "creator_name", c ? c->name : NULL);
		}
	} else {
		fprintf(p->out, "  coro=%s", t->coro_name);
		if (c)
			fprintf(p->out, "  by %s", c->name);
	}
	end_line(p);
	if (!p->first_task_checked && p->on_first_task) {
		int rc = p->on_first_task(p->first_task_ctx, e->hdr.task);

		if (rc != -EAGAIN)
			p->first_task_checked = true;
		if (rc && rc != -EAGAIN)
			p->fatal = rc;
	}
}

static void on_step_begin(struct trace_printer *p, const struct aps_ev_step_begin *e)
{
	struct task *t = model_find(&p->model, e->hdr.task);
	struct task *w = e->waiter ? model_find(&p->model, e->waiter) : NULL;

	p->model.steps++;
	if (t) {
		t->steps++;
		t->step_begin_ts = e->hdr.ts_ns;
		t->tid = e->hdr.tid;
	}
	/* task_wakeup runs the step at once: the step says what woke it */
	if (e->waiter) {
		head(p, "woken", e->hdr.ts_ns, e->hdr.tid, t, e->hdr.task);
		if (p->json) {
			fprintf(p->out, ",\"by\":\"0x%" PRIx64 "\",\"by_task\":%s", (uint64_t)e->waiter,
				w ? "true" : "false");
			json_str_or_null(p, "by_name", w ? w->name : NULL);
			fprintf(p->out, ",\"throw\":%s", e->exc ? "true" : "false");
		} else {
			fprintf(p->out, "  by %s%s", w ? w->name : "future", e->exc ? " (exception)" : "");
		}
		end_line(p);
	}
	head(p, "step", e->hdr.ts_ns, e->hdr.tid, t, e->hdr.task);
	if (p->json) {
		if (e->waiter)
			fprintf(p->out, ",\"woken_by\":\"0x%" PRIx64 "\"", (uint64_t)e->waiter);
		else
			fprintf(p->out, ",\"woken_by\":null");
		fprintf(p->out, ",\"throw\":%s,\"nested\":%s", e->exc ? "true" : "false",
			e->depth ? "true" : "false");
	} else {
		if (e->exc)
			fprintf(p->out, "  (throw)");
		if (e->depth)
			fprintf(p->out, "  (eager, nested)");
	}
	end_line(p);
}

static void print_done(struct trace_printer *p, const struct aps_ev_step_end *e,
		       const struct task *t, const char *exc)
{
	head(p, "done", e->hdr.ts_ns, e->hdr.tid, t, e->hdr.task);
	if (p->json) {
		fprintf(p->out, ",\"result\":\"%s\"", result_name(e->result));
		json_str_or_null(p, "exception", e->result == APS_RES_RAISED ? (exc ? exc : "?") : NULL);
	} else {
		fprintf(p->out, "  %s", result_name(e->result));
		if (e->result == APS_RES_RAISED)
			fprintf(p->out, " %s", exc ? exc : "?");
	}
	end_line(p);
}

static void on_step_end(struct trace_printer *p, const struct aps_ev_step_end *e)
{
	struct task *t = model_find(&p->model, e->hdr.task);
	struct task *w = e->waiter ? model_find(&p->model, e->waiter) : NULL;
	uint64_t dur = e->hdr.ts_ns >= e->begin_ts_ns ? e->hdr.ts_ns - e->begin_ts_ns : 0;
	const char *exc = e->result == APS_RES_RAISED ? type_name(p, e->exc_type) : NULL;
	const char *wtype = e->result == APS_RES_AWAITING ? type_name(p, e->waiter_type) : NULL;

	if (t) {
		t->busy_ns += dur;
		if (dur > t->max_step_ns)
			t->max_step_ns = dur;
		t->step_begin_ts = 0;
		t->result = e->result;
	}
	head(p, "step_end", e->hdr.ts_ns, e->hdr.tid, t, e->hdr.task);
	if (p->json) {
		fprintf(p->out, ",\"duration_ns\":%" PRIu64 ",\"result\":\"%s\",\"boundary\":\"%s\"",
			dur, result_name(e->result), boundary_name(e->boundary));
		if (e->result == APS_RES_AWAITING) {
			fprintf(p->out, ",\"awaiting\":\"0x%" PRIx64 "\",\"awaiting_task\":%s", (uint64_t)e->waiter,
				w ? "true" : "false");
			json_str_or_null(p, "awaiting_name", w ? w->name : NULL);
			json_str_or_null(p, "awaiting_type", wtype);
		}
		if (e->result == APS_RES_RAISED)
			json_str_or_null(p, "exception", exc ? exc : "?");
	} else {
		fprintf(p->out, "  %.1fus  %s", (double)dur / 1e3, result_name(e->result));
		if (e->result == APS_RES_AWAITING) {
			if (w)
				fprintf(p->out, " task %s", w->name);
			else
				fprintf(p->out, " %s 0x%" PRIx64, wtype ? wtype : "future", (uint64_t)e->waiter);
		}
		if (e->result == APS_RES_RAISED)
			fprintf(p->out, " %s", exc ? exc : "?");
	}
	end_line(p);
	if (finished(e->result)) {
		if (t)
			t->done = true;
		print_done(p, e, t, exc);
	}
}

static void on_destroy(struct trace_printer *p, const struct aps_ev_task_destroy *e)
{
	struct task *t = model_find(&p->model, e->hdr.task);

	head(p, "destroyed", e->hdr.ts_ns, e->hdr.tid, t, e->hdr.task);
	end_line(p);
	if (t)
		t->destroyed = true;
}

int trace_printer_event(void *ctx, const void *data, size_t len)
{
	struct trace_printer *p = ctx;

	switch (event_check(data, len)) {
	case APS_EV_TASK_NEW: on_task_new(p, data); break;
	case APS_EV_STEP_BEGIN: on_step_begin(p, data); break;
	case APS_EV_STEP_END: on_step_end(p, data); break;
	case APS_EV_TASK_DESTROY: on_destroy(p, data); break;
	case APS_EV_TYPE_NAME: on_type_name(p, data); break;
	default: p->model.bad_events++; break;
	}
	/* a non-zero return stops ring_buffer__poll: used for fatal errors */
	return p->fatal;
}

void trace_printer_lost(struct trace_printer *p, uint64_t lost_total, uint64_t ts)
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

void trace_printer_finish(struct trace_printer *p, const char *reason, uint64_t ts,
			  uint64_t lost, uint64_t read_errors,
			  const struct prog_stat *stats, int nstats)
{
	bool have_stats = false;

	trace_printer_lost(p, lost, ts);
	/* steps still open when the trace ends are closed here, marked "exit" */
	for (uint32_t i = 0; i < p->model.cap; i++) {
		struct task *t = &p->model.slots[i];
		struct aps_ev_step_end e = {};

		if (!t->used || !t->step_begin_ts || t->destroyed)
			continue;
		e.hdr.type = APS_EV_STEP_END;
		e.hdr.tid = t->tid;
		e.hdr.ts_ns = ts > t->step_begin_ts ? ts : t->step_begin_ts;
		e.hdr.task = t->addr;
		e.begin_ts_ns = t->step_begin_ts;
		e.result = APS_RES_UNKNOWN;
		e.boundary = APS_BND_THREAD_EXIT;
		on_step_end(p, &e);
	}
	for (int i = 0; i < nstats; i++)
		have_stats |= stats[i].runs > 0;
	if (p->json) {
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
	} else {
		fprintf(p->out, "-- %s: %" PRIu64 " tasks, %" PRIu64 " steps, %" PRIu64
			" lost events, %" PRIu64 " read errors\n", reason, p->model.tasks_seen,
			p->model.steps, lost, read_errors);
	}
	fflush(p->out);
}
