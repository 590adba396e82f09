// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memory/memread.h"
#include "hooks/symfree.h"
#include "hooks/x86_code.h"

#define MAX_SECS	128
#define MAX_REFS	16
#define MAX_VISIT	1024
#define MAX_SITES	32
#define BFS_DEPTH	3

/* Include/typeslots.h */
#define PY_TP_CALL	50
#define PY_TP_DEALLOC	52
#define PY_TP_INIT	60
#define PY_TP_METHODS	64
#define PY_SLOT_MAX	100

/* PyTypeObject of a 64-bit release build (3.10/3.11: no Py_TRACE_REFS) */
#define OB_SIZE		16
#define TP_NAME		24
#define TP_BASICSIZE	32
#define TP_ITEMSIZE	40
#define TP_DEALLOC	48
#define TP_CALL		128
#define TP_METHODS	232
#define TP_INIT		296

/* PyType_Spec: name, basicsize, itemsize, flags, slots */
#define SPEC_BASICSIZE	8
#define SPEC_ITEMSIZE	12
#define SPEC_SLOTS	24

/* PyMethodDef: ml_name, ml_meth, ml_flags, ml_doc */
#define ML_METH		8
#define ML_FLAGS	16
#define ML_SIZE		32
#define ML_MAX		256	/* entries of a method table */
#define METH_O		0x0008
#define METH_FASTCALL_KW 0x0082

struct rel {
	uint64_t off;
	uint64_t val;
	const char *name;	/* the symbol, for relocations against one */
	bool resolved;		/* val is an address inside this object */
};

struct sec {
	uint64_t vaddr, size;
	bool exec, plt;
	uint8_t *data;		/* non-exec sections, read at open */
};

struct sf {
	struct elf_file *ef;
	bool pic;
	struct rel *rel;
	size_t nrel;
	struct sec sec[MAX_SECS];
	int nsec;
	Elf_Data *dynsym;
	size_t ndynsym, dynstr;
	struct eh_frame_index fdes;
	struct x86_code x;	/* insn2: a PLT stub, decoded while walking a function */
};

enum br_kind { BR_CALL, BR_JMP, BR_JCC };

struct branch {
	uint64_t at;
	uint64_t target;	/* 0 for an indirect call through the GOT */
	enum br_kind kind;
	const char *name;	/* import/export name of the target, if known */
};

struct visit {
	uint64_t f[MAX_VISIT];
	int depth[MAX_VISIT];
	bool entered_by[MAX_VISIT];	/* reached by a call or a jmp (not only a jcc) */
	int n;
};

