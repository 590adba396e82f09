// SPDX-License-Identifier: MIT
/* One watched process: its task snapshots, history and flight recorder. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include "agent/agent.h"
#include "agent/procwatch.h"
#include "memory/snapshot.h"
#include "recording/rec_tasks.h"
#include "target/layout_runtime.h"
#include "target/proc.h"

#define SNAP_DUTY 50		/* a read every >= 50x its CPU time: <= 2% of a CPU */
#define SNAP_MAX_PERIOD 30000000000ull
#define SCALE_MAX 30.0
#define CPU_THREADS_MAX 1024

uint64_t agent_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Run time and run count of every thread (schedstat): unchanged means the
 * process has not run, so its tasks have not changed. 0: unreadable.
 */
static uint64_t cpu_sig(pid_t pid)
{
	char path[64], buf[128];
	struct dirent *de;
	uint64_t sig = 0;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < CPU_THREADS_MAX) {
		unsigned long long run = 0, wait = 0, count = 0;
		ssize_t k;
		int fd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat", (int)pid, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		k = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (k <= 0)
			continue;
		buf[k] = 0;
		if (sscanf(buf, "%llu %llu %llu", &run, &wait, &count) != 3)
			continue;
		sig = (sig ^ (run + (count << 40) + strtoull(de->d_name, NULL, 10))) * 0x100000001b3ull;
		n++;
	}
	closedir(d);
	return n ? sig | 1 : 0;
}

void agent_budget_tick(struct agent *a, uint64_t now)
{
	unsigned active = 0;
	double need;

	for (unsigned i = 0; i < a->nprocs; i++)
		active += a->procs[i]->changed;
	/*
	 * A read of each process that changed, every period, costs
	 * active * cost per period: the period that keeps this within the budget.
	 */
	need = a->o.max_cpu > 0 ? a->snap_cost * active / a->o.max_cpu : 0;
	a->scale = need > (double)a->o.every_ns ? need / (double)a->o.every_ns : 1;
	if (a->scale > SCALE_MAX)
		a->scale = SCALE_MAX;
	if (a->o.verbose && now >= a->budget_log) {
		fprintf(stderr, "aps-bpf agent: a read takes %.2f ms of CPU, %u processes changing: "
			"period %.1f s\n", a->snap_cost / 1e6, active, (double)a->o.every_ns * a->scale / 1e9);
		a->budget_log = now + 10000000000ull;
	}
}

bool agent_proc_alive(const struct agent_proc *p)
{
	return proc_alive(p->pi.pid) && proc_start_time(p->pi.pid) == p->pi.start_time;
}

struct agent_proc *agent_find(struct agent *a, pid_t pid, unsigned *idx)
{
	for (unsigned i = 0; i < a->nprocs; i++)
		if (a->procs[i]->pi.pid == pid) {
			if (idx)
				*idx = i;
			return a->procs[i];
		}
	return NULL;
}

static uint64_t rejected_key(const struct proc_info *pi)
{
	return ((uint64_t)(uint32_t)pi->pid << 32) | (pi->start_time & 0xffffffffu) | (1ull << 63);
}

static void fill_header(struct agent_proc *p)
{
	struct rec_header *h = &p->hdr;
	const struct interp *ip = &p->ip;
	struct timespec mono, real;
	struct utsname u;

	memset(h, 0, sizeof(*h));
	h->version = REC_VERSION;
	h->pid = (uint32_t)p->pi.pid;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	h->clock_mono_ns = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
	h->clock_real_ns = (uint64_t)real.tv_sec * 1000000000ull + (uint64_t)real.tv_nsec;
	if (ip->micro >= 0)
		snprintf(h->python, sizeof(h->python), "%d.%d.%d", ip->major, ip->minor, ip->micro);
	else
		snprintf(h->python, sizeof(h->python), "%d.%d", ip->major, ip->minor);
	snprintf(h->comm, sizeof(h->comm), "%s", p->pi.comm);
	snprintf(h->asyncio_obj, sizeof(h->asyncio_obj), "%.511s", ip->asyncio_obj);
	if (!uname(&u))
		snprintf(h->host, sizeof(h->host), "%.63s", u.nodename);
	snprintf(h->cmdline, sizeof(h->cmdline), "%.511s", p->pi.cmdline);
}

void agent_proc_free(struct agent_proc *p)
{
	if (!p)
		return;
	task_hist_free(&p->hist);
	rec_writer_free(&p->w);
	rec_flight_free(&p->fl);
	free(p);
}

