// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aps_events.h"
#include "target/proc.h"
#include "live/forks.h"

/* Thread group of a thread: /proc/TID/status (any tid, listed or not). */
static pid_t tgid_of(uint32_t tid)
{
	char path[64], line[128];
	pid_t tgid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/status", tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Tgid:", 5)) {
			tgid = (pid_t)atoi(line + 5);
			break;
		}
	}
	fclose(f);
	return tgid;
}

static struct forks_proc *proc_of(struct forks *f, pid_t pid)
{
	for (unsigned i = 0; i < f->n; i++)
		if (f->v[i].pid == pid)
			return &f->v[i];
	return NULL;
}

static struct forks_proc *proc_of_tid(struct forks *f, uint32_t tid)
{
	struct forks_proc *p = proc_of(f, (pid_t)tid);	/* a main thread */
	unsigned slot;
	pid_t pid;

	if (p)
		return p;
	for (unsigned i = 0; i < f->ntids && i < 256; i++)
		if (f->tids[i].tid == tid)
			return proc_of(f, f->tids[i].pid);
	pid = tgid_of(tid);
	slot = f->ntids++ % 256;
	f->tids[slot].tid = tid;
	f->tids[slot].pid = pid;
	return proc_of(f, pid);
}

int forks_event(void *ctx, const void *data, size_t len)
{
	struct forks *f = ctx;
	const struct aps_event_hdr *h = data;
	struct forks_proc *p = NULL;

	if (f->n > 1 && len >= sizeof(*h))
		p = proc_of_tid(f, h->tid);
	if (!p || !p->open)
		p = &f->v[0];	/* a thread gone before it was looked up */
	return f->fn(p->ctx, data, len);
}

static void on_fork(struct session *s, pid_t child, pid_t parent, uint64_t ts)
{
	struct forks *f = s->fork_ctx;
	struct interp ip = s->ip;
	struct forks_proc *p;
	char err[256];

	struct forks_proc *pp = proc_of(f, parent);

	if (!pp || proc_of(f, child))
		return;
	if (f->n == TRACER_MAX_PROCS) {
		if (!f->refused++)
			fprintf(stderr, "aps-bpf: process %d forked process %d: not traced "
				"(%d processes traced already)\n", parent, child, TRACER_MAX_PROCS);
		return;
	}
	/* the child is a copy of its parent: the same objects at the same addresses */
	ip.pid = child;
	snprintf(ip.root, sizeof(ip.root), "/proc/%d/root", child);
	p = &f->v[f->n];
	p->pid = child;
	p->ctx = f->open(f->ctx, child, pp->ctx);
	if (!p->ctx)
		return;
	if (tracer_attach(s->tracer, &ip, &s->layout, &s->hooks, err, sizeof(err))) {
		fprintf(stderr, "aps-bpf: process %d forked process %d: not traced: %s\n",
			parent, child, err);
		f->close(f->ctx, p->ctx, child, "not_traced", ts);
		tracer_detach(s->tracer, child);
		f->refused++;
		return;
	}
	p->open = true;
	f->n++;
	if (!s->quiet)
		fprintf(stderr, "aps-bpf: following fork: process %d (child of %d)\n", child, parent);
}

static void on_child_exec(struct session *s, pid_t pid, uint64_t ts)
{
	struct forks *f = s->fork_ctx;
	struct forks_proc *p = proc_of(f, pid);

	if (!p || !p->open || p == &f->v[0])
		return;
	f->close(f->ctx, p->ctx, pid, "target_execed", ts);
	tracer_detach(s->tracer, pid);
	p->open = false;
	if (!s->quiet)
		fprintf(stderr, "aps-bpf: process %d executed a new program (exec): its trace ended\n",
			pid);
}

void forks_init(struct forks *f, struct session *s, tracer_event_fn fn, void *main_ctx,
		forks_open_fn open, forks_close_fn close, void *ctx)
{
	memset(f, 0, sizeof(*f));
	f->s = s;
	f->fn = fn;
	f->open = open;
	f->close = close;
	f->ctx = ctx;
	f->v[0] = (struct forks_proc){ .pid = s->pid, .ctx = main_ctx, .open = true };
	f->n = 1;
	s->fork_ctx = f;
	s->on_fork = on_fork;
	s->on_child_exec = on_child_exec;
}

void forks_tick(struct forks *f, uint64_t ts)
{
	for (unsigned i = 1; i < f->n; i++) {
		struct forks_proc *p = &f->v[i];

		if (!p->open || proc_alive(p->pid))
			continue;
		tracer_drain(f->s->tracer);	/* its last events first */
		f->close(f->ctx, p->ctx, p->pid, "target_exited", ts);
		tracer_detach(f->s->tracer, p->pid);
		p->open = false;
	}
}

void forks_finish(struct forks *f, const char *reason, uint64_t ts)
{
	for (unsigned i = 1; i < f->n; i++) {
		struct forks_proc *p = &f->v[i];

		if (!p->open)
			continue;
		f->close(f->ctx, p->ctx, p->pid, proc_alive(p->pid) ? reason : "target_exited", ts);
		p->open = false;
	}
}
