/* SPDX-License-Identifier: MIT */
/*
 * The text top of a profile: where the samples went by task (or coroutine,
 * or thread: what --by groups by), then by Python function (self: the
 * innermost frame; total: anywhere on the stack), most first.
 */
#ifndef APS_PROF_TOP_H
#define APS_PROF_TOP_H

#include <stdio.h>
#include "profile/prof_agg.h"

/* group_title: "TASK", "CORO" or "THREAD"; at most rows lines per table. */
int prof_top_print(const struct prof_agg *a, FILE *out, const char *group_title, unsigned rows);

#endif
