// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "target/debuginfo.h"

static void note_tried(struct debuginfo_lookup *info, const char *path)
{
	size_t n = strlen(path);

	if (info->ntried >= DEBUGINFO_MAX_TRIED)
		return;
	if (n >= sizeof(info->tried[0]))
		n = sizeof(info->tried[0]) - 1;
	memcpy(info->tried[info->ntried], path, n);
	info->tried[info->ntried++][n] = '\0';
}

static int try_build_id_file(const char *root, const char *path, const char *want,
			     char *out, size_t len)
{
	struct elf_file ef;
	char full[8192], got[129];
	int err;

	snprintf(full, sizeof(full), "%s%s", root, path);
	err = elf_file_open(full, &ef);
	if (err)
		return err;
	err = elf_build_id(&ef, got, sizeof(got));
	elf_file_close(&ef);
	if (err)
		return err;
	if (strcmp(got, want))
		return -ESTALE;
	if (strlen(full) >= len)
		return -ENAMETOOLONG;
	strcpy(out, full);
	return 0;
}

static int try_debuglink_file(const char *root, const char *path, uint32_t want_crc,
			      char *out, size_t len)
{
	char full[8192];
	uint32_t crc;
	int err;

	snprintf(full, sizeof(full), "%s%s", root, path);
	if (access(full, R_OK))
		return -errno;
	err = elf_file_crc32(full, &crc);
	if (err)
		return err;
	if (crc != want_crc)
		return -ESTALE;
	if (strlen(full) >= len)
		return -ENAMETOOLONG;
	strcpy(out, full);
	return 0;
}

int debuginfo_find(const char *root, const char *obj_path, struct elf_file *obj,
		   char *out, size_t len, struct debuginfo_lookup *info)
{
	char link[256], dir[4096], path[8192];
	const char *slash;
	uint32_t crc;

	memset(info, 0, sizeof(*info));
	if (!elf_build_id(obj, info->build_id, sizeof(info->build_id)) &&
	    strlen(info->build_id) > 2) {
		snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug",
			 info->build_id, info->build_id + 2);
		note_tried(info, path);
		if (!try_build_id_file(root, path, info->build_id, out, len))
			return 0;
	}
	if (elf_debuglink(obj, link, sizeof(link), &crc) || strchr(link, '/'))
		return -ENOENT;
	slash = strrchr(obj_path, '/');
	if (!slash || (size_t)(slash - obj_path) >= sizeof(dir))
		return -ENOENT;
	memcpy(dir, obj_path, slash - obj_path);
	dir[slash - obj_path] = '\0';
	const char *fmts[] = { "%s/%s", "%s/.debug/%s", "/usr/lib/debug%s/%s" };
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		snprintf(path, sizeof(path), fmts[i], dir, link);
		note_tried(info, path);
		if (!try_debuglink_file(root, path, crc, out, len))
			return 0;
	}
	return -ENOENT;
}

const char *debuginfo_package_hint(const char *obj_path, char *buf, size_t len)
{
	const char *p = strstr(obj_path, "/usr/lib/python3.");
	int minor;

	if (!p || sscanf(p, "/usr/lib/python3.%d/", &minor) != 1 || minor < 0 || minor > 99)
		return NULL;
	snprintf(buf, len, "python3.%d-dbg", minor);
	return buf;
}
