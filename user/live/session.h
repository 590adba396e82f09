/* SPDX-License-Identifier: MIT */
/* One traced target: find it, resolve hooks and layout, attach, run the loop. */
#ifndef APS_SESSION_H
#define APS_SESSION_H

#include <stdbool.h>
#include <signal.h>
#include <sys/types.h>
#include "hooks/hooks.h"
#include "target/interp.h"
#include "target/layout.h"
#include "live/tracer.h"

enum session_end {
	SESSION_INTERRUPTED = 1,
	SESSION_DURATION,
	SESSION_TARGET_EXITED,
	SESSION_TARGET_EXECED,
	SESSION_ERROR,
};

struct session {
	pid_t pid;
	pid_t child;		/* we started it: reap it */
	char child_cmd[256];	/* its argv[0] */
	uint64_t start_time;	/* /proc/PID/stat starttime: tells a reused pid */
	char exe_id[64];	/* dev:inode of /proc/PID/exe: tells an exec */
	struct interp ip;
	struct py_layout layout;
	struct hook_set hooks;
	struct tracer *tracer;
	bool verbose;
	bool quiet;		/* no "attached" line */
	unsigned ringbuf_kb;	/* 0: default */
	int poll_ms;		/* ring buffer poll timeout = tick period; 0: 100 */
	void (*on_tick)(struct session *s, void *ctx);	/* after each poll */
	void *tick_ctx;
	char err[2048];
};

extern volatile sig_atomic_t session_stop;

/* Start CMD held before exec; session.pid is its pid. */
int session_spawn(struct session *s, char **argv);
/* Release a spawned child: it execs. 0, or -errno with s->err set when it could not. */
int session_release_child(struct session *s);
/*
 * Find the interpreter and the hooks, waiting (while the target lives)
 * for it to become Python and for asyncio to be loadable. 0 or -errno
 * with s->err set.
 */
int session_resolve(struct session *s, bool wait_for_python);
/* Load BPF (before resolve, so a spawned child can be released at once). */
int session_load(struct session *s, tracer_event_fn fn, void *ctx);
int session_attach(struct session *s);
/* Poll until stop, duration (ms, 0 = none), or the target ends. */
enum session_end session_run(struct session *s, unsigned duration_ms);
void session_close(struct session *s);
const char *session_end_name(enum session_end e);
/* A message for an interp_detect/resolve error code. */
void session_explain(struct session *s, int err);

#endif
