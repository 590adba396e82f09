/* SPDX-License-Identifier: MIT */
/* Finding the detached debug file of an object, inside the target's root. */
#ifndef APS_DEBUGINFO_H
#define APS_DEBUGINFO_H

#include <stddef.h>
#include "target/elf_file.h"

#define DEBUGINFO_MAX_TRIED 6

struct debuginfo_lookup {
	char build_id[129];
	char tried[DEBUGINFO_MAX_TRIED][4096];	/* paths inside the root */
	int ntried;
};

/*
 * root: the target's root as we can open it ("/proc/PID/root", or "" for
 * ours); obj_path: the object's path inside that root. On success, out is
 * an openable path of a debug file whose build-id (or debuglink CRC) matches.
 */
int debuginfo_find(const char *root, const char *obj_path, struct elf_file *obj,
		   char *out, size_t len, struct debuginfo_lookup *info);

/* The Debian/Ubuntu package that ships debug files for a python path, or NULL. */
const char *debuginfo_package_hint(const char *obj_path, char *buf, size_t len);

#endif
