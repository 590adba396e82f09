/* SPDX-License-Identifier: MIT */
/* Output formatting every view shares: durations, JSON strings, CSV fields. */
#ifndef APS_FMT_H
#define APS_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ns as "812ns", "3.4us", "1.25ms", "2.50s" or "12m05s", in buf. */
const char *fmt_dur(uint64_t ns, char *buf, size_t len);
/* s (safe UTF-8; NULL: "") as a quoted, escaped JSON string. */
void fmt_json_str(FILE *out, const char *s);
/* s as a CSV field (quoted when needed), then ',' or, if last, '\n'. */
void fmt_csv_field(FILE *out, const char *s, bool last);

#endif
