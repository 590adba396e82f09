// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hooks/sf.h"
#include "util/grow.h"
#include "util/search.h"

void sf_note(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Append "; msg" (or msg) to buf. */
void sf_add_note(char *buf, size_t len, const char *msg)
{
	size_t n = strlen(buf);

	if (n + 3 < len)
		snprintf(buf + n, len - n, "%s%s", n ? "; " : "", msg);
}

/* ---- the object --------------------------------------------------------- */

static int cmp_rel(const void *a, const void *b)
{
	const struct rel *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

const struct rel *sf_rel_at(const struct sf *sf, uint64_t off)
{
	size_t lo = search_u64(sf->rel, sf->nrel, sizeof(*sf->rel), offsetof(struct rel, off), off);

	return lo < sf->nrel && sf->rel[lo].off == off ? &sf->rel[lo] : NULL;
}

static int load_relocs(struct sf *sf)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t cap = 0;

	while ((scn = elf_nextscn(sf->ef->elf, scn))) {
		Elf_Data *data, *syms = NULL;
		GElf_Shdr symsh;
		Elf_Scn *symscn;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !(sh.sh_flags & SHF_ALLOC) ||
		    !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		symscn = elf_getscn(sf->ef->elf, sh.sh_link);
		if (symscn && gelf_getshdr(symscn, &symsh) && symsh.sh_type == SHT_DYNSYM)
			syms = elf_getdata(symscn, NULL);
		n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Rela r;
			GElf_Sym s;
			struct rel *x;
			unsigned type, symi;

			if (!gelf_getrela(data, (int)i, &r))
				continue;
			type = (unsigned)GELF_R_TYPE(r.r_info);
			symi = (unsigned)GELF_R_SYM(r.r_info);
			if (type != R_X86_64_RELATIVE && type != R_X86_64_64 &&
			    type != R_X86_64_GLOB_DAT && type != R_X86_64_JUMP_SLOT)
				continue;
			if (GROW(sf->rel, cap, sf->nrel + 1, 512))
				return -ENOMEM;
			x = &sf->rel[sf->nrel++];
			memset(x, 0, sizeof(*x));
			x->off = r.r_offset;
			if (type == R_X86_64_RELATIVE) {
				x->val = (uint64_t)r.r_addend;
				x->resolved = true;
				continue;
			}
			if (!syms || !gelf_getsym(syms, (int)symi, &s))
				continue;
			x->name = elf_strptr(sf->ef->elf, symsh.sh_link, s.st_name);
			if (s.st_shndx != SHN_UNDEF && s.st_value) {
				x->val = s.st_value + (type == R_X86_64_64 ? (uint64_t)r.r_addend : 0);
				x->resolved = true;
			}
		}
	}
	if (sf->nrel)
		qsort(sf->rel, sf->nrel, sizeof(sf->rel[0]), cmp_rel);
	return 0;
}

static int load_sections(struct sf *sf)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(sf->ef->elf, &shstrndx))
		return -EINVAL;
	while ((scn = elf_nextscn(sf->ef->elf, scn))) {
		const char *name;
		struct sec *s;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNSYM && sh.sh_entsize) {
			sf->dynsym = elf_getdata(scn, NULL);
			sf->ndynsym = sh.sh_size / sh.sh_entsize;
			sf->dynstr = sh.sh_link;
			continue;
		}
		if (sh.sh_type != SHT_PROGBITS || !(sh.sh_flags & SHF_ALLOC) || !sh.sh_size)
			continue;
		if (sf->nsec == MAX_SECS)
			return -E2BIG;
		name = elf_strptr(sf->ef->elf, shstrndx, sh.sh_name);
		s = &sf->sec[sf->nsec++];
		s->vaddr = sh.sh_addr;
		s->size = sh.sh_size;
		s->exec = sh.sh_flags & SHF_EXECINSTR;
		s->plt = name && !strncmp(name, ".plt", 4);
		if (s->exec || sh.sh_size > (256u << 20))
			continue;
		s->data = malloc(sh.sh_size);
		if (!s->data)
			return -ENOMEM;
		if (elf_read_vaddr(sf->ef, sh.sh_addr, s->data, sh.sh_size)) {
			free(s->data);
			s->data = NULL;
		}
	}
	return 0;
}

