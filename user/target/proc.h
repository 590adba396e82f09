/* SPDX-License-Identifier: MIT */
/* What /proc says about a target process. */
#ifndef APS_PROC_H
#define APS_PROC_H

#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include <limits.h>

struct proc_map {
	uint64_t start, end, offset;
	uint64_t inode;
	char perms[5];
	char path[PATH_MAX];	/* as in /proc/PID/maps: inside the target's root */
};

struct proc_maps {
	struct proc_map *v;
	int n;
};

/* 0, or -ESRCH / -EACCES / -errno. */
int proc_read_maps(pid_t pid, struct proc_maps *out);
void proc_maps_free(struct proc_maps *m);
/* Parse one maps line; false if it is malformed. */
bool proc_parse_maps_line(const char *line, struct proc_map *out);
/* Lowest mapping of the file: the load base used with ELF vaddrs. */
const struct proc_map *proc_maps_first_of(const struct proc_maps *m, const char *path);

/* "/proc/PID/root" + path: the file as the target sees it. */
int proc_root_path(pid_t pid, const char *path, char *buf, size_t len);
bool proc_alive(pid_t pid);
/* The thread's id inside the target's innermost PID namespace (NSpid). */
uint32_t proc_ns_tid(pid_t pid, uint32_t tid);
/* The host (our namespace's) id of the thread whose id in the target's
 * innermost namespace is ns_tid; ns_tid if not found. */
uint32_t proc_host_tid(pid_t pid, uint32_t ns_tid);
/* The process's cgroup v2 path ("/system.slice/x.service"); -errno. */
int proc_cgroup(pid_t pid, char *buf, size_t len);
/* Target's comm, for messages. */
int proc_comm(pid_t pid, char *buf, size_t len);
/* Process start time (clock ticks since boot): tells an exec or a reused pid. */
uint64_t proc_start_time(pid_t pid);

#endif
