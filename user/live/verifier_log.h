/* SPDX-License-Identifier: MIT */
/* -v: what the kernel's verifier said of each BPF program (its statistics,
 * BPF_LOG_STATS, and its error when it refuses one). */
#ifndef APS_VERIFIER_LOG_H
#define APS_VERIFIER_LOG_H

#include <stdio.h>
#include <bpf/libbpf.h>

struct verifier_log;

/* Before load: give every program of obj that loads a log buffer at
 * BPF_LOG_STATS; NULL (nothing to print later) when out of memory. */
struct verifier_log *verifier_log_arm(struct bpf_object *obj);
/* After load: each program's log lines, `aps-bpf: verifier: PROG: LINE`. */
void verifier_log_print(const struct verifier_log *v, FILE *f);
void verifier_log_free(struct verifier_log *v);

#endif
