// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "agent/agent_metrics.h"
#include "agent/agent_loop.h"
#include "agent/procwatch.h"

void prom_escape(const char *in, char *out, size_t len)
{
	size_t k = 0;

	if (!len)
		return;
	for (; in && *in; in++) {
		const char *rep = *in == '\\' ? "\\\\" : *in == '"' ? "\\\"" : *in == '\n' ? "\\n" : NULL;
		size_t n = rep ? 2 : 1;

		if (k + n >= len)
			break;
		if (rep) {
			memcpy(out + k, rep, 2);
		} else {
			out[k] = *in;
		}
		k += n;
	}
	out[k] = 0;
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* pid="..",comm="..",service=".." */
static void labels(FILE *out, const struct agent_proc *p)
{
	char comm[64], svc[272];

	prom_escape(p->pi.comm, comm, sizeof(comm));
	prom_escape(p->service, svc, sizeof(svc));
	fprintf(out, "pid=\"%d\",comm=\"%s\",service=\"%s\"", (int)p->pi.pid, comm, svc);
}

static void own_usage(double *cpu, double *rss)
{
	struct rusage ru;
	unsigned long size = 0, res = 0;
	FILE *f;

	*cpu = *rss = 0;
	if (!getrusage(RUSAGE_SELF, &ru))
		*cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) == 2)
			*rss = (double)res * (double)sysconf(_SC_PAGESIZE);
		fclose(f);
	}
}

static const char *const state_names[3] = { "pending", "cancelled", "finished" };

#define PER_PROC(name, type, help, fmt, expr)				\
	do {								\
		family(out, name, type, help);				\
		for (unsigned i = 0; i < a->nprocs; i++) {		\
			const struct agent_proc *p = a->procs[i];	\
			fprintf(out, name "{");				\
			labels(out, p);					\
			fprintf(out, "} " fmt "\n", expr);		\
		}							\
	} while (0)

