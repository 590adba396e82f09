// SPDX-License-Identifier: MIT
/*
 * ps and pstree of a snapshot built by hand: the rows, the tree, the
 * await cycles and the escaping, compared byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include "unit.h"
#include "output/task_view.h"

static const struct snap_frame main_frames[] = {
	{ "main", "/app/m.py", 10, 0 },
};
static const struct snap_frame worker_frames[] = {
	{ "Worker.inner", "/app/w.py", 5, 0 },
	{ "Worker.run", "/app/w.py", 20, 0 },
};
static const struct snap_frame a_frames[] = { { "wait_b", "/app/c.py", 7, 0 } };
static const struct snap_frame b_frames[] = { { "wait_a", "/app/c.py", 9, 0 } };

/*
 * Task-1 (main) awaits the worker; a and b await each other (a cycle).
 * The worker's name needs CSV quoting and JSON escaping.
 */
static void bed(struct snapshot *s, struct snap_task t[4], struct snap_awaiter aw[3])
{
	memset(s, 0, sizeof(*s));
	memset(t, 0, 4 * sizeof(*t));
	s->major = 3;
	s->minor = 14;
	s->tids = true;
	s->ntasks = 4;
	s->tasks = t;
	aw[0] = (struct snap_awaiter){ 0x1000, 0 };	/* Task-1 awaits the worker */
	aw[1] = (struct snap_awaiter){ 0x3000, 3 };	/* b awaits a */
	aw[2] = (struct snap_awaiter){ 0x2000, 2 };	/* a awaits b */
	t[0] = (struct snap_task){ .addr = 0x1000, .loop = 0x99, .tid = 7, .listed = true,
				   .stack_ok = true, .name = "Task-1", .nframes = 1,
				   .frames = main_frames };
	t[1] = (struct snap_task){ .addr = 0x1100, .loop = 0x99, .tid = 7, .listed = true,
				   .stack_ok = true, .name = "work,\"er\"", .nframes = 2,
				   .frames = worker_frames, .nawaiters = 1, .awaiters = &aw[0] };
	t[2] = (struct snap_task){ .addr = 0x2000, .loop = 0x99, .tid = 7, .listed = true,
				   .stack_ok = true, .name = "a", .nframes = 1, .frames = a_frames,
				   .nawaiters = 1, .awaiters = &aw[1] };
	t[3] = (struct snap_task){ .addr = 0x3000, .loop = 0x99, .tid = 7, .listed = true,
				   .stack_ok = true, .name = "b", .nframes = 1, .frames = b_frames,
				   .nawaiters = 1, .awaiters = &aw[2] };
}

static const char PS_TABLE[] =
	"tid        task id              task name            coroutine stack                            "
	"        awaiter chain                                      awaiter name    awaiter id      state"
	"      runtime    waiting   \n-------------------------------------------------------------------"
	"------------------------------------------------------------------------------------------------"
	"--------------------------------------------------\n7          0x1000               Task-1      "
	"         main                                                                                   "
	"                               0x0             pending    ?          ?         \n7          0x11"
	"00               work,\"er\"            Worker.inner -> Worker.run                         main "
	"                                              Task-1          0x1000          pending    ?      "
	"    ?         \n7          0x2000               a                    wait_b                     "
	"                        wait_a                                             b               0x300"
	"0          pending    ?          ?         \n7          0x3000               b                  "
	"  wait_a                                             wait_b                                     "
	"        a               0x2000          pending    ?          ?         \n";

static const char PS_CSV[] =
	"tid,task id,task name,coroutine stack,awaiter chain,awaiter name,awaiter id,state,runtime,waitin"
	"g\n7,0x1000,Task-1,main,,,0x0,pending,?,?\n7,0x1100,\"work,\"\"er\"\"\",Worker.inner -> Worker.r"
	"un,main,Task-1,0x1000,pending,?,?\n7,0x2000,a,wait_b,wait_a,b,0x3000,pending,?,?\n7,0x3000,b,wai"
	"t_a,wait_b,a,0x2000,pending,?,?\n";

