// SPDX-License-Identifier: MIT
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "target/elf_file.h"
#include "target/interp.h"
#include "memory/memread.h"
#include "target/proc.h"
#include "hooks/symfree.h"

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

/*
 * Does the object hold the _asyncio C code? task_step_impl or
 * PyInit__asyncio in its symbols; or, deep (an executable or libpython
 * stripped of everything, _asyncio built in), a type named
 * "_asyncio.Task". Results are cached by path and inode: the caller polls.
 */
static bool has_asyncio_code(const struct interp *ip, const char *target_path, uint64_t inode,
			     bool deep)
{
	static struct {
		char path[PATH_MAX];
		uint64_t inode;
		bool deep, yes;
	} cache[128];
	static unsigned ncache;
	struct elf_file ef;
	struct elf_sym sym;
	char host[PATH_MAX + 64];
	bool yes;

	for (unsigned i = 0; i < ncache && i < 128; i++)
		if (cache[i].inode == inode && cache[i].deep >= deep && !strcmp(cache[i].path, target_path))
			return cache[i].yes;
	if (interp_host_path(ip, target_path, host, sizeof(host)) ||
	    elf_file_open(host, &ef)) {
		yes = false;
	} else {
		yes = !elf_find_func(&ef, "task_step_impl", &sym) ||
		      !elf_find_object(&ef, "PyInit__asyncio", &sym) ||
		      !elf_find_func(&ef, "PyInit__asyncio", &sym) ||
		      (deep && symfree_has_asyncio(&ef));
		elf_file_close(&ef);
	}
	if (inode && strlen(target_path) < PATH_MAX) {
		unsigned i = ncache++ % 128;

		snprintf(cache[i].path, sizeof(cache[i].path), "%s", target_path);
		cache[i].inode = inode;
		cache[i].deep = deep;
		cache[i].yes = yes;
	}
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

/*
 * No _asyncio*.so is mapped: the code may be linked into the executable
 * or libpython (looked at deeply, without symbols), or be an extension
 * module under another name (it exports PyInit__asyncio).
 */
static void find_asyncio_anywhere(struct interp *ip, const struct proc_maps *maps,
				  const int *obj, int nobj, const char *rootlink, const char *exe)
{
	char tpath[PATH_MAX];

	for (int pass = 0; pass < 2 && !ip->asyncio_mapped; pass++) {
		for (int k = 0; k < nobj; k++) {
			const struct proc_map *m = &maps->v[obj[k]];
			bool mine;

			interp_target_path(rootlink, m->path, tpath, sizeof(tpath));
			mine = !strcmp(tpath, ip->runtime_obj) || !strcmp(tpath, exe);
			/* pass 0: the interpreter's own objects; pass 1: the others */
			if (mine != (pass == 0) || !has_asyncio_code(ip, tpath, m->inode, mine))
				continue;
			snprintf(ip->asyncio_obj, sizeof(ip->asyncio_obj), "%s", tpath);
			ip->asyncio_mapped = true;
			ip->asyncio_builtin = mine;
			break;
		}
	}
}

int interp_detect(pid_t pid, struct interp *ip)
{
	char link[PATH_MAX], exe[PATH_MAX], tpath[PATH_MAX], rootlink[PATH_MAX] = "/";
	struct proc_maps maps;
	int err, exe_major = 0, exe_minor = 0, nobj = 0;
	int obj[256];			/* maps index of each distinct mapped object */
	ssize_t n;

	memset(ip, 0, sizeof(*ip));
	ip->pid = pid;
	ip->micro = -1;
	snprintf(ip->root, sizeof(ip->root), "/proc/%d/root", pid);
	err = proc_read_maps(pid, &maps);
	if (err == -ENOENT)	/* no mappings: gone, or alive mid-exec (or a kernel thread) */
		return proc_alive(pid) ? -ENOEXEC : -ESRCH;
	if (err)
		return err;
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
		if (nobj < 256 && (nobj == 0 || strcmp(maps.v[obj[nobj - 1]].path, m->path)))
			obj[nobj++] = i;
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
	if (!ip->runtime_obj[0]) {
		proc_maps_free(&maps);
		if (!proc_alive(pid))
			return -ESRCH;
		return -ENOEXEC;
	}
	(void)exe_major;
	(void)exe_minor;
	if (!interp_supported(ip->major, ip->minor)) {
		proc_maps_free(&maps);
		return -EPROTONOSUPPORT;
	}
	if (!ip->asyncio_mapped)
		find_asyncio_anywhere(ip, &maps, obj, nobj, rootlink, exe);
	proc_maps_free(&maps);
	if (ip->asyncio_mapped)
		return 0;
	return predict_asyncio(ip, exe) ? -EAGAIN : 0;
}
