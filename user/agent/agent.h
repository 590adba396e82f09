/* SPDX-License-Identifier: MIT */
/*
 * user/agent/: the host agent: every asyncio process of a host watched in loop
 * mode, with Prometheus metrics, flight recorders, dumps and task history.
 *
 * The host agent (`aps-bpf agent`): finds the Python processes that use
 * asyncio, reads each one's tasks periodically (the `ps` reader), keeps a
 * flight recorder per process, and serves what it has seen: Prometheus
 * metrics over HTTP (agent_http.c), task histories to `ps`/`pstree` over a
 * root-only unix socket (agent_sock.c). Dumps go to --dump-dir.
 */
#ifndef APS_AGENT_H
#define APS_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "agent/agent_loop.h"
#include "agent/discover.h"
#include "agent/task_hist.h"
#include "memory/page_cache.h"
#include "memory/py_runtime.h"
#include "recording/rec_flight.h"
#include "recording/rec_writer.h"
#include "target/interp.h"
#include "target/layout.h"
#include "util/u64_map.h"

#define AGENT_SOCK_DEFAULT "/run/aps-bpf/agent.sock"
#define AGENT_LISTEN_DEFAULT "127.0.0.1:9464"
#define AGENT_DUMP_DIR_DEFAULT "/var/lib/aps-bpf/dumps"
#define AGENT_TOP_TASKS 10
#define AGENT_READ_CACHE (16ull << 20)	/* target memory cached during one snapshot */	/* the longest-waiting tasks per process in /metrics */

struct agent_opts {
	uint64_t window_ns;	/* flight recorder window per process */
	uint64_t proc_bytes;	/* its memory, per process */
	uint64_t total_bytes;	/* all processes together */
	uint64_t every_ns;	/* task snapshot period */
	double max_cpu;		/* snapshots of all processes: at most this share of a CPU */
	uint64_t rescan_ns;	/* /proc rescan period */
	uint64_t stall_ns;	/* dump on a stall this long (0: never) */
	const char *dump_dir;
	unsigned dump_keep;	/* dumps kept in dump_dir */
	uint64_t dump_bytes;	/* bytes of dumps kept */
	const char *listen;	/* NULL: no HTTP */
	const char *sock_path;
	const char *label;	/* service label for all (NULL: from the cgroup) */
	unsigned max_procs;
	unsigned top_tasks;
	unsigned top_coros;	/* coroutines per process in /metrics */
	unsigned hz;		/* loop mode's sampler (0: none) */
	unsigned ringbuf_kb;	/* loop mode's ring buffer */
	bool no_loop;		/* snapshots only */
	bool verbose;
	struct discover disc;
};

struct agent_proc {
	struct agent *agent;
	struct proc_info pi;
	char service[128];
	struct interp ip;
	struct py_layout layout;	/* refined by py_runtime_resolve */
	struct py_runtime rt;
	bool rt_ok;			/* rt found; else found again before a read */
	struct task_hist hist;
	uint64_t cpu_sig;		/* its threads' run time and run count at the last read */
	uint64_t watched_ns;	/* when the agent began watching it */
	uint64_t next_snap;
	uint64_t snapshots, snap_errors, snap_ns;	/* snap_ns: agent CPU time spent reading */
	uint64_t skipped;		/* reads not needed: it did not run since the last */
	bool changed;			/* its last due read was needed */
	uint64_t read_errors;	/* tasks left out as unreadable */
	int last_err;
	/* the flight recorder */
	struct rec_writer w;
	struct rec_flight fl;
	struct rec_header hdr;
	bool flight_ok;
	unsigned dumps;
	uint64_t last_dump_ns, last_stall_dump;
	struct agent_proc_loop loop;	/* loop mode, when the host's tracer is there */
	/* the longest-waiting tasks of the last snapshot, for /metrics */
	unsigned ntop;
	struct { char name[96]; uint64_t wait_ns; bool exact; } top[AGENT_TOP_TASKS];
};

/* Reasons a dump was written (metrics label). */
enum agent_dump_reason { DUMP_REQUEST, DUMP_SIGNAL, DUMP_EXIT, DUMP_STALL, DUMP_NREASONS };

struct agent {
	struct agent_opts o;
	pthread_mutex_t lock;	/* the HTTP thread reads procs under it */
	struct agent_proc **procs;
	unsigned nprocs, cap;
	/* pids examined and not asyncio, by (pid, start time) */
	struct u64_map rejected;
	uint64_t next_rescan;
	uint64_t dumps[DUMP_NREASONS], dump_errors, dumps_removed;
	int dump_failing;		/* the last dump's error (logged once), 0 when it worked */
	uint64_t watched_total, forgotten_total;
	uint64_t exec_events, proc_lost;
	uint64_t started_ns;
	uint64_t scrapes;
	/* the snapshot budget: periods are every_ns * scale */
	double scale;
	double snap_cost;		/* CPU ns of one read, smoothed */
	uint64_t budget_log;
	struct procwatch *pw;
	/* the snapshots' page cache, reused (one read at a time, main thread) */
	struct page_cache rcache;
	bool rcache_ok;
	struct loop_tracer *lt;	/* loop mode; NULL: snapshots only */
	uint64_t last_stall_look;
};

uint64_t agent_now(void);

/* ---- agent_proc.c: one watched process ---- */
/* Start watching pid if it uses asyncio and passes the rules: 1 watched, 0 not (yet), -errno. */
int agent_consider(struct agent *a, pid_t pid);
/* Forget a process (it exited, exec'd, or can no longer be read). */
void agent_forget(struct agent *a, unsigned i);
struct agent_proc *agent_find(struct agent *a, pid_t pid, unsigned *idx);
/* Still running, and the same process (not a reused pid). */
bool agent_proc_alive(const struct agent_proc *p);
/* Read its tasks if due; -ESRCH when it is gone. */
int agent_proc_tick(struct agent *a, struct agent_proc *p, uint64_t now);
/* Write its flight recorder to the dump dir. 0 or -errno; path out. */
int agent_proc_dump(struct agent *a, struct agent_proc *p, enum agent_dump_reason why,
		    char *path, size_t pathlen, char *err, size_t errlen);
void agent_proc_free(struct agent_proc *p);

/* The snapshot period for the CPU budget (each tick). */
void agent_budget_tick(struct agent *a, uint64_t now);

/* ---- agent_dumps.c ---- */
const char *agent_dump_reason_name(enum agent_dump_reason r);
/* DIR/aps-COMM-PID-TIME-REASON.apsrec */
void agent_dump_path(const struct agent *a, const struct agent_proc *p, enum agent_dump_reason why,
		     char *buf, size_t len);
/* Keep at most dump_keep files and dump_bytes bytes of ours in dump_dir; returns files removed. */
unsigned agent_dumps_rotate(const char *dir, unsigned keep, uint64_t max_bytes);

#endif
