// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "target/debuginfo.h"
#include "target/elf_file.h"
#include "target/layout_runtime.h"
#include "memory/memread.h"
#include "target/proc.h"
#include "memory/py_runtime.h"
#include "hooks/symfree.h"

#define ASYNCIO_DEBUG_SIZE 104	/* 13 u64 */

/* A snap field taken from _Py_DebugOffsets: where it sits in 3.13 / 3.14. */
struct dmap {
	uint16_t at13, at14;	/* byte position in _Py_DebugOffsets, 0: absent */
	uint16_t field;		/* offsetof(struct py_snap_layout, ...) */
	uint8_t wide;		/* a uint32_t field */
	uint32_t max;
};

#define U16(f) offsetof(struct py_snap_layout, f), 0
#define U32(f) offsetof(struct py_snap_layout, f), 1

/* From `ptype /o struct _Py_DebugOffsets` of 3.13.0 and 3.14.10 (all u64). */
static const struct dmap dmap[] = {
	{ 40, 40, U32(rt_interp_head), 1 << 20 },
	{ 64, 64, U32(is_next), 1 << 20 },
	{ 72, 72, U32(is_threads_head), 1 << 20 },
	{ 88, 96, U32(is_modules), 1 << 20 },
	{ 168, 192, U32(ts_next), 1 << 16 },
	{ 200, 224, U32(ts_native_tid), 1 << 16 },
	{ 240, 264, U16(fr_code), 4096 },
	{ 248, 272, U16(fr_instr), 4096 },
	{ 256, 280, U16(fr_localsplus), 4096 },
	{ 0, 296, U16(fr_stack), 4096 },
	{ 280, 320, U16(co_filename), 4096 },
	{ 296, 336, U16(co_qualname), 4096 },
	{ 304, 344, U16(co_linetable), 4096 },
	{ 312, 352, U16(co_firstlineno), 4096 },
	{ 344, 384, U16(co_code_adaptive), 4096 },
	{ 408, 456, U16(tuple_item), 4096 },
	{ 432, 480, U16(list_item), 4096 },
	{ 0, 504, U16(set_used), 4096 },
	{ 0, 512, U16(set_table), 4096 },
	{ 0, 520, U16(set_mask), 4096 },
	{ 456, 536, U16(dict_keys), 4096 },
	{ 464, 544, U16(dict_values), 4096 },
	{ 520, 600, U16(bytes_size), 4096 },
	{ 528, 608, U16(bytes_data), 4096 },
	{ 0, 680, U16(gen_iframe), 4096 },
	{ 0, 688, U16(gen_frame_state), 4096 },
};

/* Fields the BPF side uses too: must agree, never overridden. */
static const struct {
	uint16_t at13, at14, field;	/* field: offsetof(struct aps_layout, ...) */
	const char *name;
} dcheck[] = {
	{ 360, 408, offsetof(struct aps_layout, ob_type), "ob_type" },
	{ 376, 424, offsetof(struct aps_layout, tp_name), "tp_name" },
	{ 392, 440, offsetof(struct aps_layout, tp_flags), "tp_flags" },
	{ 496, 576, offsetof(struct aps_layout, long_size), "lv_tag" },
	{ 504, 584, offsetof(struct aps_layout, long_digits), "ob_digit" },
	{ 544, 624, offsetof(struct aps_layout, unicode_state), "unicode state" },
	{ 552, 632, offsetof(struct aps_layout, unicode_length), "unicode length" },
	{ 560, 640, offsetof(struct aps_layout, unicode_ascii_data), "sizeof(PyASCIIObject)" },
};

size_t py_debug_offsets_size(int minor)
{
	return minor == 13 ? 584 : minor == 14 ? 760 : 0;
}

static uint64_t raw_u64(const void *raw, size_t at)
{
	uint64_t v;

	memcpy(&v, (const char *)raw + at, sizeof(v));
	return v;
}

