// SPDX-License-Identifier: MIT
/* The profile writers: pprof protobuf bytes, gzip, folded lines. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "unit.h"
#include "profile/prof_agg.h"
#include "profile/prof_folded.h"
#include "profile/prof_pprof.h"

/* A frame node. */
static uint32_t frame(struct prof_agg *a, const char *func, const char *file, int line, int start)
{
	struct prof_node n = { .kind = PROF_N_FRAME, .line = line, .start_line = start };
	uint32_t id = 0;

	if (prof_agg_str(a, func, &n.name) || prof_agg_str(a, file, &n.file) ||
	    prof_agg_node(a, &n, &id))
		abort();
	return id;
}

static uint32_t label(struct prof_agg *a, enum prof_node_kind k, const char *s)
{
	uint32_t id = 0;

	if (prof_agg_label(a, k, s, &id))
		abort();
	return id;
}

static uint32_t str(struct prof_agg *a, const char *s)
{
	uint32_t id = 0;

	if (prof_agg_str(a, s, &id))
		abort();
	return id;
}

/*
 * Expected bytes, from an encoder written separately (field by field, proto3:
 * zero scalars left out, repeated scalars packed): sample_type samples/count
 * and cpu/nanoseconds; one sample, locations [2, 1] (leaf first), values
 * [2, 20000000], labels thread="thread 7 (python3)" and task="task main";
 * location 1 = function 1 "task main" (no file, no line), location 2 =
 * function 2 "burn" a.py:3 (start 1); the string table; time 1.7e18 ns,
 * duration 2 s, period_type cpu/nanoseconds, period 10101010, default
 * sample type cpu.
 */
static const uint8_t expected_pb[] = {
	0x0a, 0x04, 0x08, 0x05, 0x10, 0x06, 0x0a, 0x04, 0x08, 0x07, 0x10, 0x09,
	0x12, 0x17, 0x0a, 0x02, 0x02, 0x01, 0x12, 0x05, 0x02, 0x80, 0xda, 0xc4,
	0x09, 0x1a, 0x04, 0x08, 0x0a, 0x10, 0x01, 0x1a, 0x04, 0x08, 0x0d, 0x10,
	0x02, 0x22, 0x06, 0x08, 0x01, 0x22, 0x02, 0x08, 0x01, 0x22, 0x08, 0x08,
	0x02, 0x22, 0x04, 0x08, 0x02, 0x10, 0x03, 0x2a, 0x06, 0x08, 0x01, 0x10,
	0x02, 0x18, 0x02, 0x2a, 0x0a, 0x08, 0x02, 0x10, 0x03, 0x18, 0x03, 0x20,
	0x04, 0x28, 0x01, 0x32, 0x00, 0x32, 0x12, 0x74, 0x68, 0x72, 0x65, 0x61,
	0x64, 0x20, 0x37, 0x20, 0x28, 0x70, 0x79, 0x74, 0x68, 0x6f, 0x6e, 0x33,
	0x29, 0x32, 0x09, 0x74, 0x61, 0x73, 0x6b, 0x20, 0x6d, 0x61, 0x69, 0x6e,
	0x32, 0x04, 0x62, 0x75, 0x72, 0x6e, 0x32, 0x04, 0x61, 0x2e, 0x70, 0x79,
	0x32, 0x07, 0x73, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x73, 0x32, 0x05, 0x63,
	0x6f, 0x75, 0x6e, 0x74, 0x32, 0x03, 0x63, 0x70, 0x75, 0x32, 0x04, 0x77,
	0x61, 0x6c, 0x6c, 0x32, 0x0b, 0x6e, 0x61, 0x6e, 0x6f, 0x73, 0x65, 0x63,
	0x6f, 0x6e, 0x64, 0x73, 0x32, 0x06, 0x74, 0x68, 0x72, 0x65, 0x61, 0x64,
	0x32, 0x05, 0x73, 0x74, 0x61, 0x74, 0x65, 0x32, 0x07, 0x6f, 0x66, 0x66,
	0x2d, 0x63, 0x70, 0x75, 0x32, 0x04, 0x74, 0x61, 0x73, 0x6b, 0x48, 0x80,
	0x80, 0xa8, 0xb1, 0xe3, 0x9f, 0xe7, 0xcb, 0x17, 0x50, 0x80, 0xa8, 0xd6,
	0xb9, 0x07, 0x5a, 0x04, 0x08, 0x07, 0x10, 0x09, 0x60, 0x92, 0xc2, 0xe8,
	0x04, 0x70, 0x07,
};

