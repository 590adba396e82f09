/* SPDX-License-Identifier: MIT */
/*
 * Folded stacks, the text that flamegraph.pl, inferno and speedscope read:
 * one line per stack, `root;…;leaf COUNT`, sorted, equal stacks merged.
 */
#ifndef APS_PROF_FOLDED_H
#define APS_PROF_FOLDED_H

#include <stdio.h>
#include "profile/prof_agg.h"

/* 0, or -errno (-EIO: the write failed). */
int prof_folded_write(const struct prof_agg *a, FILE *out);

#endif
