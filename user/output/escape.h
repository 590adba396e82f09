/* SPDX-License-Identifier: MIT */
/* Strings from the target are untrusted: decode, bound and escape them. */
#ifndef APS_ESCAPE_H
#define APS_ESCAPE_H

#include <stddef.h>
#include "aps_events.h"

#define APS_NAME_MAX 256	/* bytes of UTF-8 kept per name, with the cut mark */

/*
 * Decode a copied Python str to UTF-8 (never longer than len-1 bytes).
 * Control characters, DEL, C1 controls and invalid code points are escaped
 * as \xNN / \uNNNN; a cut string ends with "…". An int (3.12+ deferred
 * task name) is formatted with int_prefix ("Task-"). Empty kind gives "?".
 */
void pystr_to_utf8(const struct aps_pystr *s, const char *int_prefix, char *out, size_t len);

/* Escape an already-safe UTF-8 string for a JSON string body. */
void json_escape(const char *in, char *out, size_t len);

/* No control character (C0, DEL) in the n bytes of s: what escaped strings are. */
int escape_is_clean(const char *s, size_t n);

#endif
