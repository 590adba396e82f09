// SPDX-License-Identifier: MIT
/*
 * The 3.14 task lists (a thread's asyncio_tasks_head, linked through
 * TaskObj.task_node) built in this process and read back through
 * process_vm_readv, with and without the page cache: order, thread ids,
 * and lists that changed under the reader (a node whose prev is not the
 * node before it, a loop) refused as "kept changing", not walked forever.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include "unit.h"
#include "memory/asyncio_registry.h"
#include "target/layout.h"
#include "memory/page_cache.h"

static void *keep[64];
static int nkeep;

static uint8_t *mem(size_t size)
{
	uint8_t *p = aligned_alloc(64, ((size + 63) / 64) * 64);

	if (!p)
		abort();
	memset(p, 0, size);
	keep[nkeep++] = p;
	return p;
}

__attribute__((destructor)) static void free_all(void)
{
	while (nkeep)
		free(keep[--nkeep]);
}

static void put64(uint8_t *o, size_t off, uint64_t v)
{
	memcpy(o + off, &v, sizeof(v));
}

static uint64_t A(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

struct bed {
	const struct py_layout *l;
	struct py_runtime rt;
	uint8_t *runtime, *interp, *ts, *task[3];
};

/* A runtime with one interpreter, one thread (tid 1234) and three tasks. */
static void bed_init(struct bed *b)
{
	static const char name[] = "_asyncio.Task";
	const struct py_snap_layout *s;
	uint8_t *type;

	memset(b, 0, sizeof(*b));
	b->l = layout_table_lookup(3, 14);
	s = &b->l->snap;
	type = mem(1024);
	put64(type, 0, 1);
	put64(type, 24, A(name));
	put64(type, 32, 256);
	b->runtime = mem(s->rt_interp_head + 8);
	b->interp = mem(s->is_tasks_head + 16);
	b->ts = mem(s->ts_tasks_head + 16);
	put64(b->runtime, s->rt_interp_head, A(b->interp));
	put64(b->interp, s->is_threads_head, A(b->ts));
	put64(b->ts, s->ts_native_tid, 1234);
	/* the dead threads' list: empty */
	put64(b->interp, s->is_tasks_head, A(b->interp + s->is_tasks_head));
	put64(b->interp, s->is_tasks_head + 8, A(b->interp + s->is_tasks_head));
	for (int i = 0; i < 3; i++) {
		b->task[i] = mem(256);
		put64(b->task[i], 0, 1);
		put64(b->task[i], 8, A(type));
	}
	b->rt.runtime = A(b->runtime);
	b->rt.asyncio_loaded = true;
}

static uint64_t node_of(const struct bed *b, int i)
{
	return A(b->task[i] + b->l->snap.task_node);
}

/* head -> task[order[0]] -> ... -> head, prev pointers to match */
static void link_list(struct bed *b, const int *order, int n)
{
	uint8_t *head = b->ts + b->l->snap.ts_tasks_head;
	uint64_t prev = A(head);

	put64(head, 0, n ? node_of(b, order[0]) : A(head));
	for (int i = 0; i < n; i++) {
		uint8_t *node = b->task[order[i]] + b->l->snap.task_node;

		put64(node, 0, i + 1 < n ? node_of(b, order[i + 1]) : A(head));
		put64(node, 8, prev);
		prev = A(node);
	}
	put64(head, 8, prev);
}

static int read_registry(struct bed *b, bool cached, struct task_refs *out, char *err,
			 size_t errlen)
{
	struct pyreader r;
	struct page_cache c;
	int rc;

	pyread_init(&r, getpid(), b->l, 100000);
	if (cached && page_cache_init(&c, getpid(), 1 << 20))
		return -ENOMEM;
	r.cache = cached ? &c : NULL;
	rc = registry_tasks(&r, &b->rt, out, err, errlen);
	if (cached)
		page_cache_free(&c);
	return rc;
}

TEST(a_list_is_read_in_order_with_its_thread)
{
	static const int order[] = { 2, 0, 1 };
	struct task_refs refs;
	struct bed b;
	char err[256];

	bed_init(&b);
	link_list(&b, order, 3);
	for (int cached = 0; cached < 2; cached++) {
		REQUIRE(read_registry(&b, cached, &refs, err, sizeof(err)) == 0);
		CHECK_EQ_INT(refs.n, 3);
		for (size_t i = 0; i < refs.n && i < 3; i++) {
			CHECK_EQ_INT(refs.v[i].addr, A(b.task[order[i]]));
			CHECK_EQ_INT(refs.v[i].tid, 1234);
		}
		task_refs_free(&refs);
	}
	/* no task at all */
	link_list(&b, order, 0);
	REQUIRE(read_registry(&b, true, &refs, err, sizeof(err)) == 0);
	CHECK_EQ_INT(refs.n, 0);
	task_refs_free(&refs);
}

TEST(a_list_that_changed_under_the_reader_is_refused)
{
	static const int order[] = { 0, 1, 2 };
	struct task_refs refs;
	struct bed b;
	char err[256];
	uint8_t *node2;

	bed_init(&b);
	link_list(&b, order, 3);
	/* a prev that is not the node before */
	put64(b.task[1] + b.l->snap.task_node, 8, node_of(&b, 2));
	for (int cached = 0; cached < 2; cached++) {
		CHECK_EQ_INT(read_registry(&b, cached, &refs, err, sizeof(err)), -EAGAIN);
		CHECK(strstr(err, "kept changing") != NULL);
		task_refs_free(&refs);
	}
	/* a loop 1 -> 2 -> 1 that never comes back to the head: refused, not walked
	 * until the read budget or REG_MAX_TASKS */
	link_list(&b, order, 3);
	node2 = b.task[2] + b.l->snap.task_node;
	put64(node2, 0, node_of(&b, 1));
	for (int cached = 0; cached < 2; cached++) {
		CHECK_EQ_INT(read_registry(&b, cached, &refs, err, sizeof(err)), -EAGAIN);
		task_refs_free(&refs);
	}
	/* a node that is not in a task */
	link_list(&b, order, 3);
	put64(b.task[1], 8, A(b.interp));
	CHECK_EQ_INT(read_registry(&b, true, &refs, err, sizeof(err)), -EAGAIN);
	task_refs_free(&refs);
}

UNIT_MAIN()
