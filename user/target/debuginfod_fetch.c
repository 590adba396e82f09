// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <elfutils/debuginfod.h>
#include "target/debuginfod_fetch.h"

#define PROBE_TIMEOUT_MS 2000

int debuginfod_fetch_parse_url(const char *url, char *host, size_t hlen, char *port, size_t plen)
{
	const char *p, *end, *colon;
	bool https;

	if (!strncmp(url, "http://", 7)) {
		https = false;
		p = url + 7;
	} else if (!strncmp(url, "https://", 8)) {
		https = true;
		p = url + 8;
	} else {
		return -EINVAL;
	}
	end = p + strcspn(p, "/?#");
	if (*p == '[') {	/* [v6]:port */
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb)
			return -EINVAL;
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if ((size_t)(rb - p - 1) >= hlen)
			return -ENAMETOOLONG;
		memcpy(host, p + 1, (size_t)(rb - p - 1));
		host[rb - p - 1] = '\0';
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		size_t n = (size_t)((colon ? colon : end) - p);

		if (n >= hlen)
			return -ENAMETOOLONG;
		memcpy(host, p, n);
		host[n] = '\0';
	}
	if (!host[0])
		return -EINVAL;
	if (colon) {
		size_t n = (size_t)(end - colon - 1);

		if (n == 0 || n >= plen || strspn(colon + 1, "0123456789") < n)
			return -EINVAL;
		memcpy(port, colon + 1, n);
		port[n] = '\0';
	} else {
		snprintf(port, plen, "%s", https ? "443" : "80");
	}
	return 0;
}

/* Can we open a TCP connection to the server of url? 0 or -errno. */
static int probe_server(const char *url)
{
	char host[256], port[16];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int err = debuginfod_fetch_parse_url(url, host, sizeof(host), port, sizeof(port));

	if (err)
		return err;
	if (getaddrinfo(host, port, &hints, &res))
		return -ENODATA;	/* the name does not resolve */
	err = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t sl = sizeof(int);
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int soerr = 0;

		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			err = 0;
		} else if (errno != EINPROGRESS) {
			err = -errno;
		} else {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, PROBE_TIMEOUT_MS) != 1)
				err = -ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr)
				err = -(soerr ? soerr : errno);
			else
				err = 0;
		}
		close(fd);
		if (!err)
			break;
	}
	freeaddrinfo(res);
	return err;
}

/* "URL (reachable), URL (unreachable: why)" for every server of urls. */
static int describe_servers(const char *urls, char *buf, size_t len)
{
	char copy[1024], *save = NULL;
	size_t n = 0;
	int reachable = 0;

	snprintf(copy, sizeof(copy), "%s", urls);
	buf[0] = '\0';
	for (char *u = strtok_r(copy, " \t", &save); u; u = strtok_r(NULL, " \t", &save)) {
		int err = probe_server(u);

		if (!err)
			reachable++;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%.300s (%s%s)", n ? ", " : "", u,
				      err ? "unreachable: " : "reachable",
				      err == -ENODATA ? "cannot resolve the host name" :
				      err ? strerror(-err) : "");
		if (n >= len)
			break;
	}
	return reachable;
}

void debuginfod_fetch_server_of(const char *url, char *buf, size_t len)
{
	const char *end = strstr(url, "/buildid/");
	size_t n = end ? (size_t)(end - url) : strlen(url);

	if (len == 0)
		return;
	if (n >= len)
		n = len - 1;
	memcpy(buf, url, n);
	buf[n] = '\0';
}

bool debuginfod_fetch_unreachable(int err)
{
	switch (err) {
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ETIMEDOUT:
	case -ETIME:
	case -EAGAIN:
	case -EADDRNOTAVAIL:
		return true;
	default:
		return false;
	}
}

static int progress(debuginfod_client *c, long a, long b)
{
	volatile sig_atomic_t *cancel = debuginfod_get_user_data(c);

	(void)a;
	(void)b;
	return cancel && *cancel;	/* non-zero aborts the transfer */
}

int debuginfod_fetch_debuginfo(const char *build_id, volatile sig_atomic_t *cancel,
			 struct debuginfod_fetch_result *r)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	debuginfod_client *c;
	char *path = NULL;
	const char *url;
	int fd;

	memset(r, 0, sizeof(*r));
	snprintf(r->urls, sizeof(r->urls), "%s", urls ? urls : "");
	if (!urls || !urls[strspn(urls, " \t")]) {
		snprintf(r->msg, sizeof(r->msg), "DEBUGINFOD_URLS is not set: no debuginfod server to ask");
		return -ENOSYS;
	}
	c = debuginfod_begin();
	if (!c) {
		snprintf(r->msg, sizeof(r->msg), "cannot start a debuginfod client");
		return -ENOMEM;
	}
	debuginfod_set_user_data(c, (void *)cancel);
	debuginfod_set_progressfn(c, progress);
	fd = debuginfod_find_debuginfo(c, (const unsigned char *)build_id, 0, &path);
	url = debuginfod_get_url(c);
	if (fd >= 0) {
		close(fd);
		snprintf(r->path, sizeof(r->path), "%s", path ? path : "");
		if (url && *url)
			debuginfod_fetch_server_of(url, r->server, sizeof(r->server));
		if (r->server[0])
			snprintf(r->msg, sizeof(r->msg), "fetched the debug file of build-id %.128s from %.512s (cached at %.700s)",
				 build_id, r->server, r->path);
		else
			snprintf(r->msg, sizeof(r->msg), "debug file of build-id %.128s found in the debuginfod cache: %.700s",
				 build_id, r->path);
	} else if (cancel && *cancel) {
		fd = -ECANCELED;
		snprintf(r->msg, sizeof(r->msg), "fetching build-id %.128s was interrupted", build_id);
	} else if (fd == -ENOENT || debuginfod_fetch_unreachable(fd)) {
		/* libdebuginfod keeps one error for all servers: ask each whether it is there */
		char servers[1024];
		int up = describe_servers(r->urls, servers, sizeof(servers));

		if (up == 0 && !debuginfod_fetch_unreachable(fd))
			fd = -EHOSTUNREACH;
		if (up == 0)
			snprintf(r->msg, sizeof(r->msg), "could not reach any debuginfod server: %.1000s",
				 servers);
		else
			snprintf(r->msg, sizeof(r->msg), "no debuginfod server has build-id %.128s (asked: %.1000s)",
				 build_id, servers);
	} else {
		snprintf(r->msg, sizeof(r->msg), "fetching build-id %.128s from %.1000s failed: %s",
			 build_id, r->urls, strerror(-fd));
	}
	free(path);
	debuginfod_end(c);
	if (fd >= 0 && !r->path[0])
		return -EIO;
	return fd >= 0 ? 0 : fd;
}
