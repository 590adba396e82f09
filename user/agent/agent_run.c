// SPDX-License-Identifier: MIT
/* The agent's main loop: discovery, snapshots, dumps, the socket; HTTP on its own thread. */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "agent/agent.h"
#include "agent/agent_http.h"
#include "agent/agent_run.h"
#include "agent/agent_sock.h"
#include "agent/procwatch.h"
#include "loop/loop_tracer.h"
#include "target/proc.h"

#define TICK_MS 200	/* shorter when --dump-on-stall needs it */
#define EXEC_QUEUE 1024
#define RESCAN_MAX_PIDS 1000000
/* a new program is checked again this long after its exec (asyncio loads later) */
static const uint64_t exec_retry_ns[] = { 300000000ull, 1500000000ull, 5000000000ull };

static volatile sig_atomic_t stop, dump_all;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump_all = 1;
	else
		stop = 1;
}

struct exec_queue {
	struct { pid_t pid; uint64_t due; unsigned tries; } v[EXEC_QUEUE];
	unsigned n;
};

struct runner {
	struct agent *a;
	struct exec_queue q;
};

static void queue_exec(struct exec_queue *q, pid_t pid, uint64_t now, unsigned tries)
{
	if (tries >= sizeof(exec_retry_ns) / sizeof(exec_retry_ns[0]) || q->n >= EXEC_QUEUE)
		return;	/* the periodic rescan finds it */
	q->v[q->n].pid = pid;
	q->v[q->n].due = now + exec_retry_ns[tries];
	q->v[q->n].tries = tries;
	q->n++;
}

static void on_proc_event(void *ctx, const struct aps_proc_event *e)
{
	struct runner *r = ctx;
	struct agent *a = r->a;
	struct agent_proc *p;
	unsigned idx;
	int code = e->exit_code;

	p = agent_find(a, (pid_t)e->pid, &idx);
	if (e->type == APS_PROC_EXEC) {
		a->exec_events++;
		if (p) {
			/* the watched program is gone: a new one runs under its pid */
			fprintf(stderr, "aps-bpf agent: pid %d executed a new program\n", p->pi.pid);
			agent_forget(a, idx);
		}
		if (discover_python_exe((pid_t)e->pid))
			queue_exec(&r->q, (pid_t)e->pid, agent_now(), 0);
		return;
	}
	if (e->type != APS_PROC_EXIT || !p)
		return;
	/* exit(0) and SIGTERM/SIGINT/SIGHUP are orderly ends; the rest is abnormal */
	if ((code & 0x7f) ? !((code & 0x7f) == SIGTERM || (code & 0x7f) == SIGINT || (code & 0x7f) == SIGHUP)
			  : ((code >> 8) & 0xff) != 0) {
		char path[4096], err[256];

		fprintf(stderr, "aps-bpf agent: pid %d (%s) ended abnormally (%s %d)\n", p->pi.pid,
			p->pi.comm, code & 0x7f ? "signal" : "exit status", code & 0x7f ? code & 0x7f : (code >> 8) & 0xff);
		agent_proc_dump(a, p, DUMP_EXIT, path, sizeof(path), err, sizeof(err));
	}
	agent_forget(a, idx);
}

static void run_exec_queue(struct runner *r, uint64_t now)
{
	struct exec_queue *q = &r->q;

	for (unsigned i = 0; i < q->n;) {
		pid_t pid;
		unsigned tries;

		if (now < q->v[i].due) {
			i++;
			continue;
		}
		pid = q->v[i].pid;
		tries = q->v[i].tries;
		q->v[i] = q->v[--q->n];
		if (agent_consider(r->a, pid) == 0 && proc_alive(pid))
			queue_exec(q, pid, now, tries + 1);
	}
}

static void rescan(struct agent *a)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	unsigned seen = 0;

	/* the ones that ended unseen (before their exit was watched, or a lost event) */
	for (unsigned i = 0; i < a->nprocs;) {
		if (agent_proc_alive(a->procs[i])) {
			i++;
			continue;
		}
		if (a->o.verbose)
			fprintf(stderr, "aps-bpf agent: pid %d is gone\n", a->procs[i]->pi.pid);
		agent_forget(a, i);
	}
	if (!d)
		return;
	while ((de = readdir(d)) && seen++ < RESCAN_MAX_PIDS) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == getpid())
			continue;
		agent_consider(a, (pid_t)pid);
	}
	closedir(d);
}

/* Forget rejected pids that no longer exist: the map stays as big as /proc. */
static void prune_rejected(struct agent *a)
{
	struct u64_map keep = {};

	for (uint32_t i = 0; i < a->rejected.cap; i++) {
		uint64_t k = a->rejected.s[i].key;
		pid_t pid = (pid_t)((k >> 32) & 0x7fffffff);

		if (a->rejected.s[i].st == 1 &&
		    (proc_start_time(pid) & 0xffffffffu) == (k & 0xffffffffu))
			u64_map_put(&keep, k, 1);
	}
	u64_map_free(&a->rejected);
	a->rejected = keep;
}

