// SPDX-License-Identifier: MIT
/* Dump files: their names, and rotation by count and size. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "agent/agent.h"

#define DUMP_PREFIX "aps-"
#define DUMP_SUFFIX ".apsrec"
#define ROTATE_MAX_FILES 100000

const char *agent_dump_reason_name(enum agent_dump_reason r)
{
	switch (r) {
	case DUMP_REQUEST: return "request";
	case DUMP_SIGNAL: return "sigusr1";
	case DUMP_EXIT: return "exit";
	case DUMP_STALL: return "stall";
	default: return "?";
	}
}

void agent_dump_path(const struct agent *a, const struct agent_proc *p, enum agent_dump_reason why,
		     char *buf, size_t len)
{
	char comm[sizeof(p->pi.comm)], when[32];
	struct timespec ts;
	struct tm tm;
	size_t i;

	/* comm is chosen by the target: keep [A-Za-z0-9._-] */
	for (i = 0; p->pi.comm[i] && i < sizeof(comm) - 1; i++) {
		char c = p->pi.comm[i];

		comm[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '-' ? c : '_';
	}
	comm[i] = 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%S", &tm);
	snprintf(buf, len, "%s/" DUMP_PREFIX "%s-%d-%s.%03ld-%s" DUMP_SUFFIX, a->o.dump_dir, comm,
		 (int)p->pi.pid, when, ts.tv_nsec / 1000000, agent_dump_reason_name(why));
}

struct dump_file {
	char name[256];
	time_t mtime;
	long mtime_ns;
	uint64_t size;
};

static int oldest_first(const void *x, const void *y)
{
	const struct dump_file *a = x, *b = y;

	if (a->mtime != b->mtime)
		return a->mtime < b->mtime ? -1 : 1;
	if (a->mtime_ns != b->mtime_ns)
		return a->mtime_ns < b->mtime_ns ? -1 : 1;
	return strcmp(a->name, b->name);
}

static bool ours(const char *name)
{
	size_t n = strlen(name), k = strlen(DUMP_SUFFIX);

	return !strncmp(name, DUMP_PREFIX, strlen(DUMP_PREFIX)) && n > k && !strcmp(name + n - k, DUMP_SUFFIX);
}

unsigned agent_dumps_rotate(const char *dir, unsigned keep, uint64_t max_bytes)
{
	struct dump_file *v = NULL;
	unsigned n = 0, cap = 0, removed = 0;
	uint64_t total = 0;
	struct dirent *de;
	DIR *d = opendir(dir);
	int dfd;

	if (!d)
		return 0;
	dfd = dirfd(d);
	while ((de = readdir(d)) && n < ROTATE_MAX_FILES) {
		struct stat st;

		if (!ours(de->d_name) || strlen(de->d_name) >= sizeof(v->name) ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			struct dump_file *nv = realloc(v, sizeof(*v) * (cap ? cap * 2 : 64));

			if (!nv)
				break;
			v = nv;
			cap = cap ? cap * 2 : 64;
		}
		snprintf(v[n].name, sizeof(v[n].name), "%s", de->d_name);
		v[n].mtime = st.st_mtim.tv_sec;
		v[n].mtime_ns = st.st_mtim.tv_nsec;
		v[n].size = (uint64_t)st.st_size;
		total += v[n].size;
		n++;
	}
	qsort(v, n, sizeof(*v), oldest_first);
	/* the newest always stays */
	for (unsigned i = 0; i + 1 < n && (n - i > keep || total > max_bytes); i++) {
		if (unlinkat(dfd, v[i].name, 0))
			continue;
		total -= v[i].size;
		removed++;
	}
	closedir(d);
	free(v);
	return removed;
}
