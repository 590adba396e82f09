// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <string.h>
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

/* age / waiting in ns, or -1 when not known (never invented) */
int64_t task_view_age_of(const struct task_view_opts *o, const struct snap_task *t)
{
	const struct task *m = task_view_timing_of(o, t);

	return m && m->create_ts && o->now > m->create_ts ? (int64_t)(o->now - m->create_ts) : -1;
}

int64_t task_view_waiting_of(const struct task_view_opts *o, const struct snap_task *t)
{
	const struct task *m = task_view_timing_of(o, t);

	return m && m->state == TASK_AWAITING && o->now > m->await_since_ts ?
		       (int64_t)(o->now - m->await_since_ts) : -1;
}
void task_view_json_opt_ns(FILE *out, const char *key, int64_t v)
{
	if (v < 0)
		fprintf(out, ",\"%s\":null", key);
	else
		fprintf(out, ",\"%s\":%" PRId64, key, v);
}
