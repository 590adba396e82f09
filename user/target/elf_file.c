// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "target/elf_file.h"

int elf_file_open(const char *path, struct elf_file *ef)
{
	int err;

	memset(ef, 0, sizeof(*ef));
	ef->fd = -1;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	if (strlen(path) >= sizeof(ef->path))
		return -ENAMETOOLONG;
	strcpy(ef->path, path);
	ef->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ef->fd < 0)
		return -errno;
	ef->elf = elf_begin(ef->fd, ELF_C_READ_MMAP, NULL);
	if (!ef->elf || elf_kind(ef->elf) != ELF_K_ELF ||
	    gelf_getclass(ef->elf) != ELFCLASS64) {
		err = -ENOEXEC;
		goto cleanup;
	}
	return 0;
cleanup:
	elf_file_close(ef);
	return err;
}

void elf_file_close(struct elf_file *ef)
{
	if (ef->elf)
		elf_end(ef->elf);
	if (ef->fd >= 0)
		close(ef->fd);
	ef->elf = NULL;
	ef->fd = -1;
}

static Elf_Scn *section_by_name(struct elf_file *ef, const char *name, GElf_Shdr *sh)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(ef->elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, sh))
			continue;
		n = elf_strptr(ef->elf, shstrndx, sh->sh_name);
		if (n && !strcmp(n, name))
			return scn;
	}
	return NULL;
}

static Elf_Scn *section_by_type(struct elf_file *ef, Elf64_Word type, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		if (gelf_getshdr(scn, sh) && sh->sh_type == type)
			return scn;
	}
	return NULL;
}

int elf_build_id(struct elf_file *ef, char *hex, size_t len)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		Elf_Data *data;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			const uint8_t *desc = (const uint8_t *)data->d_buf + desc_off;

			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((const char *)data->d_buf + name_off, "GNU", 4))
				continue;
			if (nh.n_descsz == 0 || nh.n_descsz * 2 + 1 > len || nh.n_descsz > 64)
				return -EINVAL;
			for (size_t i = 0; i < nh.n_descsz; i++)
				sprintf(hex + 2 * i, "%02x", desc[i]);
			return 0;
		}
	}
	return -ENOENT;
}

int elf_debuglink(struct elf_file *ef, char *name, size_t len, uint32_t *crc)
{
	GElf_Shdr sh;
	Elf_Scn *scn = section_by_name(ef, ".gnu_debuglink", &sh);
	Elf_Data *data;
	size_t n;

	if (!scn || !(data = elf_getdata(scn, NULL)) || data->d_size < 8)
		return -ENOENT;
	n = strnlen(data->d_buf, data->d_size);
	if (n == 0 || n >= len || n >= data->d_size)
		return -EINVAL;
	memcpy(name, data->d_buf, n);
	name[n] = '\0';
	/* the CRC follows the name, NUL-padded to 4 bytes */
	n = (n + 4) & ~(size_t)3;
	if (n + 4 > data->d_size)
		return -EINVAL;
	memcpy(crc, (const char *)data->d_buf + n, 4);
	return 0;
}

int elf_machine(struct elf_file *ef)
{
	GElf_Ehdr eh;

	return gelf_getehdr(ef->elf, &eh) ? eh.e_machine : EM_NONE;
}

bool elf_has_symtab(struct elf_file *ef)
{
	GElf_Shdr sh;

	return section_by_type(ef, SHT_SYMTAB, &sh) != NULL;
}

/* Calls fn for each symbol of kind stt in table; stops when fn returns non-zero. */
static int for_each_sym(struct elf_file *ef, Elf64_Word type, int stt,
			 int (*fn)(const char *name, const GElf_Sym *sym, void *arg),
			 void *arg)
{
	GElf_Shdr sh;
	Elf_Scn *scn = section_by_type(ef, type, &sh);
	Elf_Data *data;
	size_t n;

	if (!scn || !(data = elf_getdata(scn, NULL)) || !sh.sh_entsize)
		return 0;
	n = sh.sh_size / sh.sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;
		int r;

		if (!gelf_getsym(data, i, &sym) || GELF_ST_TYPE(sym.st_info) != stt ||
		    sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
			continue;
		name = elf_strptr(ef->elf, sh.sh_link, sym.st_name);
		if (!name)
			continue;
		r = fn(name, &sym, arg);
		if (r)
			return r;
	}
	return 0;
}

