/* SPDX-License-Identifier: MIT */
/* A BPF ring buffer: opened with a one-line error, polled without losing unwoken records. */
#ifndef APS_LIVE_RINGBUF_H
#define APS_LIVE_RINGBUF_H

#include <stddef.h>
#include <bpf/libbpf.h>

/* The ring buffer of map_fd, records to fn(ctx): 0, or -errno with the error in err. */
int ringbuf_open(struct ring_buffer **rb, int map_fd, ring_buffer_sample_fn fn, void *ctx,
		 char *err, size_t errlen);
/*
 * Wait up to timeout_ms, then take the records submitted without a wakeup
 * too: the records handled, or -errno (-EINTR: a signal).
 */
int ringbuf_poll(struct ring_buffer *rb, int timeout_ms);

#endif
