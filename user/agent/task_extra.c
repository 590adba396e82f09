// SPDX-License-Identifier: MIT
#include <string.h>
#include "agent/task_extra.h"
#include "agent/task_hist.h"
#include "memory/sleep_timer.h"

#define SLEEP_READ_BUDGET 100000	/* memory reads for all the timers */

uint32_t task_extra_fill(const struct snapshot *s, pid_t pid, const struct py_layout *l,
			 const struct agent_tasks *h, uint64_t now, struct task_extra *x)
{
	struct pyreader r;
	uint32_t known = 0;

	pyread_init(&r, pid, l, SLEEP_READ_BUDGET);
	for (uint32_t i = 0; i < s->ntasks; i++) {
		x[i] = (struct task_extra){ .age_ns = -1, .wait_ns = -1, .sleep_left_ns = -1 };
	}
	for (uint32_t i = 0; i < s->ntasks; i++) {
		const struct snap_task *t = &s->tasks[i];
		const struct agent_task_info *a = h ? agent_tasks_find(h, t->addr) : NULL;
		double when, delay;

		for (uint32_t k = 0; k < t->nawaiters; k++)
			if (t->awaiters[k].task >= 0 && (uint32_t)t->awaiters[k].task < s->ntasks &&
			    (uint32_t)t->awaiters[k].task != i)
				x[t->awaiters[k].task].child_tasks++;
		if (a) {
			known++;
			if (now > a->first_ns) {
				x[i].age_ns = (int64_t)(now - a->first_ns);
				x[i].age_lower = !(a->flags & TH_CREATED_SEEN);
			}
			if (now > a->wait_ns) {
				x[i].wait_ns = (int64_t)(now - a->wait_ns);
				x[i].wait_lower = !(a->flags & TH_WAIT_SEEN);
			}
		}
		/* a task in asyncio.sleep: its timer says when it fell asleep and wakes */
		if (t->stack_ok && t->nframes && sleep_timer_frame(&t->frames[0]) &&
		    !sleep_timer_read(&r, t->inner_coro, &when, &delay) && when > 0 && delay >= 0) {
			double nowf = (double)now / 1e9;

			x[i].sleep_left_ns = when > nowf ? (int64_t)((when - nowf) * 1e9) : 0;
			if (nowf > when - delay) {
				x[i].wait_ns = (int64_t)((nowf - (when - delay)) * 1e9);
				x[i].wait_lower = false;
				/* it has lived at least that long (the agent's age is to half a period) */
				if (x[i].age_ns >= 0 && x[i].age_ns < x[i].wait_ns)
					x[i].age_ns = x[i].wait_ns;
			}
		}
	}
	return known;
}
