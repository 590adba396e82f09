// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "target/elf_file.h"
#include "target/layout_runtime.h"
#include "memory/memread.h"

int layout_decode_asyncio_debug(const void *raw, size_t len, struct asyncio_debug *out)
{
	uint64_t v[7];

	/* 3.14: task part (7 u64), interpreter part (2), thread part (4) */
	if (len < sizeof(v))
		return -EINVAL;
	memcpy(v, raw, sizeof(v));
	out->task_size = v[0];
	out->task_name = v[1];
	out->task_awaited_by = v[2];
	out->task_is_task = v[3];
	out->task_awaited_by_is_set = v[4];
	out->task_coro = v[5];
	out->task_node = v[6];
	if (out->task_size == 0 || out->task_size > 4096 || out->task_name >= out->task_size ||
	    out->task_coro >= out->task_size || out->task_node >= out->task_size)
		return -EINVAL;
	return 0;
}

int layout_check_asyncio_debug(const struct py_layout *l, const struct asyncio_debug *d,
			       char *err, size_t errlen)
{
	if (d->task_size == l->bpf.task_size && d->task_name == l->bpf.task_name &&
	    d->task_coro == l->bpf.task_coro)
		return 0;
	snprintf(err, errlen,
		 "layout mismatch: .AsyncioDebug says sizeof(TaskObj)=%llu task_name=%llu task_coro=%llu, "
		 "the %d.%d table says %u/%u/%u; this build is not supported",
		 (unsigned long long)d->task_size, (unsigned long long)d->task_name,
		 (unsigned long long)d->task_coro, l->major, l->minor, l->bpf.task_size,
		 l->bpf.task_name, l->bpf.task_coro);
	return -EINVAL;
}

int layout_decode_debug_offsets(const void *raw, size_t len, uint64_t *version_hex)
{
	if (len < 16 || memcmp(raw, "xdebugpy", 8))
		return -EINVAL;
	memcpy(version_hex, (const char *)raw + 8, 8);
	return 0;
}

static int read_section(const char *path, const char *name, void *buf, size_t len,
			uint64_t *vaddr)
{
	struct elf_file ef;
	uint64_t off, size;
	int err = elf_file_open(path, &ef);

	if (err)
		return err;
	err = elf_find_section(&ef, name, vaddr, &off, &size);
	if (!err && size < len)
		err = -EINVAL;
	if (!err)
		err = elf_read_vaddr(&ef, *vaddr, buf, len);
	elf_file_close(&ef);
	return err;
}

/* Live address of a vaddr of the runtime object (libpython or exe). */
static int runtime_live_addr(const struct interp *ip, uint64_t vaddr, uint64_t *addr)
{
	struct elf_file ef;
	char host[PATH_MAX + 64];
	uint64_t base;
	int err = interp_host_path(ip, ip->runtime_obj, host, sizeof(host));

	if (err || (err = elf_file_open(host, &ef)))
		return err;
	err = elf_load_base(&ef, &base);
	elf_file_close(&ef);
	if (err)
		return err;
	*addr = ip->runtime_map_start + vaddr - base;
	return 0;
}

int layout_runtime_addr(const struct interp *ip, uint64_t *addr)
{
	char host[PATH_MAX + 64];
	struct elf_file ef;
	uint64_t vaddr;
	int err = interp_host_path(ip, ip->runtime_obj, host, sizeof(host));

	if (err || (err = elf_file_open(host, &ef)))
		return err;
	err = elf_find_section(&ef, ".PyRuntime", &vaddr, NULL, NULL);
	elf_file_close(&ef);
	if (err)
		return err;
	return runtime_live_addr(ip, vaddr, addr);
}

