/* SPDX-License-Identifier: MIT */
/*
 * Function ranges from .eh_frame: each FDE's initial location and size.
 * A stripped object keeps .eh_frame (unwinding needs it), so FDE starts
 * are the function starts we can trust without symbols.
 */
#ifndef APS_EH_FRAME_H
#define APS_EH_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include "target/elf_file.h"

struct fde_range {
	uint64_t start;
	uint64_t size;
};

struct eh_frame_index {
	struct fde_range *v;	/* sorted by start, no duplicates */
	size_t n;
};

/*
 * Parse raw .eh_frame bytes whose first byte is at sec_vaddr. Pure.
 * 0, -EINVAL (malformed or an encoding we do not handle: nothing is
 * returned, so no guess is ever made from a half-read table), -ENOMEM.
 */
int eh_frame_parse(const void *data, size_t len, uint64_t sec_vaddr, struct eh_frame_index *out);
void eh_frame_free(struct eh_frame_index *ix);

/* The FDE starting exactly at vaddr, or NULL. */
const struct fde_range *eh_frame_at(const struct eh_frame_index *ix, uint64_t vaddr);
/* The FDE whose [start, start + size) holds vaddr, or NULL. */
const struct fde_range *eh_frame_containing(const struct eh_frame_index *ix, uint64_t vaddr);

/* Read and parse the object's .eh_frame; -ENOENT when it has none. */
int eh_frame_load(struct elf_file *ef, struct eh_frame_index *out);

#endif
