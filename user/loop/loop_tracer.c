// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "live/ringbuf.h"
#include "live/verifier_log.h"
#include "loop/loop_tracer.h"
#include "loop.skel.h"

#define MAX_CPUS 1024

struct loop_tracer {
	struct loop_bpf *skel;
	struct ring_buffer *rb;
	enum loop_poll_hook hook;
	struct bpf_link *poll_links[6];
	struct bpf_link *perf_links[MAX_CPUS];
	int perf_fds[MAX_CPUS];
	int ncpus;
	loop_event_fn fn;
	void *ctx;
	char fallback_why[160];	/* why not fentry, when tracepoints are used */
};

static bool loop_verbose;

static const char *const tp_names[3] = {
	"epoll_wait", "epoll_pwait", "epoll_pwait2",
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (!loop_verbose || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static int on_ringbuf(void *ctx, void *data, size_t len)
{
	struct loop_tracer *t = ctx;

	return t->fn(t->ctx, data, len);
}

static int load_with(struct loop_tracer *t, enum loop_poll_hook hook, unsigned ringbuf_kb)
{
	bool fentry = hook == LOOP_HOOK_FENTRY;
	struct verifier_log *vlog;
	int rc;

	t->skel = loop_bpf__open();
	if (!t->skel)
		return -errno;
	bpf_program__set_autoload(t->skel->progs.epoll_fentry, fentry);
	bpf_program__set_autoload(t->skel->progs.epoll_fexit, fentry);
	bpf_program__set_autoload(t->skel->progs.epoll_tp_enter, !fentry);
	bpf_program__set_autoload(t->skel->progs.epoll_tp_exit, !fentry);
	t->skel->rodata->wakeup_bytes = ringbuf_kb * 1024 / 4;
	rc = bpf_map__set_max_entries(t->skel->maps.events, ringbuf_kb * 1024);
	if (!rc) {
		vlog = loop_verbose ? verifier_log_arm(t->skel->obj) : NULL;
		rc = loop_bpf__load(t->skel);
		verifier_log_print(vlog, stderr);
		verifier_log_free(vlog);
	}
	if (rc) {
		loop_bpf__destroy(t->skel);
		t->skel = NULL;
		return rc;
	}
	t->hook = hook;
	return 0;
}

static int attach_poll(struct loop_tracer *t)
{
	char name[64];

	if (t->hook == LOOP_HOOK_FENTRY) {
		t->poll_links[0] = bpf_program__attach(t->skel->progs.epoll_fentry);
		if (!t->poll_links[0])
			return -errno;
		t->poll_links[1] = bpf_program__attach(t->skel->progs.epoll_fexit);
		return t->poll_links[1] ? 0 : -errno;
	}
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "sys_enter_%s", tp_names[i]);
		t->poll_links[2 * i] = bpf_program__attach_tracepoint(t->skel->progs.epoll_tp_enter,
								      "syscalls", name);
		snprintf(name, sizeof(name), "sys_exit_%s", tp_names[i]);
		t->poll_links[2 * i + 1] = bpf_program__attach_tracepoint(t->skel->progs.epoll_tp_exit,
									  "syscalls", name);
		/* epoll_pwait2 is 5.11+: the first two are required */
		if (i < 2 && (!t->poll_links[2 * i] || !t->poll_links[2 * i + 1]))
			return -errno ? -errno : -ENOENT;
	}
	return 0;
}

static void detach_poll(struct loop_tracer *t)
{
	for (int i = 0; i < 6; i++) {
		bpf_link__destroy(t->poll_links[i]);
		t->poll_links[i] = NULL;
	}
}

