// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include "memory/blocked_capture.h"
#include "output/escape.h"
#include "target/proc.h"
#include "output/fmt.h"

/* Line `line` of a source file of the target (through its root), stripped
 * and escaped; "" when unreadable. Bounded: 1 MiB scanned, 200 bytes kept. */
static void source_line(pid_t pid, const char *file, int line, char *out, size_t len)
{
	char path[PATH_MAX + 64], buf[4096];
	struct aps_pystr s = { .kind = 1 };
	size_t scanned = 0;
	FILE *f;
	char *p;

	out[0] = '\0';
	if (line <= 0 || file[0] != '/' || proc_root_path(pid, file, path, sizeof(path)))
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	for (int n = 1; fgets(buf, sizeof(buf), f) && scanned < (1 << 20); n++) {
		scanned += strlen(buf);
		if (n < line)
			continue;
		buf[strcspn(buf, "\r\n")] = '\0';
		for (p = buf; *p == ' ' || *p == '\t'; p++)
			;
		s.nchars = (uint32_t)strlen(p);
		s.truncated = s.nchars > APS_STR_MAX;
		memcpy(s.data, p, s.truncated ? APS_STR_MAX : s.nchars);
		pystr_to_utf8(&s, NULL, out, len);
		break;
	}
	fclose(f);
}

/* The thread's state and kernel wait channel at the crossing. */
static void thread_wait(pid_t pid, uint32_t tid, struct blocked_capture *b)
{
	char path[96], buf[512], *p;
	FILE *f;

	b->state = '?';
	snprintf(path, sizeof(path), "/proc/%d/task/%u/stat", pid, tid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
			b->state = p[2];
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%u/wchan", pid, tid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(b->wchan, sizeof(b->wchan), f))
			b->wchan[strcspn(b->wchan, "\n")] = '\0';
		fclose(f);
		for (p = b->wchan; *p; p++)
			if (*p < 0x20 || *p >= 0x7f)
				*p = '?';
		if (!strcmp(b->wchan, "0"))
			b->wchan[0] = '\0';
	}
}

void blocked_capture_take(struct thread_stack_reader *rd, pid_t pid, uint32_t tid, uint64_t task,
			  uint64_t begin_ts, uint64_t now, struct blocked_capture *b)
{
	memset(b, 0, sizeof(*b));
	b->tid = tid;
	b->ns_tid = proc_ns_tid(pid, tid);
	b->task = task;
	b->begin_ts = begin_ts;
	b->crossed_ts = now;
	b->stack_err = thread_stack_read(rd, b->ns_tid, &b->stack);
	thread_wait(pid, tid, b);
	for (uint32_t i = 0; !b->stack_err && i < b->stack.n; i++)
		source_line(pid, b->stack.f[i].file, b->stack.f[i].line, b->src[i], sizeof(b->src[i]));
}

void blocked_print_stack(FILE *out, bool json, const struct blocked_capture *b)
{
	char esc[3][1024];

	if (json) {
		fputs(",\"stack\":", out);
		if (!b) {
			fputs("null", out);
			return;
		}
		fputc('[', out);
		for (uint32_t i = 0; i < b->stack.n; i++) {
			const struct stack_frame *f = &b->stack.f[i];

			json_escape(f->func, esc[0], sizeof(esc[0]));
			json_escape(f->file, esc[1], sizeof(esc[1]));
			json_escape(b->src[i], esc[2], sizeof(esc[2]));
			fprintf(out, "%s{\"func\":\"%s\",\"file\":\"%s\",\"line\":%d,\"source\":\"%s\"}",
				i ? "," : "", esc[0], esc[1], f->line, esc[2]);
		}
		json_escape(b->wchan, esc[0], sizeof(esc[0]));
		fprintf(out, "],\"thread_state\":\"%c\",\"wchan\":\"%s\"", b->state, esc[0]);
		return;
	}
	if (!b) {
		fprintf(out, "    (stack not taken: the step ended before aps-bpf looked)\n");
		return;
	}
	if (b->stack_err) {
		fprintf(out, "    (stack unreadable: %s)\n", strerror(-b->stack_err));
		return;
	}
	fprintf(out, "    stack when it crossed the threshold, innermost first (thread %s%s%s):\n",
		b->state == 'R' ? "running" : b->state == 'S' || b->state == 'D' ? "waiting" : "state ?",
		b->wchan[0] ? " in " : "", b->wchan);
	for (uint32_t i = 0; i < b->stack.n; i++) {
		fprintf(out, "      %s  %s:%d\n", b->stack.f[i].func, b->stack.f[i].file,
			b->stack.f[i].line);
		if (b->src[i][0])
			fprintf(out, "          %s\n", b->src[i]);
	}
	if (b->stack.truncated)
		fprintf(out, "      ...\n");
}

void blocked_print(FILE *out, bool json, const struct blocked_report *r,
		   const struct blocked_capture *b)
{
	char d[32], t[40], esc[2][1024];

	if (json) {
		json_escape(r->name ? r->name : "?", esc[0], sizeof(esc[0]));
		json_escape(r->coro ? r->coro : "?", esc[1], sizeof(esc[1]));
		fprintf(out, "{\"event\":\"blocked\",\"ts_ns\":%" PRIu64 ",", r->begin_ts);
		fmt_json_tid(out, r->tid, r->ns_tid);
		fprintf(out, ",\"task\":\"0x%" PRIx64 "\",\"name\":\"%s\",\"coro\":\"%s\",\"duration_ns\":%"
			PRIu64 ",\"ended\":%s", r->task, esc[0], esc[1], r->duration_ns,
			r->ended ? "true" : "false");
		blocked_print_stack(out, true, b);
		fputs("}\n", out);
	} else {
		fprintf(out, "blocked %s: task %s (%s), tid %s%s\n",
			fmt_dur(r->duration_ns, d, sizeof(d)), r->name ? r->name : "?",
			r->coro ? r->coro : "?", fmt_tid(r->tid, r->ns_tid, t, sizeof(t)), r->ended ? "" : ", still running at exit");
		blocked_print_stack(out, false, b);
	}
}