int agent_consider(struct agent *a, pid_t pid)
{
	struct agent_proc *p = NULL;
	struct proc_info pi;
	struct interp ip;
	char err[256];
	int rc;

	if (agent_find(a, pid, NULL))
		return 1;
	pi.pid = pid;
	pi.start_time = proc_start_time(pid);
	if (!pi.start_time)
		return -ESRCH;
	if (u64_map_get(&a->rejected, rejected_key(&pi), NULL))
		return 0;
	rc = proc_info_read(pid, &pi);
	if (rc)
		return rc;
	if (u64_map_get(&a->rejected, rejected_key(&pi), NULL))
		return 0;
	if (!discover_selected(&a->o.disc, &pi))
		goto reject;
	rc = interp_detect(pid, &ip);
	if (rc == -EAGAIN)
		return 0;	/* Python, _asyncio not found yet: a later scan */
	if (rc)
		goto reject;	/* not Python, or not a version we read */
	if (!ip.asyncio_mapped)
		return 0;
	if (a->nprocs >= a->o.max_procs) {
		if (a->o.verbose)
			fprintf(stderr, "aps-bpf agent: not watching %d: --max-procs %u reached\n", pid,
				a->o.max_procs);
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->agent = a;
	p->pi = pi;
	p->ip = ip;
	task_hist_init(&p->hist);
	rc = layout_for_target(&p->ip, &p->layout, err, sizeof(err));
	if (!rc)
		rc = py_runtime_resolve(&p->ip, &p->layout, &p->rt, err, sizeof(err));
	if (rc) {
		if (a->o.verbose)
			fprintf(stderr, "aps-bpf agent: not watching %d: %s\n", pid, err);
		agent_proc_free(p);
		goto reject;
	}
	if (a->o.label)
		snprintf(p->service, sizeof(p->service), "%s", a->o.label);
	else
		proc_service(pi.cgroup, p->service, sizeof(p->service));
	fill_header(p);
	p->watched_ns = agent_now();
	p->next_snap = p->watched_ns;
	p->rt_ok = true;
	p->flight_ok = !rec_flight_init(&p->fl, a->o.window_ns, a->o.proc_bytes) &&
		       !rec_writer_init(&p->w, rec_flight_sink, &p->fl) &&
		       !rec_writer_segment(&p->w, p->watched_ns, REC_SEG_START);
	if (a->nprocs == a->cap) {
		unsigned cap = a->cap ? a->cap * 2 : 16;
		struct agent_proc **v = realloc(a->procs, sizeof(*v) * cap);

		if (!v) {
			agent_proc_free(p);
			return -ENOMEM;
		}
		a->procs = v;
		a->cap = cap;
	}
	if (a->lt)
		agent_loop_add(a, p);
	pthread_mutex_lock(&a->lock);
	a->procs[a->nprocs++] = p;
	a->watched_total++;
	pthread_mutex_unlock(&a->lock);
	if (a->pw)
		procwatch_watch(a->pw, pid, 1);
	if (!agent_proc_alive(p)) {
		/* it ended before its exit could be seen */
		agent_forget(a, a->nprocs - 1);
		return -ESRCH;
	}
	fprintf(stderr, "aps-bpf agent: watching pid %d (%s, Python %d.%d%s%s%s)\n", pid, pi.comm,
		ip.major, ip.minor, p->service[0] ? ", service " : "", p->service,
		p->loop.on ? ", loop mode" : "");
	return 1;
reject:
	u64_map_put(&a->rejected, rejected_key(&pi), 1);
	return 0;
}

void agent_forget(struct agent *a, unsigned i)
{
	struct agent_proc *p = a->procs[i];

	if (a->pw)
		procwatch_watch(a->pw, p->pi.pid, 0);
	agent_loop_remove(a, p);
	pthread_mutex_lock(&a->lock);
	a->procs[i] = a->procs[--a->nprocs];
	a->forgotten_total++;
	pthread_mutex_unlock(&a->lock);
	agent_proc_free(p);
}

/* The longest-waiting tasks, for /metrics. */
static void keep_top(struct agent *a, struct agent_proc *p, const struct snapshot *s, uint64_t now)
{
	unsigned max = a->o.top_tasks < AGENT_TOP_TASKS ? a->o.top_tasks : AGENT_TOP_TASKS;

	p->ntop = 0;
	for (uint32_t i = 0; max && i < s->ntasks; i++) {
		const struct th_task *t = task_hist_find(&p->hist, s->tasks[i].addr);
		uint64_t w;
		unsigned k;

		if (!t || !s->tasks[i].listed || s->tasks[i].state != 0)
			continue;
		w = now > t->wait_ns ? now - t->wait_ns : 0;
		if (p->ntop == max && w <= p->top[max - 1].wait_ns)
			continue;
		k = p->ntop < max ? p->ntop++ : max - 1;
		/* insertion, longest first */
		while (k > 0 && p->top[k - 1].wait_ns < w) {
			p->top[k] = p->top[k - 1];
			k--;
		}
		snprintf(p->top[k].name, sizeof(p->top[k].name), "%s", s->tasks[i].name ? s->tasks[i].name : "?");
		p->top[k].wait_ns = w;
		p->top[k].exact = t->flags & TH_WAIT_SEEN;
	}
}

int agent_proc_tick(struct agent *a, struct agent_proc *p, uint64_t now)
{
	struct snapshot s = {};
	struct rec_buf b = {};
	uint64_t t0, t1, c0, took, share, sig, period;
	char err[256];
	int rc;

	if (p->flight_ok) {
		/* each process gets its share of the total, at most its own bound */
		share = a->nprocs ? a->o.total_bytes / a->nprocs : a->o.total_bytes;
		p->fl.max_bytes = share < a->o.proc_bytes ? share : a->o.proc_bytes;
		if (rec_flight_tick(&p->fl, &p->w, now))
			p->flight_ok = false;
	}
	if (now < p->next_snap)
		return 0;
	period = (uint64_t)((double)a->o.every_ns * (a->scale >= 1 ? a->scale : 1));
	c0 = cpu_now();
	sig = cpu_sig(p->pi.pid);
	if (sig && sig == p->cpu_sig) {
		/* it has not run: its tasks are as they were */
		pthread_mutex_lock(&a->lock);
		task_hist_idle(&p->hist, now);
		p->skipped++;
		p->changed = false;
		pthread_mutex_unlock(&a->lock);
		p->next_snap = now + period;
		return 0;
	}
	t0 = agent_now();
	if (!p->rt_ok) {
		struct py_layout l = p->layout;

		rc = py_runtime_resolve(&p->ip, &l, &p->rt, err, sizeof(err));
		p->rt_ok = !rc;
		if (!rc)
			p->layout = l;
	}
	rc = p->rt_ok ? snapshot_take_resolved(&p->ip, &p->layout, &p->rt,
						   a->rcache_ok ? &a->rcache : NULL, &s, err, sizeof(err)) : -EAGAIN;
	t1 = agent_now();
	took = cpu_now() - c0;
	p->snap_ns += took;
	p->changed = true;
	/* the cost of one read, smoothed (a process's first is dearer) */
	if (p->snapshots || p->snap_errors)
		a->snap_cost = a->snap_cost ? 0.9 * a->snap_cost + 0.1 * (double)took : (double)took;
	p->next_snap = t1 + (period > took * SNAP_DUTY ? period : took * SNAP_DUTY);
	if (p->next_snap > t1 + SNAP_MAX_PERIOD)
		p->next_snap = t1 + SNAP_MAX_PERIOD;
	if (rc) {
		snapshot_free(&s);
		if (!proc_alive(p->pi.pid) || proc_start_time(p->pi.pid) != p->pi.start_time)
			return -ESRCH;
		if (!p->snap_errors++ || a->o.verbose)
			fprintf(stderr, "aps-bpf agent: pid %d: reading tasks: %s\n", p->pi.pid, err);
		p->last_err = rc;
		p->rt_ok = false;
		p->cpu_sig = 0;
		return 0;
	}
	p->cpu_sig = sig;
	pthread_mutex_lock(&a->lock);
	p->snapshots++;
	p->read_errors += s.dropped;
	rc = task_hist_update(&p->hist, &s, t0, t1);
	if (!rc)
		keep_top(a, p, &s, t1);
	pthread_mutex_unlock(&a->lock);
	if (p->flight_ok) {
		if (!rec_tasks_encode(&s, t0, t1, p->snapshots == 1 ? REC_TASKS_ATTACH : 0, &b))
			rc = rec_writer_tasks(&p->w, b.p, b.len);
		if (rc)
			p->flight_ok = false;
		rec_buf_free(&b);
	}
	snapshot_free(&s);
	return 0;
}

int agent_proc_dump(struct agent *a, struct agent_proc *p, enum agent_dump_reason why,
		    char *path, size_t pathlen, char *err, size_t errlen)
{
	struct rec_end e = {};
	uint64_t bytes = 0, now = agent_now();
	int rc;

	if (!p->flight_ok) {
		snprintf(err, errlen, "pid %d: the flight recorder failed earlier", p->pi.pid);
		rc = -EIO;
		goto fail;
	}
	agent_dump_path(a, p, why, path, pathlen);
	e.ts = now;
	e.read_errors = p->read_errors;
	snprintf(e.reason, sizeof(e.reason), "agent:%s", agent_dump_reason_name(why));
	rc = rec_flight_dump(&p->fl, &p->w, &p->hdr, &e, path, &bytes, err, errlen);
	if (rc)
		goto fail;
	if (a->dump_failing) {
		fprintf(stderr, "aps-bpf agent: dumps are written again (%llu failed)\n",
			(unsigned long long)a->dump_errors);
		a->dump_failing = 0;
	}
	p->dumps++;
	p->last_dump_ns = now;
	a->dumps[why]++;
	a->dumps_removed += agent_dumps_rotate(a->o.dump_dir, a->o.dump_keep, a->o.dump_bytes);
	fprintf(stderr, "aps-bpf agent: pid %d (%s): wrote %s (%s, %llu bytes)\n", p->pi.pid, p->pi.comm,
		path, agent_dump_reason_name(why), (unsigned long long)bytes);
	return 0;
fail:
	/* a full disk fails every dump: one line until one succeeds or the error changes */
	a->dump_errors++;
	if (a->dump_failing != rc)
		fprintf(stderr, "aps-bpf agent: dump failed: %s (counted in aps_agent_dump_errors_total; "
			"not logged again until dumps work)\n", err);
	a->dump_failing = rc;
	return rc;
}
