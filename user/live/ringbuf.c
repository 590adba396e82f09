// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "live/ringbuf.h"

int ringbuf_open(struct ring_buffer **rb, int map_fd, ring_buffer_sample_fn fn, void *ctx,
		 char *err, size_t errlen)
{
	int rc;

	*rb = ring_buffer__new(map_fd, fn, ctx, NULL);
	if (*rb)
		return 0;
	rc = errno ? -errno : -ENOMEM;
	snprintf(err, errlen, "cannot open the ring buffer: %s", strerror(-rc));
	return rc;
}

int ringbuf_poll(struct ring_buffer *rb, int timeout_ms)
{
	int n = ring_buffer__poll(rb, timeout_ms), m;

	if (n < 0)
		return n;
	/* records submitted without a wakeup are there too: take them now */
	m = ring_buffer__consume(rb);
	return m < 0 ? m : n + m;
}
