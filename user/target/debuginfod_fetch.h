/* SPDX-License-Identifier: MIT */
/*
 * Debug files fetched by build-id from debuginfod servers (libdebuginfod,
 * as gdb and perf do): the servers in DEBUGINFOD_URLS, the client's cache
 * ($DEBUGINFOD_CACHE_PATH, else ~/.cache/debuginfod_client), its
 * DEBUGINFOD_TIMEOUT etc.
 */
#ifndef APS_DEBUGINFOD_FETCH_H
#define APS_DEBUGINFOD_FETCH_H

#include <signal.h>
#include <stdbool.h>
#include <limits.h>
#include <stddef.h>

struct debuginfod_fetch_result {
	char path[PATH_MAX];	/* the debug file, in the client's cache */
	char server[1024];	/* the server that answered; "" when it came from the cache */
	char urls[1024];	/* DEBUGINFOD_URLS, for messages */
	char msg[1536];		/* what happened, one line, for the user */
};

/*
 * Fetch the debug file of build_id (lowercase hex). 0 with r->path set;
 * -ENOSYS when DEBUGINFOD_URLS is unset or empty; -ENOENT when no server
 * has it; -ECONNREFUSED, -EHOSTUNREACH, -ETIMEDOUT, ... when no server
 * could be reached; -ECANCELED when *cancel became non-zero. r->msg
 * always says what happened.
 */
int debuginfod_fetch_debuginfo(const char *build_id, volatile sig_atomic_t *cancel,
			 struct debuginfod_fetch_result *r);

/* "http://host:port" of a debuginfod download URL (".../buildid/..."). Pure. */
void debuginfod_fetch_server_of(const char *url, char *buf, size_t len);

/* Host and port (default 80/443) of an http(s) URL; 0 or -EINVAL. Pure. */
int debuginfod_fetch_parse_url(const char *url, char *host, size_t hlen, char *port, size_t plen);

/* Is err a failure to reach the servers (as opposed to "not there")? */
bool debuginfod_fetch_unreachable(int err);

#endif
