// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "target/layout_runtime.h"
#include "target/proc.h"
#include "live/caps.h"
#include "live/session.h"

volatile sig_atomic_t session_stop;

static int hold_fd = -1;	/* write end: closing it lets the child exec */
static int exec_err_fd = -1;	/* read end: the child's exec errno, or EOF */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void exe_identity(pid_t pid, char *buf, size_t len)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	if (stat(path, &st))
		buf[0] = '\0';
	else
		snprintf(buf, len, "%llx:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
}

int session_spawn(struct session *s, char **argv)
{
	int p[2], e[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	if (pipe2(e, O_CLOEXEC)) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		close(e[0]);
		close(e[1]);
		return -errno;
	}
	if (pid == 0) {
		int err;

		close(p[1]);
		close(e[0]);
		/* wait until the parent has loaded BPF; EOF means go */
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		close(p[0]);
		execvp(argv[0], argv);
		/* the parent says why; a successful exec closes e[1] */
		err = errno;
		if (write(e[1], &err, sizeof(err)) != sizeof(err))
			err = 0;
		_exit(127);
	}
	close(p[0]);
	close(e[1]);
	hold_fd = p[1];
	exec_err_fd = e[0];
	s->pid = pid;
	s->child = pid;
	snprintf(s->child_cmd, sizeof(s->child_cmd), "%s", argv[0]);
	return 0;
}

int session_release_child(struct session *s)
{
	int err = 0;
	ssize_t n;

	if (hold_fd >= 0) {
		close(hold_fd);
		hold_fd = -1;
	}
	if (exec_err_fd < 0)
		return 0;
	/* EOF: the exec worked; an errno: it did not */
	while ((n = read(exec_err_fd, &err, sizeof(err))) < 0 && errno == EINTR)
		;
	close(exec_err_fd);
	exec_err_fd = -1;
	if (n != sizeof(err) || err <= 0)
		return 0;
	snprintf(s->err, sizeof(s->err), "cannot run %s: %s", s->child_cmd, strerror(err));
	return -err;
}

/* 'Z' for a zombie, from /proc/PID/stat; 0 if unknown. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Reading the target was refused: which capability is missing (s->err: the detail). */
static void explain_read(struct session *s)
{
	char detail[512];

	snprintf(detail, sizeof(detail), "%.511s", s->err);
	caps_explain(CAPS_READ, s->pid, detail, s->err, sizeof(s->err));
}

void session_explain(struct session *s, int err)
{
	char comm[64] = "?";

	switch (err) {
	case -ESRCH:
		if (s->child > 0)
			snprintf(s->err, sizeof(s->err), "%s (pid %d) exited before it loaded Python",
				 s->child_cmd, s->pid);
		else if (proc_state(s->pid) == 'Z')
			snprintf(s->err, sizeof(s->err),
				 "process %d is a zombie: it has exited and its parent has not reaped it", s->pid);
		else
			snprintf(s->err, sizeof(s->err), "no such process: %d", s->pid);
		break;
	case -EACCES:
	case -EPERM:
		explain_read(s);
		break;
	case -ENOEXEC:
		proc_comm(s->pid, comm, sizeof(comm));
		snprintf(s->err, sizeof(s->err),
			 "process %d (%s) is not a Python process: no libpython or python3.X executable is mapped",
			 s->pid, comm);
		break;
	case -EPROTONOSUPPORT:
		snprintf(s->err, sizeof(s->err),
			 "process %d runs Python %d.%d, which aps-bpf does not support (3.10 to 3.14)",
			 s->pid, s->ip.major, s->ip.minor);
		break;
	case -EAGAIN:
		snprintf(s->err, sizeof(s->err),
			 "process %d (Python %d.%d) has not loaded asyncio, and its _asyncio module was not found",
			 s->pid, s->ip.major, s->ip.minor);
		break;
	default:
		if (!s->err[0])
			snprintf(s->err, sizeof(s->err), "process %d: %s", s->pid, strerror(-err));
	}
}

int session_resolve(struct session *s, bool wait_for_python)
{
	uint64_t started = now_ms();
	bool told = false;
	int err;

	for (;;) {
		err = interp_detect(s->pid, &s->ip);
		if (!err)
			break;
		if ((err == -ESRCH && s->child <= 0) || err == -EACCES || err == -EPERM ||
		    err == -EPROTONOSUPPORT ||
		    (err == -ENOEXEC && !wait_for_python) || session_stop) {
			session_explain(s, err);
			return err;
		}
		if (!proc_alive(s->pid)) {
			if ((err == -ENOEXEC || err == -ESRCH) && s->child > 0)
				snprintf(s->err, sizeof(s->err), "%s (pid %d) exited before it loaded Python",
					 s->child_cmd, s->pid);
			else if (err == -ENOEXEC || err == -ESRCH)
				snprintf(s->err, sizeof(s->err), "process %d exited before it loaded Python",
					 s->pid);
			else
				snprintf(s->err, sizeof(s->err), "process %d exited before asyncio was loaded",
					 s->pid);
			return -ESRCH;
		}
		if (!told && now_ms() - started > 2000) {
			fprintf(stderr, "aps-bpf: waiting for process %d to %s\n", s->pid,
				err == -ENOEXEC ? "run Python" : "import asyncio");
			told = true;
		}
		usleep(err == -ENOEXEC ? 1000 : 20000);
	}
	s->start_time = proc_start_time(s->pid);
	exe_identity(s->pid, s->exe_id, sizeof(s->exe_id));
	err = hooks_resolve(&s->ip, &s->hooks, s->err, sizeof(s->err));
	if (!err)
		err = layout_for_target(&s->ip, &s->layout, s->err, sizeof(s->err));
	if (err == -EACCES || err == -EPERM)
		explain_read(s);
	return err;
}

