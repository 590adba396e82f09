// SPDX-License-Identifier: MIT
/*
 * Coroutine chains (3.13 layout) built in this process and read back
 * through process_vm_readv: frames, lines, and chains that lie.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include "unit.h"
#include "fake_mem.h"
#include "memory/coro_stack.h"
#include "memory/snapshot.h"
#include "target/layout.h"

static uint8_t *type_new(const char *name, uint64_t flags)
{
	uint8_t *t = fake_mem_alloc(1024);

	fake_mem_put64(t, 0, 1);
	fake_mem_put64(t, 24, fake_mem_addr(name));
	fake_mem_put64(t, 32, 64);
	fake_mem_put64(t, 168, flags);
	return t;
}

static uint8_t *obj_new(const uint8_t *type, size_t size)
{
	uint8_t *o = fake_mem_alloc(size);

	fake_mem_put64(o, 0, 1);
	fake_mem_put64(o, 8, fake_mem_addr(type));
	return o;
}

static const struct py_layout *l;
static uint8_t *coro_type, *code_type, *str_type, *bytes_type, *fut_type;

static uint8_t *ascii(const char *s)
{
	uint8_t *o = obj_new(str_type, 40 + strlen(s) + 1);

	fake_mem_put64(o, 16, strlen(s));
	fake_mem_put64(o, 32, 1 << 2 | 1 << 5 | 1 << 6);
	memcpy(o + 40, s, strlen(s));
	return o;
}

/* A code object: lines 11 (units 0-7) and 13 (units 8-15) after def line 10. */
static uint8_t *code_new(const char *qualname)
{
	static const uint8_t table[] = { 0xef, 0x02, 0xef, 0x04 };
	uint8_t *c = obj_new(code_type, 200 + 32);
	uint8_t *b = obj_new(bytes_type, 32 + sizeof(table));

	fake_mem_put64(b, 16, sizeof(table));
	memcpy(b + 32, table, sizeof(table));
	fake_mem_put64(c, 64, (uint64_t)10 << 32);	/* co_firstlineno at 68 */
	fake_mem_put64(c, 112, fake_mem_addr(ascii("/app/x.py")));
	fake_mem_put64(c, 128, fake_mem_addr(ascii(qualname)));
	fake_mem_put64(c, 136, fake_mem_addr(b));
	return c;
}

/* A suspended coroutine at code unit `unit`, awaiting yf (0: none). */
static uint8_t *coro_new(uint8_t *code, unsigned unit, uint64_t yf)
{
	uint8_t *g = obj_new(coro_type, 72 + 80 + 8);

	g[67] = (uint8_t)-1;			/* FRAME_SUSPENDED_YIELD_FROM */
	fake_mem_put64(g, 72, fake_mem_addr(code));
	fake_mem_put64(g, 72 + 56, fake_mem_addr(code) + 200 + 2 * unit);
	fake_mem_put64(g, 72 + 64, 1);			/* stacktop */
	fake_mem_put64(g, 72 + 72, yf);			/* localsplus[0] */
	return g;
}

static void setup(struct pyreader *r, struct coro_reader *c)
{
	if (!l) {
		l = layout_table_lookup(3, 13);
		coro_type = type_new("coroutine", 0);
		code_type = type_new("code", 0);
		str_type = type_new("str", 1ULL << 28);
		bytes_type = type_new("bytes", 1ULL << 27);
		fut_type = type_new("_asyncio.Future", 0);
	}
	pyread_init(r, getpid(), l, 100000);
	coro_reader_init(c, r);
}

TEST(chain_innermost_first_with_lines)
{
	struct snap_frame f[8];
	struct pyreader r;
	struct coro_reader c;
	uint64_t sig, sig2;
	uint32_t n;
	uint8_t *fut, *inner, *outer;

	setup(&r, &c);
	fut = obj_new(fut_type, 128);
	inner = coro_new(code_new("Event.wait"), 3, fake_mem_addr(fut));
	outer = coro_new(code_new("main"), 10, fake_mem_addr(inner));
	REQUIRE(coro_stack_read(&c, fake_mem_addr(outer), f, 8, &n, &sig) == 0);
	REQUIRE(n == 2);
	CHECK_EQ_STR(f[0].qualname, "Event.wait");
	CHECK_EQ_INT(f[0].line, 11);
	CHECK_EQ_STR(f[1].qualname, "main");
	CHECK_EQ_STR(f[1].filename, "/app/x.py");
	CHECK_EQ_INT(f[1].line, 13);
	/* the same chain reads the same; a step changes the signature */
	CHECK_EQ_INT(coro_stack_read(&c, fake_mem_addr(outer), f, 8, &n, &sig2), 0);
	CHECK(sig == sig2);
	fake_mem_put64(inner, 72 + 56, fake_mem_addr(inner) + 200);
	CHECK_EQ_INT(coro_stack_read(&c, fake_mem_addr(outer), f, 8, &n, &sig2), 0);
	CHECK(sig != sig2);
	coro_reader_free(&c);
}

