/* SPDX-License-Identifier: MIT */
/*
 * user/output/: what users read: the ps, pstree, trace, top and replay
 * views, their JSON/CSV formatting, the Perfetto export.
 */
/* Output formatting every view shares: durations, JSON strings, CSV fields. */
#ifndef APS_FMT_H
#define APS_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ns as "812ns", "3.4us", "1.25ms", "2.50s" or "12m05s", in buf. */
const char *fmt_dur(uint64_t ns, char *buf, size_t len);
/* A thread as every view names it: the host tid, then the target's own id
 * where its PID namespace differs: "952 (ns 2)" (ns_tid 0: unknown). */
const char *fmt_tid(uint32_t tid, uint32_t ns_tid, char *buf, size_t len);
/* The same in JSON: "tid":952 and, where it differs, ,"ns_tid":2 */
void fmt_json_tid(FILE *out, uint32_t tid, uint32_t ns_tid);
/* s (safe UTF-8; NULL: "") as a quoted, escaped JSON string. */
void fmt_json_str(FILE *out, const char *s);
/* s as a CSV field (quoted when needed), then ',' or, if last, '\n'. */
void fmt_csv_field(FILE *out, const char *s, bool last);

#endif
