// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include "output/escape.h"
#include "memory/memread.h"
#include "memory/pyread.h"
#include "util/bytes.h"

#define USER_TOP (1ULL << 56)		/* above: not a user-space address */
#define PYR_TPF_BYTES (1ULL << 27)
#define TYPE_HEAD 296			/* PyTypeObject up to tp_dictoffset */
#define MAX_BASES 16
#define CHUNK 256			/* container entries per read */

void pyread_init(struct pyreader *r, pid_t pid, const struct py_layout *l, uint64_t budget)
{
	memset(r, 0, sizeof(*r));
	r->pid = pid;
	r->minor = l->minor;
	r->l = l;
	r->budget = budget;
}

bool pyread_addr_ok(uint64_t addr)
{
	return addr >= 4096 && addr < USER_TOP && !(addr & 7);
}

static int read_at(struct pyreader *r, uint64_t addr, void *buf, size_t len, bool fresh)
{
	if (r->reads >= r->budget)
		return -E2BIG;
	r->reads++;
	if (addr < 4096 || addr >= USER_TOP || len > USER_TOP - addr)
		return -EFAULT;
	if (r->cache && !fresh)
		return page_cache_read(r->cache, addr, buf, len);
	r->calls++;
	return mem_read(r->pid, addr, buf, len);
}

int pyread_read(struct pyreader *r, uint64_t addr, void *buf, size_t len)
{
	return read_at(r, addr, buf, len, r->fresh);
}

int pyread_read_fresh(struct pyreader *r, uint64_t addr, void *buf, size_t len)
{
	return read_at(r, addr, buf, len, true);
}

void pyread_refresh(struct pyreader *r)
{
	if (r->cache)
		page_cache_invalidate(r->cache);
}

uint64_t pyread_calls(const struct pyreader *r)
{
	return r->calls + (r->cache ? r->cache->calls : 0);
}

int pyread_ptr(struct pyreader *r, uint64_t addr, uint64_t *v)
{
	return pyread_read(r, addr, v, sizeof(*v));
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < 0x20 || *s > 0x7e)
			return false;
	}
	return true;
}

/* A type object's fields, without the base-class walk. */
static int load_type(struct pyreader *r, uint64_t type, struct pytype *t)
{
	const struct py_layout *l = r->l;
	uint8_t buf[TYPE_HEAD];
	int err;

	if (!pyread_addr_ok(type))
		return -EFAULT;
	err = pyread_read(r, type, buf, sizeof(buf));
	if (err)
		return err;
	memset(t, 0, sizeof(*t));
	t->addr = type;
	t->flags = bytes_u64(buf, l->bpf.tp_flags);
	t->base = bytes_u64(buf, l->tp_base);
	t->basicsize = bytes_u64(buf, l->tp_basicsize);
	t->dictoffset = (int64_t)bytes_u64(buf, l->snap.tp_dictoffset);
	if (r->reads >= r->budget)
		return -E2BIG;
	r->reads++;
	r->calls++;
	err = mem_read_cstr(r->pid, bytes_u64(buf, l->bpf.tp_name), t->name, sizeof(t->name));
	if (err)
		return err;
	if (!name_ok(t->name) || t->basicsize < 16 || t->basicsize > (1 << 20))
		return -EINVAL;
	return 0;
}

static const struct pytype *cache_find(struct pyreader *r, uint64_t type)
{
	for (uint32_t i = 0; i < r->ntypes; i++) {
		if (r->types[i].addr == type)
			return &r->types[i];
	}
	return NULL;
}

int pyread_type(struct pyreader *r, uint64_t type, struct pytype *t)
{
	const struct pytype *c = cache_find(r, type);
	struct pytype b;
	uint64_t base;
	int err;

	if (c) {
		*t = *c;
		return 0;
	}
	err = load_type(r, type, t);
	if (err)
		return err;
	/* what it derives from: walk tp_base, cached bases answer at once */
	base = type;
	for (int depth = 0; depth < MAX_BASES && base; depth++) {
		if (depth == 0) {
			b = *t;
		} else if ((c = cache_find(r, base))) {
			t->kind |= c->kind;
			break;
		} else if (load_type(r, base, &b)) {
			break;
		}
		if (!strcmp(b.name, "_asyncio.Task"))
			t->kind |= PYR_TASK | PYR_FUTURE;
		else if (!strcmp(b.name, "_asyncio.Future"))
			t->kind |= PYR_FUTURE;
		base = b.base;
	}
	if (r->ntypes < PYR_TYPE_CACHE) {
		r->types[r->ntypes++] = *t;
	} else {
		r->types[r->next_evict] = *t;
		r->next_evict = (r->next_evict + 1) % PYR_TYPE_CACHE;
	}
	return 0;
}

