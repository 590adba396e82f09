// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>
#include "output/escape.h"
#include "recording/rec_field.h"
#include "recording/varint.h"

void rec_field_put_u(struct rec_buf *b, uint64_t v)
{
	b->len += varint_put(b->p + b->len, v);
}

void rec_field_put_s(struct rec_buf *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	rec_field_put_u(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

int rec_field_get_u(const uint8_t **p, const uint8_t *end, uint64_t *v, uint64_t max)
{
	return varint_get(p, end, v) || *v > max ? -1 : 0;
}

int rec_field_get_s(const uint8_t **p, const uint8_t *end, char *out, size_t size)
{
	uint64_t n;

	if (varint_get(p, end, &n) || n > (uint64_t)(end - *p) || !escape_is_clean((const char *)*p, n))
		return -1;
	snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), (const char *)*p);
	*p += n;
	return 0;
}