/* 3.11+: Py_Version; 3.13+: _Py_DebugOffsets too, validated live. */
static int read_live_version(struct interp *ip, char *err, size_t errlen)
{
	char host[PATH_MAX + 64], raw[16];
	uint64_t vaddr, addr, hex = 0;
	struct elf_file ef;
	struct elf_sym sym;
	uint32_t pyver;
	int rc;

	if (interp_host_path(ip, ip->runtime_obj, host, sizeof(host)))
		return 0;
	if (read_section(host, ".PyRuntime", raw, sizeof(raw), &vaddr) == 0 &&
	    runtime_live_addr(ip, vaddr, &addr) == 0 &&
	    mem_read(ip->pid, addr, raw, sizeof(raw)) == 0) {
		if (ip->minor >= 13 && layout_decode_debug_offsets(raw, sizeof(raw), &hex)) {
			snprintf(err, errlen, "%s: _Py_DebugOffsets cookie not found in the live .PyRuntime",
				 ip->runtime_obj);
			return -EINVAL;
		}
	}
	if (!hex && elf_file_open(host, &ef) == 0) {
		rc = elf_find_object(&ef, "Py_Version", &sym);
		elf_file_close(&ef);
		if (!rc && runtime_live_addr(ip, sym.vaddr, &addr) == 0 &&
		    mem_read(ip->pid, addr, &pyver, sizeof(pyver)) == 0)
			hex = pyver;
	}
	if (!hex)
		return 0;
	if ((int)((hex >> 24) & 0xff) != ip->major || (int)((hex >> 16) & 0xff) != ip->minor) {
		snprintf(err, errlen, "%s says it is Python %d.%d, but the process runs %llu.%llu",
			 ip->runtime_obj, ip->major, ip->minor,
			 (unsigned long long)(hex >> 24) & 0xff, (unsigned long long)(hex >> 16) & 0xff);
		return -EINVAL;
	}
	ip->micro = (hex >> 8) & 0xff;
	return 0;
}

int layout_for_target(struct interp *ip, struct py_layout *out, char *err, size_t errlen)
{
	const struct py_layout *t = layout_table_lookup(ip->major, ip->minor);
	char host[PATH_MAX + 64];
	uint8_t raw[104];
	uint64_t vaddr;
	int rc;

	if (!t) {
		snprintf(err, errlen, "Python %d.%d is not supported (aps-bpf supports 3.10 to 3.14)",
			 ip->major, ip->minor);
		return -EPROTONOSUPPORT;
	}
	*out = *t;
	rc = read_live_version(ip, err, errlen);
	if (rc)
		return rc;
	rc = interp_host_path(ip, ip->asyncio_obj, host, sizeof(host));
	if (rc)
		return rc;
	if (read_section(host, ".AsyncioDebug", raw, sizeof(raw), &vaddr) == 0) {
		struct asyncio_debug d;

		if (layout_decode_asyncio_debug(raw, sizeof(raw), &d)) {
			snprintf(err, errlen, "%s: malformed .AsyncioDebug section", ip->asyncio_obj);
			return -EINVAL;
		}
		rc = layout_check_asyncio_debug(out, &d, err, errlen);
		if (rc)
			return rc;
		out->source = "version table, checked against .AsyncioDebug";
	} else if (ip->minor >= 14) {
		snprintf(err, errlen, "%s has no .AsyncioDebug section: not a CPython %d.%d _asyncio",
			 ip->asyncio_obj, ip->major, ip->minor);
		return -EINVAL;
	}
	return 0;
}

int layout_validate_task(pid_t pid, const struct py_layout *l, uint64_t task,
			 char *err, size_t errlen)
{
	uint64_t type, name_ptr, size = 0;
	char name[64];

	if (mem_read(pid, task + l->bpf.ob_type, &type, sizeof(type)))
		return -EAGAIN;
	for (int depth = 0; depth < 16 && type; depth++) {
		if (mem_read(pid, type + l->bpf.tp_name, &name_ptr, sizeof(name_ptr)) ||
		    mem_read_cstr(pid, name_ptr, name, sizeof(name)))
			return -EAGAIN;
		if (!strcmp(name, "_asyncio.Task")) {
			if (mem_read(pid, type + l->tp_basicsize, &size, sizeof(size)))
				return -EAGAIN;
			if (size == l->bpf.task_size)
				return 0;
			snprintf(err, errlen, "layout mismatch: the live _asyncio.Task is %llu bytes, "
				 "the Python %d.%d table says %u; this build is not supported",
				 (unsigned long long)size, l->major, l->minor, l->bpf.task_size);
			return -EINVAL;
		}
		if (mem_read(pid, type + l->tp_base, &type, sizeof(type)))
			return -EAGAIN;
	}
	/* freed since the event, and its memory reused: check a later task */
	return -EAGAIN;
}