const struct sec *sf_sec_of(const struct sf *sf, uint64_t vaddr)
{
	for (int i = 0; i < sf->nsec; i++)
		if (vaddr >= sf->sec[i].vaddr && vaddr - sf->sec[i].vaddr < sf->sec[i].size)
			return &sf->sec[i];
	return NULL;
}

void sf_close(struct sf *sf)
{
	for (int i = 0; i < sf->nsec; i++)
		free(sf->sec[i].data);
	free(sf->rel);
	eh_frame_free(&sf->fdes);
	x86_code_close(&sf->x);
	memset(sf, 0, sizeof(*sf));
}

int sf_open(struct sf *sf, struct elf_file *ef, bool need_code, char *why, size_t len)
{
	GElf_Ehdr eh;
	int err;

	memset(sf, 0, sizeof(*sf));
	sf->ef = ef;
	if (!gelf_getehdr(ef->elf, &eh) || eh.e_machine != EM_X86_64) {
		sf_note(why, len, "%s is not an x86-64 object", ef->path);
		return -ENOEXEC;
	}
	sf->pic = eh.e_type == ET_DYN;
	err = load_sections(sf);
	if (!err)
		err = load_relocs(sf);
	if (err) {
		sf_note(why, len, "%s: cannot read sections and relocations: %s", ef->path, strerror(-err));
		goto fail;
	}
	if (!need_code)
		return 0;
	err = eh_frame_load(ef, &sf->fdes);
	if (err || sf->fdes.n == 0) {
		sf_note(why, len, "%s has no usable .eh_frame (%s): function starts cannot be verified",
		        ef->path, err ? strerror(-err) : "empty");
		err = -ENOEXEC;
		goto fail;
	}
	err = x86_code_open(&sf->x);
	if (err == -ENOSYS)
		sf_note(why, len, "capstone: cannot open an x86-64 disassembler");
	if (err)
		goto fail;
	return 0;
fail:
	sf_close(sf);
	return err;
}

int sf_read_bytes(struct sf *sf, uint64_t vaddr, void *buf, size_t n)
{
	const struct sec *s = sf_sec_of(sf, vaddr);

	if (s && s->data && n <= s->size - (vaddr - s->vaddr)) {
		memcpy(buf, s->data + (vaddr - s->vaddr), n);
		return 0;
	}
	return elf_read_vaddr(sf->ef, vaddr, buf, n);
}

int sf_read_i32(struct sf *sf, uint64_t vaddr, int32_t *v)
{
	return sf_read_bytes(sf, vaddr, v, sizeof(*v));
}

/*
 * The pointer stored at vaddr, as the loader will set it: from the
 * relocation there (position-independent objects), else (fixed-address
 * executables) from the file. -ENOENT: no pointer into this object.
 */
int sf_ptr_at(struct sf *sf, uint64_t vaddr, uint64_t *val)
{
	const struct rel *r = sf_rel_at(sf, vaddr);

	if (r) {
		*val = r->val;
		return r->resolved ? 0 : -ENOENT;
	}
	if (sf->pic || sf_read_bytes(sf, vaddr, val, sizeof(*val)) || !*val || !sf_sec_of(sf, *val))
		return -ENOENT;
	return 0;
}

/* Addresses of every occurrence of the C string s in the read-only/data sections. */
int sf_find_string(struct sf *sf, const char *s, uint64_t *out, int max)
{
	size_t n = strlen(s) + 1;
	int k = 0;

	for (int i = 0; i < sf->nsec; i++) {
		const struct sec *sec = &sf->sec[i];
		const uint8_t *p, *end;

		if (sec->exec || !sec->data)
			continue;
		p = sec->data;
		end = sec->data + sec->size;
		while (k < max && (p = memmem(p, (size_t)(end - p), s, n))) {
			out[k++] = sec->vaddr + (uint64_t)(p - sec->data);
			p++;
		}
	}
	return k;
}