/*
 * A live object's refcount: below 2^32 (3.12+ immortals: 0xffffffff in
 * the low half; 3.14 keeps ob_flags in the top 16 bits). A freed small
 * object has a free-list pointer (or 0) there instead: rejected.
 */
static bool refcnt_ok(int minor, uint64_t refcnt)
{
	if ((uint32_t)refcnt == 0)
		return false;
	return minor >= 14 ? !(refcnt >> 32 & 0xffff) : !(refcnt >> 32);
}

/* The type of an object whose first bytes (refcount, type) are in head. */
static int type_of_head(struct pyreader *r, const uint8_t *head, struct pytype *t)
{
	if (!refcnt_ok(r->minor, bytes_u64(head, 0)))
		return -EINVAL;
	return pyread_type(r, bytes_u64(head, r->l->bpf.ob_type), t);
}

/*
 * The first len bytes of obj, and its type, which has one of the flags
 * (0: any type). 0, or -EFAULT, -EINVAL or a read error.
 */
static int read_head(struct pyreader *r, uint64_t obj, uint8_t *head, size_t len, uint64_t flags,
		     struct pytype *t)
{
	int err;

	if (!pyread_addr_ok(obj))
		return -EFAULT;
	err = pyread_read(r, obj, head, len);
	if (err || (err = type_of_head(r, head, t)))
		return err;
	return !flags || (t->flags & flags) ? 0 : -EINVAL;
}

int pyread_typeof(struct pyreader *r, uint64_t obj, struct pytype *t)
{
	uint8_t head[16];

	return read_head(r, obj, head, sizeof(head), 0, t);
}

bool pyread_is(const struct pytype *t, const char *name)
{
	return !strcmp(t->name, name);
}

/* ---- str, int, bytes ---------------------------------------------- */

struct ustr {
	int64_t length;
	unsigned kind;
	uint64_t data;
};

/* Header of a compact str: where its characters are. */
static int str_head(struct pyreader *r, uint64_t obj, const uint8_t *buf, struct ustr *u)
{
	const struct aps_layout *b = &r->l->bpf;
	uint32_t state = bytes_u32(buf, b->unicode_state);
	bool compact = state >> 5 & 1, ascii = state >> 6 & 1;

	u->length = (int64_t)bytes_u64(buf, b->unicode_length);
	u->kind = state >> 2 & 7;
	if (!compact)
		return -ENOTSUP;	/* legacy string: not made by the code we read */
	if ((u->kind != 1 && u->kind != 2 && u->kind != 4) || (ascii && u->kind != 1) ||
	    u->length < 0)
		return -EINVAL;
	u->data = obj + (ascii ? b->unicode_ascii_data : b->unicode_compact_data);
	return 0;
}

int pyread_str(struct pyreader *r, uint64_t obj, char *out, size_t len)
{
	static const char mark[] = "\xe2\x80\xa6";	/* "…": cut here */
	uint8_t head[80], data[PYR_STR_CHARS * 4];
	struct pytype t;
	struct ustr u;
	size_t n, pos = 0;
	bool cut;
	int err;

	if (len < sizeof(mark))
		return -EINVAL;
	out[0] = '\0';
	err = read_head(r, obj, head, r->l->bpf.unicode_compact_data, PYR_TPF_UNICODE, &t);
	if (err)
		return err;
	err = str_head(r, obj, head, &u);
	if (err)
		return err;
	n = u.length < PYR_STR_CHARS ? (size_t)u.length : PYR_STR_CHARS;
	cut = (size_t)u.length > n;
	if (n && (err = pyread_read(r, u.data, data, n * u.kind)))
		return err;
	/* one character at a time through escape.h, keeping room for the mark */
	for (size_t i = 0; i < n; i++) {
		struct aps_pystr one;
		uint8_t ch = data[i * u.kind];
		char buf[16];
		size_t k;

		if (u.kind == 1 && ch >= 0x20 && ch < 0x7f && ch != '\\') {
			/* printable ASCII: itself, as escape.h leaves it */
			if (pos + 1 + sizeof(mark) > len) {
				cut = true;
				break;
			}
			out[pos++] = (char)ch;
			continue;
		}
		memset(&one, 0, sizeof(one));
		one.nchars = 1;
		one.kind = (uint8_t)u.kind;
		memcpy(one.data, data + i * u.kind, u.kind);
		pystr_to_utf8(&one, NULL, buf, sizeof(buf));
		k = strlen(buf);
		if (pos + k + sizeof(mark) > len) {
			cut = true;
			break;
		}
		memcpy(out + pos, buf, k);
		pos += k;
	}
	if (cut) {
		memcpy(out + pos, mark, sizeof(mark) - 1);
		pos += sizeof(mark) - 1;
	}
	out[pos] = '\0';
	return 0;
}

