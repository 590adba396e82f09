// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include "target/proc.h"

bool proc_parse_maps_line(const char *line, struct proc_map *out)
{
	unsigned long long start, end, off, inode;
	char perms[8], dev[32];
	int pos = 0;

	if (sscanf(line, "%llx-%llx %7s %llx %31s %llu %n", &start, &end, perms,
		   &off, dev, &inode, &pos) < 6)
		return false;
	if (start >= end || strlen(perms) != 4)
		return false;
	out->start = start;
	out->end = end;
	out->offset = off;
	out->inode = inode;
	memcpy(out->perms, perms, 5);
	out->path[0] = '\0';
	if (pos > 0) {
		const char *p = line + pos;
		size_t n = strcspn(p, "\n");

		if (n >= sizeof(out->path))
			return false;
		memcpy(out->path, p, n);
		out->path[n] = '\0';
	}
	return true;
}

int proc_read_maps(pid_t pid, struct proc_maps *out)
{
	char path[64], line[PATH_MAX + 256];
	struct proc_map *v = NULL, *nv;
	int n = 0, cap = 0, err = 0;
	FILE *f;

	out->v = NULL;
	out->n = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			if (cap > 1 << 20) {
				err = -E2BIG;
				goto cleanup;
			}
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				err = -ENOMEM;
				goto cleanup;
			}
			v = nv;
		}
		if (proc_parse_maps_line(line, &v[n]))
			n++;
	}
	if (ferror(f))
		err = -EIO;
cleanup:
	fclose(f);
	if (err) {
		free(v);
		return err;
	}
	if (n == 0) {
		free(v);
		return kill(pid, 0) && errno == ESRCH ? -ESRCH : -ENOENT;
	}
	out->v = v;
	out->n = n;
	return 0;
}

void proc_maps_free(struct proc_maps *m)
{
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

const struct proc_map *proc_maps_first_of(const struct proc_maps *m, const char *path)
{
	const struct proc_map *best = NULL;

	for (int i = 0; i < m->n; i++) {
		if (strcmp(m->v[i].path, path))
			continue;
		if (!best || m->v[i].start < best->start)
			best = &m->v[i];
	}
	return best;
}

int proc_root_path(pid_t pid, const char *path, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/proc/%d/root%s", pid, path);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool proc_alive(pid_t pid)
{
	char path[64], state = 0, line[512];
	FILE *f;
	bool alive;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	alive = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	if (alive) {
		char *p = strrchr(line, ')');

		if (p && p[1] == ' ')
			state = p[2];
	}
	return alive && state != 'Z' && state != 'X';
}

uint32_t proc_ns_tid(pid_t pid, uint32_t tid)
{
	char path[96], line[256];
	uint32_t ns = tid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%u/status", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return tid;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		/* the last number is the innermost namespace's id */
		for (char *tok = strtok(line + 6, " \t\n"); tok; tok = strtok(NULL, " \t\n"))
			ns = (uint32_t)strtoul(tok, NULL, 10);
		break;
	}
	fclose(f);
	return ns;
}

uint32_t proc_host_tid(pid_t pid, uint32_t ns_tid)
{
	char path[64];
	struct dirent *d;
	uint32_t host = ns_tid;
	int n = 0;
	DIR *dir;

	if (!ns_tid || proc_ns_tid(pid, (uint32_t)pid) == (uint32_t)pid)
		return ns_tid;	/* the same namespace as ours */
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return ns_tid;
	/* bounded: a process has at most so many threads */
	while ((d = readdir(dir)) && n++ < 65536) {
		uint32_t tid = (uint32_t)strtoul(d->d_name, NULL, 10);

		if (tid && proc_ns_tid(pid, tid) == ns_tid) {
			host = tid;
			break;
		}
	}
	closedir(dir);
	return host;
}

int proc_cgroup(pid_t pid, char *buf, size_t len)
{
	char path[64], line[1024];
	FILE *f;
	int err = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "::");	/* cgroup v2: "0::/path" */

		if (strncmp(line, "0::", 3) || !p)
			continue;
		p += 2;
		p[strcspn(p, "\n")] = '\0';
		snprintf(buf, len, "%s", p);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

int proc_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, len, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	return 0;
}

uint64_t proc_start_time(pid_t pid)
{
	char path[64], line[1024];
	unsigned long long st = 0;
	FILE *f;
	size_t n;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	/* the whole line: comm (set by the target) may hold a newline */
	n = fread(line, 1, sizeof(line) - 1, f);
	line[n] = '\0';
	if (n && (p = strrchr(line, ')'))) {
		/* field 22 (starttime); p points at the end of field 2 */
		int field = 2;

		for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
			if (++field == 22) {
				st = strtoull(tok, NULL, 10);
				break;
			}
		}
	}
	fclose(f);
	return st;
}