bool sf_in_set(const uint64_t *v, int n, uint64_t x)
{
	for (int i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* Locations of the pointers to any of targets. */
int sf_refs_to(struct sf *sf, const uint64_t *targets, int nt, uint64_t *out, int max)
{
	int k = 0;

	if (!nt)
		return 0;
	if (sf->pic) {
		for (size_t i = 0; i < sf->nrel && k < max; i++)
			if (sf->rel[i].resolved && sf_in_set(targets, nt, sf->rel[i].val))
				out[k++] = sf->rel[i].off;
		return k;
	}
	for (int i = 0; i < sf->nsec && k < max; i++) {
		const struct sec *sec = &sf->sec[i];

		if (sec->exec || !sec->data)
			continue;
		for (uint64_t o = (8 - sec->vaddr % 8) % 8; o + 8 <= sec->size && k < max; o += 8) {
			uint64_t v;

			memcpy(&v, sec->data + o, 8);
			if (sf_in_set(targets, nt, v))
				out[k++] = sec->vaddr + o;
		}
	}
	return k;
}

/* ---- code ------------------------------------------------------------- */

static bool in_plt(const struct sf *sf, uint64_t vaddr)
{
	const struct sec *s = sf_sec_of(sf, vaddr);

	return s && s->plt;
}

/* A function of this object: an FDE starts there, and it is not a PLT stub. */
const struct fde_range *sf_local_func(const struct sf *sf, uint64_t vaddr)
{
	const struct sec *s = sf_sec_of(sf, vaddr);

	if (!s || !s->exec || s->plt)
		return NULL;
	return eh_frame_at(&sf->fdes, vaddr);
}

static bool is_rip_mem(const cs_insn *insn, uint64_t *slot)
{
	const cs_x86 *x = &insn->detail->x86;

	if (x->op_count != 1 || x->operands[0].type != X86_OP_MEM ||
	    x->operands[0].mem.base != X86_REG_RIP || x->operands[0].mem.index != X86_REG_INVALID)
		return false;
	*slot = insn->address + insn->size + (uint64_t)x->operands[0].mem.disp;
	return true;
}

static const char *dynsym_name_at(const struct sf *sf, uint64_t vaddr)
{
	for (size_t i = 0; sf->dynsym && i < sf->ndynsym; i++) {
		GElf_Sym s;

		if (gelf_getsym(sf->dynsym, (int)i, &s) && s.st_value == vaddr &&
		    s.st_shndx != SHN_UNDEF && GELF_ST_TYPE(s.st_info) == STT_FUNC)
			return elf_strptr(sf->ef->elf, sf->dynstr, s.st_name);
	}
	return NULL;
}

/* The import a PLT stub jumps to, or the export defined at vaddr. */
static const char *target_name(struct sf *sf, uint64_t vaddr)
{
	static const uint8_t endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };
	uint8_t code[24];
	const uint8_t *p = code;
	size_t n = sizeof(code);
	uint64_t addr = vaddr, slot;
	const struct rel *r;

	if (!in_plt(sf, vaddr))
		return dynsym_name_at(sf, vaddr);
	if (elf_read_vaddr(sf->ef, vaddr, code, sizeof(code)))
		return NULL;
	if (!memcmp(code, endbr64, 4)) {
		p += 4;
		n -= 4;
		addr += 4;
	}
	if (!cs_disasm_iter(sf->x.cs, &p, &n, &addr, sf->x.insn2) || sf->x.insn2->id != X86_INS_JMP ||
	    !is_rip_mem(sf->x.insn2, &slot))
		return NULL;
	r = sf_rel_at(sf, slot);
	return r ? r->name : NULL;
}

int sf_each_insn(struct sf *sf, const struct fde_range *f,
		 int (*fn)(struct sf *sf, const cs_insn *in, void *arg), void *arg)
{
	uint8_t *buf;
	const uint8_t *code;
	size_t size = f->size;
	uint64_t addr = f->start;
	int err;

	err = x86_code_read(sf->ef, f->start, f->size, &buf);
	if (err)
		return err;
	code = buf;
	while (size > 0 && !err) {
		if (!cs_disasm_iter(sf->x.cs, &code, &size, &addr, sf->x.insn))
			err = -EINVAL;
		else
			err = fn(sf, sf->x.insn, arg);
	}
	free(buf);
	return err > 0 ? 0 : err;
}

struct walk {
	const struct fde_range *f;
	int (*fn)(struct sf *sf, const struct branch *b, void *arg);
	void *arg;
};

/* A call or jump that leaves the function, to walk->fn. */
static int walk_insn(struct sf *sf, const cs_insn *in, void *arg)
{
	const struct walk *w = arg;
	const cs_x86 *x = &in->detail->x86;
	struct branch b = {};
	uint64_t slot;

	if (in->id == X86_INS_CALL)
		b.kind = BR_CALL;
	else if (in->id == X86_INS_JMP)
		b.kind = BR_JMP;
	else if (cs_insn_group(sf->x.cs, in, CS_GRP_JUMP))
		b.kind = BR_JCC;
	else
		return 0;
	b.at = in->address;
	if (x->op_count == 1 && x->operands[0].type == X86_OP_IMM) {
		b.target = (uint64_t)x->operands[0].imm;
		if (b.target >= w->f->start && b.target - w->f->start < w->f->size)
			return 0;	/* inside the function */
		b.name = target_name(sf, b.target);
	} else if (b.kind != BR_JCC && is_rip_mem(in, &slot)) {
		const struct rel *r = sf_rel_at(sf, slot);

		if (!r || !r->name)
			return 0;
		b.name = r->name;
	} else {
		return 0;	/* register-indirect: not evidence of anything */
	}
	return w->fn(sf, &b, w->arg);
}

/*
 * Every call and jump leaving the function f (direct, or through the
 * GOT), in address order. Fails when an instruction does not decode: a
 * partial view of a function is never used as evidence.
 */
int sf_walk(struct sf *sf, const struct fde_range *f,
	    int (*fn)(struct sf *sf, const struct branch *b, void *arg), void *arg)
{
	struct walk w = { f, fn, arg };

	return sf_each_insn(sf, f, walk_insn, &w);
}

int sf_visit_add(struct visit *v, uint64_t f, int depth, bool entered)
{
	for (int i = 0; i < v->n; i++) {
		if (v->f[i] == f) {
			v->entered_by[i] |= entered;
			return 0;
		}
	}
	if (v->n == MAX_VISIT)
		return -E2BIG;
	v->f[v->n] = f;
	v->depth[v->n] = depth;
	v->entered_by[v->n] = entered;
	v->n++;
	return 0;
}

struct bfs_arg {
	struct visit *v;
	int depth;
};

static int bfs_branch(struct sf *sf, const struct branch *b, void *arg)
{
	struct bfs_arg *a = arg;

	if (!b->target || !sf_local_func(sf, b->target))
		return 0;
	return sf_visit_add(a->v, b->target, a->depth, b->kind != BR_JCC);
}

/* Add the local functions called or jumped to from level depth - 1 at level depth. */
int sf_bfs_level(struct sf *sf, struct visit *v, int depth)
{
	int n = v->n;

	for (int i = 0; i < n; i++) {
		struct bfs_arg a = { v, depth };
		int err;

		if (v->depth[i] != depth - 1)
			continue;
		err = sf_walk(sf, eh_frame_at(&sf->fdes, v->f[i]), bfs_branch, &a);
		if (err)
			return err;
	}
	return 0;
}

/* The local functions reached from root by calls and jumps, breadth first. */
int sf_bfs(struct sf *sf, uint64_t root, int max_depth, struct visit *v)
{
	memset(v, 0, sizeof(*v));
	sf_visit_add(v, root, 0, true);
	for (int d = 1; d <= max_depth; d++) {
		int err = sf_bfs_level(sf, v, d);

		if (err)
			return err;
	}
	return 0;
}

struct named_arg {
	const char *name;
	bool found;
};

static int find_named(struct sf *sf, const struct branch *b, void *arg)
{
	struct named_arg *a = arg;

	(void)sf;
	if (b->kind != BR_JCC && b->name && !strcmp(b->name, a->name)) {
		a->found = true;
		return 1;
	}
	return 0;
}

/* Does f call (or tail-call) the import/export name? */
int sf_calls_named(struct sf *sf, uint64_t f, const char *name, bool *yes)
{
	struct named_arg a = { name, false };
	int err = sf_walk(sf, eh_frame_at(&sf->fdes, f), find_named, &a);

	*yes = a.found;
	return err;
}