bool pyread_str_eq(struct pyreader *r, uint64_t obj, const char *s)
{
	const struct aps_layout *b = &r->l->bpf;
	size_t n = strlen(s);
	uint8_t buf[160];
	struct pytype t;
	struct ustr u;

	if (!pyread_addr_ok(obj) || b->unicode_ascii_data + n > sizeof(buf) ||
	    pyread_read(r, obj, buf, b->unicode_ascii_data + n) ||
	    type_of_head(r, buf, &t) || !(t.flags & PYR_TPF_UNICODE) ||
	    str_head(r, obj, buf, &u))
		return false;
	return u.kind == 1 && u.data == obj + b->unicode_ascii_data && (size_t)u.length == n &&
	       !memcmp(buf + b->unicode_ascii_data, s, n);
}

int pyread_long(struct pyreader *r, uint64_t obj, int64_t *v)
{
	const struct aps_layout *b = &r->l->bpf;
	uint8_t buf[40];
	struct pytype t;
	uint64_t tag, ndigits, mag = 0;
	bool neg;
	int err;

	err = read_head(r, obj, buf, b->long_digits + 8, PYR_TPF_LONG, &t);
	if (err)
		return err;
	tag = bytes_u64(buf, b->long_size);
	if (b->long_tagged) {
		/* lv_tag: sign in bits 0-1 (0 +, 1 zero, 2 -), digit count from bit 3 */
		neg = (tag & 3) == 2;
		ndigits = (tag & 3) == 1 ? 0 : tag >> 3;
	} else {
		neg = (int64_t)tag < 0;
		ndigits = neg ? 0 - tag : tag;
	}
	if (ndigits > 2)
		return -ERANGE;
	for (uint64_t i = 0; i < ndigits; i++)
		mag |= (uint64_t)(bytes_u32(buf, b->long_digits + 4 * i) & 0x3fffffff) << (30 * i);
	*v = neg ? -(int64_t)mag : (int64_t)mag;
	return 0;
}

int pyread_bytes(struct pyreader *r, uint64_t obj, uint8_t *buf, size_t max, size_t *n)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint8_t head[24];
	struct pytype t;
	int64_t size;
	int err;

	*n = 0;
	err = read_head(r, obj, head, sizeof(head), PYR_TPF_BYTES, &t);
	if (err)
		return err;
	size = (int64_t)bytes_u64(head, s->bytes_size);
	if (size < 0)
		return -EINVAL;
	if ((uint64_t)size > max)
		return -E2BIG;
	if (size && (err = pyread_read(r, obj + s->bytes_data, buf, (size_t)size)))
		return err;
	*n = (size_t)size;
	return 0;
}

/* ---- containers ---------------------------------------------------- */

/* n pointers from addr, in chunks */
static int read_ptrs(struct pyreader *r, uint64_t addr, uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i += CHUNK) {
		size_t k = n - i < CHUNK ? n - i : CHUNK;
		int err = pyread_read(r, addr + i * 8, v + i, k * 8);

		if (err)
			return err;
	}
	return 0;
}