void agent_metrics_render(struct agent *a, FILE *out)
{
	uint64_t flight = 0;
	double cpu, rss;

	own_usage(&cpu, &rss);
	for (unsigned i = 0; i < a->nprocs; i++)
		flight += a->procs[i]->fl.bytes;
	family(out, "aps_agent_cpu_seconds_total", "counter", "CPU time the agent used, user and system.");
	fprintf(out, "aps_agent_cpu_seconds_total %.6f\n", cpu);
	family(out, "aps_agent_resident_bytes", "gauge", "The agent's resident memory.");
	fprintf(out, "aps_agent_resident_bytes %.0f\n", rss);
	family(out, "aps_agent_processes", "gauge", "Python processes using asyncio that the agent watches.");
	fprintf(out, "aps_agent_processes %u\n", a->nprocs);
	family(out, "aps_agent_watched_total", "counter", "Processes the agent began to watch.");
	fprintf(out, "aps_agent_watched_total %llu\n", (unsigned long long)a->watched_total);
	family(out, "aps_agent_forgotten_total", "counter",
	       "Watched processes dropped (exited, exec'd, or unreadable).");
	fprintf(out, "aps_agent_forgotten_total %llu\n", (unsigned long long)a->forgotten_total);
	family(out, "aps_agent_snapshot_period_seconds", "gauge",
	       "The task snapshot period now (--tasks-every, longer when over --max-cpu).");
	fprintf(out, "aps_agent_snapshot_period_seconds %.3f\n",
		(double)a->o.every_ns * (a->scale > 1 ? a->scale : 1) / 1e9);
	family(out, "aps_agent_flight_bytes", "gauge", "Memory held by the flight recorders.");
	fprintf(out, "aps_agent_flight_bytes %llu\n", (unsigned long long)flight);
	family(out, "aps_agent_dumps_total", "counter", "Flight-recorder dumps written, by trigger.");
	for (int r = 0; r < DUMP_NREASONS; r++)
		fprintf(out, "aps_agent_dumps_total{reason=\"%s\"} %llu\n", agent_dump_reason_name(r),
			(unsigned long long)a->dumps[r]);
	family(out, "aps_agent_dump_errors_total", "counter", "Dumps that could not be written.");
	fprintf(out, "aps_agent_dump_errors_total %llu\n", (unsigned long long)a->dump_errors);
	family(out, "aps_agent_exec_events_total", "counter", "Program executions seen on the host.");
	fprintf(out, "aps_agent_exec_events_total %llu\n", (unsigned long long)a->exec_events);
	family(out, "aps_agent_lost_events_total", "counter",
	       "Exec/exit events the agent's ring buffer had no room for.");
	fprintf(out, "aps_agent_lost_events_total %llu\n",
		(unsigned long long)(a->pw ? procwatch_lost(a->pw) : 0));

	family(out, "aps_process_info", "gauge", "A watched process: its Python version.");
	for (unsigned i = 0; i < a->nprocs; i++) {
		fprintf(out, "aps_process_info{");
		labels(out, a->procs[i]);
		fprintf(out, ",python=\"%d.%d\"} 1\n", a->procs[i]->ip.major, a->procs[i]->ip.minor);
	}
	family(out, "aps_tasks", "gauge", "Tasks listed by the interpreter at the last snapshot, by state.");
	for (unsigned i = 0; i < a->nprocs; i++)
		for (int s = 0; s < 3; s++) {
			fprintf(out, "aps_tasks{");
			labels(out, a->procs[i]);
			fprintf(out, ",state=\"%s\"} %u\n", state_names[s], a->procs[i]->hist.by_state[s]);
		}
	PER_PROC("aps_task_creations_total", "counter",
		 "Tasks that appeared since the agent began watching (seen by snapshots).",
		 "%llu", (unsigned long long)p->hist.created);
	PER_PROC("aps_task_ends_total", "counter", "Tasks no longer listed (done and released).",
		 "%llu", (unsigned long long)p->hist.gone);
	PER_PROC("aps_snapshots_total", "counter", "Task snapshots read from the process's memory.",
		 "%llu", (unsigned long long)p->snapshots);
	PER_PROC("aps_snapshots_skipped_total", "counter",
		 "Snapshots not needed: the process had not run since the last one.",
		 "%llu", (unsigned long long)p->skipped);
	PER_PROC("aps_snapshot_seconds_total", "counter", "CPU time the agent spent reading snapshots.",
		 "%.6f", (double)p->snap_ns / 1e9);
	PER_PROC("aps_snapshot_errors_total", "counter", "Snapshots that could not be read.",
		 "%llu", (unsigned long long)p->snap_errors);
	PER_PROC("aps_read_errors_total", "counter",
		 "Tasks left out of a snapshot: unreadable or changed while read.",
		 "%llu", (unsigned long long)p->read_errors);
	PER_PROC("aps_flight_seconds", "gauge", "Time span the flight recorder holds.", "%.3f",
		 p->fl.n && p->hdr.version ? (double)(agent_now() - rec_flight_start(&p->fl)) / 1e9 : 0.0);
	agent_loop_metrics(a, out, labels);
	family(out, "aps_task_waiting_seconds", "gauge",
	       "The longest-waiting pending tasks (at most --top-tasks per process): how long each "
	       "has been at its current await, as seen by snapshots (a lower bound for tasks older "
	       "than the agent).");
	for (unsigned i = 0; i < a->nprocs; i++) {
		const struct agent_proc *p = a->procs[i];

		for (unsigned k = 0; k < p->ntop; k++) {
			char name[200];

			prom_escape(p->top[k].name, name, sizeof(name));
			fprintf(out, "aps_task_waiting_seconds{");
			labels(out, p);
			fprintf(out, ",rank=\"%u\",task=\"%s\"} %.3f\n", k + 1, name, (double)p->top[k].wait_ns / 1e9);
		}
	}
}
