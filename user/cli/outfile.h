/* SPDX-License-Identifier: MIT */
/*
 * Output files of trace -o and record -o: an existing FILE is replaced only
 * once the run really started (a failed start leaves it as it was), and
 * every write, the final flush and the close are checked.
 */
#ifndef APS_CLI_OUTFILE_H
#define APS_CLI_OUTFILE_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

struct cli_out {
	const char *path;
	int fd;
	FILE *f;		/* cli_out_stream */
	char tmp[PATH_MAX];	/* written there, renamed to path at commit */
	bool staged;		/* tmp is in use */
	bool trunc;		/* written in place: truncate at commit */
	bool committed;
};

/*
 * Open PATH for writing without touching it yet: a regular file (or a new
 * one) through a temporary file in the same folder; a device, FIFO, symlink
 * or a folder that takes no new file: in place, truncated at commit.
 * 0, or -errno with the message printed.
 */
int cli_out_open(struct cli_out *o, const char *path);
/* The fd as a buffered stream (NULL: out of memory, printed). */
FILE *cli_out_stream(struct cli_out *o);
/* The run started: PATH becomes the output. 0, or -errno printed. */
int cli_out_commit(struct cli_out *o);
/*
 * Flush and close, checked; not committed: PATH is left as it was.
 * 0, or 1 with "aps-bpf: writing PATH: ERROR" printed.
 */
int cli_out_close(struct cli_out *o);
/* A stream's final flush, error flag and close (stdout: not closed): 0 or 1, printed. */
int cli_close_stream(FILE *f, const char *path);

#endif