int session_load(struct session *s, tracer_event_fn fn, void *ctx)
{
	int err = tracer_load(&s->tracer, fn, ctx, s->verbose, s->ringbuf_kb, s->err, sizeof(s->err));

	if (err == -EACCES || err == -EPERM)
		caps_explain(CAPS_LOAD, s->pid, strerror(-err), s->err, sizeof(s->err));
	return err;
}

int session_attach(struct session *s)
{
	int err = tracer_attach(s->tracer, &s->ip, &s->layout, &s->hooks, s->err, sizeof(s->err));

	if (err == -EACCES || err == -EPERM)
		caps_explain(CAPS_ATTACH, s->pid, strerror(-err), s->err, sizeof(s->err));
	if (err)
		return err;
	if (!proc_alive(s->pid)) {
		snprintf(s->err, sizeof(s->err), "process %d exited while aps-bpf attached", s->pid);
		return -ESRCH;
	}
	if (s->quiet)
		return 0;
	fprintf(stderr, "aps-bpf: attached to pid %d: Python %d.%d", s->pid, s->ip.major, s->ip.minor);
	if (s->ip.micro >= 0)
		fprintf(stderr, ".%d", s->ip.micro);
	fprintf(stderr, ", %s%s\n", s->ip.asyncio_obj,
		s->ip.asyncio_mapped ? "" : " (not loaded yet: probes armed)");
	for (int i = 0; i < HOOK_COUNT; i++) {
		const struct hook *h = &s->hooks.h[i];

		if (!h->found || (i == HOOK_SWAP && !s->layout.bpf.swap_task_arg))
			continue;
		fprintf(stderr, "aps-bpf:   %-24s 0x%llx (%s)", h->func,
			(unsigned long long)h->vaddr, h->source);
		if (h->at_call_sites) {
			fprintf(stderr, ", probes at its %d call sites:", h->nprobes);
			for (int j = 0; j < h->nprobes; j++)
				fprintf(stderr, " 0x%llx", (unsigned long long)h->probe_vaddr[j]);
		} else if (h->probe_vaddr[0] != h->vaddr) {
			fprintf(stderr, ", probe past endbr64");
		}
		fprintf(stderr, "%s\n", h->emulated ? "" : " (single-stepped)");
	}
	if (s->hooks.debug_path[0])
		fprintf(stderr, "aps-bpf:   symbols from %s\n", s->hooks.debug_path);
	return 0;
}

static bool target_gone(struct session *s, enum session_end *why)
{
	char id[64];

	if (s->child > 0) {
		int status;

		if (waitpid(s->child, &status, WNOHANG) == s->child) {
			s->child = 0;
			*why = SESSION_TARGET_EXITED;
			return true;
		}
	}
	if (!proc_alive(s->pid) || proc_start_time(s->pid) != s->start_time) {
		*why = SESSION_TARGET_EXITED;
		return true;
	}
	exe_identity(s->pid, id, sizeof(id));
	if (id[0] && strcmp(id, s->exe_id)) {
		*why = SESSION_TARGET_EXECED;
		return true;
	}
	return false;
}

enum session_end session_run(struct session *s, unsigned duration_ms)
{
	uint64_t deadline = duration_ms ? now_ms() + duration_ms : 0;
	int period = s->poll_ms > 0 ? s->poll_ms : 100;
	uint64_t next_tick = now_ms() + (uint64_t)period, now;
	enum session_end why;
	int err;

	for (;;) {
		if (session_stop) {
			why = SESSION_INTERRUPTED;
			break;
		}
		now = now_ms();
		err = tracer_poll(s->tracer, now < next_tick ? (int)(next_tick - now) : 0);
		if (err < 0 && err != -EINTR) {
			if (!s->err[0])	/* a handler may have said why already */
				snprintf(s->err, sizeof(s->err), "reading events: %s", strerror(-err));
			why = SESSION_ERROR;
			break;
		}
		/* a ring buffer with data wakes the poll at once: the tick's work
		 * (reading /proc, flushing) runs once a period, not per batch */
		now = now_ms();
		if (now < next_tick)
			continue;
		next_tick = now + (uint64_t)period;
		if (s->on_tick)
			s->on_tick(s, s->tick_ctx);
		if (deadline && now_ms() >= deadline) {
			why = SESSION_DURATION;
			break;
		}
		if (target_gone(s, &why))
			break;
	}
	tracer_drain(s->tracer);
	return why;
}

void session_close(struct session *s)
{
	session_release_child(s);
	tracer_close(s->tracer);
	s->tracer = NULL;
	if (s->child > 0) {
		/* the child is the user's program: let it run to its end */
		waitpid(s->child, NULL, 0);
		s->child = 0;
	}
}

const char *session_end_name(enum session_end e)
{
	switch (e) {
	case SESSION_INTERRUPTED: return "interrupted";
	case SESSION_DURATION: return "duration";
	case SESSION_TARGET_EXITED: return "target_exited";
	case SESSION_TARGET_EXECED: return "target_execed";
	default: return "error";
	}
}