static const char PS_JSON[] =
	"{\"python\":\"3.14\",\"dropped\":0,\"tasks\":[{\"tid\":7,\"task_id\":\"0x1000\",\"task_name\":\""
	"Task-1\",\"coroutine_stack\":[{\"func\":\"main\",\"file\":\"/app/m.py\",\"line\":10}],\"frames_o"
	"mitted\":0,\"state\":\"pending\",\"age_ns\":null,\"age_lower_bound\":false,\"waiting_ns\":null,\""
	"waiting_lower_bound\":false,\"busy_ns\":null,\"steps\":null,\"max_step_ns\":null,\"awaiters\":[]"
	"},{\"tid\":7,\"task_id\":\"0x1100\",\"task_name\":\"work,\\\"er\\\"\",\"coroutine_stack\":[{\"fu"
	"nc\":\"Worker.inner\",\"file\":\"/app/w.py\",\"line\":5},{\"func\":\"Worker.run\",\"file\":\"/ap"
	"p/w.py\",\"line\":20}],\"frames_omitted\":0,\"state\":\"pending\",\"age_ns\":null,\"age_lower_bo"
	"und\":false,\"waiting_ns\":null,\"waiting_lower_bound\":false,\"busy_ns\":null,\"steps\":null,\""
	"max_step_ns\":null,\"awaiters\":[{\"id\":\"0x1000\",\"name\":\"Task-1\",\"is_task\":true}]},{\"t"
	"id\":7,\"task_id\":\"0x2000\",\"task_name\":\"a\",\"coroutine_stack\":[{\"func\":\"wait_b\",\"fi"
	"le\":\"/app/c.py\",\"line\":7}],\"frames_omitted\":0,\"state\":\"pending\",\"age_ns\":null,\"age"
	"_lower_bound\":false,\"waiting_ns\":null,\"waiting_lower_bound\":false,\"busy_ns\":null,\"steps\""
	":null,\"max_step_ns\":null,\"awaiters\":[{\"id\":\"0x3000\",\"name\":\"b\",\"is_task\":true}]},{"
	"\"tid\":7,\"task_id\":\"0x3000\",\"task_name\":\"b\",\"coroutine_stack\":[{\"func\":\"wait_a\",\""
	"file\":\"/app/c.py\",\"line\":9}],\"frames_omitted\":0,\"state\":\"pending\",\"age_ns\":null,\"a"
	"ge_lower_bound\":false,\"waiting_ns\":null,\"waiting_lower_bound\":false,\"busy_ns\":null,\"step"
	"s\":null,\"max_step_ns\":null,\"awaiters\":[{\"id\":\"0x2000\",\"name\":\"a\",\"is_task\":true}]"
	"}]}\n";

static const char PSTREE_TEXT[] =
	"└── (T) Task-1\n"
	"    └──  main /app/m.py:10\n"
	"        └── (T) work,\"er\"\n"
	"            └──  Worker.run /app/w.py:20\n"
	"                └──  Worker.inner /app/w.py:5\n"
	"└── (T) a\n"
	"    └──  wait_b /app/c.py:7\n"
	"        └── (T) b\n"
	"            └──  wait_a /app/c.py:9\n"
	"                └── (T) a [shown above]\n"
	"\n"
	"DEADLOCK: the await graph has cycles (each task awaits the next):\n"
	"cycle: a (0x2000) → b (0x3000) → a (0x2000)\n";

static const char PSTREE_JSON[] =
	"{\"python\":\"3.14\",\"dropped\":0,\"nodes\":[{\"id\":0,\"parent\":null,\"kind\":\"task\",\"task"
	"_id\":\"0x1000\",\"name\":\"Task-1\",\"state\":\"pending\",\"age_ns\":null,\"age_lower_bound\":f"
	"alse,\"waiting_ns\":null,\"waiting_lower_bound\":false},{\"id\":1,\"parent\":0,\"kind\":\"coro\""
	",\"frame\":\"main /app/m.py:10\"},{\"id\":2,\"parent\":1,\"kind\":\"task\",\"task_id\":\"0x1100\""
	",\"name\":\"work,\\\"er\\\"\",\"state\":\"pending\",\"age_ns\":null,\"age_lower_bound\":false,\""
	"waiting_ns\":null,\"waiting_lower_bound\":false},{\"id\":3,\"parent\":2,\"kind\":\"coro\",\"fram"
	"e\":\"Worker.run /app/w.py:20\"},{\"id\":4,\"parent\":3,\"kind\":\"coro\",\"frame\":\"Worker.inn"
	"er /app/w.py:5\"},{\"id\":5,\"parent\":null,\"kind\":\"task\",\"task_id\":\"0x2000\",\"name\":\""
	"a\",\"state\":\"pending\",\"age_ns\":null,\"age_lower_bound\":false,\"waiting_ns\":null,\"waitin"
	"g_lower_bound\":false},{\"id\":6,\"parent\":5,\"kind\":\"coro\",\"frame\":\"wait_b /app/c.py:7\""
	"},{\"id\":7,\"parent\":6,\"kind\":\"task\",\"task_id\":\"0x3000\",\"name\":\"b\",\"state\":\"pen"
	"ding\",\"age_ns\":null,\"age_lower_bound\":false,\"waiting_ns\":null,\"waiting_lower_bound\":fal"
	"se},{\"id\":8,\"parent\":7,\"kind\":\"coro\",\"frame\":\"wait_a /app/c.py:9\"},{\"id\":9,\"paren"
	"t\":8,\"kind\":\"task\",\"task_id\":\"0x2000\",\"name\":\"a\",\"state\":\"pending\",\"age_ns\":n"
	"ull,\"age_lower_bound\":false,\"waiting_ns\":null,\"waiting_lower_bound\":false,\"ref\":true}],\""
	"cycles\":[[{\"task_id\":\"0x2000\",\"name\":\"a\"},{\"task_id\":\"0x3000\",\"name\":\"b\"},{\"ta"
	"sk_id\":\"0x2000\",\"name\":\"a\"}]]}\n";

