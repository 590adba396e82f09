// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "live/session.h"
#include "loop/loop_session.h"
#include "memory/py_runtime.h"
#include "target/layout_runtime.h"
#include "target/proc.h"
#include "util/monotime.h"

#define SYNC_PERIOD_NS 500000000ull	/* thread states re-read this often */
#define MAX_TIDS 4096

int loop_target_config(const struct interp *ip, const struct py_layout *l,
		       struct aps_loop_target *cfg)
{
	const struct frame_layout *fl = frame_layout_for(ip->minor);

	if (!fl)
		return -EPROTONOSUPPORT;
	memset(cfg, 0, sizeof(*cfg));
	cfg->ts_frame = fl->ts_frame;
	cfg->cf_current = fl->cf_current;
	cfg->fr_previous = fl->fr_previous;
	cfg->fr_code = fl->fr_code;
	cfg->fr_instr = fl->fr_instr;
	cfg->fr_owner = fl->fr_owner;
	cfg->fr_gen = fl->fr_gen;
	cfg->gen_iframe = l->snap.gen_iframe;
	cfg->co_code_adaptive = l->snap.co_code_adaptive;
	cfg->minor = (__u8)ip->minor;
	cfg->tagged_code = fl->tagged_code;
	/* 3.14: asyncio_running_task follows asyncio_running_loop (pycore_tstate.h) */
	if (ip->minor >= 14 && l->snap.ts_running_loop)
		cfg->ts_running_task = l->snap.ts_running_loop + 8;
	return 0;
}

struct tid_pair {
	uint32_t kernel, ns;
};

struct sync_ctx {
	struct loop_session *s;
	struct tid_pair tids[MAX_TIDS];
	int ntids;
	bool identity;		/* the target shares our pid namespace */
	uint64_t last_tstate;	/* 3.10: the list's tail is the main thread */
	int n;
};

static void on_tstate(void *ctx, uint64_t native_tid, uint64_t tstate)
{
	struct sync_ctx *c = ctx;

	c->n++;
	c->last_tstate = tstate;
	if (!native_tid)
		return;
	for (int i = 0; i < c->ntids; i++)
		if (c->tids[i].ns == native_tid) {
			loop_tracer_set_tstate(c->s->lt, c->tids[i].kernel, tstate);
			return;
		}
}

static void forget_dead(void *ctx, uint32_t tid, const struct aps_loop_thread *st)
{
	struct sync_ctx *c = ctx;

	(void)st;
	for (int i = 0; i < c->ntids; i++)
		if (c->tids[i].kernel == tid)
			return;
	loop_tracer_forget_thread(c->s->lt, tid);
}

void loop_session_sync_threads(struct loop_session *s)
{
	static struct sync_ctx c;
	char path[64];
	struct dirent *d;
	DIR *dir;

	memset(&c, 0, sizeof(c));
	c.s = s;
	snprintf(path, sizeof(path), "/proc/%d/task", s->pid);
	dir = opendir(path);
	if (!dir)
		return;
	c.identity = proc_ns_tid(s->pid, (uint32_t)s->pid) == (uint32_t)s->pid;
	while ((d = readdir(dir)) && c.ntids < MAX_TIDS) {
		char *end;
		unsigned long tid = strtoul(d->d_name, &end, 10);

		if (d->d_name[0] < '0' || d->d_name[0] > '9' || *end)
			continue;
		c.tids[c.ntids].kernel = (uint32_t)tid;
		c.tids[c.ntids].ns = c.identity ? (uint32_t)tid : proc_ns_tid(s->pid, (uint32_t)tid);
		c.ntids++;
	}
	closedir(dir);
	thread_stack_tstates(s->reader, on_tstate, &c);
	/* 3.10 keeps no native id: the first thread state made is the main thread's */
	if (s->ip.minor == 10 && c.last_tstate)
		loop_tracer_set_tstate(s->lt, (uint32_t)s->pid, c.last_tstate);
	loop_tracer_threads(s->lt, s->pid, forget_dead, &c);
	s->last_sync_ns = monotime_ns();
}

