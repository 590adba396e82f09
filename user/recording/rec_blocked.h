/* SPDX-License-Identifier: MIT */
/*
 * The BLOCKED record: a step that crossed the recorder's --blocked
 * threshold, with the stack taken then (user/memory/blocked_capture.h), so that
 * `replay blocked` shows what `blocked` showed live.
 */
#ifndef APS_REC_BLOCKED_H
#define APS_REC_BLOCKED_H

#include <stddef.h>
#include <stdint.h>
#include "memory/blocked_capture.h"
#include "recording/rec_model.h"

/* Append the body for b to out. 0 or -ENOMEM. */
int rec_blocked_encode(const struct blocked_capture *b, struct rec_buf *out);
/* Decode a body into *b: 0, or -1 if malformed. */
int rec_blocked_decode(const uint8_t *body, size_t len, struct blocked_capture *b);

#endif
