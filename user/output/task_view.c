// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "output/fmt.h"
#include "output/task_view.h"

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

	if (snap_frame_gap(f))
		snprintf(buf, len, "\u2026 %u frames \u2026", snap_frame_gap(f));
	else if (f->line <= 0 && !file[0])
		snprintf(buf, len, "%s", f->qualname ? f->qualname : "?");
	else if (f->line < 0)
		snprintf(buf, len, "%s %s", f->qualname ? f->qualname : "?", file);
	else
		snprintf(buf, len, "%s %s:%d", f->qualname ? f->qualname : "?", file, f->line);
}

const struct task *task_view_timing_of(const struct task_view_opts *o, const struct snap_task *t)
{
	return o->timing ? model_find((struct model *)o->timing, t->addr) : NULL;
}

const char *task_view_state_of(const struct task_view_opts *o, const struct snap_task *t)
{
	const struct task *m = task_view_timing_of(o, t);

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

const struct task_extra *task_view_extra_of(const struct task_view_opts *o,
					    const struct snapshot *s, const struct snap_task *t)
{
	return o->extra && s ? &o->extra[t - s->tasks] : NULL;
}

int64_t task_view_age_of(const struct task_view_opts *o, const struct snapshot *s,
			 const struct snap_task *t, bool *lower)
{
	const struct task *m = task_view_timing_of(o, t);
	const struct task_extra *x = task_view_extra_of(o, s, t);

	*lower = false;
	if (m && m->create_ts && o->now > m->create_ts)
		return (int64_t)(o->now - m->create_ts);
	if (x && x->age_ns >= 0) {
		*lower = x->age_lower;
		return x->age_ns;
	}
	return -1;
}

int64_t task_view_waiting_of(const struct task_view_opts *o, const struct snapshot *s,
			     const struct snap_task *t, bool *lower)
{
	const struct task *m = task_view_timing_of(o, t);
	const struct task_extra *x = task_view_extra_of(o, s, t);

	*lower = false;
	if (m && m->state == TASK_AWAITING && o->now > m->await_since_ts)
		return (int64_t)(o->now - m->await_since_ts);
	if (!m && x && x->wait_ns >= 0 && t->state == APS_FUT_PENDING) {
		*lower = x->wait_lower;
		return x->wait_ns;
	}
	return -1;
}

const char *task_view_fmt_bound(int64_t ns, bool lower, char *buf, size_t len)
{
	char d[32];

	if (ns < 0)
		return "?";
	snprintf(buf, len, "%s%s", lower ? "\u2265" : "", fmt_dur((uint64_t)ns, d, sizeof(d)));
	return buf;
}

void task_view_json_bounds(FILE *out, const struct task_view_opts *o, const struct snapshot *s,
			   const struct snap_task *t)
{
	const struct task_extra *x = task_view_extra_of(o, s, t);
	bool al, wl;
	int64_t a = task_view_age_of(o, s, t, &al), w = task_view_waiting_of(o, s, t, &wl);

	task_view_json_opt_ns(out, "age_ns", a);
	fprintf(out, ",\"age_lower_bound\":%s", al ? "true" : "false");
	task_view_json_opt_ns(out, "waiting_ns", w);
	fprintf(out, ",\"waiting_lower_bound\":%s", wl ? "true" : "false");
	if (x && x->sleep_left_ns >= 0)
		fprintf(out, ",\"sleep_left_ns\":%" PRId64, x->sleep_left_ns);
	if (x)
		fprintf(out, ",\"child_tasks\":%u", x->child_tasks);
}

void task_view_json_opt_ns(FILE *out, const char *key, int64_t v)
{
	if (v < 0)
		fprintf(out, ",\"%s\":null", key);
	else
		fprintf(out, ",\"%s\":%" PRId64, key, v);
}