static void note(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Append "; msg" (or msg) to buf. */
static void add_note(char *buf, size_t len, const char *msg)
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

static const struct rel *rel_at(const struct sf *sf, uint64_t off)
{
	size_t lo = 0, hi = sf->nrel;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sf->rel[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
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
			if (sf->nrel == cap) {
				size_t ncap = cap ? cap * 2 : 512;
				struct rel *v = realloc(sf->rel, ncap * sizeof(*v));

				if (!v)
					return -ENOMEM;
				sf->rel = v;
				cap = ncap;
			}
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

static const struct sec *sec_of(const struct sf *sf, uint64_t vaddr)
{
	for (int i = 0; i < sf->nsec; i++)
		if (vaddr >= sf->sec[i].vaddr && vaddr - sf->sec[i].vaddr < sf->sec[i].size)
			return &sf->sec[i];
	return NULL;
}

static void sf_close(struct sf *sf)
{
	for (int i = 0; i < sf->nsec; i++)
		free(sf->sec[i].data);
	free(sf->rel);
	eh_frame_free(&sf->fdes);
	x86_code_close(&sf->x);
	memset(sf, 0, sizeof(*sf));
}

static int sf_open(struct sf *sf, struct elf_file *ef, bool need_code, char *why, size_t len)
{
	GElf_Ehdr eh;
	int err;

	memset(sf, 0, sizeof(*sf));
	sf->ef = ef;
	if (!gelf_getehdr(ef->elf, &eh) || eh.e_machine != EM_X86_64) {
		note(why, len, "%s is not an x86-64 object", ef->path);
		return -ENOEXEC;
	}
	sf->pic = eh.e_type == ET_DYN;
	err = load_sections(sf);
	if (!err)
		err = load_relocs(sf);
	if (err) {
		note(why, len, "%s: cannot read sections and relocations: %s", ef->path, strerror(-err));
		goto fail;
	}
	if (!need_code)
		return 0;
	err = eh_frame_load(ef, &sf->fdes);
	if (err || sf->fdes.n == 0) {
		note(why, len, "%s has no usable .eh_frame (%s): function starts cannot be verified",
		     ef->path, err ? strerror(-err) : "empty");
		err = -ENOEXEC;
		goto fail;
	}
	err = x86_code_open(&sf->x);
	if (err == -ENOSYS)
		note(why, len, "capstone: cannot open an x86-64 disassembler");
	if (err)
		goto fail;
	return 0;
fail:
	sf_close(sf);
	return err;
}

static int read_bytes(struct sf *sf, uint64_t vaddr, void *buf, size_t n)
{
	const struct sec *s = sec_of(sf, vaddr);

	if (s && s->data && n <= s->size - (vaddr - s->vaddr)) {
		memcpy(buf, s->data + (vaddr - s->vaddr), n);
		return 0;
	}
	return elf_read_vaddr(sf->ef, vaddr, buf, n);
}

static int read_i32(struct sf *sf, uint64_t vaddr, int32_t *v)
{
	return read_bytes(sf, vaddr, v, sizeof(*v));
}

/*
 * The pointer stored at vaddr, as the loader will set it: from the
 * relocation there (position-independent objects), else (fixed-address
 * executables) from the file. -ENOENT: no pointer into this object.
 */
static int ptr_at(struct sf *sf, uint64_t vaddr, uint64_t *val)
{
	const struct rel *r = rel_at(sf, vaddr);

	if (r) {
		*val = r->val;
		return r->resolved ? 0 : -ENOENT;
	}
	if (sf->pic || read_bytes(sf, vaddr, val, sizeof(*val)) || !*val || !sec_of(sf, *val))
		return -ENOENT;
	return 0;
}

/* Addresses of every occurrence of the C string s in the read-only/data sections. */
static int find_string(struct sf *sf, const char *s, uint64_t *out, int max)
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

static bool in_set(const uint64_t *v, int n, uint64_t x)
{
	for (int i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* Locations of the pointers to any of targets. */
static int refs_to(struct sf *sf, const uint64_t *targets, int nt, uint64_t *out, int max)
{
	int k = 0;

	if (!nt)
		return 0;
	if (sf->pic) {
		for (size_t i = 0; i < sf->nrel && k < max; i++)
			if (sf->rel[i].resolved && in_set(targets, nt, sf->rel[i].val))
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
			if (in_set(targets, nt, v))
				out[k++] = sec->vaddr + o;
		}
	}
	return k;
}

/* ---- code ------------------------------------------------------------- */

static bool in_plt(const struct sf *sf, uint64_t vaddr)
{
	const struct sec *s = sec_of(sf, vaddr);

	return s && s->plt;
}

/* A function of this object: an FDE starts there, and it is not a PLT stub. */
static const struct fde_range *local_func(const struct sf *sf, uint64_t vaddr)
{
	const struct sec *s = sec_of(sf, vaddr);

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
	r = rel_at(sf, slot);
	return r ? r->name : NULL;
}

/*
 * Every call and jump leaving the function f (direct, or through the
 * GOT), in address order. Fails when an instruction does not decode: a
 * partial view of a function is never used as evidence.
 */
static int walk(struct sf *sf, const struct fde_range *f,
		int (*fn)(struct sf *sf, const struct branch *b, void *arg), void *arg)
{
	uint8_t *buf;
	const uint8_t *code;
	size_t size;
	uint64_t addr = f->start;
	int err = 0;

	err = x86_code_read(sf->ef, f->start, f->size, &buf);
	if (err)
		return err;
	code = buf;
	size = f->size;
	while (size > 0) {
		const cs_insn *in = sf->x.insn;
		const cs_x86 *x;
		struct branch b = {};
		uint64_t slot;

		if (!cs_disasm_iter(sf->x.cs, &code, &size, &addr, sf->x.insn)) {
			err = -EINVAL;
			break;
		}
		x = &in->detail->x86;
		if (in->id == X86_INS_CALL)
			b.kind = BR_CALL;
		else if (in->id == X86_INS_JMP)
			b.kind = BR_JMP;
		else if (cs_insn_group(sf->x.cs, in, CS_GRP_JUMP))
			b.kind = BR_JCC;
		else
			continue;
		b.at = in->address;
		if (x->op_count == 1 && x->operands[0].type == X86_OP_IMM) {
			b.target = (uint64_t)x->operands[0].imm;
			if (b.target >= f->start && b.target - f->start < f->size)
				continue;	/* inside the function */
			b.name = target_name(sf, b.target);
		} else if (b.kind != BR_JCC && is_rip_mem(in, &slot)) {
			const struct rel *r = rel_at(sf, slot);

			if (!r || !r->name)
				continue;
			b.name = r->name;
		} else {
			continue;	/* register-indirect: not evidence of anything */
		}
		err = fn(sf, &b, arg);
		if (err)
			break;
	}
	free(buf);
	return err > 0 ? 0 : err;
}

static int visit_add(struct visit *v, uint64_t f, int depth, bool entered)
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

	if (!b->target || !local_func(sf, b->target))
		return 0;
	return visit_add(a->v, b->target, a->depth, b->kind != BR_JCC);
}

/* Add the local functions called or jumped to from level depth - 1 at level depth. */
static int bfs_level(struct sf *sf, struct visit *v, int depth)
{
	int n = v->n;

	for (int i = 0; i < n; i++) {
		struct bfs_arg a = { v, depth };
		int err;

		if (v->depth[i] != depth - 1)
			continue;
		err = walk(sf, eh_frame_at(&sf->fdes, v->f[i]), bfs_branch, &a);
		if (err)
			return err;
	}
	return 0;
}

/* The local functions reached from root by calls and jumps, breadth first. */
static int bfs(struct sf *sf, uint64_t root, int max_depth, struct visit *v)
{
	memset(v, 0, sizeof(*v));
	visit_add(v, root, 0, true);
	for (int d = 1; d <= max_depth; d++) {
		int err = bfs_level(sf, v, d);

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
static int calls_named(struct sf *sf, uint64_t f, const char *name, bool *yes)
{
	struct named_arg a = { name, false };
	int err = walk(sf, eh_frame_at(&sf->fdes, f), find_named, &a);

	*yes = a.found;
	return err;
}

/* ---- data structures -------------------------------------------------------- */

/* The functions in the slots we use of one type: index by Py_tp_* slot id. */
struct type_fns {
	uint64_t fn[PY_SLOT_MAX + 1];
	uint64_t at;		/* the PyTypeObject or PyType_Spec */
	bool spec;
};

static int decode_spec(struct sf *sf, uint64_t spec, struct type_fns *t)
{
	int32_t basicsize, itemsize, id;
	uint64_t slots;

	memset(t, 0, sizeof(*t));
	if (read_i32(sf, spec + SPEC_BASICSIZE, &basicsize) ||
	    read_i32(sf, spec + SPEC_ITEMSIZE, &itemsize) ||
	    basicsize < 16 || basicsize > (1 << 20) || itemsize < 0 || itemsize > (1 << 16) ||
	    ptr_at(sf, spec + SPEC_SLOTS, &slots))
		return -EINVAL;
	for (int i = 0; i <= PY_SLOT_MAX; i++) {
		uint64_t fn;

		if (read_i32(sf, slots + 16 * (uint64_t)i, &id))
			return -EINVAL;
		if (id == 0) {
			t->at = spec;
			t->spec = true;
			return 0;
		}
		if (id < 1 || id > PY_SLOT_MAX)
			return -EINVAL;
		if (!ptr_at(sf, slots + 16 * (uint64_t)i + 8, &fn))
			t->fn[id] = fn;
	}
	return -EINVAL;		/* no terminator */
}

static int decode_static_type(struct sf *sf, uint64_t type, struct type_fns *t)
{
	uint64_t refcnt, size, basicsize, itemsize, fn;

	memset(t, 0, sizeof(*t));
	if (read_bytes(sf, type, &refcnt, 8) || read_bytes(sf, type + OB_SIZE, &size, 8) ||
	    read_bytes(sf, type + TP_BASICSIZE, &basicsize, 8) ||
	    read_bytes(sf, type + TP_ITEMSIZE, &itemsize, 8))
		return -EINVAL;
	/* PyVarObject_HEAD_INIT(NULL, 0): refcount 1, ob_size 0 */
	if (refcnt != 1 || size != 0 || basicsize < 16 || basicsize > (1 << 20) ||
	    itemsize > (1 << 16))
		return -EINVAL;
	if (!ptr_at(sf, type + TP_DEALLOC, &fn))
		t->fn[PY_TP_DEALLOC] = fn;
	if (!ptr_at(sf, type + TP_CALL, &fn))
		t->fn[PY_TP_CALL] = fn;
	if (!ptr_at(sf, type + TP_INIT, &fn))
		t->fn[PY_TP_INIT] = fn;
	if (!ptr_at(sf, type + TP_METHODS, &fn))
		t->fn[PY_TP_METHODS] = fn;
	t->at = type;
	return 0;
}

/*
 * The type named spec_name (a PyType_Spec, 3.12+) or static_name (a
 * static PyTypeObject, 3.10/3.11). Every pointer to the name is tried;
 * all that decode must agree on the slots we use.
 */
static int find_type(struct sf *sf, int minor, const char *spec_name, const char *static_name,
		     const int *want, int nwant, struct type_fns *out, char *why, size_t len)
{
	bool found = false;

	for (int form = 0; form < 2; form++) {
		bool spec = form == 0;
		const char *name = spec ? spec_name : static_name;
		uint64_t strs[MAX_REFS], refs[MAX_REFS];
		int ns, nr;

		if (minor && (spec ? minor < 12 : minor > 11))
			continue;
		ns = find_string(sf, name, strs, MAX_REFS);
		nr = refs_to(sf, strs, ns, refs, MAX_REFS);
		for (int i = 0; i < nr; i++) {
			struct type_fns t;

			if (spec ? decode_spec(sf, refs[i], &t) :
			    (refs[i] < TP_NAME || decode_static_type(sf, refs[i] - TP_NAME, &t)))
				continue;
			if (!found) {
				*out = t;
				found = true;
				continue;
			}
			for (int k = 0; k < nwant; k++) {
				if (t.fn[want[k]] != out->fn[want[k]]) {
					note(why, len, "two types named \"%s\" (0x%llx, 0x%llx) disagree",
					     name, (unsigned long long)out->at, (unsigned long long)t.at);
					return -ENOTUNIQ;
				}
			}
		}
	}
	if (!found) {
		if (minor)
			note(why, len, "no %s named \"%s\" (Python 3.%d)",
			     minor >= 12 ? "PyType_Spec" : "static type object",
			     minor >= 12 ? spec_name : static_name, minor);
		else
			note(why, len, "no type spec or static type named \"%s\"/\"%s\"",
			     spec_name, static_name);
		return -ENOENT;
	}
	return 0;
}

/* Entries of the PyMethodDef table at table, up to its {NULL} sentinel. */
static uint64_t method_table_len(struct sf *sf, uint64_t table)
{
	uint64_t n = 0, name;

	while (n < ML_MAX && !ptr_at(sf, table + ML_SIZE * n, &name))
		n++;
	return n;
}

/*
 * ml_meth of the PyMethodDef named name with flags: anywhere (table 0),
 * or in the method table at table (names like "cancel" are in several).
 */
static int find_method(struct sf *sf, const char *name, int32_t flags, uint64_t table,
		       uint64_t *meth)
{
	uint64_t strs[MAX_REFS], refs[MAX_REFS];
	int ns = find_string(sf, name, strs, MAX_REFS);
	int nr = refs_to(sf, strs, ns, refs, MAX_REFS);
	uint64_t ntable = table ? method_table_len(sf, table) : 0;
	bool found = false;

	for (int i = 0; i < nr; i++) {
		int32_t f;
		uint64_t m;

		if (table && (refs[i] < table || (refs[i] - table) % ML_SIZE ||
			      (refs[i] - table) / ML_SIZE >= ntable))
			continue;
		if (read_i32(sf, refs[i] + ML_FLAGS, &f) || f != flags ||
		    ptr_at(sf, refs[i] + ML_METH, &m) || !local_func(sf, m))
			continue;
		if (found && m != *meth)
			return -ENOTUNIQ;
		*meth = m;
		found = true;
	}
	return found ? 0 : -ENOENT;
}

/* ---- the hooks ------------------------------------------------------------ */

/*
 * task_step_impl from a root that reaches it (TaskStepMethWrapper's
 * tp_call, task_wakeup): at the smallest depth where some function
 * entered by a call/jmp calls PyIter_Send, exactly one does.
 */
static int step_from(struct sf *sf, uint64_t root, struct visit *v, uint64_t *out, int *depth,
		     char *why, size_t len)
{
	int err;

	memset(v, 0, sizeof(*v));
	visit_add(v, root, 0, true);
	/* level by level: stop at the first level with a PyIter_Send caller */
	for (int d = 1; d <= BFS_DEPTH; d++) {
		int n = 0;

		err = bfs_level(sf, v, d);
		if (err) {
			note(why, len, "cannot follow the calls of 0x%llx: %s", (unsigned long long)root,
			     strerror(-err));
			return err;
		}

		for (int i = 0; i < v->n; i++) {
			bool yes;

			if (v->depth[i] != d || !v->entered_by[i])
				continue;
			err = calls_named(sf, v->f[i], "PyIter_Send", &yes);
			if (err) {
				note(why, len, "cannot disassemble 0x%llx: %s",
				     (unsigned long long)v->f[i], strerror(-err));
				return err;
			}
			if (yes) {
				*out = v->f[i];
				n++;
			}
		}
		if (n > 1) {
			note(why, len, "%d functions called from 0x%llx call PyIter_Send",
			     n, (unsigned long long)root);
			return -ENOTUNIQ;
		}
		if (n == 1) {
			*depth = d;
			return 0;
		}
	}
	note(why, len, "nothing called from 0x%llx (depth %d) calls PyIter_Send",
	     (unsigned long long)root, BFS_DEPTH);
	return -ENOENT;
}

static bool visited(const struct visit *v, uint64_t f)
{
	for (int i = 0; i < v->n; i++)
		if (v->f[i] == f)
			return true;
	return false;
}

/* Direct call/jmp rel32 sites of target, each an instruction boundary of its FDE. */
static int sites_of(struct sf *sf, uint64_t target, uint64_t *out, int max)
{
	int k = 0;

	for (int i = 0; i < sf->nsec; i++) {
		const struct sec *s = &sf->sec[i];
		uint8_t *code;

		if (!s->exec || s->plt || s->size > (256u << 20))
			continue;
		code = malloc(s->size);
		if (!code)
			return -ENOMEM;
		if (elf_read_vaddr(sf->ef, s->vaddr, code, s->size)) {
			free(code);
			continue;
		}
		for (uint64_t o = 0; o + 5 <= s->size; o++) {
			int32_t rel;
			char why[8];

			if (code[o] != 0xe8 && code[o] != 0xe9)
				continue;
			memcpy(&rel, code + o + 1, 4);
			if (s->vaddr + o + 5 + (uint64_t)(int64_t)rel != target)
				continue;
			if (symfree_check_call_site(sf->ef, &sf->fdes, s->vaddr + o, target,
						    why, sizeof(why)))
				continue;
			if (k < max)
				out[k] = s->vaddr + o;
			k++;
		}
		free(code);
	}
	return k;
}

#define MAX_EAGER_CALLS 128

struct eager_arg {
	uint64_t site, step;
	int n;
	struct {
		uint64_t target;
		uint64_t last_before;	/* its last call before the site (0: none) */
		bool after;		/* called after the site too */
	} c[MAX_EAGER_CALLS];
	uint64_t context_enter;		/* last PyContext_Enter call before the site */
};

static int eager_branch(struct sf *sf, const struct branch *b, void *arg)
{
	struct eager_arg *a = arg;
	int i;

	if (b->kind != BR_CALL || b->at == a->site)
		return 0;
	if (b->at < a->site && b->name && !strcmp(b->name, "PyContext_Enter")) {
		a->context_enter = b->at;
		return 0;
	}
	if (!b->target || b->target == a->step || !local_func(sf, b->target))
		return 0;
	for (i = 0; i < a->n && a->c[i].target != b->target; i++)
		;
	if (i == a->n) {
		if (a->n == MAX_EAGER_CALLS)
			return 0;
		memset(&a->c[i], 0, sizeof(a->c[i]));
		a->c[i].target = b->target;
		a->n++;
	}
	if (b->at < a->site)
		a->c[i].last_before = b->at;
	else
		a->c[i].after = true;
	return 0;
}

/* The function called both before and after the site whose call before is nearest it. */
static uint64_t eager_swap(const struct eager_arg *a)
{
	uint64_t best = 0, best_at = 0;

	for (int i = 0; i < a->n; i++)
		if (a->c[i].last_before && a->c[i].after && a->c[i].last_before > best_at) {
			best = a->c[i].target;
			best_at = a->c[i].last_before;
		}
	/* PyContext_Enter(task->task_context) comes between the swap and the step */
	return best && a->context_enter > best_at ? best : 0;
}

/*
 * swap_current_task (3.12+): the eager start (task_eager_start, often
 * inlined into Task.__init__ or its .cold part) calls task_step_impl
 * between swap_current_task(loop, task) and swap_current_task(loop,
 * prevtask), with PyContext_Enter before the step. Its call site is the
 * one not on the TaskStepMethWrapper/task_wakeup paths.
 */
static int find_swap(struct sf *sf, uint64_t step, const struct visit *v1, const struct visit *v2,
		     struct symfree_hook *h)
{
	uint64_t sites[MAX_SITES], found = 0, found_site = 0, meth;
	int n = sites_of(sf, step, sites, MAX_SITES);
	int nfound = 0;
	struct visit mv;

	if (n < 0)
		return n;
	if (n > MAX_SITES)
		n = MAX_SITES;
	for (int i = 0; i < n; i++) {
		const struct fde_range *f = eh_frame_containing(&sf->fdes, sites[i]);
		struct eager_arg *a;
		uint64_t x;

		if (!f || visited(v1, f->start) || (v2 && visited(v2, f->start)))
			continue;
		a = calloc(1, sizeof(*a));
		if (!a)
			return -ENOMEM;
		a->site = sites[i];
		a->step = step;
		x = walk(sf, f, eager_branch, a) ? 0 : eager_swap(a);
		free(a);
		if (!x)
			continue;
		if (nfound && x != found)
			return -ENOTUNIQ;
		found = x;
		found_site = sites[i];
		nfound++;
	}
	if (!nfound)
		return -ENOENT;
	h->found = true;
	h->vaddr = found;
	h->size = eh_frame_at(&sf->fdes, found)->size;
	note(h->how, sizeof(h->how),
	     "called before (then PyContext_Enter) and after the eager call of "
	     "task_step_impl at 0x%llx", (unsigned long long)found_site);
	/* the _swap_current_task() method calls it too, unless it was inlined there */
	if (!find_method(sf, "_swap_current_task", METH_FASTCALL_KW, 0, &meth) &&
	    !bfs(sf, meth, 1, &mv) && visited(&mv, found)) {
		size_t l = strlen(h->how);

		note(h->how + l, sizeof(h->how) - l, "; also called by _swap_current_task() (0x%llx)",
		     (unsigned long long)meth);
	}
	return 0;
}

static void set_hook(struct sf *sf, struct symfree_hook *h, uint64_t vaddr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_hook(struct sf *sf, struct symfree_hook *h, uint64_t vaddr, const char *fmt, ...)
{
	const struct fde_range *f = local_func(sf, vaddr);
	va_list ap;

	if (!f)
		return;
	h->found = true;
	h->vaddr = vaddr;
	h->size = f->size;
	va_start(ap, fmt);
	vsnprintf(h->how, sizeof(h->how), fmt, ap);
	va_end(ap);
}

static const char *type_where(const struct type_fns *t, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s at 0x%llx", t->spec ? "PyType_Spec" : "static type", name,
		 (unsigned long long)t->at);
	return buf;
}

int symfree_resolve(struct elf_file *obj, int minor, struct symfree_result *res)
{
	static const int task_want[] = { PY_TP_INIT, PY_TP_DEALLOC };
	static const int wrapper_want[] = { PY_TP_CALL };
	struct symfree_hook *step = &res->h[HOOK_STEP];
	struct type_fns task, wrapper;
	struct visit *v1 = NULL, *v2 = NULL;
	uint64_t s1 = 0, s2 = 0, wakeup = 0, cancel = 0;
	int d1 = 0, d2 = 0, err, e1 = -ENOENT, e2 = -ENOENT;
	char w[200], why1[200] = "", why2[200] = "";
	struct sf sf;

	memset(res, 0, sizeof(*res));
	err = sf_open(&sf, obj, true, res->why, sizeof(res->why));
	if (err)
		return err;

	/* creation and destruction: the Task type's tp_init and tp_dealloc */
	err = find_type(&sf, minor, "_asyncio.Task", "_asyncio.Task", task_want, 2, &task,
			why1, sizeof(why1));
	if (err) {
		add_note(res->why, sizeof(res->why), why1);
		why1[0] = '\0';
	} else {
		res->task_type = task.at;
		res->task_type_spec = task.spec;
		type_where(&task, "_asyncio.Task", w, sizeof(w));
		set_hook(&sf, &res->h[HOOK_INIT], task.fn[PY_TP_INIT], "%s of the %s",
			 task.spec ? "Py_tp_init slot" : "tp_init", w);
		set_hook(&sf, &res->h[HOOK_DEALLOC], task.fn[PY_TP_DEALLOC], "%s of the %s",
			 task.spec ? "Py_tp_dealloc slot" : "tp_dealloc", w);
		/* Task.cancel(): "cancel" in the Task type's own method table
		 * (Future's has one too) */
		if (task.fn[PY_TP_METHODS] &&
		    !find_method(&sf, "cancel", METH_FASTCALL_KW, task.fn[PY_TP_METHODS], &cancel))
			set_hook(&sf, &res->h[HOOK_CANCEL], cancel,
				 "PyMethodDef \"cancel\" (METH_FASTCALL|METH_KEYWORDS) of the %s's "
				 "%s at 0x%llx", w, task.spec ? "Py_tp_methods slot" : "tp_methods",
				 (unsigned long long)task.fn[PY_TP_METHODS]);
	}

	/* the step: from TaskStepMethWrapper's tp_call, and from task_wakeup */
	v1 = calloc(1, sizeof(*v1));
	v2 = calloc(1, sizeof(*v2));
	if (!v1 || !v2) {
		err = -ENOMEM;
		goto out;
	}
	if (!find_type(&sf, minor, "_asyncio.TaskStepMethWrapper", "TaskStepMethWrapper",
		       wrapper_want, 1, &wrapper, why1, sizeof(why1))) {
		if (local_func(&sf, wrapper.fn[PY_TP_CALL]))
			e1 = step_from(&sf, wrapper.fn[PY_TP_CALL], v1, &s1, &d1, why1, sizeof(why1));
		else
			note(why1, sizeof(why1), "TaskStepMethWrapper has no tp_call function");
	}
	if (!find_method(&sf, "task_wakeup", METH_O, 0, &wakeup))
		e2 = step_from(&sf, wakeup, v2, &s2, &d2, why2, sizeof(why2));
	else
		note(why2, sizeof(why2), "no PyMethodDef \"task_wakeup\" (METH_O)");
	if (!e1 && !e2 && s1 != s2) {
		note(w, sizeof(w), "task_step_impl: TaskStepMethWrapper's tp_call leads to 0x%llx, "
		     "task_wakeup to 0x%llx", (unsigned long long)s1, (unsigned long long)s2);
		add_note(res->why, sizeof(res->why), w);
	} else if (!e1 && !e2) {
		set_hook(&sf, step, s1,
			 "the one function calling PyIter_Send reached from both TaskStepMethWrapper's "
			 "tp_call (0x%llx, %s; %d call%s deep) and task_wakeup (0x%llx, PyMethodDef; "
			 "%d call%s deep)", (unsigned long long)wrapper.fn[PY_TP_CALL],
			 type_where(&wrapper, "TaskStepMethWrapper", w, sizeof(w)), d1, d1 > 1 ? "s" : "",
			 (unsigned long long)wakeup, d2, d2 > 1 ? "s" : "");
	} else if (!e1 || !e2) {
		/* one path only: still an FDE start reached from a type slot or method */
		set_hook(&sf, step, !e1 ? s1 : s2,
			 "the one function calling PyIter_Send reached from %s (0x%llx); "
			 "the other path failed: %s",
			 !e1 ? "TaskStepMethWrapper's tp_call" : "task_wakeup",
			 (unsigned long long)(!e1 ? wrapper.fn[PY_TP_CALL] : wakeup), !e1 ? why2 : why1);
	} else {
		add_note(res->why, sizeof(res->why), "task_step_impl");
		add_note(res->why, sizeof(res->why), why1);
		add_note(res->why, sizeof(res->why), why2);
	}

	/* 3.12+: the end of an eager step */
	if (step->found && (minor == 0 || minor >= 12))
		find_swap(&sf, step->vaddr, !e1 ? v1 : v2, !e1 && !e2 ? v2 : NULL, &res->h[HOOK_SWAP]);

	err = 0;
	for (int i = 0; i < HOOK_COUNT; i++) {
		if (i == HOOK_SWAP || i == HOOK_CANCEL || res->h[i].found)
			continue;
		if (!res->why[0])
			add_note(res->why, sizeof(res->why),
				 i == HOOK_STEP ? "task_step_impl: not found" :
				 i == HOOK_INIT ? "the Task type has no tp_init function" :
				 "the Task type has no tp_dealloc function");
		err = -ENOENT;
	}
out:
	free(v1);
	free(v2);
	sf_close(&sf);
	return err;
}

/* ---- data: _asyncio's static all_tasks (3.10/3.11) ---------------------------- */

#define MAX_LOADS 64

struct loads {
	uint64_t v[MAX_LOADS];
	int n;
};

/* Every 8-byte rip-relative load from writable data with no relocation (a static variable) in f. */
static int collect_loads(struct sf *sf, const struct fde_range *f, struct loads *out)
{
	uint8_t *buf;
	const uint8_t *code;
	size_t size;
	uint64_t addr = f->start;
	int err = 0;

	err = x86_code_read(sf->ef, f->start, f->size, &buf);
	if (err)
		return err;
	code = buf;
	size = f->size;
	while (size > 0) {
		const cs_x86 *x;

		if (!cs_disasm_iter(sf->x.cs, &code, &size, &addr, sf->x.insn)) {
			err = -EINVAL;
			break;
		}
		x = &sf->x.insn->detail->x86;
		if (sf->x.insn->id == X86_INS_LEA)
			continue;
		for (int i = 0; i < x->op_count; i++) {
			const cs_x86_op *op = &x->operands[i];
			uint64_t slot;
			const struct sec *sec;

			if (op->type != X86_OP_MEM || op->mem.base != X86_REG_RIP || op->size != 8 ||
			    (op->access & CS_AC_READ) == 0)
				continue;
			slot = sf->x.insn->address + sf->x.insn->size + (uint64_t)op->mem.disp;
			sec = sec_of(sf, slot);
			if (rel_at(sf, slot) || (sec && sec->exec))
				continue;
			/* .bss is not PROGBITS: sec_of() does not know it, the loader zero-fills it */
			if (!in_set(out->v, out->n, slot) && out->n < MAX_LOADS)
				out->v[out->n++] = slot;
		}
	}
	free(buf);
	return err;
}

int symfree_find_all_tasks(struct elf_file *obj, uint64_t *vaddr, char *how, size_t len)
{
	static const char *const names[2] = { "_register_task", "_unregister_task" };
	struct loads l[2] = {};
	uint64_t meth[2], found = 0;
	int nfound = 0, err;
	struct sf sf;

	err = sf_open(&sf, obj, true, how, len);
	if (err)
		return err;
	for (int k = 0; k < 2; k++) {
		struct visit *v = calloc(1, sizeof(*v));

		if (!v) {
			err = -ENOMEM;
			goto out;
		}
		err = find_method(&sf, names[k], METH_FASTCALL_KW, 0, &meth[k]);
		if (err == -ENOENT)
			err = find_method(&sf, names[k], METH_O, 0, &meth[k]);
		/* the method, and what it calls (register_task may not be inlined) */
		if (!err)
			err = bfs(&sf, meth[k], 1, v);
		for (int i = 0; !err && i < v->n; i++)
			err = collect_loads(&sf, eh_frame_at(&sf.fdes, v->f[i]), &l[k]);
		free(v);
		if (err) {
			note(how, len, "%s(): %s", names[k], err == -ENOENT ? "no such PyMethodDef" :
			     strerror(-err));
			goto out;
		}
	}
	for (int i = 0; i < l[0].n; i++) {
		if (in_set(l[1].v, l[1].n, l[0].v[i])) {
			found = l[0].v[i];
			nfound++;
		}
	}
	if (nfound != 1) {
		note(how, len, "%d static variables are read by both _register_task() and "
		     "_unregister_task(): all_tasks is not identified", nfound);
		err = nfound ? -ENOTUNIQ : -ENOENT;
		goto out;
	}
	*vaddr = found;
	note(how, len, "the one static variable read by both _register_task() (0x%llx) and "
	     "_unregister_task() (0x%llx)", (unsigned long long)meth[0], (unsigned long long)meth[1]);
out:
	sf_close(&sf);
	return err;
}

int symfree_check_live(pid_t pid, uint64_t bias, const struct symfree_result *r,
		       char *msg, size_t len)
{
	static const struct {
		int hook;
		uint64_t off;
		const char *slot;
	} slots[] = {
		{ HOOK_INIT, TP_INIT, "tp_init" },
		{ HOOK_DEALLOC, TP_DEALLOC, "tp_dealloc" },
	};
	size_t n = 0;

	if (!r->task_type || r->task_type_spec)
		return -ENOENT;
	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		const struct symfree_hook *h = &r->h[slots[i].hook];
		uint64_t live;
		int err;

		if (!h->found)
			continue;
		err = mem_read(pid, bias + r->task_type + slots[i].off, &live, sizeof(live));
		if (err) {
			note(msg, len, "cannot read the live _asyncio.Task type at 0x%llx: %s",
			     (unsigned long long)(bias + r->task_type), strerror(-err));
			return err;
		}
		if (live != bias + h->vaddr) {
			note(msg, len, "the live _asyncio.Task type's %s is 0x%llx, not 0x%llx "
			     "(0x%llx in the file): the file on disk is not what the process runs?",
			     slots[i].slot, (unsigned long long)live,
			     (unsigned long long)(bias + h->vaddr), (unsigned long long)h->vaddr);
			return -EINVAL;
		}
		n += (size_t)snprintf(msg + n, n < len ? len - n : 0, "%s%s = 0x%llx",
				      n ? ", " : "live _asyncio.Task: ", slots[i].slot,
				      (unsigned long long)live);
		if (n >= len)
			n = len - 1;
	}
	return 0;
}

bool symfree_has_asyncio(struct elf_file *obj)
{
	uint64_t strs[MAX_REFS], refs[MAX_REFS];
	char why[256];
	struct sf sf;
	int n;

	if (sf_open(&sf, obj, false, why, sizeof(why)))
		return false;
	n = find_string(&sf, "_asyncio.Task", strs, MAX_REFS);
	n = refs_to(&sf, strs, n, refs, MAX_REFS);
	sf_close(&sf);
	return n > 0;
}

/* ---- the checks ------------------------------------------------------------ */

/* Instructions uprobes refuse (arch/x86/kernel/uprobes.c) or that make no sense at a function start. */
static bool uprobe_refuses(const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;

	for (int i = 0; i < 4; i++) {
		switch (x->prefix[i]) {
		case 0xf0:	/* lock */
		case 0x26: case 0x2e: case 0x36: case 0x3e:	/* es/cs/ss/ds */
			return true;
		}
	}
	switch (in->id) {
	case X86_INS_INT3: case X86_INS_INT: case X86_INS_INT1: case X86_INS_INTO:
	case X86_INS_IRET: case X86_INS_IRETD: case X86_INS_IRETQ:
	case X86_INS_HLT: case X86_INS_CLI: case X86_INS_STI:
	case X86_INS_IN: case X86_INS_OUT: case X86_INS_INSB: case X86_INS_INSD: case X86_INS_INSW:
	case X86_INS_OUTSB: case X86_INS_OUTSD: case X86_INS_OUTSW:
	case X86_INS_SYSCALL: case X86_INS_SYSENTER: case X86_INS_SYSEXIT: case X86_INS_SYSRET:
	case X86_INS_UD2: case X86_INS_UD0: case X86_INS_UD2B:
	case X86_INS_LJMP: case X86_INS_LCALL: case X86_INS_RETF: case X86_INS_RETFQ:
	case X86_INS_INVALID:
		return true;
	default:
		return false;
	}
}

int symfree_check_entry(struct elf_file *obj, const struct eh_frame_index *fdes,
			uint64_t func, uint64_t probe, char *why, size_t len)
{
	static const uint8_t endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };
	const struct fde_range *f = eh_frame_at(fdes, func);
	uint8_t head[4];
	struct x86_code x;
	cs_insn *insn;
	int err = -EINVAL;

	if (!f) {
		note(why, len, "0x%llx does not start a function in .eh_frame",
		     (unsigned long long)func);
		return -EINVAL;
	}
	if (probe != func &&
	    (probe != func + 4 || elf_read_vaddr(obj, func, head, 4) || memcmp(head, endbr64, 4))) {
		note(why, len, "probe point 0x%llx is neither the start of the function at 0x%llx nor past its endbr64",
		     (unsigned long long)probe, (unsigned long long)func);
		return -EINVAL;
	}
	if (x86_code_open(&x)) {
		note(why, len, "capstone: cannot open an x86-64 disassembler");
		return -ENOSYS;
	}
	insn = x.insn;
	if (!x86_code_is_boundary(&x, obj, f->start, f->size, probe))
		note(why, len, "no instruction decodes at 0x%llx", (unsigned long long)probe);
	else if (uprobe_refuses(insn))
		note(why, len, "the instruction at 0x%llx (%s %s) cannot carry a uprobe",
		     (unsigned long long)probe, insn->mnemonic, insn->op_str);
	else if (probe - f->start + insn->size > f->size)
		note(why, len, "the instruction at 0x%llx runs past its function",
		     (unsigned long long)probe);
	else
		err = 0;
	x86_code_close(&x);
	return err;
}

int symfree_check_call_site(struct elf_file *obj, const struct eh_frame_index *fdes,
			    uint64_t site, uint64_t target, char *why, size_t len)
{
	const struct fde_range *f = eh_frame_containing(fdes, site);
	const cs_x86 *op;
	struct x86_code x;
	cs_insn *insn;
	int err = -EINVAL;

	if (!f) {
		note(why, len, "call site 0x%llx is in no function of .eh_frame",
		     (unsigned long long)site);
		return -EINVAL;
	}
	if (x86_code_open(&x)) {
		note(why, len, "capstone: cannot open an x86-64 disassembler");
		return -ENOSYS;
	}
	insn = x.insn;
	if (!x86_code_is_boundary(&x, obj, f->start, f->size, site)) {
		note(why, len, "0x%llx is not an instruction boundary of the function at 0x%llx",
		     (unsigned long long)site, (unsigned long long)f->start);
		goto out;
	}
	op = &insn->detail->x86;
	if ((insn->id != X86_INS_CALL && insn->id != X86_INS_JMP) || op->op_count != 1 ||
	    op->operands[0].type != X86_OP_IMM || (uint64_t)op->operands[0].imm != target ||
	    insn->size != 5) {
		note(why, len, "0x%llx is not a direct call/jmp to 0x%llx (%s %s)",
		     (unsigned long long)site, (unsigned long long)target, insn->mnemonic,
		     insn->op_str);
		goto out;
	}
	err = 0;
out:
	x86_code_close(&x);
	return err;
}
