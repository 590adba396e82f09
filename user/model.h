/* SPDX-License-Identifier: MIT */
/* The task model: what we know of each task, rebuilt from events. */
#ifndef APS_MODEL_H
#define APS_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include "aps_events.h"
#include "escape.h"

struct task {
	uint64_t addr;
	uint64_t creator;		/* 0: none or unknown */
	uint64_t create_ts;		/* 0: existed before we attached */
	uint64_t first_seen_ts;
	uint64_t coro;
	uint32_t tid;			/* thread of its last event */
	uint32_t steps;
	uint64_t busy_ns;
	uint64_t max_step_ns;
	uint64_t step_begin_ts;		/* of the open step, 0 if none */
	uint8_t result;			/* enum aps_step_result of the last step end */
	bool done, destroyed, used;
	char name[APS_NAME_MAX];
	char coro_name[APS_NAME_MAX];
};

struct model {
	struct task *slots;
	uint32_t cap;			/* power of two */
	uint32_t live;			/* used slots (including destroyed, until reused) */
	uint64_t tasks_seen;
	uint64_t steps;
	uint64_t bad_events;
};

int model_init(struct model *m, uint32_t cap_hint);
void model_free(struct model *m);
struct task *model_find(struct model *m, uint64_t addr);
/* Find or add; a destroyed task at the same address is replaced. */
struct task *model_get(struct model *m, uint64_t addr);

/* Validate a raw ring-buffer record: its type if well-formed, else -1. */
int event_check(const void *data, size_t len);

#endif
