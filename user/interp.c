// SPDX-License-Identifier: MIT
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "elf_file.h"
#include "interp.h"
#include "memread.h"
#include "proc.h"

bool interp_parse_name(const char *base, int *major, int *minor)
{
	int ma, mi, n = 0;

	if (!strncmp(base, "lib", 3))
		base += 3;
	if (sscanf(base, "python%d.%d%n", &ma, &mi, &n) != 2 || ma < 2 || ma > 9 ||
	    mi < 0 || mi > 99)
		return false;
	/* python3.12, python3.12d, libpython3.12.so.1.0, libpython3.12d.so */
	base += n;
	while (*base == 'd' || *base == 't' || *base == 'm')
		base++;
	if (*base && strncmp(base, ".so", 3))
		return false;
	*major = ma;
	*minor = mi;
	return true;
}

bool interp_supported(int major, int minor)
{
	return major == 3 && minor >= 10 && minor <= 14;
}

void interp_target_path(const char *root_link, const char *maps_path, char *buf, size_t len)
{
	size_t n = strlen(root_link);

	if (n > 1 && !strncmp(maps_path, root_link, n) && maps_path[n] == '/')
		maps_path += n;
	snprintf(buf, len, "%s", maps_path);
}

int interp_host_path(const struct interp *ip, const char *target_path, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s", ip->root, target_path);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static bool is_asyncio_module(const char *base)
{
	size_t n = strlen(base);

	return !strncmp(base, "_asyncio.", 9) && n > 3 && !strcmp(base + n - 3, ".so");
}

/* Does the object define task_step_impl (in itself or its debug info)? */
static bool has_asyncio_code(const struct interp *ip, const char *target_path)
{
	struct elf_file ef;
	struct elf_sym sym;
	char host[PATH_MAX + 64];
	bool yes;

	if (interp_host_path(ip, target_path, host, sizeof(host)) ||
	    elf_file_open(host, &ef))
		return false;
	yes = !elf_find_func(&ef, "task_step_impl", &sym) ||
	      !elf_find_object(&ef, "PyInit__asyncio", &sym) ||
	      !elf_find_func(&ef, "PyInit__asyncio", &sym);
	elf_file_close(&ef);
	return yes;
}

/* Predict where `import asyncio` will load _asyncio from: PREFIX/lib/pythonX.Y/lib-dynload. */
static int predict_asyncio(struct interp *ip, const char *exe)
{
	char prefix[PATH_MAX], pattern[PATH_MAX * 2];
	glob_t g = {};
	char *s;
	int err = -ENOENT;

	snprintf(prefix, sizeof(prefix), "%s", exe);
	for (int i = 0; i < 2; i++) {	/* PREFIX/bin/python3.X -> PREFIX */
		s = strrchr(prefix, '/');
		if (!s)
			return -ENOENT;
		*s = '\0';
	}
	snprintf(pattern, sizeof(pattern), "%s%s/lib/python%d.%d/lib-dynload/_asyncio.cpython-%d%d-*.so",
		 ip->root, prefix, ip->major, ip->minor, ip->major, ip->minor);
	if (glob(pattern, 0, NULL, &g))
		return -ENOENT;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *p = g.gl_pathv[i] + strlen(ip->root);

		snprintf(ip->asyncio_obj, sizeof(ip->asyncio_obj), "%s", p);
		err = 0;
		break;
	}
	globfree(&g);
	return err;
}

int interp_detect(pid_t pid, struct interp *ip)
{
	char link[PATH_MAX], exe[PATH_MAX], tpath[PATH_MAX], rootlink[PATH_MAX] = "/";
	struct proc_maps maps;
	int err, exe_major = 0, exe_minor = 0;
	ssize_t n;

	memset(ip, 0, sizeof(*ip));
	ip->pid = pid;
	ip->micro = -1;
	snprintf(ip->root, sizeof(ip->root), "/proc/%d/root", pid);
	err = proc_read_maps(pid, &maps);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	n = readlink(ip->root, rootlink, sizeof(rootlink) - 1);
	rootlink[n > 0 ? n : 1] = '\0';
	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	interp_target_path(rootlink, exe, tpath, sizeof(tpath));
	snprintf(exe, sizeof(exe), "%s", tpath);

	for (int i = 0; i < maps.n; i++) {
		const struct proc_map *m = &maps.v[i];
		const char *b;
		int ma, mi;

		if (m->path[0] != '/')
			continue;
		interp_target_path(rootlink, m->path, tpath, sizeof(tpath));
		b = base_name(tpath);
		if (is_asyncio_module(b) && !ip->asyncio_mapped) {
			snprintf(ip->asyncio_obj, sizeof(ip->asyncio_obj), "%s", tpath);
			ip->asyncio_mapped = true;
		}
		if (!interp_parse_name(b, &ma, &mi))
			continue;
		/* libpython wins over the executable: it holds the runtime */
		if (!ip->runtime_obj[0] || !strncmp(b, "lib", 3)) {
			if (!ip->runtime_obj[0] || strcmp(ip->runtime_obj, tpath))
				ip->runtime_map_start = m->start;
			snprintf(ip->runtime_obj, sizeof(ip->runtime_obj), "%s", tpath);
			ip->major = ma;
			ip->minor = mi;
		}
		if (!strcmp(tpath, exe)) {
			exe_major = ma;
			exe_minor = mi;
		}
		if (!strcmp(tpath, ip->runtime_obj) && m->start < ip->runtime_map_start)
			ip->runtime_map_start = m->start;
	}
	proc_maps_free(&maps);
	if (!ip->runtime_obj[0]) {
		if (!proc_alive(pid))
			return -ESRCH;
		return -ENOEXEC;
	}
	(void)exe_major;
	(void)exe_minor;
	if (!interp_supported(ip->major, ip->minor))
		return -EPROTONOSUPPORT;
	if (ip->asyncio_mapped)
		return 0;
	if (has_asyncio_code(ip, ip->runtime_obj)) {
		snprintf(ip->asyncio_obj, sizeof(ip->asyncio_obj), "%s", ip->runtime_obj);
		ip->asyncio_mapped = true;
		ip->asyncio_builtin = true;
		return 0;
	}
	return predict_asyncio(ip, exe) ? -EAGAIN : 0;
}
