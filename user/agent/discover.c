// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "agent/discover.h"
#include "target/interp.h"
#include "target/proc.h"

int discover_add(struct discover *d, bool exclude, const char *spec, char *err, size_t errlen)
{
	struct discover_rule *r;
	unsigned *n = exclude ? &d->nexclude : &d->nmatch;
	char *end;
	long v;
	int rc;

	if (*n >= DISCOVER_MAX_RULES) {
		snprintf(err, errlen, "at most %d --%s rules", DISCOVER_MAX_RULES,
			 exclude ? "exclude" : "match");
		return -EINVAL;
	}
	r = exclude ? &d->exclude[*n] : &d->match[*n];
	memset(r, 0, sizeof(*r));
	if (!strncmp(spec, "uid:", 4)) {
		errno = 0;
		v = strtol(spec + 4, &end, 10);
		if (errno || end == spec + 4 || *end || v < 0 || v > 0x7fffffff) {
			snprintf(err, errlen, "bad uid in '%s'", spec);
			return -EINVAL;
		}
		r->kind = DISCOVER_UID;
		r->uid = (uid_t)v;
	} else if (!strncmp(spec, "cgroup:", 7)) {
		size_t len = strlen(spec + 7);

		if (spec[7] != '/' || len >= sizeof(r->path)) {
			snprintf(err, errlen, "bad cgroup path in '%s' (an absolute path, as in /proc/PID/cgroup)",
				 spec);
			return -EINVAL;
		}
		r->kind = DISCOVER_CGROUP;
		memcpy(r->path, spec + 7, len + 1);
		while (len > 1 && r->path[len - 1] == '/')
			r->path[--len] = 0;
	} else {
		const char *re = !strncmp(spec, "cmd:", 4) ? spec + 4 : spec;

		rc = regcomp(&r->re, re, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char msg[128];

			regerror(rc, &r->re, msg, sizeof(msg));
			snprintf(err, errlen, "bad regex '%s': %s", re, msg);
			return -EINVAL;
		}
		r->kind = DISCOVER_CMD;
	}
	(*n)++;
	return 0;
}

void discover_free(struct discover *d)
{
	for (unsigned i = 0; i < d->nmatch; i++)
		if (d->match[i].kind == DISCOVER_CMD)
			regfree(&d->match[i].re);
	for (unsigned i = 0; i < d->nexclude; i++)
		if (d->exclude[i].kind == DISCOVER_CMD)
			regfree(&d->exclude[i].re);
	d->nmatch = d->nexclude = 0;
}

static bool rule_matches(const struct discover_rule *r, const struct proc_info *pi)
{
	size_t n;

	switch (r->kind) {
	case DISCOVER_CMD:
		return !regexec(&r->re, pi->cmdline, 0, NULL, 0);
	case DISCOVER_UID:
		return pi->uid == r->uid;
	case DISCOVER_CGROUP:
		n = strlen(r->path);
		if (n == 1)
			return true;
		return !strncmp(pi->cgroup, r->path, n) && (!pi->cgroup[n] || pi->cgroup[n] == '/');
	}
	return false;
}

bool discover_selected(const struct discover *d, const struct proc_info *pi)
{
	bool sel = !d->nmatch;

	for (unsigned i = 0; !sel && i < d->nmatch; i++)
		sel = rule_matches(&d->match[i], pi);
	for (unsigned i = 0; sel && i < d->nexclude; i++)
		if (rule_matches(&d->exclude[i], pi))
			sel = false;
	return sel;
}

static ssize_t read_file(pid_t pid, const char *what, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

int proc_info_read(pid_t pid, struct proc_info *pi)
{
	char buf[1024], *p;
	ssize_t n;

	memset(pi, 0, sizeof(*pi));
	pi->pid = pid;
	n = read_file(pid, "status", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	p = strstr(buf, "\nUid:");
	if (!p)
		return -EINVAL;
	pi->uid = (uid_t)strtoul(p + 5, NULL, 10);
	/* comm is the target's to set: it may hold any byte but NUL */
	n = read_file(pid, "comm", pi->comm, sizeof(pi->comm));
	if (n <= 0)
		snprintf(pi->comm, sizeof(pi->comm), "?");
	else if (pi->comm[n - 1] == '\n')
		pi->comm[n - 1] = 0;
	n = read_file(pid, "cmdline", pi->cmdline, sizeof(pi->cmdline));
	if (n < 0)
		return (int)n;
	for (ssize_t i = 0; i < n; i++)
		if (!pi->cmdline[i] || pi->cmdline[i] == '\n')
			pi->cmdline[i] = ' ';
	while (n > 0 && pi->cmdline[n - 1] == ' ')
		pi->cmdline[--n] = 0;
	n = read_file(pid, "cgroup", buf, sizeof(buf));
	if (n > 0) {
		p = strstr(buf, "0::");
		if (p && (p == buf || p[-1] == '\n')) {
			size_t k = strcspn(p + 3, "\n");

			if (k >= sizeof(pi->cgroup))
				k = sizeof(pi->cgroup) - 1;
			memcpy(pi->cgroup, p + 3, k);
			pi->cgroup[k] = 0;
		}
	}
	pi->start_time = proc_start_time(pid);
	return pi->start_time ? 0 : -ESRCH;
}

void proc_service(const char *cgroup, char *buf, size_t len)
{
	const char *last = strrchr(cgroup, '/'), *p = cgroup, *svc = NULL;

	/* the innermost "*.service" part, else the last part */
	while (p && *p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n > 8 && !strncmp(p + n - 8, ".service", 8))
			svc = p;
		p = e ? e + 1 : NULL;
	}
	if (svc)
		snprintf(buf, len, "%.*s", (int)strcspn(svc, "/"), svc);
	else
		snprintf(buf, len, "%s", last && last[1] ? last + 1 : "");
}

bool discover_python_exe(pid_t pid)
{
	char path[64], exe[PATH_MAX];
	const char *b;
	ssize_t n;
	int major, minor;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	b = strrchr(exe, '/');
	return interp_parse_name(b ? b + 1 : exe, &major, &minor);
}
