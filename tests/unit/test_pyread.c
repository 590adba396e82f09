// SPDX-License-Identifier: MIT
/*
 * Typed reads of Python objects, on fake objects laid out in this very
 * process (process_vm_readv on ourselves): decoding, bounds, and what
 * must be refused (freed objects, lying sizes, wrong types).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include "unit.h"
#include "target/layout.h"
#include "memory/pyread.h"

#define PRE 32			/* room before an object: managed dict/values */

static void *keep[4096];		/* everything allocated, freed at exit */
static int nkeep;

static uint8_t *mem(size_t size)
{
	uint8_t *p = aligned_alloc(16, ((size + PRE + 15) / 16) * 16);

	if (!p)
		abort();
	memset(p, 0, size + PRE);
	keep[nkeep++] = p;
	return p + PRE;
}

__attribute__((destructor)) static void free_all(void)
{
	while (nkeep)
		free(keep[--nkeep]);
}

static void put64(uint8_t *o, ptrdiff_t off, uint64_t v)
{
	memcpy(o + off, &v, sizeof(v));
}

static uint64_t A(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static uint8_t *type_new(const char *name, uint64_t flags, const uint8_t *base, uint64_t basicsize)
{
	uint8_t *t = mem(1024);

	put64(t, 0, 1);
	put64(t, 24, A(name));
	put64(t, 32, basicsize);
	put64(t, 168, flags);
	put64(t, 256, A(base));
	return t;
}

static uint8_t *obj_new(const uint8_t *type, size_t size)
{
	uint8_t *o = mem(size);

	put64(o, 0, 1);
	put64(o, 8, A(type));
	return o;
}

static const struct py_layout *L(int minor)
{
	return layout_table_lookup(3, minor);
}

static uint8_t *str_type, *long_type, *tuple_type, *list_type, *set_type, *dict_type;

static void types_init(void)
{
	if (str_type)
		return;
	str_type = type_new("str", PYR_TPF_UNICODE, NULL, 40);
	long_type = type_new("int", PYR_TPF_LONG, NULL, 24);
	tuple_type = type_new("tuple", PYR_TPF_TUPLE, NULL, 24);
	list_type = type_new("list", PYR_TPF_LIST, NULL, 40);
	set_type = type_new("set", 0, NULL, 200);
	dict_type = type_new("dict", PYR_TPF_DICT, NULL, 48);
}

/* A compact str of the minor's layout. */
static uint8_t *str_new(int minor, const void *data, unsigned kind, size_t n, bool ascii)
{
	const struct aps_layout *b = &L(minor)->bpf;
	size_t at = ascii ? b->unicode_ascii_data : b->unicode_compact_data;
	uint8_t *s;

	types_init();
	s = obj_new(str_type, at + n * kind + 4);
	put64(s, b->unicode_length, n);
	put64(s, b->unicode_state, kind << 2 | 1 << 5 | (ascii ? 1 << 6 : 0));
	memcpy(s + at, data, n * kind);
	return s;
}

static uint8_t *ascii(int minor, const char *s)
{
	return str_new(minor, s, 1, strlen(s), true);
}

static void reader(struct pyreader *r, int minor)
{
	types_init();
	pyread_init(r, getpid(), L(minor), 100000);
}

TEST(str_kinds_decode_to_escaped_utf8)
{
	static const uint16_t euro[] = { 'a', 0x20ac };
	static const uint32_t emoji[] = { 0x1f600, 0x0a };
	struct pyreader r;
	char out[64];

	reader(&r, 12);
	CHECK_EQ_INT(pyread_str(&r, A(ascii(12, "hello")), out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "hello");
	CHECK_EQ_INT(pyread_str(&r, A(str_new(12, "caf\xe9", 1, 4, false)), out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "caf\xc3\xa9");
	CHECK_EQ_INT(pyread_str(&r, A(str_new(12, euro, 2, 2, false)), out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "a\xe2\x82\xac");
	CHECK_EQ_INT(pyread_str(&r, A(str_new(12, emoji, 4, 2, false)), out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "\xf0\x9f\x98\x80\\x0a");
	/* 3.10 layout: bigger headers */
	reader(&r, 10);
	CHECK_EQ_INT(pyread_str(&r, A(str_new(10, euro, 2, 2, false)), out, sizeof(out)), 0);
	CHECK_EQ_STR(out, "a\xe2\x82\xac");
	CHECK(pyread_str_eq(&r, A(ascii(10, "data")), "data"));
	CHECK(!pyread_str_eq(&r, A(ascii(10, "data")), "dat"));
	CHECK(!pyread_str_eq(&r, A(str_new(10, euro, 2, 2, false)), "a?"));
}

TEST(long_strs_are_cut_and_bounded)
{
	static char big[3000];
	struct pyreader r;
	char out[64], tiny[4];
	uint8_t *s;

	memset(big, 'x', sizeof(big));
	reader(&r, 13);
	s = str_new(13, big, 1, sizeof(big), true);
	CHECK_EQ_INT(pyread_str(&r, A(s), out, sizeof(out)), 0);
	CHECK(strlen(out) < sizeof(out));
	CHECK(strstr(out, "\xe2\x80\xa6") != NULL);
	CHECK_EQ_INT(pyread_str(&r, A(s), tiny, sizeof(tiny)), 0);
	CHECK_EQ_STR(tiny, "\xe2\x80\xa6");
	/* a length far past what is mapped: capped at PYR_STR_CHARS, then unreadable */
	put64(s, L(13)->bpf.unicode_length, 1ULL << 40);
	CHECK(pyread_str(&r, A(s), out, sizeof(out)) == 0 || strlen(out) < sizeof(out));
}

TEST(bad_strs_are_refused)
{
	const struct aps_layout *b = &L(12)->bpf;
	struct pyreader r;
	char out[64];
	uint8_t *s;

	reader(&r, 12);
	s = ascii(12, "abc");
	put64(s, b->unicode_state, 1 << 2 | 1 << 6);		/* not compact */
	CHECK_EQ_INT(pyread_str(&r, A(s), out, sizeof(out)), -ENOTSUP);
	put64(s, b->unicode_state, 3 << 2 | 1 << 5);		/* kind 3 */
	CHECK_EQ_INT(pyread_str(&r, A(s), out, sizeof(out)), -EINVAL);
	s = ascii(12, "abc");
	put64(s, b->unicode_length, (uint64_t)-5);
	CHECK_EQ_INT(pyread_str(&r, A(s), out, sizeof(out)), -EINVAL);
	s = ascii(12, "abc");
	put64(s, 8, A(long_type));				/* not a str */
	CHECK_EQ_INT(pyread_str(&r, A(s), out, sizeof(out)), -EINVAL);
	/* freed: a free-list pointer (or 0) where the refcount was */
	s = ascii(12, "abc");
	put64(s, 0, A(s) + 64);
	CHECK_EQ_INT(pyread_str(&r, A(s), out, sizeof(out)), -EINVAL);
	put64(s, 0, 0);
	CHECK_EQ_INT(pyread_str(&r, A(s), out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(pyread_str(&r, 0, out, sizeof(out)), -EFAULT);
	CHECK_EQ_INT(pyread_str(&r, A(s) + 4, out, sizeof(out)), -EFAULT);
	CHECK_EQ_INT(pyread_str(&r, 8192, out, sizeof(out)), -EFAULT);	/* unmapped */
}

TEST(refcounts_of_each_version)
{
	struct pyreader r;
	struct pytype t;
	uint8_t *s;

	reader(&r, 12);
	s = ascii(12, "x");
	put64(s, 0, 0xffffffffULL);		/* 3.12 immortal */
	CHECK_EQ_INT(pyread_typeof(&r, A(s), &t), 0);
	reader(&r, 14);
	put64(s, 0, 0x2000000000000000ULL | 3ULL << 30);	/* 3.14: ob_flags on top */
	CHECK_EQ_INT(pyread_typeof(&r, A(s), &t), 0);
	put64(s, 0, 0x00007f0012345678ULL);	/* a pointer */
	CHECK_EQ_INT(pyread_typeof(&r, A(s), &t), -EINVAL);
}

TEST(ints_tagged_and_not)
{
	struct pyreader r;
	int64_t v;
	uint8_t *n;

	reader(&r, 12);
	n = obj_new(long_type, 40);
	put64(n, 16, 1 << 3);			/* one digit, positive */
	put64(n, 24, 42);
	CHECK_EQ_INT(pyread_long(&r, A(n), &v), 0);
	CHECK_EQ_INT(v, 42);
	put64(n, 16, 2 << 3 | 2);		/* two digits, negative */
	put64(n, 24, 1 | (uint64_t)1 << 32);
	CHECK_EQ_INT(pyread_long(&r, A(n), &v), 0);
	CHECK_EQ_INT(v, -(1 | 1LL << 30));
	put64(n, 16, 1);			/* zero */
	CHECK_EQ_INT(pyread_long(&r, A(n), &v), 0);
	CHECK_EQ_INT(v, 0);
	put64(n, 16, 3 << 3);
	CHECK_EQ_INT(pyread_long(&r, A(n), &v), -ERANGE);
	reader(&r, 11);
	put64(n, 16, (uint64_t)-1);		/* ob_size -1 */
	put64(n, 24, 7);
	CHECK_EQ_INT(pyread_long(&r, A(n), &v), 0);
	CHECK_EQ_INT(v, -7);
	put64(n, 16, 1ULL << 63);		/* INT64_MIN digits: refused, no overflow */
	CHECK_EQ_INT(pyread_long(&r, A(n), &v), -ERANGE);
}

TEST(tuples_and_lists_are_bounded)
{
	uint64_t items[4], *arr = (uint64_t *)mem(64);
	struct pyreader r;
	uint8_t *t, *l;
	size_t n;

	reader(&r, 14);
	t = obj_new(tuple_type, 32 + 3 * 8);	/* 3.14: ob_item at 32 */
	put64(t, 16, 3);
	for (int i = 0; i < 3; i++)
		put64(t, 32 + 8 * i, 100 + i);
	CHECK_EQ_INT(pyread_tuple(&r, A(t), items, 4, &n), 0);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(items[2], 102);
	CHECK_EQ_INT(pyread_tuple(&r, A(t), items, 2, &n), 0);
	CHECK_EQ_INT(n, 2);
	put64(t, 16, (uint64_t)-1);
	CHECK_EQ_INT(pyread_tuple(&r, A(t), items, 4, &n), -EINVAL);
	CHECK_EQ_INT(pyread_list(&r, A(t), items, 4, &n), -EINVAL);	/* not a list */
	l = obj_new(list_type, 40);
	arr[0] = 7;
	arr[1] = 8;
	put64(l, 16, 2);
	put64(l, 24, A(arr));
	put64(l, 32, 4);
	CHECK_EQ_INT(pyread_list(&r, A(l), items, 4, &n), 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(items[1], 8);
	put64(l, 16, 5);			/* more items than allocated */
	CHECK_EQ_INT(pyread_list(&r, A(l), items, 4, &n), -EINVAL);
	CHECK_EQ_INT(n, 0);
}

TEST(sets_skip_empty_slots)
{
	uint64_t *table = (uint64_t *)mem(8 * 16), keys[8];
	struct pyreader r;
	uint8_t *s;
	size_t n;

	reader(&r, 12);
	s = obj_new(set_type, 200);
	table[2 * 1] = 0x1000;
	table[2 * 6] = 0x2000;
	put64(s, 24, 2);			/* used */
	put64(s, 32, 7);			/* mask */
	put64(s, 40, A(table));
	CHECK_EQ_INT(pyread_set(&r, A(s), keys, 8, &n), 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(keys[0], 0x1000);
	CHECK_EQ_INT(keys[1], 0x2000);
	put64(s, 32, 6);			/* not a power of two minus one */
	CHECK_EQ_INT(pyread_set(&r, A(s), keys, 8, &n), -EINVAL);
	put64(s, 32, 7);
	put64(s, 24, 9);			/* more used than slots */
	CHECK_EQ_INT(pyread_set(&r, A(s), keys, 8, &n), -EINVAL);
}

/* 3.11+ keys object: log2 size 3, 1-byte indices, n entries of kind */
static uint8_t *keys_new(unsigned kind, int n, const char *const *names, const uint64_t *vals,
			 int minor)
{
	unsigned esize = kind ? 16 : 24, koff = kind ? 0 : 8;
	uint8_t *k = mem(40 + 8 * 24);

	put64(k, 0, 1);
	k[8] = 3;
	k[9] = 3;
	k[10] = (uint8_t)kind;
	put64(k, 24, n);
	for (int i = 0; i < n; i++) {
		put64(k, 40 + i * esize + koff, A(ascii(minor, names[i])));
		if (vals)
			put64(k, 40 + i * esize + koff + 8, vals[i]);
	}
	return k;
}

TEST(dict_lookup_of_each_format)
{
	static const char *const names[] = { "a", "data", "_parent_task" };
	static const uint64_t vals[] = { 11, 22, 33 };
	struct pyreader r;
	uint64_t v;
	uint8_t *d, *k;

	reader(&r, 12);
	d = obj_new(dict_type, 48);
	put64(d, 32, A(keys_new(1, 3, names, vals, 12)));	/* unicode keys */
	CHECK_EQ_INT(pyread_dict_get(&r, A(d), "data", &v), 0);
	CHECK_EQ_INT(v, 22);
	CHECK_EQ_INT(pyread_dict_get(&r, A(d), "nope", &v), -ENOENT);
	put64(d, 32, A(keys_new(0, 3, names, vals, 12)));	/* general keys */
	CHECK_EQ_INT(pyread_dict_get(&r, A(d), "_parent_task", &v), 0);
	CHECK_EQ_INT(v, 33);
	/* 3.10: Py_ssize_t dk_size, entries of hash, key, value */
	reader(&r, 10);
	k = mem(48 + 3 * 24);
	put64(k, 0, 1);
	put64(k, 8, 8);
	put64(k, 32, 3);
	for (int i = 0; i < 3; i++) {
		put64(k, 48 + 24 * i + 8, A(ascii(10, names[i])));
		put64(k, 48 + 24 * i + 16, vals[i]);
	}
	put64(d, 32, A(k));
	CHECK_EQ_INT(pyread_dict_get(&r, A(d), "a", &v), 0);
	CHECK_EQ_INT(v, 11);
	put64(k, 32, 100);			/* more entries than slots */
	CHECK_EQ_INT(pyread_dict_get(&r, A(d), "a", &v), -EINVAL);
	CHECK(pyread_dict_get(&r, A(k), "a", &v) != 0);		/* not a dict */
}

TEST(instance_attributes_of_each_version)
{
	static const char *const names[] = { "data", "_parent_task" };
	const uint8_t *base = NULL;
	uint64_t v, *vals;
	struct pyreader r;
	uint8_t *tp, *o, *d;

	/* 3.12: tagged pointer to split values before the object */
	reader(&r, 12);
	tp = type_new("WeakSet", PYR_TPF_HEAPTYPE | PYR_TPF_MANAGED_DICT, base, 16);
	put64(tp, 880, A(keys_new(2, 2, names, NULL, 12)));
	o = obj_new(tp, 16);
	vals = (uint64_t *)mem(16);
	vals[0] = 0xaaa0;
	vals[1] = 0xbbb0;
	put64(o, -24, A(vals) - 1);
	CHECK_EQ_INT(pyread_attr(&r, A(o), "_parent_task", &v), 0);
	CHECK_EQ_INT(v, 0xbbb0);
	vals[1] = 0;				/* attribute deleted */
	CHECK_EQ_INT(pyread_attr(&r, A(o), "_parent_task", &v), -ENOENT);
	/* ... or a real dict there */
	d = obj_new(dict_type, 48);
	put64(d, 32, A(keys_new(1, 2, names, (const uint64_t[]){ 5, 6 }, 12)));
	put64(o, -24, A(d));
	CHECK_EQ_INT(pyread_attr(&r, A(o), "data", &v), 0);
	CHECK_EQ_INT(v, 5);
	/* 3.11: dict 3 words before, values 4 words before */
	reader(&r, 11);
	put64(tp, 872, A(keys_new(2, 2, names, NULL, 11)));
	put64(o, -24, 0);
	vals[1] = 0xccc0;
	put64(o, -32, A(vals));
	CHECK_EQ_INT(pyread_attr(&r, A(o), "_parent_task", &v), 0);
	CHECK_EQ_INT(v, 0xccc0);
	/* 3.13: inline values after the object, valid flag in byte 3 */
	reader(&r, 13);
	tp = type_new("TaskGroup", PYR_TPF_HEAPTYPE | PYR_TPF_MANAGED_DICT | PYR_TPF_INLINE_VALUES,
		      base, 16);
	put64(tp, 880, A(keys_new(2, 2, names, NULL, 13)));
	o = obj_new(tp, 16 + 8 + 16);
	o[16 + 3] = 1;
	put64(o, 16 + 8 + 8, 0xddd0);
	CHECK_EQ_INT(pyread_attr(&r, A(o), "_parent_task", &v), 0);
	CHECK_EQ_INT(v, 0xddd0);
	o[16 + 3] = 0;
	CHECK_EQ_INT(pyread_attr(&r, A(o), "_parent_task", &v), -ENOENT);
	/* 3.10: tp_dictoffset */
	reader(&r, 10);
	tp = type_new("WeakSet", PYR_TPF_HEAPTYPE, base, 32);
	put64(tp, 288, 16);
	o = obj_new(tp, 32);
	d = obj_new(dict_type, 48);
	{
		uint8_t *k = mem(48 + 24);

		put64(k, 0, 1);
		put64(k, 8, 8);
		put64(k, 32, 1);
		put64(k, 48 + 8, A(ascii(10, "data")));
		put64(k, 48 + 16, 0x777);
		put64(d, 32, A(k));
	}
	put64(o, 16, A(d));
	CHECK_EQ_INT(pyread_attr(&r, A(o), "data", &v), 0);
	CHECK_EQ_INT(v, 0x777);
	put64(tp, 288, 4096);			/* dict offset outside the object */
	r.ntypes = 0;
	CHECK_EQ_INT(pyread_attr(&r, A(o), "data", &v), -ENOENT);
}

TEST(task_types_are_recognized_through_bases)
{
	uint8_t *fut, *task, *sub, *a, *b, *o;
	struct pyreader r;
	struct pytype t;

	reader(&r, 13);
	fut = type_new("_asyncio.Future", 0, NULL, 104);
	task = type_new("_asyncio.Task", 0, fut, 144);
	sub = type_new("MyTask", PYR_TPF_HEAPTYPE, task, 144);
	o = obj_new(sub, 144);
	CHECK_EQ_INT(pyread_typeof(&r, A(o), &t), 0);
	CHECK_EQ_STR(t.name, "MyTask");
	CHECK_EQ_INT(t.kind, PYR_TASK | PYR_FUTURE);
	o = obj_new(fut, 104);
	CHECK_EQ_INT(pyread_typeof(&r, A(o), &t), 0);
	CHECK_EQ_INT(t.kind, PYR_FUTURE);
	/* a cycle of bases ends */
	a = type_new("A", 0, NULL, 16);
	b = type_new("B", 0, a, 16);
	put64(a, 256, A(b));
	o = obj_new(a, 16);
	CHECK_EQ_INT(pyread_typeof(&r, A(o), &t), 0);
	CHECK_EQ_INT(t.kind, 0);
	/* names must be printable, sizes plausible */
	o = obj_new(type_new("bad\x1bname", 0, NULL, 16), 16);
	CHECK_EQ_INT(pyread_typeof(&r, A(o), &t), -EINVAL);
	o = obj_new(type_new("huge", 0, NULL, 1ULL << 40), 16);
	CHECK_EQ_INT(pyread_typeof(&r, A(o), &t), -EINVAL);
}

TEST(weakrefs_and_read_budget)
{
	uint8_t *wt, *w, *x;
	struct pyreader r;
	uint64_t v;

	reader(&r, 12);
	wt = type_new("weakref.ReferenceType", 0, NULL, 64);
	w = obj_new(wt, 64);
	put64(w, 16, 0x1230);
	CHECK_EQ_INT(pyread_weakref(&r, A(w), &v), 0);
	CHECK_EQ_INT(v, 0x1230);
	x = obj_new(tuple_type, 64);
	CHECK_EQ_INT(pyread_weakref(&r, A(x), &v), -EINVAL);
	pyread_init(&r, getpid(), L(12), 2);
	CHECK_EQ_INT(pyread_ptr(&r, A(w), &v), 0);
	CHECK_EQ_INT(pyread_ptr(&r, A(w), &v), 0);
	CHECK_EQ_INT(pyread_ptr(&r, A(w), &v), -E2BIG);
}

UNIT_MAIN()
