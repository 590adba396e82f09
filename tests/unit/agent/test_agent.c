// SPDX-License-Identifier: MIT
/* The agent's pure parts: task history, label escaping, --match rules, services. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "unit.h"
#include "agent/agent_metrics.h"
#include "agent/discover.h"
#include "agent/task_hist.h"

static struct snap_frame frames_a[2] = { { "inner", "f.py", 10, 0 }, { "outer", "f.py", 1, 0 } };
static struct snap_frame frames_b[2] = { { "inner", "f.py", 11, 0 }, { "outer", "f.py", 1, 0 } };

static void one_task(struct snapshot *s, struct snap_task *t, uint64_t addr, const char *name,
		     struct snap_frame *f)
{
	memset(t, 0, sizeof(*t));
	t->addr = addr;
	t->listed = true;
	t->stack_ok = true;
	t->name = name;
	t->nframes = 2;
	t->frames = f;
	memset(s, 0, sizeof(*s));
	s->ntasks = 1;
	s->tasks = t;
}

TEST(history_first_snapshot_gives_lower_bounds_then_seen_times)
{
	struct task_hist h;
	struct snapshot s;
	struct snap_task t[2];
	const struct th_task *x;

	task_hist_init(&h);
	one_task(&s, &t[0], 0x1000, "old", frames_a);
	REQUIRE(task_hist_update(&h, &s, 100, 110) == 0);
	x = task_hist_find(&h, 0x1000);
	REQUIRE(x != NULL);
	CHECK_EQ_INT(x->flags, 0);		/* there before: lower bounds */
	CHECK_EQ_INT(x->first_ns, 110);
	/* a new task between two reads: created at the middle of [prev t0, t1] */
	t[1] = t[0];
	t[1].addr = 0x2000;
	t[1].name = "new";
	s.ntasks = 2;
	REQUIRE(task_hist_update(&h, &s, 200, 210) == 0);
	x = task_hist_find(&h, 0x2000);
	REQUIRE(x != NULL);
	CHECK_EQ_INT(x->flags, TH_CREATED_SEEN | TH_WAIT_SEEN);
	CHECK_EQ_INT(x->first_ns, 155);
	CHECK_EQ_INT(h.created, 1);
	/* the old task moves: its wait restarts, now known */
	t[0].frames = frames_b;
	REQUIRE(task_hist_update(&h, &s, 300, 310) == 0);
	x = task_hist_find(&h, 0x1000);
	CHECK_EQ_INT(x->flags, TH_WAIT_SEEN);
	CHECK_EQ_INT(x->wait_ns, 255);
	CHECK_EQ_INT(x->first_ns, 110);
	/* idle: nothing ran up to 400, so a task seen next appeared after it */
	task_hist_idle(&h, 400);
	t[1].addr = 0x3000;
	t[1].name = "newer";
	REQUIRE(task_hist_update(&h, &s, 500, 510) == 0);
	CHECK_EQ_INT(task_hist_find(&h, 0x3000)->first_ns, 455);
	CHECK(task_hist_find(&h, 0x2000) == NULL);	/* gone */
	CHECK_EQ_INT(h.gone, 1);
	task_hist_free(&h);
}

TEST(history_reused_address_is_a_new_task)
{
	struct task_hist h;
	struct snapshot s;
	struct snap_task t;

	task_hist_init(&h);
	one_task(&s, &t, 0x1000, "a", frames_a);
	REQUIRE(task_hist_update(&h, &s, 100, 110) == 0);
	t.name = "b";
	REQUIRE(task_hist_update(&h, &s, 200, 210) == 0);
	CHECK_EQ_INT(task_hist_find(&h, 0x1000)->flags, TH_CREATED_SEEN | TH_WAIT_SEEN);
	CHECK_EQ_INT(h.created, 1);
	CHECK_EQ_INT(h.gone, 1);
	task_hist_free(&h);
}

TEST(prometheus_label_escaping)
{
	char out[64];

	prom_escape("a\"b\\c\nd", out, sizeof(out));
	CHECK_EQ_STR(out, "a\\\"b\\\\c\\nd");
	prom_escape("plain", out, sizeof(out));
	CHECK_EQ_STR(out, "plain");
	/* cut whole: never half an escape */
	prom_escape("\"\"\"\"", out, 6);
	CHECK_EQ_STR(out, "\\\"\\\"");
}

TEST(match_rules)
{
	struct discover d = {};
	struct proc_info pi = { .uid = 1000 };
	char err[256];

	strcpy(pi.cmdline, "python3 -m gunicorn app:main");
	strcpy(pi.cgroup, "/system.slice/web.service/worker");
	CHECK(discover_selected(&d, &pi));
	REQUIRE(discover_add(&d, false, "cmd:gunicorn", err, sizeof(err)) == 0);
	CHECK(discover_selected(&d, &pi));
	REQUIRE(discover_add(&d, true, "uid:1000", err, sizeof(err)) == 0);
	CHECK(!discover_selected(&d, &pi));
	discover_free(&d);
	REQUIRE(discover_add(&d, false, "cgroup:/system.slice/web.service", err, sizeof(err)) == 0);
	CHECK(discover_selected(&d, &pi));
	strcpy(pi.cgroup, "/system.slice/web.service2");
	CHECK(!discover_selected(&d, &pi));
	CHECK(discover_add(&d, false, "uid:x", err, sizeof(err)) == -EINVAL);
	CHECK(discover_add(&d, false, "cgroup:rel", err, sizeof(err)) == -EINVAL);
	CHECK(discover_add(&d, false, "cmd:(", err, sizeof(err)) == -EINVAL);
	discover_free(&d);
}

TEST(service_from_cgroup)
{
	char b[64];

	proc_service("/system.slice/web.service", b, sizeof(b));
	CHECK_EQ_STR(b, "web.service");
	proc_service("/system.slice/web.service/worker-1", b, sizeof(b));
	CHECK_EQ_STR(b, "web.service");
	proc_service("/user.slice/user-0.slice/session-3.scope", b, sizeof(b));
	CHECK_EQ_STR(b, "session-3.scope");
	proc_service("/", b, sizeof(b));
	CHECK_EQ_STR(b, "");
}

UNIT_MAIN()
