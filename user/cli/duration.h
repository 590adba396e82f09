/* SPDX-License-Identifier: MIT */
/* Durations on the command line: "100ms", "1.5s", "2m", "500us"; a bare number is seconds. */
#ifndef APS_DURATION_H
#define APS_DURATION_H

#include <stdint.h>

/* 0, -EINVAL (not a duration) or -ERANGE. */
int duration_parse(const char *arg, uint64_t *ns);

#endif
