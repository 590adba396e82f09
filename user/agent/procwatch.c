// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "agent/procwatch.h"
#include "procwatch.skel.h"

struct procwatch {
	struct procwatch_bpf *skel;
	struct ring_buffer *rb;
	procwatch_fn fn;
	void *ctx;
};

static int on_record(void *ctx, void *data, size_t len)
{
	struct procwatch *w = ctx;

	if (len >= sizeof(struct aps_proc_event))
		w->fn(w->ctx, data);
	return 0;
}

int procwatch_open(struct procwatch **out, procwatch_fn fn, void *ctx, char *err, size_t errlen)
{
	struct procwatch *w = calloc(1, sizeof(*w));
	int rc;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->ctx = ctx;
	w->skel = procwatch_bpf__open_and_load();
	if (!w->skel) {
		rc = -errno ? -errno : -EINVAL;
		snprintf(err, errlen, "loading the exec/exit tracepoints: %s", strerror(-rc));
		goto fail;
	}
	rc = procwatch_bpf__attach(w->skel);
	if (rc) {
		snprintf(err, errlen, "attaching sched_process_exec/exit: %s", strerror(-rc));
		goto fail;
	}
	w->rb = ring_buffer__new(bpf_map__fd(w->skel->maps.proc_events), on_record, w, NULL);
	if (!w->rb) {
		rc = -errno ? -errno : -ENOMEM;
		snprintf(err, errlen, "ring buffer: %s", strerror(-rc));
		goto fail;
	}
	*out = w;
	return 0;
fail:
	procwatch_close(w);
	return rc;
}

void procwatch_close(struct procwatch *w)
{
	if (!w)
		return;
	ring_buffer__free(w->rb);
	procwatch_bpf__destroy(w->skel);
	free(w);
}

int procwatch_fd(const struct procwatch *w)
{
	return ring_buffer__epoll_fd(w->rb);
}

int procwatch_consume(struct procwatch *w)
{
	return ring_buffer__consume(w->rb);
}

int procwatch_watch(struct procwatch *w, pid_t pid, int on)
{
	__u32 key = (__u32)pid;
	__u8 one = 1;
	int fd = bpf_map__fd(w->skel->maps.watched);

	if (on)
		return bpf_map_update_elem(fd, &key, &one, BPF_ANY) ? -errno : 0;
	return bpf_map_delete_elem(fd, &key) && errno != ENOENT ? -errno : 0;
}

uint64_t procwatch_lost(const struct procwatch *w)
{
	return w->skel->bss->lost;
}
