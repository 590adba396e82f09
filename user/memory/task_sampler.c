// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <time.h>
#include "memory/task_sampler.h"
#include "util/monotime.h"

void task_sampler_init(struct task_sampler *s, const struct interp *ip, const struct py_layout *l)
{
	memset(s, 0, sizeof(*s));
	s->ip = ip;
	s->l = l;
}

static void *read_tasks(void *arg)
{
	struct task_sampler *s = arg;

	s->t0 = monotime_ns();
	s->err = snapshot_take(s->ip, s->l, &s->snap, s->errmsg, sizeof(s->errmsg));
	s->t1 = monotime_ns();
	atomic_store(&s->done, true);
	return NULL;
}

int task_sampler_start(struct task_sampler *s)
{
	int err;

	if (s->running)
		return -EBUSY;
	memset(&s->snap, 0, sizeof(s->snap));
	s->err = 0;
	s->errmsg[0] = '\0';
	atomic_store(&s->done, false);
	err = pthread_create(&s->thread, NULL, read_tasks, s);
	if (err)
		return -err;
	s->running = true;
	return 0;
}

int task_sampler_collect(struct task_sampler *s, bool wait)
{
	if (!s->running || (!wait && !atomic_load(&s->done)))
		return 0;
	pthread_join(s->thread, NULL);
	s->running = false;
	return 1;
}
