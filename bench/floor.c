// SPDX-License-Identifier: GPL-2.0
/*
 * The cost of one uprobe hit: calls floor_target() N times and prints the
 * wall time per call, untraced or with floor.bpf.c's empty program attached
 * to it (a uprobe at an offset into the function, or a uretprobe).
 *
 *     floor none|uprobe|uretprobe N [OFFSET]
 *     floor attach PID PATH OFFSET...
 *
 * OFFSET (bytes into floor_target, default 0) picks the probed instruction:
 * bench/run.py checks with objdump that offset 0 is one the kernel emulates
 * (push %rbp) and passes the next instruction's offset for a single-stepped
 * probe. Prints `NS_PER_CALL HITS` on stdout.
 *
 * `attach` puts the empty uprobe at file offsets of PATH in process PID
 * (the hook aps-bpf uses, in a real interpreter: the floor in place),
 * prints ATTACHED, and when stdin closes prints `HITS` and exits.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "floor.skel.h"

/*
 * Built with frame pointers and without endbr64 (Makefile); the volatile
 * local makes it need a frame, so it starts with push %rbp.
 */
__attribute__((noinline)) long floor_target(long x)
{
	volatile long v = x;

	return v + 1;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static struct bpf_link *attach(struct floor_bpf *skel, const char *mode, size_t offset)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = "floor_target");
	struct bpf_program *prog = skel->progs.floor_entry;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return NULL;
	exe[n] = '\0';
	if (!strcmp(mode, "uretprobe")) {
		opts.retprobe = true;
		prog = skel->progs.floor_return;
	}
	return bpf_program__attach_uprobe_opts(prog, 0, exe, offset, &opts);
}

#define MAX_SITES 8

static int attach_other(int argc, char **argv)
{
	struct bpf_link *links[MAX_SITES] = {};
	struct floor_bpf *skel;
	int n = argc - 4, rc = 1;
	char line[64];

	if (n < 1 || n > MAX_SITES) {
		fprintf(stderr, "usage: %s attach PID PATH OFFSET... (1 to %d offsets)\n", argv[0],
			MAX_SITES);
		return 2;
	}
	skel = floor_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "floor: cannot load the BPF program: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		links[i] = bpf_program__attach_uprobe(skel->progs.floor_entry, false, atoi(argv[2]),
						      argv[3], strtoul(argv[4 + i], NULL, 0));
		if (!links[i]) {
			fprintf(stderr, "floor: cannot attach to %s+%s: %s\n", argv[3], argv[4 + i],
				strerror(errno));
			goto cleanup;
		}
	}
	printf("ATTACHED\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	printf("HITS %llu\n", (unsigned long long)skel->bss->hits);
	rc = 0;
cleanup:
	for (int i = 0; i < n; i++)
		bpf_link__destroy(links[i]);
	floor_bpf__destroy(skel);
	return rc;
}

int main(int argc, char **argv)
{
	struct floor_bpf *skel = NULL;
	struct bpf_link *link = NULL;
	long n, sink = 0;
	size_t offset;
	double t0, t1;

	if (argc >= 2 && !strcmp(argv[1], "attach"))
		return attach_other(argc, argv);
	if (argc < 3 || argc > 4 || (strcmp(argv[1], "none") && strcmp(argv[1], "uprobe") &&
				     strcmp(argv[1], "uretprobe"))) {
		fprintf(stderr, "usage: %s none|uprobe|uretprobe N [OFFSET]\n"
			"       %s attach PID PATH OFFSET...\n", argv[0], argv[0]);
		return 2;
	}
	n = atol(argv[2]);
	offset = argc == 4 ? strtoul(argv[3], NULL, 0) : 0;
	if (strcmp(argv[1], "none")) {
		skel = floor_bpf__open_and_load();
		if (!skel) {
			fprintf(stderr, "floor: cannot load the BPF program: %s\n", strerror(errno));
			return 1;
		}
		link = attach(skel, argv[1], offset);
		if (!link) {
			fprintf(stderr, "floor: cannot attach: %s\n", strerror(errno));
			floor_bpf__destroy(skel);
			return 1;
		}
	}
	t0 = now_ns();
	for (long i = 0; i < n; i++)
		sink += floor_target(i);
	t1 = now_ns();
	printf("%.1f %llu\n", (t1 - t0) / n, skel ? (unsigned long long)skel->bss->hits : 0ULL);
	bpf_link__destroy(link);
	floor_bpf__destroy(skel);
	return sink == 0 ? 3 : 0;	/* use sink: the loop is not optimized out */
}
