/* SPDX-License-Identifier: MIT */
/*
 * The tasks of a recording at an instant, as ps/pstree show them: the last
 * memory read (TASKS record) that ended before it, brought forward by the
 * events between that read and the instant. A task that stepped after the
 * read shows what the events know (its coroutine, the task it awaits);
 * one that did not keeps the stack and edges the read found.
 */
#ifndef APS_REPLAY_TASKS_H
#define APS_REPLAY_TASKS_H

#include <stdbool.h>
#include <stdint.h>
#include "model/model.h"
#include "recording/rec_reader.h"
#include "recording/rec_tasks.h"
#include "memory/snapshot.h"

struct replay_tasks {
	struct snapshot snap;		/* the view's tasks; strings in base or model */
	struct model model;		/* at the instant: timing, names */
	struct rec_tasks base;		/* the memory read used (have_read) */
	bool have_read;
	uint32_t from_events;		/* tasks shown from events alone */
	uint64_t lost;			/* events lost before the instant */
};

/* 0, or -errno / -1 (malformed) with a message in err. Free either way. */
int replay_tasks_at(const struct rec_reader *r, uint64_t ts, struct replay_tasks *out, char *err,
		    size_t errlen);
void replay_tasks_free(struct replay_tasks *rt);

#endif
