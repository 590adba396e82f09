/* SPDX-License-Identifier: MIT */
/*
 * The fields of extension record bodies (BLOCKED, LOOP): varints, and
 * strings as varint length + bytes (escaped when recorded: a control byte
 * makes the body malformed). Writing: room reserved by the caller.
 */
#ifndef APS_REC_FIELD_H
#define APS_REC_FIELD_H

#include <stddef.h>
#include <stdint.h>
#include "recording/rec_model.h"

void rec_field_put_u(struct rec_buf *b, uint64_t v);
/* At most max bytes of s. */
void rec_field_put_s(struct rec_buf *b, const char *s, size_t max);
/* 0, or -1 if malformed or over max. */
int rec_field_get_u(const uint8_t **p, const uint8_t *end, uint64_t *v, uint64_t max);
/* Into out (cut to size); 0, or -1 if malformed. */
int rec_field_get_s(const uint8_t **p, const uint8_t *end, char *out, size_t size);

#endif
