// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hooks/sf.h"

/* ---- data structures -------------------------------------------------------- */


static int decode_spec(struct sf *sf, uint64_t spec, struct type_fns *t)
{
	int32_t basicsize, itemsize, id;
	uint64_t slots;

	memset(t, 0, sizeof(*t));
	if (sf_read_i32(sf, spec + SPEC_BASICSIZE, &basicsize) ||
	    sf_read_i32(sf, spec + SPEC_ITEMSIZE, &itemsize) ||
	    basicsize < 16 || basicsize > (1 << 20) || itemsize < 0 || itemsize > (1 << 16) ||
	    sf_ptr_at(sf, spec + SPEC_SLOTS, &slots))
		return -EINVAL;
	for (int i = 0; i <= PY_SLOT_MAX; i++) {
		uint64_t fn;

		if (sf_read_i32(sf, slots + 16 * (uint64_t)i, &id))
			return -EINVAL;
		if (id == 0) {
			t->at = spec;
			t->spec = true;
			return 0;
		}
		if (id < 1 || id > PY_SLOT_MAX)
			return -EINVAL;
		if (!sf_ptr_at(sf, slots + 16 * (uint64_t)i + 8, &fn))
			t->fn[id] = fn;
	}
	return -EINVAL;		/* no terminator */
}

static int decode_static_type(struct sf *sf, uint64_t type, struct type_fns *t)
{
	uint64_t refcnt, size, basicsize, itemsize, fn;

	memset(t, 0, sizeof(*t));
	if (sf_read_bytes(sf, type, &refcnt, 8) || sf_read_bytes(sf, type + OB_SIZE, &size, 8) ||
	    sf_read_bytes(sf, type + TP_BASICSIZE, &basicsize, 8) ||
	    sf_read_bytes(sf, type + TP_ITEMSIZE, &itemsize, 8))
		return -EINVAL;
	/* PyVarObject_HEAD_INIT(NULL, 0): refcount 1, ob_size 0 */
	if (refcnt != 1 || size != 0 || basicsize < 16 || basicsize > (1 << 20) ||
	    itemsize > (1 << 16))
		return -EINVAL;
	if (!sf_ptr_at(sf, type + TP_DEALLOC, &fn))
		t->fn[PY_TP_DEALLOC] = fn;
	if (!sf_ptr_at(sf, type + TP_CALL, &fn))
		t->fn[PY_TP_CALL] = fn;
	if (!sf_ptr_at(sf, type + TP_INIT, &fn))
		t->fn[PY_TP_INIT] = fn;
	if (!sf_ptr_at(sf, type + TP_METHODS, &fn))
		t->fn[PY_TP_METHODS] = fn;
	t->at = type;
	return 0;
}

/*
 * The type named spec_name (a PyType_Spec, 3.12+) or static_name (a
 * static PyTypeObject, 3.10/3.11). Every pointer to the name is tried;
 * all that decode must agree on the slots we use.
 */
int sf_types_find_type(struct sf *sf, int minor, const char *spec_name, const char *static_name,
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
		ns = sf_find_string(sf, name, strs, MAX_REFS);
		nr = sf_refs_to(sf, strs, ns, refs, MAX_REFS);
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
					sf_note(why, len, "two types named \"%s\" (0x%llx, 0x%llx) disagree",
					        name, (unsigned long long)out->at, (unsigned long long)t.at);
					return -ENOTUNIQ;
				}
			}
		}
	}
	if (!found) {
		if (minor)
			sf_note(why, len, "no %s named \"%s\" (Python 3.%d)",
			        minor >= 12 ? "PyType_Spec" : "static type object",
			        minor >= 12 ? spec_name : static_name, minor);
		else
			sf_note(why, len, "no type spec or static type named \"%s\"/\"%s\"",
			        spec_name, static_name);
		return -ENOENT;
	}
	return 0;
}

/* Entries of the PyMethodDef table at table, up to its {NULL} sentinel. */
static uint64_t method_table_len(struct sf *sf, uint64_t table)
{
	uint64_t n = 0, name;

	while (n < ML_MAX && !sf_ptr_at(sf, table + ML_SIZE * n, &name))
		n++;
	return n;
}

/*
 * ml_meth of the PyMethodDef named name with flags: anywhere (table 0),
 * or in the method table at table (names like "cancel" are in several).
 */
int sf_types_find_method(struct sf *sf, const char *name, int32_t flags, uint64_t table,
		       uint64_t *meth)
{
	uint64_t strs[MAX_REFS], refs[MAX_REFS];
	int ns = sf_find_string(sf, name, strs, MAX_REFS);
	int nr = sf_refs_to(sf, strs, ns, refs, MAX_REFS);
	uint64_t ntable = table ? method_table_len(sf, table) : 0;
	bool found = false;

	for (int i = 0; i < nr; i++) {
		int32_t f;
		uint64_t m;

		if (table && (refs[i] < table || (refs[i] - table) % ML_SIZE ||
			      (refs[i] - table) / ML_SIZE >= ntable))
			continue;
		if (sf_read_i32(sf, refs[i] + ML_FLAGS, &f) || f != flags ||
		    sf_ptr_at(sf, refs[i] + ML_METH, &m) || !sf_local_func(sf, m))
			continue;
		if (found && m != *meth)
			return -ENOTUNIQ;
		*meth = m;
		found = true;
	}
	return found ? 0 : -ENOENT;
}