int py_apply_debug_offsets(struct py_layout *l, const void *raw, size_t len, char *err,
			   size_t errlen)
{
	size_t want = py_debug_offsets_size(l->minor);
	struct py_snap_layout snap = l->snap;
	uint64_t version;

	if (!want || len < want || memcmp(raw, "xdebugpy", 8)) {
		snprintf(err, errlen, "no _Py_DebugOffsets (cookie \"xdebugpy\") in .PyRuntime");
		return -EINVAL;
	}
	version = raw_u64(raw, 8);
	if ((int)(version >> 24 & 0xff) != l->major || (int)(version >> 16 & 0xff) != l->minor ||
	    raw_u64(raw, 16)) {
		snprintf(err, errlen, "_Py_DebugOffsets: version 0x%llx%s, expected %d.%d",
			 (unsigned long long)version, raw_u64(raw, 16) ? " free-threaded" : "",
			 l->major, l->minor);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(dcheck) / sizeof(dcheck[0]); i++) {
		uint64_t v = raw_u64(raw, l->minor == 13 ? dcheck[i].at13 : dcheck[i].at14);
		uint16_t have;

		memcpy(&have, (const char *)&l->bpf + dcheck[i].field, sizeof(have));
		if (v != have) {
			snprintf(err, errlen, "layout mismatch: _Py_DebugOffsets says %s is at %llu, "
				 "the %d.%d table says %u", dcheck[i].name, (unsigned long long)v,
				 l->major, l->minor, have);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < sizeof(dmap) / sizeof(dmap[0]); i++) {
		const struct dmap *d = &dmap[i];
		uint16_t at = l->minor == 13 ? d->at13 : d->at14;
		uint64_t v;

		if (!at)
			continue;
		v = raw_u64(raw, at);
		if (v > d->max) {
			snprintf(err, errlen, "_Py_DebugOffsets: implausible offset %llu at byte %u",
				 (unsigned long long)v, at);
			return -EINVAL;
		}
		if (d->wide) {
			uint32_t w = (uint32_t)v;

			memcpy((char *)&snap + d->field, &w, sizeof(w));
		} else {
			uint16_t w = (uint16_t)v;

			memcpy((char *)&snap + d->field, &w, sizeof(w));
		}
	}
	l->snap = snap;
	return 0;
}

int py_apply_asyncio_debug(struct py_layout *l, const void *raw, size_t len, char *err,
			   size_t errlen)
{
	struct asyncio_debug d;
	uint64_t v[13];
	int rc;

	if (len < sizeof(v) || layout_decode_asyncio_debug(raw, len, &d)) {
		snprintf(err, errlen, "malformed .AsyncioDebug section");
		return -EINVAL;
	}
	rc = layout_check_asyncio_debug(l, &d, err, errlen);
	if (rc)
		return rc;
	memcpy(v, raw, sizeof(v));
	/* task part checked by layout_decode_asyncio_debug; then interp, thread */
	if (d.task_awaited_by >= d.task_size || d.task_is_task >= d.task_size ||
	    d.task_awaited_by_is_set >= d.task_size || v[7] > (1 << 24) || v[8] >= v[7] ||
	    v[9] > (1 << 16) || v[10] >= v[9] || v[12] >= v[9]) {
		snprintf(err, errlen, "implausible .AsyncioDebug offsets");
		return -EINVAL;
	}
	l->snap.task_awaited_by = (uint16_t)d.task_awaited_by;
	l->snap.task_is_task = (uint16_t)d.task_is_task;
	l->snap.task_awaited_by_is_set = (uint16_t)d.task_awaited_by_is_set;
	l->snap.task_node = (uint16_t)d.task_node;
	l->snap.is_tasks_head = (uint32_t)v[8];
	l->snap.ts_running_loop = (uint32_t)v[10];
	l->snap.ts_tasks_head = (uint32_t)v[12];
	return 0;
}

/* Live address = vaddr + bias, for an object mapped in the target. */
static int map_bias(const struct interp *ip, const char *target_path, uint64_t map_start,
		    uint64_t *bias)
{
	char host[PATH_MAX + 64];
	struct elf_file ef;
	uint64_t base;
	int err = interp_host_path(ip, target_path, host, sizeof(host));

	if (err || (err = elf_file_open(host, &ef)))
		return err;
	err = elf_load_base(&ef, &base);
	elf_file_close(&ef);
	if (!err)
		*bias = map_start - base;
	return err;
}

/*
 * Lowest mapping of a file given by its path inside the target's root,
 * line by line (no table of every mapping: its pages cost more than this).
 */
static int lowest_mapping(const struct interp *ip, const char *target_path, uint64_t *start)
{
	char rootlink[PATH_MAX] = "/", tpath[PATH_MAX], path[64], line[PATH_MAX + 256];
	struct proc_map m;
	ssize_t n;
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", ip->pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = readlink(ip->root, rootlink, sizeof(rootlink) - 1);
	rootlink[n > 0 ? n : 1] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (!proc_parse_maps_line(line, &m))
			continue;
		interp_target_path(rootlink, m.path, tpath, sizeof(tpath));
		if (strcmp(tpath, target_path) || (!err && m.start >= *start))
			continue;
		*start = m.start;
		err = 0;
	}
	fclose(f);
	return err;
}

static int read_file_section(const char *host, const char *name, void *buf, size_t len)
{
	struct elf_file ef;
	uint64_t vaddr, off, size;
	int err = elf_file_open(host, &ef);

	if (err)
		return err;
	err = elf_find_section(&ef, name, &vaddr, &off, &size);
	if (!err && size < len)
		err = -EINVAL;
	if (!err)
		err = elf_read_vaddr(&ef, vaddr, buf, len);
	elf_file_close(&ef);
	return err;
}