static char *run_ps(const struct snapshot *s, enum task_view_format f)
{
	struct task_view_opts o = { .format = f };
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	ps_view(out, s, &o);
	fclose(out);
	return buf;
}

static char *run_pstree(const struct snapshot *s, enum task_view_format f, int *cycles)
{
	struct task_view_opts o = { .format = f };
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	*cycles = pstree_view(out, s, &o);
	fclose(out);
	return buf;
}

TEST(ps_table_rows)
{
	struct snapshot s;
	struct snap_task t[4];
	struct snap_awaiter aw[3];
	char *o;

	bed(&s, t, aw);
	o = run_ps(&s, VIEW_TABLE);
	CHECK_EQ_STR(o, PS_TABLE);
	free(o);
}

TEST(ps_csv_quotes_what_needs_it)
{
	struct snapshot s;
	struct snap_task t[4];
	struct snap_awaiter aw[3];
	char *o;

	bed(&s, t, aw);
	o = run_ps(&s, VIEW_CSV);
	CHECK_EQ_STR(o, PS_CSV);
	free(o);
}

TEST(ps_json_escapes_names)
{
	struct snapshot s;
	struct snap_task t[4];
	struct snap_awaiter aw[3];
	char *o;

	bed(&s, t, aw);
	o = run_ps(&s, VIEW_JSON);
	CHECK_EQ_STR(o, PS_JSON);
	free(o);
}

TEST(pstree_text_with_a_cycle)
{
	struct snapshot s;
	struct snap_task t[4];
	struct snap_awaiter aw[3];
	int cycles;
	char *o;

	bed(&s, t, aw);
	o = run_pstree(&s, VIEW_TABLE, &cycles);
	CHECK_EQ_INT(cycles, 1);
	CHECK_EQ_STR(o, PSTREE_TEXT);
	free(o);
}

TEST(pstree_json_with_a_cycle)
{
	struct snapshot s;
	struct snap_task t[4];
	struct snap_awaiter aw[3];
	int cycles;
	char *o;

	bed(&s, t, aw);
	o = run_pstree(&s, VIEW_JSON, &cycles);
	CHECK_EQ_INT(cycles, 1);
	CHECK_EQ_STR(o, PSTREE_JSON);
	free(o);
}

TEST(await_cycles_as_index_paths)
{
	struct snapshot s;
	struct snap_task t[4];
	struct snap_awaiter aw[3];
	struct await_cycles c = {};

	bed(&s, t, aw);
	REQUIRE(await_cycles_find(&s, &c) == 0);
	REQUIRE(c.n == 1);
	CHECK_EQ_INT(c.len[0], 3);
	CHECK_EQ_INT(c.path[0][0], c.path[0][2]);
	CHECK((c.path[0][0] == 2 && c.path[0][1] == 3) || (c.path[0][0] == 3 && c.path[0][1] == 2));
	await_cycles_free(&c);
	/* without b awaiting a: no cycle */
	t[2].nawaiters = 0;
	REQUIRE(await_cycles_find(&s, &c) == 0);
	CHECK_EQ_INT(c.n, 0);
	await_cycles_free(&c);
}

UNIT_MAIN()
