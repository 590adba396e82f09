/* SPDX-License-Identifier: MIT */
/* Reading ELF objects of the target: symbols, sections, build-id, debuglink. */
#ifndef APS_ELF_FILE_H
#define APS_ELF_FILE_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <gelf.h>

struct elf_file {
	int fd;
	Elf *elf;
	char path[4096];
};

enum elf_sym_table {
	ELF_SYMTAB = 1,
	ELF_DYNSYM = 2,
};

struct elf_sym {
	uint64_t vaddr;
	uint64_t size;
	int table;		/* enum elf_sym_table it came from */
};

int elf_file_open(const char *path, struct elf_file *ef);
void elf_file_close(struct elf_file *ef);

/* Build-id as lowercase hex; 0 or -ENOENT. */
int elf_build_id(struct elf_file *ef, char *hex, size_t len);
/* .gnu_debuglink file name and CRC; 0 or -ENOENT. */
int elf_debuglink(struct elf_file *ef, char *name, size_t len, uint32_t *crc);
/* e_machine: EM_X86_64, EM_AARCH64, ... (EM_NONE if unreadable). */
int elf_machine(struct elf_file *ef);
/* Has a .symtab with function symbols (i.e. not stripped). */
bool elf_has_symtab(struct elf_file *ef);

/* Function symbol by exact name, .symtab first, then .dynsym. */
int elf_find_func(struct elf_file *ef, const char *name, struct elf_sym *out);
/* Data object symbol by exact name, .dynsym first (exported), then .symtab. */
int elf_find_object(struct elf_file *ef, const char *name, struct elf_sym *out);
/* Count function symbols named "name.<suffix>" (compiler clones). */
int elf_count_clones(struct elf_file *ef, const char *name);

/* Section by name: vaddr, file offset, size. */
int elf_find_section(struct elf_file *ef, const char *name, uint64_t *vaddr,
		     uint64_t *offset, uint64_t *size);
/* Read bytes at a virtual address from the file. */
int elf_read_vaddr(struct elf_file *ef, uint64_t vaddr, void *buf, size_t len);
/* File offset of a virtual address, through the PT_LOAD segments. */
int elf_vaddr_to_offset(struct elf_file *ef, uint64_t vaddr, uint64_t *offset);
/* Vaddr of the first PT_LOAD, page-aligned: the base maps are relative to. */
int elf_load_base(struct elf_file *ef, uint64_t *vaddr);

/* The CRC32 used by .gnu_debuglink, over a whole file. */
int elf_file_crc32(const char *path, uint32_t *crc);

#endif
