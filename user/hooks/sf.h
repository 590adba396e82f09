/* SPDX-License-Identifier: MIT */
/*
 * Inside symfree: the object as symfree reads it (sections, relocations,
 * dynamic symbols, the code walk), shared by its parts.
 */
#ifndef APS_SF_H
#define APS_SF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* The functions in the slots we use of one type: index by Py_tp_* slot id. */
struct type_fns {
	uint64_t fn[PY_SLOT_MAX + 1];
	uint64_t at;		/* the PyTypeObject or PyType_Spec */
	bool spec;
};

/* sf.c */
void sf_note(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sf_add_note(char *buf, size_t len, const char *msg);
const struct rel *sf_rel_at(const struct sf *sf, uint64_t off);
const struct sec *sf_sec_of(const struct sf *sf, uint64_t vaddr);
void sf_close(struct sf *sf);
int sf_open(struct sf *sf, struct elf_file *ef, bool need_code, char *why, size_t len);
int sf_read_bytes(struct sf *sf, uint64_t vaddr, void *buf, size_t n);
int sf_read_i32(struct sf *sf, uint64_t vaddr, int32_t *v);
int sf_ptr_at(struct sf *sf, uint64_t vaddr, uint64_t *val);
int sf_find_string(struct sf *sf, const char *s, uint64_t *out, int max);
bool sf_in_set(const uint64_t *v, int n, uint64_t x);
int sf_refs_to(struct sf *sf, const uint64_t *targets, int nt, uint64_t *out, int max);
const struct fde_range *sf_local_func(const struct sf *sf, uint64_t vaddr);
int sf_visit_add(struct visit *v, uint64_t f, int depth, bool entered);
int sf_bfs_level(struct sf *sf, struct visit *v, int depth);
int sf_bfs(struct sf *sf, uint64_t root, int max_depth, struct visit *v);
int sf_calls_named(struct sf *sf, uint64_t f, const char *name, bool *yes);
/*
 * Every instruction of f, in order, to fn (a positive return stops, a
 * negative one fails); -EINVAL when one does not decode.
 */
int sf_each_insn(struct sf *sf, const struct fde_range *f,
		 int (*fn)(struct sf *sf, const cs_insn *in, void *arg), void *arg);
/*
 * Every call and jump leaving the function f (direct, or through the
 * GOT), in address order, to fn (a positive return stops the walk).
 */
int sf_walk(struct sf *sf, const struct fde_range *f,
	    int (*fn)(struct sf *sf, const struct branch *b, void *arg), void *arg);

/* sf_types.c */
int sf_types_find_type(struct sf *sf, int minor, const char *spec_name, const char *static_name,
		     const int *want, int nwant, struct type_fns *out, char *why, size_t len);
int sf_types_find_method(struct sf *sf, const char *name, int32_t flags, uint64_t table,
		       uint64_t *meth);

#endif
