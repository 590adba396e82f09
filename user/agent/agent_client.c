// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include "agent/agent_client.h"

#define CLIENT_TIMEOUT_S 5
#define RESP_MAX (256u << 20)

int agent_client_request(const char *sock, const char *req, char **resp, size_t *len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };
	size_t cap = 4096, n = 0;
	char *buf = NULL;
	int fd, err = 0;

	*resp = NULL;
	*len = 0;
	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		goto out;
	}
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req) || write(fd, "\n", 1) != 1) {
		err = errno ? -errno : -EIO;
		goto out;
	}
	shutdown(fd, SHUT_WR);
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r;

		if (n + 1 == cap) {
			char *nb = cap < RESP_MAX ? realloc(buf, cap * 2) : NULL;

			if (!nb) {
				err = -EFBIG;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	if (!strncmp(buf, "err permission", 14))
		err = -EACCES;
out:
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*resp = buf;
	*len = n;
	return 0;
}

static int by_addr(const void *x, const void *y)
{
	const struct agent_task_info *a = x, *b = y;

	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

int agent_client_tasks(const char *sock, pid_t pid, struct agent_tasks *out, char *err, size_t errlen)
{
	char req[AGENT_REQ_MAX], *resp, *line, *save = NULL;
	uint32_t cap = 0;
	size_t len;
	bool ended = false;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(req, sizeof(req), "tasks %d", (int)pid);
	rc = agent_client_request(sock, req, &resp, &len);
	if (rc) {
		if (rc == -ENOENT || rc == -ECONNREFUSED)
			snprintf(err, errlen, "no agent running (%s)", sock);
		else
			snprintf(err, errlen, "asking the agent (%s): %s", sock, strerror(-rc));
		return rc;
	}
	line = strtok_r(resp, "\n", &save);
	if (!line || strncmp(line, "ok ", 3)) {
		snprintf(err, errlen, "the agent: %s", line && !strncmp(line, "err ", 4) ? line + 4 : "bad answer");
		rc = line && strstr(line, "not watched") ? -ESRCH : -EPROTO;
		goto out;
	}
	if (sscanf(line + 3, "%" SCNu64 " %" SCNu64, &out->watched_ns, &out->period_ns) != 2) {
		rc = -EPROTO;
		goto bad;
	}
	while ((line = strtok_r(NULL, "\n", &save))) {
		struct agent_task_info t = {};
		unsigned flags;

		if (!strcmp(line, "end")) {
			ended = true;
			break;
		}
		if (sscanf(line, "t %" SCNx64 " %" SCNu64 " %" SCNu64 " %u", &t.addr, &t.first_ns,
			   &t.wait_ns, &flags) != 4 || out->n >= AGENT_TASKS_MAX) {
			rc = -EPROTO;
			goto bad;
		}
		t.flags = (uint8_t)flags;
		if (out->n == cap) {
			uint32_t nc = cap ? cap * 2 : 256;
			struct agent_task_info *v = realloc(out->v, sizeof(*v) * nc);

			if (!v) {
				rc = -ENOMEM;
				goto bad;
			}
			out->v = v;
			cap = nc;
		}
		out->v[out->n++] = t;
	}
	if (!ended) {
		rc = -EPROTO;
		goto bad;
	}
	qsort(out->v, out->n, sizeof(*out->v), by_addr);
	rc = 0;
	goto out;
bad:
	snprintf(err, errlen, "the agent's answer is malformed");
	agent_tasks_free(out);
out:
	free(resp);
	return rc;
}

void agent_tasks_free(struct agent_tasks *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}

const struct agent_task_info *agent_tasks_find(const struct agent_tasks *t, uint64_t addr)
{
	struct agent_task_info key = { .addr = addr };

	return t->n ? bsearch(&key, t->v, t->n, sizeof(*t->v), by_addr) : NULL;
}
