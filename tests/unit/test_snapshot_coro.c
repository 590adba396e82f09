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
#include "memory/coro_stack.h"
#include "target/layout.h"

static void *keep[256];
static int nkeep;

static uint8_t *mem(size_t size)
{
	uint8_t *p = aligned_alloc(16, ((size + 15) / 16) * 16);

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

static uint8_t *type_new(const char *name, uint64_t flags)
{
	uint8_t *t = mem(1024);

	put64(t, 0, 1);
	put64(t, 24, A(name));
	put64(t, 32, 64);
	put64(t, 168, flags);
	return t;
}

static uint8_t *obj_new(const uint8_t *type, size_t size)
{
	uint8_t *o = mem(size);

	put64(o, 0, 1);
	put64(o, 8, A(type));
	return o;
}

static const struct py_layout *l;
static uint8_t *coro_type, *code_type, *str_type, *bytes_type, *fut_type;

static uint8_t *ascii(const char *s)
{
	uint8_t *o = obj_new(str_type, 40 + strlen(s) + 1);

	put64(o, 16, strlen(s));
	put64(o, 32, 1 << 2 | 1 << 5 | 1 << 6);
	memcpy(o + 40, s, strlen(s));
	return o;
}

/* A code object: lines 11 (units 0-7) and 13 (units 8-15) after def line 10. */
static uint8_t *code_new(const char *qualname)
{
	static const uint8_t table[] = { 0xef, 0x02, 0xef, 0x04 };
	uint8_t *c = obj_new(code_type, 200 + 32);
	uint8_t *b = obj_new(bytes_type, 32 + sizeof(table));

	put64(b, 16, sizeof(table));
	memcpy(b + 32, table, sizeof(table));
	put64(c, 64, (uint64_t)10 << 32);	/* co_firstlineno at 68 */
	put64(c, 112, A(ascii("/app/x.py")));
	put64(c, 128, A(ascii(qualname)));
	put64(c, 136, A(b));
	return c;
}

/* A suspended coroutine at code unit `unit`, awaiting yf (0: none). */
static uint8_t *coro_new(uint8_t *code, unsigned unit, uint64_t yf)
{
	uint8_t *g = obj_new(coro_type, 72 + 80 + 8);

	g[67] = (uint8_t)-1;			/* FRAME_SUSPENDED_YIELD_FROM */
	put64(g, 72, A(code));
	put64(g, 72 + 56, A(code) + 200 + 2 * unit);
	put64(g, 72 + 64, 1);			/* stacktop */
	put64(g, 72 + 72, yf);			/* localsplus[0] */
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
	inner = coro_new(code_new("Event.wait"), 3, A(fut));
	outer = coro_new(code_new("main"), 10, A(inner));
	REQUIRE(coro_stack_read(&c, A(outer), f, 8, &n, &sig) == 0);
	REQUIRE(n == 2);
	CHECK_EQ_STR(f[0].qualname, "Event.wait");
	CHECK_EQ_INT(f[0].line, 11);
	CHECK_EQ_STR(f[1].qualname, "main");
	CHECK_EQ_STR(f[1].filename, "/app/x.py");
	CHECK_EQ_INT(f[1].line, 13);
	/* the same chain reads the same; a step changes the signature */
	CHECK_EQ_INT(coro_stack_read(&c, A(outer), f, 8, &n, &sig2), 0);
	CHECK(sig == sig2);
	put64(inner, 72 + 56, A(inner) + 200);
	CHECK_EQ_INT(coro_stack_read(&c, A(outer), f, 8, &n, &sig2), 0);
	CHECK(sig != sig2);
	coro_reader_free(&c);
}

TEST(chains_that_lie_are_cut)
{
	struct snap_frame f[CORO_MAX_DEPTH];
	struct pyreader r;
	struct coro_reader c;
	uint64_t sig;
	uint32_t n;
	uint8_t *code, *inner, *outer;

	setup(&r, &c);
	code = code_new("f");
	inner = coro_new(code, 0, 0);
	outer = coro_new(code, 0, A(inner));
	put64(outer, 72 + 64, 5000);		/* stacktop past what we believe */
	CHECK_EQ_INT(coro_stack_read(&c, A(outer), f, 8, &n, &sig), 0);
	CHECK_EQ_INT(n, 1);
	put64(outer, 72 + 64, 0);
	CHECK_EQ_INT(coro_stack_read(&c, A(outer), f, 8, &n, &sig), 0);
	CHECK_EQ_INT(n, 1);
	/* a coroutine awaiting itself: bounded, innermost frames kept */
	put64(outer, 72 + 64, 1);
	put64(outer, 72 + 72, A(outer));
	CHECK_EQ_INT(coro_stack_read(&c, A(outer), f, 8, &n, &sig), 0);
	CHECK_EQ_INT(n, 8);
	CHECK_EQ_INT(coro_stack_read(&c, A(outer), f, CORO_MAX_DEPTH, &n, &sig), 0);
	CHECK_EQ_INT(n, CORO_MAX_DEPTH);
	/* a finished coroutine has no frame */
	outer[67] = 1;
	CHECK_EQ_INT(coro_stack_read(&c, A(outer), f, 8, &n, &sig), 0);
	CHECK_EQ_INT(n, 0);
	/* not a coroutine at all */
	CHECK_EQ_INT(coro_stack_read(&c, A(code), f, 8, &n, &sig), 0);
	CHECK_EQ_INT(n, 0);
	/* a code pointer that is not a code object: unreadable chain */
	outer[67] = (uint8_t)-1;
	put64(outer, 72, A(inner));
	CHECK(coro_stack_read(&c, A(outer), f, 8, &n, &sig) != 0);
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
	put64(code, 136, A(ascii("not bytes")));	/* co_linetable of the wrong type */
	g = coro_new(code, 2, 0);
	CHECK_EQ_INT(coro_stack_read(&c, A(g), f, 4, &n, &sig), 0);
	REQUIRE(n == 1);
	CHECK_EQ_INT(f[0].line, -1);
	CHECK_EQ_STR(f[0].qualname, "g");
	coro_reader_free(&c);
}

UNIT_MAIN()
