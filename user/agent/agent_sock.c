// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include "agent/agent_client.h"
#include "agent/agent_sock.h"

#define SERVE_MAX 16		/* clients answered per call */
#define SERVE_TIMEOUT_MS 200	/* a client has this long to send its line */

int agent_sock_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)], *resp;
	size_t len;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "--socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	if (mkdir(dirname(dir), 0700) && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return rc;
	}
	if (!agent_client_request(path, "ping", &resp, &len)) {
		free(resp);
		snprintf(err, errlen, "an agent already runs (%s)", path);
		return -EADDRINUSE;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) || listen(fd, 16)) {
		rc = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

static void answer_tasks(struct agent *a, FILE *f, pid_t pid)
{
	struct agent_proc *p = agent_find(a, pid, NULL);

	if (!p) {
		fprintf(f, "err pid %d is not watched by the agent\n", (int)pid);
		return;
	}
	fprintf(f, "ok %" PRIu64 " %" PRIu64 "\n", p->watched_ns, a->o.every_ns);
	for (uint32_t i = 0; i < p->hist.n; i++) {
		const struct th_task *t = &p->hist.v[i];

		fprintf(f, "t %" PRIx64 " %" PRIu64 " %" PRIu64 " %u\n", t->addr, t->first_ns, t->wait_ns,
			t->flags);
	}
	fprintf(f, "end\n");
}

static void answer_dump(struct agent *a, FILE *f, pid_t pid)
{
	struct agent_proc *p = agent_find(a, pid, NULL);
	char path[4096], err[256];

	if (!p) {
		fprintf(f, "err pid %d is not watched by the agent\n", (int)pid);
		return;
	}
	if (agent_proc_dump(a, p, DUMP_REQUEST, path, sizeof(path), err, sizeof(err)))
		fprintf(f, "err %s\n", err);
	else
		fprintf(f, "ok %s\nend\n", path);
}

static void answer_status(struct agent *a, FILE *f)
{
	fprintf(f, "ok %u\n", a->nprocs);
	for (unsigned i = 0; i < a->nprocs; i++) {
		const struct agent_proc *p = a->procs[i];
		char comm[sizeof(p->pi.comm)];

		/* comm is the target's: one token */
		for (size_t k = 0; k < sizeof(comm); k++)
			comm[k] = p->pi.comm[k] && (unsigned char)p->pi.comm[k] <= ' ' ? '_' : p->pi.comm[k];
		fprintf(f, "p %d %s %d.%d tasks=%u snapshots=%" PRIu64 " dumps=%u service=%s\n",
			(int)p->pi.pid, comm[0] ? comm : "?", p->ip.major, p->ip.minor, p->hist.n,
			p->snapshots, p->dumps, p->service[0] ? p->service : "-");
	}
	fprintf(f, "end\n");
}

static void serve_one(struct agent *a, int fd)
{
	struct timeval tv = { .tv_usec = SERVE_TIMEOUT_MS * 1000 };
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	char req[AGENT_REQ_MAX + 1], *body = NULL, *end;
	size_t n = 0, blen = 0;
	FILE *f;
	long pid;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* the request is read first, so a refusal reaches the client */
	while (n < AGENT_REQ_MAX) {
		ssize_t r = read(fd, req + n, AGENT_REQ_MAX - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(req, '\n', n))
			break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) || cred.uid != 0) {
		static const char no[] = "err permission denied: the agent answers root only\n";

		if (write(fd, no, sizeof(no) - 1) < 0)
			return;
		return;
	}
	req[n] = 0;
	req[strcspn(req, "\n")] = 0;
	f = open_memstream(&body, &blen);
	if (!f)
		return;
	if (!strncmp(req, "tasks ", 6) || !strncmp(req, "dump ", 5)) {
		const char *arg = strchr(req, ' ') + 1;

		errno = 0;
		pid = strtol(arg, &end, 10);
		if (errno || end == arg || *end || pid <= 0 || pid > 0x3fffffff)
			fprintf(f, "err bad pid '%s'\n", arg);
		else if (req[0] == 't')
			answer_tasks(a, f, (pid_t)pid);
		else
			answer_dump(a, f, (pid_t)pid);
	} else if (!strcmp(req, "status")) {
		answer_status(a, f);
	} else if (!strcmp(req, "ping")) {
		fprintf(f, "ok\nend\n");
	} else {
		fprintf(f, "err unknown request\n");
	}
	if (!fclose(f)) {
		size_t off = 0;

		/* a big answer: blocking writes, each bounded by the timeout */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		while (off < blen) {
			ssize_t w = write(fd, body + off, blen - off);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	free(body);
}

void agent_sock_serve(struct agent *a, int lfd)
{
	for (int i = 0; i < SERVE_MAX; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			return;
		serve_one(a, fd);
		close(fd);
	}
}