int loop_tracer_open(struct loop_tracer **out, enum loop_poll_hook want, loop_event_fn fn,
		     void *ctx, unsigned ringbuf_kb, bool verbose, char *err, size_t errlen)
{
	struct loop_tracer *t;
	int rc;

	loop_verbose = verbose;
	libbpf_set_print(libbpf_print);
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (int i = 0; i < MAX_CPUS; i++)
		t->perf_fds[i] = -1;
	t->fn = fn;
	t->ctx = ctx;
	if (!ringbuf_kb)
		ringbuf_kb = 4096;
	rc = -ENOENT;
	if (want != LOOP_HOOK_TRACEPOINT) {
		rc = load_with(t, LOOP_HOOK_FENTRY, ringbuf_kb);
		if (!rc) {
			rc = attach_poll(t);
			if (rc) {
				detach_poll(t);
				loop_bpf__destroy(t->skel);
				t->skel = NULL;
			}
		}
		if (rc && want == LOOP_HOOK_FENTRY) {
			snprintf(err, errlen, "cannot attach fentry/fexit to do_epoll_wait: %s",
				 strerror(-rc));
			goto cleanup;
		}
		if (rc)
			snprintf(t->fallback_why, sizeof(t->fallback_why),
				 "fentry/fexit on do_epoll_wait refused: %s%s", strerror(-rc),
				 rc == -EPERM ? " (kernel lockdown, or no BTF trampolines)" : "");
		if (rc && verbose)
			fprintf(stderr, "aps-bpf: %s: syscall tracepoints\n", t->fallback_why);
	}
	if (rc) {
		rc = load_with(t, LOOP_HOOK_TRACEPOINT, ringbuf_kb);
		if (!rc)
			rc = attach_poll(t);
		if (rc) {
			snprintf(err, errlen, "cannot load or attach the loop probes: %s%s", strerror(-rc),
				 geteuid() ? " (aps-bpf needs root, or CAP_BPF and CAP_PERFMON)" : "");
			goto cleanup;
		}
	}
	rc = ringbuf_open(&t->rb, bpf_map__fd(t->skel->maps.events), on_ringbuf, t, err, errlen);
	if (rc)
		goto cleanup;
	*out = t;
	return 0;
cleanup:
	loop_tracer_close(t);
	return rc;
}

const char *loop_tracer_fallback_reason(const struct loop_tracer *t)
{
	return t->fallback_why;
}

enum loop_poll_hook loop_tracer_hook(const struct loop_tracer *t)
{
	return t->hook;
}

const char *loop_tracer_hook_name(const struct loop_tracer *t)
{
	return t->hook == LOOP_HOOK_FENTRY ? "fentry/fexit do_epoll_wait"
					   : "syscall tracepoints epoll_wait/pwait/pwait2";
}

int loop_tracer_add(struct loop_tracer *t, pid_t pid, const struct aps_loop_target *cfg)
{
	__u32 key = (__u32)pid;

	struct aps_loop_pid_counters zero = {};

	/* zeroed: a pid used again starts from nothing */
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.loop_pid_counters), &key, &zero, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(t->skel->maps.loop_targets), &key, cfg, BPF_ANY))
		return -errno;
	return 0;
}

int loop_tracer_remove(struct loop_tracer *t, pid_t pid)
{
	__u32 key = (__u32)pid;

	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.loop_pid_counters), &key);
	if (bpf_map_delete_elem(bpf_map__fd(t->skel->maps.loop_targets), &key) && errno != ENOENT)
		return -errno;
	return 0;
}

int loop_tracer_pid_counters(const struct loop_tracer *t, pid_t pid, struct aps_loop_pid_counters *c)
{
	__u32 key = (__u32)pid;

	memset(c, 0, sizeof(*c));
	return bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.loop_pid_counters), &key, c) ? -errno : 0;
}