static void one_stack(struct prof_agg *a)
{
	uint32_t thread, nodes[2];

	REQUIRE(prof_agg_init(a) == 0);
	thread = str(a, "thread 7 (python3)");
	nodes[0] = label(a, PROF_N_TASK, "task main");
	nodes[1] = frame(a, "burn", "a.py", 3, 1);
	REQUIRE(prof_agg_add(a, nodes, 2, thread, str(a, "task main"), false, 1, 10000000) == 0);
	REQUIRE(prof_agg_add(a, nodes, 2, thread, str(a, "task main"), false, 1, 10000000) == 0);
}

TEST(pprof_exact_bytes)
{
	struct prof_agg a;
	struct prof_meta m = {
		.time_nanos = 1700000000000000000LL, .duration_nanos = 2000000000,
		.period_ns = 10101010, .group_key = "task",
	};
	uint8_t *pb = NULL;
	size_t n = 0;

	one_stack(&a);
	CHECK_EQ_INT(a.nstacks, 1);
	CHECK_EQ_INT(a.count, 2);
	REQUIRE(prof_pprof_encode(&a, &m, &pb, &n) == 0);
	CHECK_EQ_INT(n, sizeof(expected_pb));
	CHECK(n == sizeof(expected_pb) && !memcmp(pb, expected_pb, n));
	if (n == sizeof(expected_pb))
		for (size_t i = 0; i < n; i++)
			if (pb[i] != expected_pb[i]) {
				fprintf(stderr, "first difference at byte %zu: %#x, expected %#x\n", i,
					pb[i], expected_pb[i]);
				break;
			}
	free(pb);
	prof_agg_free(&a);
}

TEST(pprof_gzip_roundtrip)
{
	struct prof_agg a;
	struct prof_meta m = { .period_ns = 10101010, .group_key = "task" };
	uint8_t *pb = NULL, *gz = NULL, back[4096];
	size_t n = 0, gzn = 0;
	z_stream z = { 0 };

	one_stack(&a);
	REQUIRE(prof_pprof_encode(&a, &m, &pb, &n) == 0);
	REQUIRE(prof_gzip(pb, n, &gz, &gzn) == 0);
	REQUIRE(gzn > 18);
	CHECK(gz[0] == 0x1f && gz[1] == 0x8b && gz[2] == 8);	/* gzip, deflate */
	REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
	z.next_in = gz;
	z.avail_in = (uInt)gzn;
	z.next_out = back;
	z.avail_out = sizeof(back);
	CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
	CHECK_EQ_INT(z.total_out, n);
	CHECK(z.total_out == n && !memcmp(back, pb, n));
	inflateEnd(&z);
	free(pb);
	free(gz);
	prof_agg_free(&a);
}

TEST(pprof_off_cpu_label_and_wall)
{
	struct prof_agg a;
	struct prof_meta m = { .period_ns = 1, .wall = true };
	uint32_t nodes[1];
	uint8_t *pb = NULL;
	size_t n = 0;

	REQUIRE(prof_agg_init(&a) == 0);
	nodes[0] = frame(&a, "f", "b.py", 1, 1);
	REQUIRE(prof_agg_add(&a, nodes, 1, str(&a, "t"), str(&a, "t"), true, 3, 30) == 0);
	CHECK_EQ_INT(a.off_cpu_count, 3);
	REQUIRE(prof_pprof_encode(&a, &m, &pb, &n) == 0);
	/* the wall sample type, and the label state=off-cpu */
	CHECK(memmem(pb, n, "\x32\x04wall", 6) != NULL);
	CHECK(memmem(pb, n, "\x32\x07off-cpu", 9) != NULL);
	free(pb);
	prof_agg_free(&a);
}