static int find_runtime(const struct interp *ip, uint64_t *addr)
{
	char host[PATH_MAX + 64];
	struct elf_file ef;
	struct elf_sym sym;
	uint64_t vaddr, off, size, bias;
	int err = interp_host_path(ip, ip->runtime_obj, host, sizeof(host));

	if (err || (err = elf_file_open(host, &ef)))
		return err;
	err = elf_find_section(&ef, ".PyRuntime", &vaddr, &off, &size);
	if (err && !(err = elf_find_object(&ef, "_PyRuntime", &sym)))
		vaddr = sym.vaddr;
	elf_file_close(&ef);
	if (!err)
		err = map_bias(ip, ip->runtime_obj, ip->runtime_map_start, &bias);
	if (!err)
		*addr = vaddr + bias;
	return err;
}

/* 3.10/3.11: `static PyObject *all_tasks` of _asyncio, from its symbols. */
static int find_all_tasks(const struct interp *ip, uint64_t bias, struct py_runtime *rt,
			  char *err, size_t errlen)
{
	struct elf_file obj = { .fd = -1 }, dbg = { .fd = -1 };
	struct debuginfo_lookup look;
	struct elf_sym sym;
	char pkg[64];
	const char *hint;
	int rc;

	rc = interp_host_path(ip, ip->asyncio_obj, rt->symbols, sizeof(rt->symbols));
	if (rc || (rc = elf_file_open(rt->symbols, &obj)))
		goto cleanup;
	rc = elf_find_object(&obj, "all_tasks", &sym);
	if (rc && debuginfo_find(ip->root, ip->asyncio_obj, &obj, rt->symbols,
				 sizeof(rt->symbols), &look) == 0 &&
	    elf_file_open(rt->symbols, &dbg) == 0)
		rc = elf_find_object(&dbg, "all_tasks", &sym);
	if (rc && !getenv("APS_TEST_NO_SYMFREE")) {
		/* no symbols: the static _register_task() and _unregister_task() read */
		char how[256];
		uint64_t vaddr;

		if (symfree_find_all_tasks(&obj, &vaddr, how, sizeof(how)) == 0) {
			sym.vaddr = vaddr;
			snprintf(rt->symbols, sizeof(rt->symbols), "symbol-free: %s", how);
			rc = 0;
		}
	}
	if (rc) {
		hint = debuginfo_package_hint(ip->asyncio_obj, pkg, sizeof(pkg));
		snprintf(err, errlen, "%s has no symbol for all_tasks and no matching debug file "
			 "was found: install %s", ip->asyncio_obj,
			 hint ? hint : "the interpreter's debug symbols");
		rc = -ENOENT;
		goto cleanup;
	}
	rt->all_tasks = sym.vaddr + bias;
cleanup:
	if (dbg.fd >= 0)
		elf_file_close(&dbg);
	if (obj.fd >= 0)
		elf_file_close(&obj);
	return rc;
}

int py_runtime_resolve(const struct interp *ip, struct py_layout *l, struct py_runtime *rt,
		       char *err, size_t errlen)
{
	uint8_t raw[1024], ad[ASYNCIO_DEBUG_SIZE];
	char host[PATH_MAX + 64];
	size_t dsize = py_debug_offsets_size(l->minor);
	uint64_t start = 0, bias;
	int rc;

	memset(rt, 0, sizeof(*rt));
	rc = find_runtime(ip, &rt->runtime);
	if (rc)
		rt->runtime = 0;
	if (dsize) {
		if (!rt->runtime) {
			snprintf(err, errlen, "%s: no .PyRuntime section", ip->runtime_obj);
			return -EINVAL;
		}
		rc = mem_read(ip->pid, rt->runtime, raw, dsize);
		if (rc) {
			snprintf(err, errlen, "reading _Py_DebugOffsets: %s", strerror(-rc));
			return rc;
		}
		rc = py_apply_debug_offsets(l, raw, dsize, err, errlen);
		if (rc)
			return rc;
		rt->debug_offsets = true;
	}
	if (!ip->asyncio_mapped || lowest_mapping(ip, ip->asyncio_obj, &start))
		return 0;	/* asyncio not imported: no tasks */
	rc = map_bias(ip, ip->asyncio_obj, start, &bias);
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s", ip->asyncio_obj, strerror(-rc));
		return rc;
	}
	rt->asyncio_loaded = true;
	if (l->minor >= 14) {
		rc = interp_host_path(ip, ip->asyncio_obj, host, sizeof(host));
		if (!rc && (rc = read_file_section(host, ".AsyncioDebug", ad, sizeof(ad)))) {
			snprintf(err, errlen, "%s has no .AsyncioDebug section", ip->asyncio_obj);
			return -EINVAL;
		}
		rc = py_apply_asyncio_debug(l, ad, sizeof(ad), err, errlen);
		if (rc)
			return rc;
		rt->asyncio_debug = true;
	} else if (l->minor <= 11) {
		return find_all_tasks(ip, bias, rt, err, errlen);
	}
	return 0;
}