int loop_tracer_start_sampler(struct loop_tracer *t, unsigned hz, char *err, size_t errlen)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_freq = hz,
		.freq = 1,
	};
	int n = libbpf_num_possible_cpus(), rc;

	if (n <= 0)
		return n ? n : -ENODEV;
	if (n > MAX_CPUS)
		n = MAX_CPUS;
	t->ncpus = n;
	for (int cpu = 0; cpu < n; cpu++) {
		int fd = (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);

		if (fd < 0) {
			if (errno == ENODEV)	/* possible, not online */
				continue;
			rc = -errno;
			snprintf(err, errlen, "perf_event_open (cpu-clock, cpu %d): %s", cpu, strerror(-rc));
			return rc;
		}
		t->perf_fds[cpu] = fd;
		t->perf_links[cpu] = bpf_program__attach_perf_event(t->skel->progs.sample, fd);
		if (!t->perf_links[cpu]) {
			rc = -errno;
			snprintf(err, errlen, "cannot attach the sampler to cpu %d: %s", cpu, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int loop_tracer_set_tstate(struct loop_tracer *t, uint32_t tid, uint64_t tstate)
{
	int fd = bpf_map__fd(t->skel->maps.tstates);
	__u64 v = tstate;

	if (!tstate)
		return bpf_map_delete_elem(fd, &tid) && errno != ENOENT ? -errno : 0;
	return bpf_map_update_elem(fd, &tid, &v, BPF_ANY) ? -errno : 0;
}

int loop_tracer_poll(struct loop_tracer *t, int timeout_ms)
{
	return ringbuf_poll(t->rb, timeout_ms);
}

int loop_tracer_drain(struct loop_tracer *t)
{
	return ring_buffer__consume(t->rb);
}

int loop_tracer_threads(struct loop_tracer *t, pid_t pid, loop_thread_fn fn, void *ctx)
{
	int fd = bpf_map__fd(t->skel->maps.loop_threads), n = 0;
	__u32 key, next, *prev = NULL;
	struct aps_loop_thread st;

	while (n < APS_MAX_THREADS && bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		n++;
		if (bpf_map_lookup_elem(fd, &key, &st))
			continue;
		if (pid && st.tgid != (__u32)pid)
			continue;
		fn(ctx, key, &st);
	}
	return 0;
}

int loop_tracer_forget_thread(struct loop_tracer *t, uint32_t tid)
{
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.loop_threads), &tid);
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.tstates), &tid);
	return 0;
}

void loop_tracer_counters(const struct loop_tracer *t, struct aps_loop_counters *c)
{
	*c = t->skel->bss->lcounters;
}

int loop_tracer_prog_stats(const struct loop_tracer *t, struct prog_stat out[LOOP_NPROGS])
{
	struct bpf_program *progs[LOOP_NPROGS] = {
		t->skel->progs.sample, t->skel->progs.epoll_fentry, t->skel->progs.epoll_fexit,
		t->skel->progs.epoll_tp_enter, t->skel->progs.epoll_tp_exit,
	};

	for (int i = 0; i < LOOP_NPROGS; i++)
		prog_stat_read(progs[i], &out[i]);	/* a program not loaded: 0 */
	return 0;
}

void loop_tracer_close(struct loop_tracer *t)
{
	if (!t)
		return;
	for (int i = 0; i < MAX_CPUS; i++) {
		bpf_link__destroy(t->perf_links[i]);
		if (t->perf_fds[i] >= 0)
			close(t->perf_fds[i]);
	}
	detach_poll(t);
	ring_buffer__free(t->rb);
	loop_bpf__destroy(t->skel);
	free(t);
}

static int no_records(void *ctx, const void *data, size_t len)
{
	(void)ctx;
	(void)data;
	(void)len;
	return 0;
}

void loop_tracer_doctor(void)
{
	struct loop_tracer *t = NULL;
	char err[256] = "";

	printf("\nloop mode (--mode loop: no uprobe)\n");
	if (loop_tracer_open(&t, LOOP_HOOK_AUTO, no_records, NULL, 64, false, err, sizeof(err))) {
		printf("  cannot load its probes: %s\n", err);
		return;
	}
	printf("  poll spans by:  %s", loop_tracer_hook_name(t));
	if (t->fallback_why[0])
		printf(" (%s)", t->fallback_why);
	printf("\n  per loop poll:  2 BPF runs (poll entry, poll return); no uprobe\n");
	if (t->hook == LOOP_HOOK_TRACEPOINT)
		printf("  other threads:  every syscall of every thread of the host takes the\n"
		       "                  syscall-tracepoint slow path while attached (make bench: loop)\n");
	printf("  sampler:        a cpu-clock perf event per CPU at --hz (default 99)\n");
	loop_tracer_close(t);
}