/* A tuple's or a list's item pointers (ob_size at 16), the first max. */
static int read_seq(struct pyreader *r, uint64_t obj, bool list, uint64_t *items, size_t max,
		    size_t *n)
{
	uint8_t head[40];
	struct pytype t;
	int64_t size;
	uint64_t at;
	int err;

	*n = 0;
	err = read_head(r, obj, head, list ? 40 : 24, list ? PYR_TPF_LIST : PYR_TPF_TUPLE, &t);
	if (err)
		return err;
	size = (int64_t)bytes_u64(head, 16);
	if (size < 0 || size > PYR_MAX_ITEMS || (list && size > (int64_t)bytes_u64(head, 32)))
		return -EINVAL;
	at = list ? bytes_u64(head, r->l->snap.list_item) : obj + r->l->snap.tuple_item;
	*n = (size_t)size < max ? (size_t)size : max;
	err = read_ptrs(r, at, items, *n);
	if (err)
		*n = 0;
	return err;
}

int pyread_tuple(struct pyreader *r, uint64_t obj, uint64_t *items, size_t max, size_t *n)
{
	return read_seq(r, obj, false, items, max, n);
}

int pyread_list(struct pyreader *r, uint64_t obj, uint64_t *items, size_t max, size_t *n)
{
	return read_seq(r, obj, true, items, max, n);
}

static int set_read(struct pyreader *r, uint64_t obj, uint64_t *keys, size_t max, size_t *n)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint64_t entries[CHUNK * 2];
	uint8_t head[64];
	struct pytype t;
	uint64_t used, mask, table;
	int err;

	*n = 0;
	err = read_head(r, obj, head, sizeof(head), 0, &t);
	if (err)
		return err;
	if (!pyread_is(&t, "set") && !pyread_is(&t, "frozenset"))
		return -EINVAL;
	used = bytes_u64(head, s->set_used);
	mask = bytes_u64(head, s->set_mask);
	table = bytes_u64(head, s->set_table);
	if (mask < 7 || mask >= 4ULL * PYR_MAX_ITEMS || (mask & (mask + 1)) || used > mask + 1 ||
	    !pyread_addr_ok(table))
		return -EINVAL;
	for (uint64_t i = 0; i <= mask && *n < max; i += CHUNK) {
		uint64_t k = mask + 1 - i < CHUNK ? mask + 1 - i : CHUNK;

		err = pyread_read(r, table + i * 16, entries, k * 16);
		if (err)
			return err;
		for (uint64_t j = 0; j < k && *n < max; j++) {
			if (entries[2 * j])
				keys[(*n)++] = entries[2 * j];
		}
	}
	/* resized while we read: the caller retries */
	if (pyread_read(r, obj, head, sizeof(head)) || bytes_u64(head, s->set_mask) != mask ||
	    bytes_u64(head, s->set_table) != table)
		return -EAGAIN;
	return 0;
}

int pyread_set(struct pyreader *r, uint64_t obj, uint64_t *keys, size_t max, size_t *n)
{
	bool was = r->fresh;
	int err;

	/* past the cache: the table must be read between the two reads of the head */
	r->fresh = true;
	err = set_read(r, obj, keys, max, n);
	r->fresh = was;
	return err;
}

/* ---- dicts and instance attributes ------------------------------------ */

struct dkeys {
	uint64_t entries;
	uint64_t nentries;
	unsigned esize, koff, voff;
};

static int read_keys(struct pyreader *r, uint64_t keys, struct dkeys *k)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint8_t buf[48];
	int err;

	if (!pyread_addr_ok(keys))
		return -EFAULT;
	err = pyread_read(r, keys, buf, s->dk_indices);
	if (err)
		return err;
	k->nentries = bytes_u64(buf, s->dk_nentries);
	if (r->minor <= 10) {
		/* 3.10: Py_ssize_t dk_size; index width follows from it */
		uint64_t size = bytes_u64(buf, 8);
		unsigned ix = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffULL ? 4 : 8;

		if (size < 8 || size > (1 << 24) || (size & (size - 1)) || k->nentries > size)
			return -EINVAL;
		k->entries = keys + s->dk_indices + size * ix;
		k->esize = 24;
		k->koff = 8;
		k->voff = 16;
		return 0;
	}
	/* 3.11+: dk_log2_size, dk_log2_index_bytes, dk_kind */
	if (buf[8] > 24 || buf[9] > buf[8] + 3 || buf[10] > 2 ||
	    k->nentries > (1ULL << buf[8]))
		return -EINVAL;
	k->entries = keys + s->dk_indices + (1ULL << buf[9]);
	if (buf[10] == 0) {	/* DICT_KEYS_GENERAL: hash, key, value */
		k->esize = 24;
		k->koff = 8;
		k->voff = 16;
	} else {		/* unicode / split: key, value */
		k->esize = 16;
		k->koff = 0;
		k->voff = 8;
	}
	return 0;
}

