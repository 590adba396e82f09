// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/outfile.h"

static int open_staged(struct cli_out *o, const struct stat *st, bool exists)
{
	const char *slash = strrchr(o->path, '/');
	int dirlen = slash ? (int)(slash - o->path + 1) : 0;
	mode_t mask;

	if (snprintf(o->tmp, sizeof(o->tmp), "%.*s.%s.aps-XXXXXX", dirlen, o->path,
		     o->path + dirlen) >= (int)sizeof(o->tmp))
		return -ENAMETOOLONG;
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0)
		return -errno;
	if (exists) {
		mask = st->st_mode & 07777;
	} else {
		mask = umask(0);
		umask(mask);
		mask = 0666 & ~mask;
	}
	if (fchmod(o->fd, mask)) {
		/* not fatal: the file is ours */
	}
	o->staged = true;
	return 0;
}

int cli_out_open(struct cli_out *o, const char *path)
{
	struct stat st;
	bool exists;
	int err;

	memset(o, 0, sizeof(*o));
	o->path = path;
	o->fd = -1;
	exists = lstat(path, &st) == 0;
	if (exists && S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto fail;
	}
	if (!exists || (S_ISREG(st.st_mode) && st.st_nlink == 1)) {
		/* check that PATH itself could be written: the rename needs only the folder */
		if (exists && access(path, W_OK)) {
			err = -errno;
			goto fail;
		}
		if (!open_staged(o, &st, exists))
			return 0;
	}
	/* in place, not truncated before the run starts */
	o->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
	if (o->fd < 0) {
		err = -errno;
		goto fail;
	}
	if (!fstat(o->fd, &st) && S_ISREG(st.st_mode))
		o->trunc = true;
	return 0;
fail:
	fprintf(stderr, "aps-bpf: cannot write %s: %s\n", path, strerror(-err));
	return err;
}

FILE *cli_out_stream(struct cli_out *o)
{
	o->f = fdopen(o->fd, "w");
	if (!o->f)
		fprintf(stderr, "aps-bpf: cannot write %s: %s\n", o->path, strerror(errno));
	return o->f;
}

int cli_out_commit(struct cli_out *o)
{
	int err = 0;

	if (o->committed)
		return 0;
	if (o->staged && rename(o->tmp, o->path))
		err = -errno;
	else if (o->trunc && (ftruncate(o->fd, 0) || lseek(o->fd, 0, SEEK_SET) < 0))
		err = -errno;
	if (err) {
		fprintf(stderr, "aps-bpf: cannot write %s: %s\n", o->path, strerror(-err));
		return err;
	}
	o->staged = false;
	o->committed = true;
	return 0;
}

/* A pipe whose reader went away (the write end polls POLLERR). */
static bool reader_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

int cli_close_stream(FILE *f, const char *path)
{
	bool failed = ferror(f);	/* an earlier write (or flush) failed: its errno is gone */
	int err = 0;

	if (fflush(f))
		err = errno;
	if (f != stdout && fclose(f) && !err)
		err = errno;
	if (f == stdout && (err == EPIPE || (failed && !err && reader_gone(STDOUT_FILENO))))
		return 0;	/* a reader that went away is no error of ours */
	if (err)
		fprintf(stderr, "aps-bpf: writing %s: %s\n", path, strerror(err));
	else if (failed)
		fprintf(stderr, "aps-bpf: writing %s: a write failed; the output is incomplete\n", path);
	return err || failed;
}

int cli_out_close(struct cli_out *o)
{
	int rc = 0;

	if (o->f) {
		rc = o->committed ? cli_close_stream(o->f, o->path) : (fclose(o->f), 0);
	} else if (o->fd >= 0 && close(o->fd) && o->committed) {
		fprintf(stderr, "aps-bpf: writing %s: %s\n", o->path, strerror(errno));
		rc = 1;
	}
	o->f = NULL;
	o->fd = -1;
	if (o->staged)
		unlink(o->tmp);
	o->staged = false;
	return rc;
}