TEST(chains_that_lie_are_cut)
{
	struct snap_frame f[SNAP_MAX_FRAMES];
	struct pyreader r;
	struct coro_reader c;
	uint64_t sig;
	uint32_t n;
	uint8_t *code, *inner, *outer;

	setup(&r, &c);
	code = code_new("f");
	inner = coro_new(code, 0, 0);
	outer = coro_new(code, 0, fake_mem_addr(inner));
	fake_mem_put64(outer, 72 + 64, 5000);		/* stacktop past what we believe */
	CHECK_EQ_INT(coro_stack_read(&c, fake_mem_addr(outer), f, 8, &n, &sig), 0);
	CHECK_EQ_INT(n, 1);
	fake_mem_put64(outer, 72 + 64, 0);
	CHECK_EQ_INT(coro_stack_read(&c, fake_mem_addr(outer), f, 8, &n, &sig), 0);
	CHECK_EQ_INT(n, 1);
	/* a coroutine awaiting itself: bounded, innermost frames kept */
	fake_mem_put64(outer, 72 + 64, 1);
	fake_mem_put64(outer, 72 + 72, fake_mem_addr(outer));
	CHECK_EQ_INT(coro_stack_read(&c, fake_mem_addr(outer), f, 8, &n, &sig), 0);
	CHECK_EQ_INT(n, 8);
	CHECK_EQ_INT(snap_frame_gap(&f[4]), CORO_MAX_DEPTH - 7);
	CHECK_EQ_INT(coro_stack_read(&c, fake_mem_addr(outer), f, SNAP_MAX_FRAMES, &n, &sig), 0);
	CHECK_EQ_INT(n, SNAP_MAX_FRAMES);
	/* the innermost half, the gap, the outermost: each kept frame a real one */
	CHECK_EQ_INT(snap_frame_gap(&f[SNAP_MAX_FRAMES / 2]), CORO_MAX_DEPTH - (SNAP_MAX_FRAMES - 1));
	CHECK(!snap_frame_gap(&f[0]) && !snap_frame_gap(&f[SNAP_MAX_FRAMES - 1]));
	/* a finished coroutine has no frame */
	outer[67] = 1;
	CHECK_EQ_INT(coro_stack_read(&c, fake_mem_addr(outer), f, 8, &n, &sig), 0);
	CHECK_EQ_INT(n, 0);
	/* not a coroutine at all */
	CHECK_EQ_INT(coro_stack_read(&c, fake_mem_addr(code), f, 8, &n, &sig), 0);
	CHECK_EQ_INT(n, 0);
	/* a code pointer that is not a code object: unreadable chain */
	outer[67] = (uint8_t)-1;
	fake_mem_put64(outer, 72, fake_mem_addr(inner));
	CHECK(coro_stack_read(&c, fake_mem_addr(outer), f, 8, &n, &sig) != 0);
	coro_reader_free(&c);
}

TEST(corrupt_line_tables_give_unknown_lines)
{
	struct snap_frame f[4];
	struct pyreader r;
	struct coro_reader c;
	uint64_t sig;
	uint32_t n;
	uint8_t *code, *g;

	setup(&r, &c);
	code = code_new("g");
	fake_mem_put64(code, 136, fake_mem_addr(ascii("not bytes")));	/* co_linetable of the wrong type */
	g = coro_new(code, 2, 0);
	CHECK_EQ_INT(coro_stack_read(&c, fake_mem_addr(g), f, 4, &n, &sig), 0);
	REQUIRE(n == 1);
	CHECK_EQ_INT(f[0].line, -1);
	CHECK_EQ_STR(f[0].qualname, "g");
	coro_reader_free(&c);
}

UNIT_MAIN()
