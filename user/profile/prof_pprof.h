/* SPDX-License-Identifier: MIT */
/*
 * The aggregated samples as a pprof profile (profile.proto), the format of
 * `go tool pprof`, Pyroscope and Parca: a location and a function per
 * frame (task chain nodes included, as functions named `task NAME`), leaf
 * first; values samples/count and cpu (or wall)/nanoseconds; labels
 * thread, the --by group (task, coro) and state=off-cpu.
 */
#ifndef APS_PROF_PPROF_H
#define APS_PROF_PPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "profile/prof_agg.h"

struct prof_meta {
	int64_t time_nanos;	/* when profiling began, Unix ns */
	int64_t duration_nanos;
	int64_t period_ns;	/* 1e9 / hz */
	bool wall;		/* cpu or wall time */
	const char *group_key;	/* label key of prof_stack.group ("task", "coro"); NULL: none */
};

/* The profile's protobuf bytes, not compressed: *out is malloc'd. 0 or -errno. */
int prof_pprof_encode(const struct prof_agg *a, const struct prof_meta *m, uint8_t **out,
		      size_t *len);
/* in as one gzip member (what pprof files are): *out is malloc'd. */
int prof_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *outlen);
/* Encode, compress and write to f. */
int prof_pprof_write(const struct prof_agg *a, const struct prof_meta *m, FILE *f);

#endif
