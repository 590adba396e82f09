// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "target/eh_frame.h"

/* DW_EH_PE_* pointer encodings (LSB, "Exception Frames") */
#define PE_OMIT		0xff
#define PE_FORMAT(e)	((e) & 0x0f)
#define PE_APPL(e)	((e) & 0x70)
#define PE_INDIRECT	0x80
#define PE_ABSPTR	0x00
#define PE_ULEB128	0x01
#define PE_UDATA2	0x02
#define PE_UDATA4	0x03
#define PE_UDATA8	0x04
#define PE_SLEB128	0x09
#define PE_SDATA2	0x0a
#define PE_SDATA4	0x0b
#define PE_SDATA8	0x0c
#define PE_PCREL	0x10

struct cursor {
	const uint8_t *p, *end;
	const uint8_t *base;	/* section start, for vaddrs */
	uint64_t base_vaddr;
};

static uint64_t cur_vaddr(const struct cursor *c)
{
	return c->base_vaddr + (uint64_t)(c->p - c->base);
}

static int get_bytes(struct cursor *c, void *out, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return -EINVAL;
	memcpy(out, c->p, n);
	c->p += n;
	return 0;
}

static int get_u8(struct cursor *c, uint8_t *v)
{
	return get_bytes(c, v, 1);
}

static int get_uleb(struct cursor *c, uint64_t *v)
{
	uint64_t r = 0;
	unsigned shift = 0;

	for (;;) {
		uint8_t b;

		if (get_u8(c, &b) || shift > 63)
			return -EINVAL;
		r |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
	}
	*v = r;
	return 0;
}

static int get_sleb(struct cursor *c, int64_t *v)
{
	uint64_t r = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		if (get_u8(c, &b) || shift > 63)
			return -EINVAL;
		r |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	if (shift < 64 && (b & 0x40))
		r |= ~(uint64_t)0 << shift;
	*v = (int64_t)r;
	return 0;
}

/* n (2 or 4) little-endian bytes, sign-extended when sgn. */
static int get_fixed(struct cursor *c, unsigned n, bool sgn, uint64_t *v)
{
	uint64_t x = 0;

	if (get_bytes(c, &x, n))
		return -EINVAL;
	if (sgn && (x >> (8 * n - 1) & 1))
		x |= ~(uint64_t)0 << (8 * n);
	*v = x;
	return 0;
}

/* The value part of an encoded pointer (no application). */
static int get_encoded_value(struct cursor *c, uint8_t enc, uint64_t *v)
{
	int64_t s;

	switch (PE_FORMAT(enc)) {
	case PE_ABSPTR:
	case PE_UDATA8:
	case PE_SDATA8:
		return get_bytes(c, v, 8);
	case PE_UDATA4: return get_fixed(c, 4, false, v);
	case PE_SDATA4: return get_fixed(c, 4, true, v);
	case PE_UDATA2: return get_fixed(c, 2, false, v);
	case PE_SDATA2: return get_fixed(c, 2, true, v);
	case PE_ULEB128:
		return get_uleb(c, v);
	case PE_SLEB128:
		if (get_sleb(c, &s))
			return -EINVAL;
		*v = (uint64_t)s;
		return 0;
	default:
		return -EINVAL;
	}
}

