/* SPDX-License-Identifier: MIT */
/*
 * The SNAPSHOT record: the model's live tasks and type names at an
 * instant, so that a segment of a recording replays on its own
 * (docs/recording-format.md, "Snapshots").
 */
#ifndef APS_REC_MODEL_H
#define APS_REC_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "model/model.h"

/* A growable byte buffer. */
struct rec_buf {
	uint8_t *p;
	size_t len, cap;
};

int rec_buf_reserve(struct rec_buf *b, size_t more);
void rec_buf_free(struct rec_buf *b);

/* Append the SNAPSHOT body of m at ts (without kind/length) to b. 0 or -ENOMEM. */
int rec_model_encode(const struct model *m, uint64_t ts, struct rec_buf *b);
/*
 * Restore a SNAPSHOT body into m (normally freshly initialised): its
 * counters, type names and tasks. *ts: the snapshot's time. 0, -1 if the
 * body is malformed (m then holds what was read before), -ENOMEM.
 */
int rec_model_restore(struct model *m, const uint8_t *body, size_t len, uint64_t *ts);

#endif