static int make_dir(const char *dir)
{
	char buf[4096];

	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0750) && errno != EEXIST)
		return -errno;
	return 0;
}

int agent_run(struct agent_opts *o)
{
	struct agent a = { .o = *o };
	struct runner r = { .a = &a };
	struct agent_http *http = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	char err[512];
	int sfd = -1, rc = 1, e, tick_ms = TICK_MS;
	uint64_t trimmed_at = 0;

	pthread_mutex_init(&a.lock, NULL);
	a.rcache_ok = !page_cache_init(&a.rcache, 0, AGENT_READ_CACHE);
	a.started_ns = agent_now();
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	e = make_dir(o->dump_dir);
	if (e) {
		fprintf(stderr, "aps-bpf agent: --dump-dir %s: %s\n", o->dump_dir, strerror(-e));
		goto cleanup;
	}
	sfd = agent_sock_listen(o->sock_path, err, sizeof(err));
	if (sfd < 0) {
		fprintf(stderr, "aps-bpf agent: %s\n", err);
		goto cleanup;
	}
	if (o->listen && agent_http_start(&a, o->listen, &http, err, sizeof(err))) {
		fprintf(stderr, "aps-bpf agent: %s\n", err);
		goto cleanup;
	}
	e = procwatch_open(&a.pw, on_proc_event, &r, err, sizeof(err));
	if (e)
		fprintf(stderr, "aps-bpf agent: %s: new processes are found by the rescan every %.0f s only\n",
			err, (double)o->rescan_ns / 1e9);
	if (!o->no_loop && agent_loop_open(&a, err, sizeof(err)))
		fprintf(stderr, "aps-bpf agent: loop mode unavailable (%s): task snapshots only\n", err);
	fprintf(stderr, "aps-bpf agent: running; socket %s%s%s, dumps in %s; %s%s\n", o->sock_path,
		http ? ", metrics on http://" : "", http ? o->listen : "", o->dump_dir,
		a.lt ? "loop mode, poll by " : "task snapshots only", a.lt ? loop_tracer_hook_name(a.lt) : "");
	/* stalls are looked for a few times per threshold */
	if (a.lt && o->stall_ns && o->stall_ns / 4000000 < (uint64_t)tick_ms)
		tick_ms = o->stall_ns / 4000000 > 10 ? (int)(o->stall_ns / 4000000) : 10;
	rescan(&a);
	a.next_rescan = agent_now() + o->rescan_ns;
	while (!stop) {
		struct pollfd pfd[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = a.pw ? procwatch_fd(a.pw) : -1, .events = POLLIN },
		};
		uint64_t now;

		if (poll(pfd, 2, tick_ms) < 0 && errno != EINTR)
			break;
		if (a.pw)
			procwatch_consume(a.pw);
		now = agent_now();
		run_exec_queue(&r, now);
		if (now >= a.next_rescan) {
			rescan(&a);
			prune_rejected(&a);
			if (a.forgotten_total != trimmed_at) {
				/* processes ended: their memory back to the system */
				malloc_trim(0);
				trimmed_at = a.forgotten_total;
			}
			a.next_rescan = now + o->rescan_ns;
		}
		agent_loop_tick(&a, now);
		agent_budget_tick(&a, now);
		for (unsigned i = 0; i < a.nprocs;) {
			if (agent_proc_tick(&a, a.procs[i], now) == -ESRCH) {
				if (o->verbose)
					fprintf(stderr, "aps-bpf agent: pid %d is gone\n", a.procs[i]->pi.pid);
				agent_forget(&a, i);
				continue;
			}
			i++;
		}
		if (dump_all) {
			dump_all = 0;
			for (unsigned i = 0; i < a.nprocs; i++) {
				char path[4096];

				agent_proc_dump(&a, a.procs[i], DUMP_SIGNAL, path, sizeof(path), err, sizeof(err));
			}
		}
		if (pfd[0].revents & POLLIN)
			agent_sock_serve(&a, sfd);
	}
	fprintf(stderr, "aps-bpf agent: stopping\n");
	rc = 0;
cleanup:
	agent_http_stop(http);
	if (sfd >= 0) {
		close(sfd);
		unlink(o->sock_path);
	}
	while (a.nprocs)
		agent_forget(&a, a.nprocs - 1);
	agent_loop_close(&a);
	procwatch_close(a.pw);
	free(a.procs);
	u64_map_free(&a.rejected);
	if (a.rcache_ok)
		page_cache_free(&a.rcache);
	pthread_mutex_destroy(&a.lock);
	return rc;
}