/* An encoded address: absolute or pc-relative only (what linkers emit on x86-64). */
static int get_encoded_addr(struct cursor *c, uint8_t enc, uint64_t *v)
{
	uint64_t field = cur_vaddr(c);

	if (enc == PE_OMIT || (enc & PE_INDIRECT))
		return -EINVAL;
	if (get_encoded_value(c, enc, v))
		return -EINVAL;
	switch (PE_APPL(enc)) {
	case 0:
		return 0;
	case PE_PCREL:
		*v += field;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Length of an entry (32-bit, or 64-bit after 0xffffffff). */
static int get_length(struct cursor *c, uint64_t *len)
{
	uint32_t l32;

	if (get_bytes(c, &l32, 4))
		return -EINVAL;
	if (l32 != 0xffffffffu) {
		*len = l32;
		return 0;
	}
	return get_bytes(c, len, 8);
}

/* The FDE pointer encoding of the CIE at off (its length field). */
static int cie_fde_encoding(const uint8_t *sec, size_t sec_len, uint64_t sec_vaddr,
			    uint64_t off, uint8_t *fde_enc)
{
	struct cursor c = { sec + off, sec + sec_len, sec, sec_vaddr };
	const char *aug;
	uint64_t len, u;
	int64_t s;
	uint32_t id;
	uint8_t version, b;
	size_t n;

	if (off >= sec_len || get_length(&c, &len) || len == 0 ||
	    len > (uint64_t)(c.end - c.p))
		return -EINVAL;
	c.end = c.p + len;
	if (get_bytes(&c, &id, 4) || id != 0 || get_u8(&c, &version))
		return -EINVAL;
	if (version != 1 && version != 3 && version != 4)
		return -EINVAL;
	aug = (const char *)c.p;
	n = strnlen(aug, (size_t)(c.end - c.p));
	if (n == (size_t)(c.end - c.p))
		return -EINVAL;
	c.p += n + 1;
	if (version == 4 && (get_u8(&c, &b) || b != 8 || get_u8(&c, &b) || b != 0))
		return -EINVAL;	/* address size 8, no segment selector */
	if (get_uleb(&c, &u) || get_sleb(&c, &s))
		return -EINVAL;
	if (version == 1 ? get_u8(&c, &b) : get_uleb(&c, &u))
		return -EINVAL;
	*fde_enc = PE_ABSPTR;
	if (n == 0)
		return 0;
	if (aug[0] != 'z')
		return -EINVAL;	/* "eh" and other pre-'z' forms: not from a modern linker */
	if (get_uleb(&c, &u) || u > (uint64_t)(c.end - c.p))
		return -EINVAL;
	for (size_t i = 1; i < n; i++) {
		uint64_t dummy;

		switch (aug[i]) {
		case 'R':
			if (get_u8(&c, fde_enc))
				return -EINVAL;
			break;
		case 'L':
			if (get_u8(&c, &b))
				return -EINVAL;
			break;
		case 'P':
			if (get_u8(&c, &b) || b == PE_OMIT || get_encoded_value(&c, b, &dummy))
				return -EINVAL;
			break;
		case 'S':
		case 'B':
		case 'G':
			break;
		default:
			/* unknown: its data is in the 'z' length, but so may be 'R' */
			return -EINVAL;
		}
	}
	return 0;
}

static int cmp_start(const void *a, const void *b)
{
	const struct fde_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->size < y->size ? -1 : x->size > y->size;
}

int eh_frame_parse(const void *data, size_t len, uint64_t sec_vaddr, struct eh_frame_index *out)
{
	const uint8_t *sec = data;
	struct cursor c = { sec, sec + len, sec, sec_vaddr };
	size_t cap = 0;
	int err = -EINVAL;

	memset(out, 0, sizeof(*out));
	while (c.p < c.end) {
		const uint8_t *body, *next;
		uint64_t elen, start, size, cie_off;
		uint32_t cie_ptr;
		uint8_t enc;

		if ((size_t)(c.end - c.p) < 4)
			goto fail;
		if (get_length(&c, &elen))
			goto fail;
		if (elen == 0)
			break;	/* terminator */
		if (elen > (uint64_t)(c.end - c.p))
			goto fail;
		body = c.p;
		next = body + elen;
		if (get_bytes(&c, &cie_ptr, 4))
			goto fail;
		if (cie_ptr == 0) {	/* a CIE */
			c.p = next;
			continue;
		}
		/* the CIE pointer counts back from its own field */
		if (cie_ptr > (uint64_t)(body - sec))
			goto fail;
		cie_off = (uint64_t)(body - sec) - cie_ptr;
		if (cie_fde_encoding(sec, len, sec_vaddr, cie_off, &enc))
			goto fail;
		c.end = next;
		if (get_encoded_addr(&c, enc, &start) ||
		    get_encoded_value(&c, (uint8_t)PE_FORMAT(enc), &size))
			goto fail;
		c.end = sec + len;
		c.p = next;
		if (size == 0 || start + size < start)
			continue;
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct fde_range *v = realloc(out->v, ncap * sizeof(*v));

			if (!v) {
				err = -ENOMEM;
				goto fail;
			}
			out->v = v;
			cap = ncap;
		}
		out->v[out->n].start = start;
		out->v[out->n].size = size;
		out->n++;
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(out->v[0]), cmp_start);
	/* duplicates (same start): keep the first */
	size_t j = 0;
	for (size_t i = 0; i < out->n; i++) {
		if (j && out->v[j - 1].start == out->v[i].start)
			continue;
		out->v[j++] = out->v[i];
	}
	out->n = j;
	return 0;
fail:
	eh_frame_free(out);
	return err;
}

void eh_frame_free(struct eh_frame_index *ix)
{
	free(ix->v);
	ix->v = NULL;
	ix->n = 0;
}

/* Index of the last FDE starting at or before vaddr, or -1. */
static long last_at_or_before(const struct eh_frame_index *ix, uint64_t vaddr)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix->v[mid].start <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long)lo - 1;
}

const struct fde_range *eh_frame_at(const struct eh_frame_index *ix, uint64_t vaddr)
{
	long i = last_at_or_before(ix, vaddr);

	return i >= 0 && ix->v[i].start == vaddr ? &ix->v[i] : NULL;
}

const struct fde_range *eh_frame_containing(const struct eh_frame_index *ix, uint64_t vaddr)
{
	long i = last_at_or_before(ix, vaddr);

	return i >= 0 && vaddr - ix->v[i].start < ix->v[i].size ? &ix->v[i] : NULL;
}

int eh_frame_load(struct elf_file *ef, struct eh_frame_index *out)
{
	uint64_t vaddr, off, size;
	void *buf;
	int err;

	memset(out, 0, sizeof(*out));
	err = elf_find_section(ef, ".eh_frame", &vaddr, &off, &size);
	if (err)
		return err;
	if (size == 0 || size > (64u << 20))
		return -EINVAL;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	err = elf_read_vaddr(ef, vaddr, buf, size);
	if (!err)
		err = eh_frame_parse(buf, size, vaddr, out);
	free(buf);
	return err;
}
