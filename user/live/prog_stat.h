/* SPDX-License-Identifier: MIT */
/* How often a BPF program ran and for how long (kernel.bpf_stats_enabled). */
#ifndef APS_LIVE_PROG_STAT_H
#define APS_LIVE_PROG_STAT_H

struct bpf_program;

struct prog_stat {
	const char *name;
	unsigned long long runs, run_ns;
};

/* p's name, runs and run time (0 when unknown): 0, or -errno. */
int prog_stat_read(const struct bpf_program *p, struct prog_stat *out);

#endif
