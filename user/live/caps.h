/* SPDX-License-Identifier: MIT */
/*
 * Which capability a refused step needs, and whether aps-bpf has it
 * (measured on 6.18; README "Permissions"):
 *   reading a process (ps, pstree, doctor, and every attach): the same uid
 *     and a dumpable target, else CAP_SYS_PTRACE;
 *   loading the BPF programs: CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN;
 *   attaching the uprobes: CAP_SYS_ADMIN (perf_event_open of a uprobe is
 *     refused with CAP_BPF and CAP_PERFMON alone);
 *   the syscall tracepoints as non-root: CAP_DAC_READ_SEARCH (tracefs).
 */
#ifndef APS_CAPS_H
#define APS_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum caps_step { CAPS_READ, CAPS_LOAD, CAPS_ATTACH };

/* Whether the effective set holds capability cap (CAP_* number). */
bool caps_have(int cap);
/* One line: step was refused (detail: what failed, may be ""), and which
 * capability is missing, or that the kernel refused although it is held. */
void caps_explain(enum caps_step step, pid_t pid, const char *detail, char *buf, size_t len);

#endif
