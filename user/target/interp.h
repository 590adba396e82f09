/* SPDX-License-Identifier: MIT */
/*
 * user/target/: what the target is: its process, CPython version, ELF
 * objects, debug files and struct layouts.
 */
/* Which CPython a process runs, and which object holds its asyncio C code. */
#ifndef APS_INTERP_H
#define APS_INTERP_H

#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <sys/types.h>

struct interp {
	pid_t pid;
	int major, minor, micro;	/* micro -1: unknown */
	char root[64];			/* "/proc/PID/root" */
	char runtime_obj[PATH_MAX];	/* libpython, or the executable (path in the target's root) */
	uint64_t runtime_map_start;	/* its lowest mapping */
	char asyncio_obj[PATH_MAX];	/* object with the _asyncio C code (target's root) */
	bool asyncio_mapped;		/* false: predicted file, not imported yet */
	bool asyncio_builtin;		/* linked into runtime_obj */
};

/*
 * 0 on success. Errors: -ESRCH no such process; -EACCES; -ENOEXEC not a
 * Python process; -EPROTONOSUPPORT a Python version we do not support
 * (major/minor filled in); -EAGAIN Python, but no _asyncio found yet.
 */
int interp_detect(pid_t pid, struct interp *ip);
/* The path we open for a path inside the target's root. */
int interp_host_path(const struct interp *ip, const char *target_path, char *buf, size_t len);
/* Strip the target's root prefix from a maps path (chroot targets). */
void interp_target_path(const char *root_link, const char *maps_path, char *buf, size_t len);
/* "libpython3.12.so.1.0" / "python3.12" -> 3, 12; false if not a python name. */
bool interp_parse_name(const char *basename, int *major, int *minor);
/* Supported: 3.10 - 3.14. */
bool interp_supported(int major, int minor);

#endif
