/* SPDX-License-Identifier: MIT */
/*
 * Following forks (-f): each forked child of a traced process is attached
 * with the parent's hooks and layout (a fork copies the address space),
 * and its events go to its own consumer, told apart by thread group.
 */
#ifndef APS_FORKS_H
#define APS_FORKS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "live/session.h"

struct forks;
/* A child's consumer (its event function's context), made from its parent's. */
typedef void *(*forks_open_fn)(void *ctx, pid_t pid, void *parent_ctx);
/* A child's section ends: it exited or ran a new program (reason), or the trace ended. */
typedef void (*forks_close_fn)(void *ctx, void *proc_ctx, pid_t pid, const char *reason,
			       uint64_t ts);

struct forks_proc {
	pid_t pid;
	void *ctx;
	bool open;
};

struct forks {
	struct session *s;
	tracer_event_fn fn;		/* every process's events, with its ctx */
	forks_open_fn open;
	forks_close_fn close;
	void *ctx;
	struct forks_proc v[TRACER_MAX_PROCS];	/* v[0]: the session's own target */
	unsigned n;
	struct { uint32_t tid; pid_t pid; } tids[256];	/* thread -> process cache */
	unsigned ntids;
	unsigned refused;		/* children not traced (no room, attach failed) */
};

/* Route s's events: main_ctx is the target's own consumer. Sets s->on_fork. */
void forks_init(struct forks *f, struct session *s, tracer_event_fn fn, void *main_ctx,
		forks_open_fn open, forks_close_fn close, void *ctx);
/* The tracer's event function (ctx: the struct forks). */
int forks_event(void *ctx, const void *data, size_t len);
/* Each tick: end the sections of children that exited. */
void forks_tick(struct forks *f, uint64_t ts);
/* The trace ends: end every child's section still open. */
void forks_finish(struct forks *f, const char *reason, uint64_t ts);

#endif