int loop_session_open(struct loop_session *s, loop_event_fn fn, void *ctx)
{
	struct py_runtime rt;
	char rterr[256];
	int err;

	err = interp_detect(s->pid, &s->ip);
	if (err) {
		struct session tmp = { .pid = s->pid, .ip = s->ip };

		session_explain(&tmp, err);
		memcpy(s->err, tmp.err, sizeof(s->err));
		return err;
	}
	s->start_time = proc_start_time(s->pid);
	err = layout_for_target(&s->ip, &s->layout, s->err, sizeof(s->err));
	if (err)
		return err;
	/* 3.13+: refine from what the interpreter publishes (best effort) */
	py_runtime_resolve(&s->ip, &s->layout, &rt, rterr, sizeof(rterr));
	err = loop_target_config(&s->ip, &s->layout, &s->cfg);
	if (err) {
		snprintf(s->err, sizeof(s->err), "no frame layout for Python %d.%d", s->ip.major,
			 s->ip.minor);
		return err;
	}
	s->cfg.flags = s->flags;
	s->cfg.span_min_ns = s->span_min_ns;
	s->reader = calloc(1, sizeof(*s->reader));
	if (!s->reader)
		return -ENOMEM;
	err = thread_stack_reader_init(s->reader, &s->ip, &s->layout, s->err, sizeof(s->err));
	if (err)
		return err;
	err = loop_tracer_open(&s->lt, s->hook, fn, ctx, 0, s->verbose, s->err, sizeof(s->err));
	if (err)
		return err;
	err = loop_tracer_add(s->lt, s->pid, &s->cfg);
	if (err) {
		snprintf(s->err, sizeof(s->err), "cannot add pid %d: %s", s->pid, strerror(-err));
		return err;
	}
	loop_session_sync_threads(s);
	if (s->hz) {
		err = loop_tracer_start_sampler(s->lt, s->hz, s->err, sizeof(s->err));
		if (err)
			return err;
	}
	if (!proc_alive(s->pid)) {
		snprintf(s->err, sizeof(s->err), "process %d exited while aps-bpf attached", s->pid);
		return -ESRCH;
	}
	if (s->quiet) {
		if (s->verbose)
			fprintf(stderr, "aps-bpf:   loop stalls: poll by %s\n", loop_tracer_hook_name(s->lt));
		return 0;
	}
	fprintf(stderr, "aps-bpf: attached to pid %d: Python %d.%d, loop mode (no uprobe): poll by %s",
		s->pid, s->ip.major, s->ip.minor, loop_tracer_hook_name(s->lt));
	if (s->hz)
		fprintf(stderr, ", sampler %u Hz", s->hz);
	fputc('\n', stderr);
	return 0;
}

int loop_session_run(struct loop_session *s, unsigned duration_ms)
{
	uint64_t start = monotime_ns(), deadline = duration_ms ? start + duration_ms * 1000000ull : 0;
	uint64_t period = (uint64_t)(s->poll_ms > 0 ? s->poll_ms : 100) * 1000000ull;
	uint64_t next_tick = start + period, now;
	int err, why;

	for (;;) {
		if (session_stop) {
			why = SESSION_INTERRUPTED;
			break;
		}
		now = monotime_ns();
		err = loop_tracer_poll(s->lt, now < next_tick ? (int)((next_tick - now) / 1000000) : 0);
		if (err < 0 && err != -EINTR) {
			snprintf(s->err, sizeof(s->err), "reading events: %s", strerror(-err));
			why = SESSION_ERROR;
			break;
		}
		now = monotime_ns();
		if (now < next_tick)
			continue;
		next_tick = now + period;
		if (now - s->last_sync_ns >= SYNC_PERIOD_NS)
			loop_session_sync_threads(s);
		if (s->on_tick)
			s->on_tick(s, s->tick_ctx);
		if (deadline && monotime_ns() >= deadline) {
			why = SESSION_DURATION;
			break;
		}
		if (!proc_alive(s->pid) || proc_start_time(s->pid) != s->start_time) {
			why = SESSION_TARGET_EXITED;
			break;
		}
	}
	loop_tracer_drain(s->lt);
	return why;
}

void loop_session_close(struct loop_session *s)
{
	loop_tracer_close(s->lt);
	s->lt = NULL;
	if (s->reader) {
		thread_stack_reader_free(s->reader);
		free(s->reader);
		s->reader = NULL;
	}
}
