/* SPDX-License-Identifier: MIT */
/*
 * Which processes the agent watches: --match and --exclude rules on the
 * command line (a regex), the uid or the cgroup path, and what /proc says
 * about a process.
 */
#ifndef APS_DISCOVER_H
#define APS_DISCOVER_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum discover_kind { DISCOVER_CMD, DISCOVER_UID, DISCOVER_CGROUP };

struct discover_rule {
	enum discover_kind kind;
	regex_t re;		/* CMD */
	uid_t uid;		/* UID */
	char path[256];		/* CGROUP: this path or under it */
};

#define DISCOVER_MAX_RULES 32

struct discover {
	struct discover_rule match[DISCOVER_MAX_RULES], exclude[DISCOVER_MAX_RULES];
	unsigned nmatch, nexclude;
};

struct proc_info {
	pid_t pid;
	uid_t uid;
	uint64_t start_time;	/* clock ticks since boot: tells a reused pid */
	char comm[17];
	char cmdline[512];	/* NULs as spaces, cut */
	char cgroup[256];	/* the cgroup v2 path ("0::" line) */
};

/*
 * Add a rule: "REGEX" or "cmd:REGEX" (extended regex on the command line),
 * "uid:N", "cgroup:PATH". 0, or -EINVAL with a message in err.
 */
int discover_add(struct discover *d, bool exclude, const char *spec, char *err, size_t errlen);
void discover_free(struct discover *d);
/* Selected: no --match rule or one matches, and no --exclude rule matches. */
bool discover_selected(const struct discover *d, const struct proc_info *pi);
/* 0, or -ESRCH (gone) / -errno. */
int proc_info_read(pid_t pid, struct proc_info *out);
/* The service a process belongs to, from its cgroup: "x.service", else the last part. */
void proc_service(const char *cgroup, char *buf, size_t len);
/* Its executable is named like a Python interpreter (python3.12, ...). */
bool discover_python_exe(pid_t pid);

#endif