TEST(folded_exact_lines)
{
	struct prof_agg a;
	uint32_t t1, t2, nodes[4];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	REQUIRE(prof_agg_init(&a) == 0);
	t1 = str(&a, "thread 1");
	t2 = str(&a, "thread 2");
	nodes[0] = label(&a, PROF_N_TASK, "task main");
	nodes[1] = label(&a, PROF_N_TASK, "task a;b");	/* ';' in a task name */
	nodes[2] = frame(&a, "worker", "/x/w.py", 10, 8);
	nodes[3] = frame(&a, "burn", "/x/w.py", 3, 1);
	/* the same stack from two threads: merged into one line */
	REQUIRE(prof_agg_add(&a, nodes, 4, t1, 0, false, 3, 0) == 0);
	REQUIRE(prof_agg_add(&a, nodes, 4, t2, 0, false, 2, 0) == 0);
	REQUIRE(prof_agg_add(&a, nodes, 3, t1, 0, false, 1, 0) == 0);
	nodes[1] = frame(&a, "<module>", "/x/m.py", -1, 1);	/* no line known */
	REQUIRE(prof_agg_add(&a, nodes, 2, t1, 0, false, 7, 0) == 0);
	CHECK_EQ_INT(a.nstacks, 4);
	f = open_memstream(&buf, &len);
	REQUIRE(f != NULL);
	CHECK(prof_folded_write(&a, f) == 0);
	fclose(f);
	CHECK_EQ_STR(buf,
		     "task main;<module> (/x/m.py) 7\n"
		     "task main;task a\\x3bb;worker (/x/w.py:10) 1\n"
		     "task main;task a\\x3bb;worker (/x/w.py:10);burn (/x/w.py:3) 5\n");
	free(buf);
	prof_agg_free(&a);
}

TEST(agg_interning)
{
	struct prof_agg a;
	uint32_t x, y, z;

	REQUIRE(prof_agg_init(&a) == 0);
	CHECK(prof_agg_str(&a, "", &x) == 0 && x == 0);
	x = str(&a, "abc");
	y = str(&a, "abd");
	z = str(&a, "abc");
	CHECK(x != y);
	CHECK_EQ_INT(x, z);
	CHECK_EQ_INT(a.nstrs, 3);
	x = frame(&a, "f", "a.py", 1, 1);
	y = frame(&a, "f", "a.py", 2, 1);
	z = frame(&a, "f", "a.py", 1, 1);
	CHECK(x != y);
	CHECK_EQ_INT(x, z);
	CHECK(label(&a, PROF_N_TASK, "f") != label(&a, PROF_N_CORO, "f"));
	prof_agg_free(&a);
}

/* Many stacks: the interning tables grow and keep every count. */
TEST(agg_many_stacks)
{
	struct prof_agg a;
	uint32_t nodes[3];
	char name[32];

	REQUIRE(prof_agg_init(&a) == 0);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 5000; i++) {
			snprintf(name, sizeof(name), "f%d", i % 700);
			nodes[0] = label(&a, PROF_N_TASK, "task t");
			nodes[1] = frame(&a, name, "a.py", i % 3, 1);
			nodes[2] = frame(&a, "leaf", "a.py", i, 1);
			REQUIRE(prof_agg_add(&a, nodes, 3, 0, 0, false, 1, 10) == 0);
		}
	CHECK_EQ_INT(a.nstacks, 5000);
	CHECK_EQ_INT(a.count, 10000);
	CHECK_EQ_INT(a.weight_ns, 100000);
	for (uint32_t i = 0; i < a.nstacks; i++)
		if (a.stacks[i].count != 2) {
			CHECK_EQ_INT(a.stacks[i].count, 2);
			break;
		}
	prof_agg_free(&a);
}

UNIT_MAIN()