struct find_arg {
	const char *name;
	struct elf_sym *out;
	int clones;
};

static int match_exact(const char *name, const GElf_Sym *sym, void *arg)
{
	struct find_arg *a = arg;

	if (strcmp(name, a->name))
		return 0;
	a->out->vaddr = sym->st_value;
	a->out->size = sym->st_size;
	return 1;
}

/* name of kind stt in the first table, then the second */
static int find_sym(struct elf_file *ef, const char *name, int stt, Elf64_Word first,
		    Elf64_Word second, struct elf_sym *out)
{
	struct find_arg a = { .name = name, .out = out };

	if (for_each_sym(ef, first, stt, match_exact, &a)) {
		out->table = first == SHT_SYMTAB ? ELF_SYMTAB : ELF_DYNSYM;
		return 0;
	}
	if (for_each_sym(ef, second, stt, match_exact, &a)) {
		out->table = second == SHT_SYMTAB ? ELF_SYMTAB : ELF_DYNSYM;
		return 0;
	}
	return -ENOENT;
}

int elf_find_func(struct elf_file *ef, const char *name, struct elf_sym *out)
{
	return find_sym(ef, name, STT_FUNC, SHT_SYMTAB, SHT_DYNSYM, out);
}

int elf_find_object(struct elf_file *ef, const char *name, struct elf_sym *out)
{
	return find_sym(ef, name, STT_OBJECT, SHT_DYNSYM, SHT_SYMTAB, out);
}

static int match_clone(const char *name, const GElf_Sym *sym, void *arg)
{
	struct find_arg *a = arg;
	size_t n = strlen(a->name);

	(void)sym;
	if (!strncmp(name, a->name, n) && name[n] == '.' && strcmp(name + n, ".cold"))
		a->clones++;
	return 0;
}

int elf_count_clones(struct elf_file *ef, const char *name)
{
	struct find_arg a = { .name = name };

	for_each_sym(ef, SHT_SYMTAB, STT_FUNC, match_clone, &a);
	return a.clones;
}

int elf_find_section(struct elf_file *ef, const char *name, uint64_t *vaddr,
		     uint64_t *offset, uint64_t *size)
{
	GElf_Shdr sh;

	if (!section_by_name(ef, name, &sh))
		return -ENOENT;
	if (vaddr)
		*vaddr = sh.sh_addr;
	if (offset)
		*offset = sh.sh_offset;
	if (size)
		*size = sh.sh_type == SHT_NOBITS ? 0 : sh.sh_size;
	return 0;
}

/* The next PT_LOAD program header from *i on: 1, 0 at the end, or -EINVAL. */
static int next_load(struct elf_file *ef, size_t *i, GElf_Phdr *ph)
{
	size_t n;

	if (elf_getphdrnum(ef->elf, &n))
		return -EINVAL;
	while (*i < n)
		if (gelf_getphdr(ef->elf, (int)(*i)++, ph) && ph->p_type == PT_LOAD)
			return 1;
	return 0;
}

int elf_vaddr_to_offset(struct elf_file *ef, uint64_t vaddr, uint64_t *offset)
{
	GElf_Phdr ph;
	size_t i = 0;
	int rc;

	while ((rc = next_load(ef, &i, &ph)) > 0) {
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
			*offset = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return rc ? rc : -ERANGE;
}

int elf_load_base(struct elf_file *ef, uint64_t *vaddr)
{
	GElf_Phdr ph;
	size_t i = 0;
	int rc = next_load(ef, &i, &ph);

	if (rc <= 0)
		return rc ? rc : -ENOENT;
	*vaddr = ph.p_align ? ph.p_vaddr - ph.p_vaddr % ph.p_align : ph.p_vaddr;
	return 0;
}

int elf_read_vaddr(struct elf_file *ef, uint64_t vaddr, void *buf, size_t len)
{
	uint64_t off;
	ssize_t r;
	int err = elf_vaddr_to_offset(ef, vaddr, &off);

	if (err)
		return err;
	r = pread(ef->fd, buf, len, (off_t)off);
	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -EIO;
}

int elf_file_crc32(const char *path, uint32_t *crc)
{
	unsigned char buf[65536];
	uLong c = crc32(0L, Z_NULL, 0);
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		c = crc32(c, buf, (uInt)r);
	close(fd);
	if (r < 0)
		return -EIO;
	*crc = (uint32_t)c;
	return 0;
}