/* Look a str key up in a keys object; values: split table, or 0. */
static int keys_lookup(struct pyreader *r, uint64_t keys, uint64_t values, const char *key,
		       uint64_t *val)
{
	uint8_t buf[CHUNK * 24];
	struct dkeys k;
	uint64_t n;
	int err = read_keys(r, keys, &k);

	if (err)
		return err;
	n = k.nentries < PYR_MAX_ITEMS ? k.nentries : PYR_MAX_ITEMS;
	for (uint64_t i = 0; i < n; i += CHUNK) {
		uint64_t cnt = n - i < CHUNK ? n - i : CHUNK;

		err = pyread_read(r, k.entries + i * k.esize, buf, cnt * k.esize);
		if (err)
			return err;
		for (uint64_t j = 0; j < cnt; j++) {
			uint64_t kp = bytes_u64(buf, j * k.esize + k.koff);

			if (!kp || !pyread_str_eq(r, kp, key))
				continue;
			if (values)
				err = pyread_ptr(r, values + r->l->snap.dv_values + 8 * (i + j), val);
			else
				*val = bytes_u64(buf, j * k.esize + k.voff);
			if (err)
				return err;
			return *val ? 0 : -ENOENT;
		}
	}
	return -ENOENT;
}

int pyread_dict_get(struct pyreader *r, uint64_t dict, const char *key, uint64_t *val)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint8_t head[48];
	struct pytype t;
	int err;

	err = read_head(r, dict, head, sizeof(head), PYR_TPF_DICT, &t);
	if (err)
		return err;
	return keys_lookup(r, bytes_u64(head, s->dict_keys), bytes_u64(head, s->dict_values), key, val);
}

/* Split values of an instance, keyed by its type's shared keys. */
static int split_lookup(struct pyreader *r, const struct pytype *t, uint64_t values,
			const char *name, uint64_t *val)
{
	uint64_t keys;
	int err;

	if (!(t->flags & PYR_TPF_HEAPTYPE) || !pyread_addr_ok(values))
		return -ENOENT;
	err = pyread_ptr(r, t->addr + r->l->snap.ht_cached_keys, &keys);
	if (err)
		return err;
	return keys ? keys_lookup(r, keys, values, name, val) : -ENOENT;
}

int pyread_attr(struct pyreader *r, uint64_t obj, const char *name, uint64_t *val)
{
	struct pytype t;
	uint64_t p, values;
	uint8_t valid;
	int err = pyread_typeof(r, obj, &t);

	if (err)
		return err;
	if (r->minor >= 11 && (t.flags & PYR_TPF_MANAGED_DICT)) {
		/* managed dict: pointer 3 words before the object */
		err = pyread_ptr(r, obj - 24, &p);
		if (err)
			return err;
		if (r->minor == 12 && (p & 1))		/* values pointer - 1 */
			return split_lookup(r, &t, p + 1, name, val);
		if (p)
			return pyread_dict_get(r, p, name, val);
		if (r->minor == 11) {			/* values: 4 words before */
			err = pyread_ptr(r, obj - 32, &values);
			return err ? err : split_lookup(r, &t, values, name, val);
		}
		if (r->minor >= 13 && (t.flags & PYR_TPF_INLINE_VALUES)) {
			/* inline values after the object; byte 3 is "valid" */
			values = obj + t.basicsize;
			err = pyread_read(r, values + 3, &valid, 1);
			if (err)
				return err;
			return valid ? split_lookup(r, &t, values, name, val) : -ENOENT;
		}
		return -ENOENT;
	}
	if (t.dictoffset <= 0 || t.dictoffset >= (int64_t)t.basicsize)
		return -ENOENT;
	err = pyread_ptr(r, obj + (uint64_t)t.dictoffset, &p);
	if (err)
		return err;
	return p ? pyread_dict_get(r, p, name, val) : -ENOENT;
}

int pyread_weakref(struct pyreader *r, uint64_t ref, uint64_t *target)
{
	struct pytype t;
	int err = pyread_typeof(r, ref, &t);

	if (err)
		return err;
	if (strncmp(t.name, "weakref", 7))
		return -EINVAL;
	return pyread_ptr(r, ref + r->l->snap.wr_object, target);
}
