// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include "disasm.h"
#include "elf_file.h"
#include "hooks.h"

static const struct {
	const char *func;
	bool required;
	bool per_step;
} hook_specs[HOOK_COUNT] = {
	[HOOK_STEP] = { "task_step_impl", true, true },
	[HOOK_INIT] = { "_asyncio_Task___init__", true, false },
	[HOOK_DEALLOC] = { "TaskObj_dealloc", true, false },
	[HOOK_SWAP] = { "swap_current_task", false, false },
};

static bool is_push(const uint8_t *p, size_t len)
{
	if (len >= 1 && p[0] >= 0x50 && p[0] <= 0x57)
		return true;
	return len >= 2 && p[0] == 0x41 && p[1] >= 0x50 && p[1] <= 0x57;
}

bool hooks_insn_emulated(const uint8_t *insn, size_t len)
{
	return is_push(insn, len) || (len >= 1 && insn[0] == 0x90);
}

unsigned hooks_probe_skip(const uint8_t *insn, size_t len)
{
	static const uint8_t endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };

	if (len >= 6 && !memcmp(insn, endbr64, 4) && is_push(insn + 4, len - 4))
		return 4;
	return 0;
}

static int lookup(struct elf_file *ef, const char *func, struct hook *h, const char *src)
{
	struct elf_sym sym;

	if (elf_find_func(ef, func, &sym))
		return -ENOENT;
	h->vaddr = sym.vaddr;
	h->size = sym.size;
	h->source = sym.table == ELF_SYMTAB ? src : "dynsym";
	return 0;
}

/* Probe every direct call/jmp to the function, if those are all its callers. */
static bool place_at_call_sites(struct elf_file *obj, struct hook *h)
{
	struct call_sites cs;

	if (disasm_call_sites(obj, h->vaddr, &cs) || cs.other_refs || cs.n == 0 ||
	    cs.n > HOOK_MAX_PROBES)
		return false;
	for (int i = 0; i < cs.n; i++) {
		if (elf_vaddr_to_offset(obj, cs.site[i], &h->file_offset[i]))
			return false;
		h->probe_vaddr[i] = cs.site[i];
	}
	h->nprobes = cs.n;
	h->at_call_sites = true;
	h->emulated = true;
	return true;
}

static int place_probe(struct elf_file *obj, struct hook *h)
{
	int err = elf_read_vaddr(obj, h->vaddr, h->insn, sizeof(h->insn));
	unsigned skip;

	if (err)
		return err;
	skip = hooks_probe_skip(h->insn, sizeof(h->insn));
	if (skip) {
		memmove(h->insn, h->insn + skip, sizeof(h->insn) - skip);
		memset(h->insn + sizeof(h->insn) - skip, 0, skip);
	}
	h->emulated = hooks_insn_emulated(h->insn, sizeof(h->insn));
	if (!h->emulated && h->per_step && !getenv("APS_PROBE_AT_ENTRY") &&
	    place_at_call_sites(obj, h))
		return 0;
	h->nprobes = 1;
	h->at_call_sites = false;
	h->probe_vaddr[0] = h->vaddr + skip;
	return elf_vaddr_to_offset(obj, h->probe_vaddr[0], &h->file_offset[0]);
}

static void explain_missing(const struct interp *ip, const struct hook_set *hs,
			    const char *func, char *err, size_t errlen)
{
	char pkg[64];
	const char *hint = debuginfo_package_hint(ip->asyncio_obj, pkg, sizeof(pkg));
	const char *bid = hs->lookup.build_id[0] ? hs->lookup.build_id : "(none)";

	snprintf(err, errlen,
		 "%s has no symbol for %s and no matching debug file was found\n"
		 "  build-id: %s\n"
		 "  looked for: %s%s%s\n"
		 "  fix: install %s%s, or put the debug file at /usr/lib/debug/.build-id/%.2s/%s.debug inside the target's root",
		 ip->asyncio_obj, func, bid,
		 hs->lookup.ntried > 0 ? hs->lookup.tried[0] : "-",
		 hs->lookup.ntried > 1 ? ", " : "",
		 hs->lookup.ntried > 1 ? hs->lookup.tried[1] : "",
		 hint ? hint : "the interpreter's debug symbols package",
		 hint ? " (Debian/Ubuntu)" : "",
		 bid[0] != '(' ? bid : "NN", bid[0] != '(' ? bid + 2 : "REST");
}

int hooks_resolve(const struct interp *ip, struct hook_set *hs, char *err, size_t errlen)
{
	struct elf_file obj = { .fd = -1 }, dbg = { .fd = -1 };
	bool have_dbg = false;
	int rc;

	memset(hs, 0, sizeof(*hs));
	rc = interp_host_path(ip, ip->asyncio_obj, hs->obj_host_path, sizeof(hs->obj_host_path));
	if (rc)
		goto cleanup;
	rc = elf_file_open(hs->obj_host_path, &obj);
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s", hs->obj_host_path, strerror(-rc));
		goto cleanup;
	}
	for (int i = 0; i < HOOK_COUNT; i++) {
		struct hook *h = &hs->h[i];

		h->func = hook_specs[i].func;
		h->required = hook_specs[i].required;
		h->per_step = hook_specs[i].per_step;
		if (!lookup(&obj, h->func, h, "symtab")) {
			h->found = true;
			continue;
		}
		if (!have_dbg && !hs->debug_path[0]) {
			if (debuginfo_find(ip->root, ip->asyncio_obj, &obj, hs->debug_path,
					   sizeof(hs->debug_path), &hs->lookup) == 0 &&
			    elf_file_open(hs->debug_path, &dbg) == 0)
				have_dbg = true;
			else
				hs->debug_path[0] = '\0';
		}
		if (have_dbg && !lookup(&dbg, h->func, h, "debug file"))
			h->found = true;
	}
	if (!hs->lookup.build_id[0])
		elf_build_id(&obj, hs->lookup.build_id, sizeof(hs->lookup.build_id));
	for (int i = 0; i < HOOK_COUNT; i++) {
		struct hook *h = &hs->h[i];

		if (!h->found) {
			if (!h->required)
				continue;
			explain_missing(ip, hs, h->func, err, errlen);
			rc = -ENOENT;
			goto cleanup;
		}
		rc = place_probe(&obj, h);
		if (rc) {
			snprintf(err, errlen, "%s: cannot place a probe on %s at 0x%llx: %s",
				 ip->asyncio_obj, h->func, (unsigned long long)h->vaddr, strerror(-rc));
			goto cleanup;
		}
	}
	rc = 0;
cleanup:
	if (have_dbg)
		elf_file_close(&dbg);
	if (obj.fd >= 0)
		elf_file_close(&obj);
	return rc;
}
