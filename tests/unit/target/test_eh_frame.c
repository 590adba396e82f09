// SPDX-License-Identifier: MIT
/*
 * .eh_frame parsing: hand-built tables (encodings, CIE forms, malformed
 * input) and the real objects of the test bed, where every function
 * symbol must start an FDE.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "unit.h"
#include "target/eh_frame.h"
#include "target/debuginfo.h"
#include "target/elf_file.h"

/* A little byte builder for hand-made sections. */
struct buf {
	uint8_t b[512];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put_u8(struct buf *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { put(b, &v, 8); }

static void set_u32(struct buf *b, size_t at, uint32_t v)
{
	memcpy(b->b + at, &v, 4);
}

/* A CIE with augmentation aug; returns its offset. R encoding enc when aug has R. */
static size_t put_cie(struct buf *b, const char *aug, uint8_t enc, uint8_t version)
{
	size_t at = b->n;

	put_u32(b, 0);			/* length, patched */
	put_u32(b, 0);			/* CIE id */
	put_u8(b, version);
	put(b, aug, strlen(aug) + 1);
	put_u8(b, 1);			/* code alignment */
	put_u8(b, 0x78);		/* data alignment -8 */
	put_u8(b, 16);			/* return address register */
	if (aug[0] == 'z') {
		size_t lenat = b->n;

		put_u8(b, 0);
		for (const char *a = aug + 1; *a; a++) {
			if (*a == 'R' || *a == 'L')
				put_u8(b, *a == 'R' ? enc : 0x1b);
			if (*a == 'P') {
				put_u8(b, 0x9b);	/* indirect pcrel sdata4 */
				put_u32(b, 0x1234);
			}
		}
		b->b[lenat] = (uint8_t)(b->n - lenat - 1);
	}
	while ((b->n - at) % 8 != 4 + 0)	/* DW_CFA_nop padding */
		put_u8(b, 0);
	set_u32(b, at, (uint32_t)(b->n - at - 4));
	return at;
}

/* An FDE for [start, start+size) with pcrel sdata4 (section at vaddr). */
static void put_fde_pcrel4(struct buf *b, size_t cie_at, uint64_t vaddr, uint64_t start,
			   uint32_t size, bool z)
{
	size_t at = b->n;

	put_u32(b, 0);
	put_u32(b, (uint32_t)(b->n - cie_at));	/* back to the CIE */
	put_u32(b, (uint32_t)(int32_t)(start - (vaddr + b->n)));
	put_u32(b, size);
	if (z)
		put_u8(b, 0);
	while ((b->n - at) % 4)
		put_u8(b, 0);
	set_u32(b, at, (uint32_t)(b->n - at - 4));
}

TEST(zr_pcrel_sdata4_sorted)
{
	struct buf b = {};
	struct eh_frame_index ix;
	const uint64_t va = 0xd700;
	size_t cie = put_cie(&b, "zR", 0x1b, 1);

	put_fde_pcrel4(&b, cie, va, 0x5000, 0x80, true);
	put_fde_pcrel4(&b, cie, va, 0x4000, 0x40, true);
	put_fde_pcrel4(&b, cie, va, 0x4000, 0x40, true);	/* duplicate */
	put_u32(&b, 0);						/* terminator */
	REQUIRE(eh_frame_parse(b.b, b.n, va, &ix) == 0);
	REQUIRE(ix.n == 2);
	CHECK_EQ_INT(ix.v[0].start, 0x4000);
	CHECK_EQ_INT(ix.v[0].size, 0x40);
	CHECK_EQ_INT(ix.v[1].start, 0x5000);
	CHECK(eh_frame_at(&ix, 0x4000) == &ix.v[0]);
	CHECK(eh_frame_at(&ix, 0x4001) == NULL);
	CHECK(eh_frame_at(&ix, 0x3fff) == NULL);
	CHECK(eh_frame_containing(&ix, 0x403f) == &ix.v[0]);
	CHECK(eh_frame_containing(&ix, 0x4040) == NULL);	/* gap */
	CHECK(eh_frame_containing(&ix, 0x507f) == &ix.v[1]);
	CHECK(eh_frame_containing(&ix, 0x5080) == NULL);
	eh_frame_free(&ix);
}

TEST(zplr_cie_and_absptr_cie)
{
	struct buf b = {};
	struct eh_frame_index ix;
	size_t cie1 = put_cie(&b, "zPLR", 0x1b, 1);
	size_t cie2 = put_cie(&b, "", 0, 3);
	size_t at;

	put_fde_pcrel4(&b, cie1, 0x1000, 0x2000, 0x10, true);
	/* absptr FDE on the "" CIE: 8-byte start and size, no aug data */
	at = b.n;
	put_u32(&b, 0);
	put_u32(&b, (uint32_t)(b.n - cie2));
	put_u64(&b, 0x3000);
	put_u64(&b, 0x20);
	set_u32(&b, at, (uint32_t)(b.n - at - 4));
	REQUIRE(eh_frame_parse(b.b, b.n, 0x1000, &ix) == 0);	/* no terminator: end of data */
	REQUIRE(ix.n == 2);
	CHECK_EQ_INT(ix.v[0].start, 0x2000);
	CHECK_EQ_INT(ix.v[1].start, 0x3000);
	CHECK_EQ_INT(ix.v[1].size, 0x20);
	eh_frame_free(&ix);
}

TEST(extended_length)
{
	struct buf b = {};
	struct eh_frame_index ix;
	size_t cie = put_cie(&b, "zR", 0x1b, 1);
	size_t at = b.n;

	put_u32(&b, 0xffffffffu);
	put_u64(&b, 0);		/* patched */
	put_u32(&b, (uint32_t)(b.n - cie));
	put_u32(&b, (uint32_t)(int32_t)(0x100 - (0x0 + b.n)));
	put_u32(&b, 8);
	put_u8(&b, 0);
	uint64_t l = b.n - at - 12;
	memcpy(b.b + at + 4, &l, 8);
	REQUIRE(eh_frame_parse(b.b, b.n, 0, &ix) == 0);
	REQUIRE(ix.n == 1);
	CHECK_EQ_INT(ix.v[0].start, 0x100);
	eh_frame_free(&ix);
}

TEST(malformed_is_refused_whole)
{
	struct buf b = {};
	struct eh_frame_index ix;
	size_t cie = put_cie(&b, "zR", 0x1b, 1);
	size_t fde = b.n, good;

	put_fde_pcrel4(&b, cie, 0, 0x4000, 0x40, true);
	good = b.n;
	/* truncated: every prefix of the table either parses or fails cleanly */
	for (size_t n = 0; n < good; n++) {
		int err = eh_frame_parse(b.b, n, 0, &ix);

		CHECK(err == 0 || err == -EINVAL);
		if (!err)
			eh_frame_free(&ix);
	}
	/* a length past the end */
	struct buf c = b;
	set_u32(&c, 0, 0x7fffffff);
	CHECK(eh_frame_parse(c.b, c.n, 0, &ix) == -EINVAL);
	CHECK(ix.v == NULL && ix.n == 0);
	/* a CIE pointer before the section */
	c = b;
	set_u32(&c, fde + 4, 0x7fff0000);
	CHECK(eh_frame_parse(c.b, c.n, 0, &ix) == -EINVAL);
	/* an FDE pointing at another FDE instead of a CIE */
	c = b;
	put_fde_pcrel4(&c, fde, 0, 0x5000, 0x10, true);
	CHECK(eh_frame_parse(c.b, c.n, 0, &ix) == -EINVAL);
	/* an unknown augmentation, and a textrel encoding we do not apply */
	struct buf d = {};
	cie = put_cie(&d, "zX", 0, 1);
	put_fde_pcrel4(&d, cie, 0, 0x4000, 0x40, true);
	CHECK(eh_frame_parse(d.b, d.n, 0, &ix) == -EINVAL);
	struct buf e = {};
	cie = put_cie(&e, "zR", 0x2b, 1);
	put_fde_pcrel4(&e, cie, 0, 0x4000, 0x40, true);
	CHECK(eh_frame_parse(e.b, e.n, 0, &ix) == -EINVAL);
}

TEST(empty_and_terminator_only)
{
	struct eh_frame_index ix;
	uint32_t zero = 0;

	CHECK(eh_frame_parse(&zero, 0, 0, &ix) == 0);
	CHECK_EQ_INT(ix.n, 0);
	CHECK(eh_frame_parse(&zero, 4, 0, &ix) == 0);
	CHECK_EQ_INT(ix.n, 0);
	CHECK(eh_frame_at(&ix, 0) == NULL);
	CHECK(eh_frame_containing(&ix, 0) == NULL);
	eh_frame_free(&ix);
}

/* Every sized function symbol of the objects starts an FDE of at least its size. */
static void check_symbols_start_fdes(const char *obj, const char *symfile)
{
	struct elf_file ef, sf;
	struct eh_frame_index ix;
	GElf_Shdr sh;
	Elf_Scn *scn = NULL;
	int nfunc = 0, nmiss = 0;

	REQUIRE(elf_file_open(obj, &ef) == 0);
	REQUIRE(eh_frame_load(&ef, &ix) == 0);
	CHECK(ix.n > 50);
	REQUIRE(elf_file_open(symfile, &sf) == 0);
	while ((scn = elf_nextscn(sf.elf, scn))) {
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const struct fde_range *f;

			if (!gelf_getsym(data, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
			    !s.st_size || s.st_shndx == SHN_UNDEF)
				continue;
			nfunc++;
			f = eh_frame_at(&ix, s.st_value);
			if (!f || f->size < s.st_size) {
				nmiss++;
				fprintf(stderr, "%s: %s at 0x%llx: no FDE start\n", obj,
					elf_strptr(sf.elf, sh.sh_link, s.st_name),
					(unsigned long long)s.st_value);
			}
		}
	}
	CHECK(nfunc > 50);
	CHECK_EQ_INT(nmiss, 0);
	elf_file_close(&sf);
	eh_frame_free(&ix);
	elf_file_close(&ef);
}

#define PYENV_310 "/root/.pyenv/versions/3.10.13/lib/python3.10/lib-dynload/_asyncio.cpython-310-x86_64-linux-gnu.so"
#define PYENV_313 "/root/.pyenv/versions/3.13.0/lib/python3.13/lib-dynload/_asyncio.cpython-313-x86_64-linux-gnu.so"
#define SID_314 "/var/cache/aps-bpf/sid-root/usr/lib/python3.14/lib-dynload/_asyncio.cpython-314-x86_64-linux-gnu.so"
#define SID_ROOT "/var/cache/aps-bpf/sid-root"
#define SID_314_IN_ROOT "/usr/lib/python3.14/lib-dynload/_asyncio.cpython-314-x86_64-linux-gnu.so"

/* The sid module's debug file, by build-id (the sid root is rebuilt at times). */
static bool sid_debug_file(char *path, size_t len)
{
	struct elf_file ef;
	struct debuginfo_lookup info;
	bool ok;

	if (elf_file_open(SID_314, &ef))
		return false;
	ok = debuginfo_find(SID_ROOT, SID_314_IN_ROOT, &ef, path, len, &info) == 0;
	elf_file_close(&ef);
	return ok;
}

TEST(bed_functions_start_fdes)
{
	char dbg[4096];

	check_symbols_start_fdes(PYENV_310, PYENV_310);

	check_symbols_start_fdes(PYENV_313, PYENV_313);
	/* stripped: symbols from the debug file, including the .cold parts */
	REQUIRE(sid_debug_file(dbg, sizeof(dbg)));
	check_symbols_start_fdes(SID_314, dbg);
}

TEST(debug_file_eh_frame_is_not_used)
{
	struct elf_file ef;
	struct eh_frame_index ix;
	char dbg[4096];

	REQUIRE(sid_debug_file(dbg, sizeof(dbg)));
	/* the debug file's .eh_frame is NOBITS (or absent): nothing to trust */
	REQUIRE(elf_file_open(dbg, &ef) == 0);
	CHECK(eh_frame_load(&ef, &ix) != 0);
	CHECK(ix.n == 0 && ix.v == NULL);
	elf_file_close(&ef);
}

UNIT_MAIN()
