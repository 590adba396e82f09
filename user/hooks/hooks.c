// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include "target/debuginfod_fetch.h"
#include "hooks/x86_code.h"
#include "target/eh_frame.h"
#include "target/elf_file.h"
#include "hooks/hooks.h"
#include "target/proc.h"
#include "hooks/symfree.h"

static const struct {
	const char *func;
	bool required;
	bool per_step;
} hook_specs[HOOK_COUNT] = {
	[HOOK_STEP] = { "task_step_impl", true, true },
	[HOOK_INIT] = { "_asyncio_Task___init__", true, false },
	[HOOK_DEALLOC] = { "TaskObj_dealloc", true, false },
	[HOOK_SWAP] = { "swap_current_task", false, false },
	[HOOK_CANCEL] = { "_asyncio_Task_cancel", false, false },
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

	if (x86_code_call_sites(obj, h->vaddr, &cs) || cs.other_refs || cs.n == 0 ||
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

static void hook_note(const struct hook_set *hs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void hook_note(const struct hook_set *hs, const char *fmt, ...)
{
	va_list ap;

	if (hs->opts.quiet)
		return;
	fputs("aps-bpf: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void explain_missing(const struct interp *ip, const struct hook_set *hs,
			    const char *func, char *err, size_t errlen)
{
	char pkg[64];
	const char *hint = debuginfo_package_hint(ip->asyncio_obj, pkg, sizeof(pkg));
	const char *bid = hs->lookup.build_id[0] ? hs->lookup.build_id : "(none)";
	int n;

	n = snprintf(err, errlen,
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
	if (n < 0 || (size_t)n >= errlen)
		return;
	if (hs->debuginfod != SRC_NOT_TRIED)
		n += snprintf(err + n, errlen - (size_t)n, "\n  debuginfod: %s", hs->debuginfod_msg);
	else if (hs->opts.no_debuginfod)
		n += snprintf(err + n, errlen - (size_t)n, "\n  debuginfod: not asked (--no-debuginfod)");
	if (n >= 0 && (size_t)n < errlen && hs->symfree != SRC_NOT_TRIED)
		snprintf(err + n, errlen - (size_t)n, "\n  symbol-free: %s", hs->symfree_msg);
}

static bool required_missing(const struct hook_set *hs)
{
	for (int i = 0; i < HOOK_COUNT; i++)
		if (hs->h[i].required && !hs->h[i].found)
			return true;
	return false;
}

/* Look the missing hooks up in a debug file; true if it gave any. */
static bool lookup_missing(struct hook_set *hs, struct elf_file *dbg, const char *src)
{
	bool any = false;

	for (int i = 0; i < HOOK_COUNT; i++) {
		struct hook *h = &hs->h[i];

		if (!h->found && !lookup(dbg, h->func, h, src)) {
			h->found = true;
			any = true;
		}
	}
	return any;
}

/* A debug file from debuginfod, by the object's build-id. */
static void try_debuginfod(struct hook_set *hs, const char *bid)
{
	struct debuginfod_fetch_result *r = calloc(1, sizeof(*r));
	struct elf_file dbg;
	char got[129];
	int err;

	if (!r) {
		hs->debuginfod = SRC_FAILED;
		hs->debuginfod_err = -ENOMEM;
		snprintf(hs->debuginfod_msg, sizeof(hs->debuginfod_msg), "out of memory");
		return;
	}
	if (getenv("DEBUGINFOD_URLS") && *getenv("DEBUGINFOD_URLS"))
		hook_note(hs, "debuginfod: asking %s for build-id %s (DEBUGINFOD_URLS; --no-debuginfod to skip)",
			  getenv("DEBUGINFOD_URLS"), bid);
	err = debuginfod_fetch_debuginfo(bid, hs->opts.cancel, r);
	snprintf(hs->debuginfod_msg, sizeof(hs->debuginfod_msg), "%s", r->msg);
	snprintf(hs->debuginfod_server, sizeof(hs->debuginfod_server), "%s", r->server);
	hs->debuginfod_err = err;
	hs->debuginfod = SRC_FAILED;
	if (err == -ENOSYS) {
		hs->debuginfod = SRC_NOT_TRIED;	/* no server configured: nothing was asked */
		goto out;
	}
	if (!err && (err = elf_file_open(r->path, &dbg)) == 0) {
		if (elf_build_id(&dbg, got, sizeof(got)) || strcmp(got, bid)) {
			snprintf(hs->debuginfod_msg, sizeof(hs->debuginfod_msg),
				 "%.1024s: build-id does not match %s", r->path, bid);
			hs->debuginfod_err = -ESTALE;
		} else if (lookup_missing(hs, &dbg, "debuginfod")) {
			hs->debuginfod = SRC_USED;
			snprintf(hs->debug_path, sizeof(hs->debug_path), "%s", r->path);
		} else {
			snprintf(hs->debuginfod_msg + strlen(hs->debuginfod_msg),
				 sizeof(hs->debuginfod_msg) - strlen(hs->debuginfod_msg),
				 ", but it has none of the hook functions");
		}
		elf_file_close(&dbg);
	}
	hook_note(hs, "debuginfod: %s", hs->debuginfod_msg);
out:
	free(r);
}

static const char *const hook_test_names[HOOK_COUNT] = {
	[HOOK_STEP] = "step", [HOOK_INIT] = "init", [HOOK_DEALLOC] = "dealloc", [HOOK_SWAP] = "swap",
	[HOOK_CANCEL] = "cancel",
};

/*
 * Test hook: APS_TEST_BAD_CANDIDATE=HOOK:DELTA (HOOK: step, init,
 * dealloc, swap, cancel) moves that hook's symbol-free address by DELTA bytes,
 * so the tests can prove a wrong guess is refused, never probed.
 */
static void test_bad_candidate(struct hook_set *hs)
{
	const char *v = getenv("APS_TEST_BAD_CANDIDATE");
	const char *colon;
	char *end;
	long delta;

	if (!v || !(colon = strchr(v, ':')))
		return;
	errno = 0;
	delta = strtol(colon + 1, &end, 0);
	if (errno || *end || end == colon + 1)
		return;
	for (int i = 0; i < HOOK_COUNT; i++) {
		struct hook *h = &hs->h[i];

		if (strncmp(v, hook_test_names[i], (size_t)(colon - v)) ||
		    hook_test_names[i][colon - v] || !h->found || strcmp(h->source, "symbol-free"))
			continue;
		h->vaddr += (uint64_t)delta;
		snprintf(h->how + strlen(h->how), sizeof(h->how) - strlen(h->how),
			 " [moved by %+ld: APS_TEST_BAD_CANDIDATE]", delta);
	}
}

int hooks_live_bias(const struct interp *ip, struct elf_file *obj, uint64_t *bias)
{
	char rootlink[PATH_MAX] = "/", tpath[PATH_MAX];
	struct proc_maps maps;
	uint64_t start = UINT64_MAX, base;
	ssize_t n;
	int err;

	if (!ip->pid || !ip->asyncio_mapped)
		return -ENOENT;
	err = proc_read_maps(ip->pid, &maps);
	if (err)
		return err;
	n = readlink(ip->root, rootlink, sizeof(rootlink) - 1);
	rootlink[n > 0 ? n : 1] = '\0';
	for (int i = 0; i < maps.n; i++) {
		interp_target_path(rootlink, maps.v[i].path, tpath, sizeof(tpath));
		if (!strcmp(tpath, ip->asyncio_obj) && maps.v[i].start < start)
			start = maps.v[i].start;
	}
	proc_maps_free(&maps);
	if (start == UINT64_MAX)
		return -ENOENT;
	err = elf_load_base(obj, &base);
	if (err)
		return err;
	*bias = start - base;
	return 0;
}

/* Symbol-free analysis for the hooks still missing. */
static void try_symfree(const struct interp *ip, struct hook_set *hs, struct elf_file *obj)
{
	struct symfree_result *r = calloc(1, sizeof(*r));
	bool any = false;
	uint64_t bias;
	int err;

	hs->symfree = SRC_FAILED;
	if (!r) {
		snprintf(hs->symfree_msg, sizeof(hs->symfree_msg), "out of memory");
		return;
	}
	err = symfree_resolve(obj, ip->major == 3 ? ip->minor : 0, r);
	/* 3.10/3.11, module loaded: the live Task type must agree */
	if (!err && !hooks_live_bias(ip, obj, &bias) &&
	    symfree_check_live(ip->pid, bias, r, hs->symfree_live, sizeof(hs->symfree_live)) == -EINVAL) {
		snprintf(r->why, sizeof(r->why), "%s", hs->symfree_live);
		err = -EINVAL;
		memset(r->h, 0, sizeof(r->h));
	}
	for (int i = 0; i < HOOK_COUNT; i++) {
		struct hook *h = &hs->h[i];

		if (h->found || !r->h[i].found)
			continue;
		if (i == HOOK_SWAP && ip->minor < 12)
			continue;
		h->found = true;
		h->vaddr = r->h[i].vaddr;
		h->size = r->h[i].size;
		h->source = "symbol-free";
		snprintf(h->how, sizeof(h->how), "%s", r->h[i].how);
		any = true;
	}
	if (any)
		hs->symfree = SRC_USED;
	if (err)
		snprintf(hs->symfree_msg, sizeof(hs->symfree_msg),
			 "not for this build (Python %d.%d): %.512s", ip->major, ip->minor, r->why);
	else
		snprintf(hs->symfree_msg, sizeof(hs->symfree_msg),
			 "found from the binary itself: type slots, method tables, calls");
	free(r);
	test_bad_candidate(hs);
}

/* The checks a symbol-free address passes before a probe goes there. */
static int check_symfree_probe(struct elf_file *obj, const struct eh_frame_index *fdes,
			       const struct hook *h, char *why, size_t len)
{
	if (!eh_frame_at(fdes, h->vaddr)) {
		snprintf(why, len, "0x%llx does not start a function in .eh_frame",
			 (unsigned long long)h->vaddr);
		return -EINVAL;
	}
	if (!h->at_call_sites)
		return symfree_check_entry(obj, fdes, h->vaddr, h->probe_vaddr[0], why, len);
	for (int j = 0; j < h->nprobes; j++) {
		int err = symfree_check_call_site(obj, fdes, h->probe_vaddr[j], h->vaddr, why, len);

		if (err)
			return err;
	}
	return 0;
}

int hooks_resolve(const struct interp *ip, struct hook_set *hs, char *err, size_t errlen)
{
	struct elf_file obj = { .fd = -1 }, dbg = { .fd = -1 };
	struct eh_frame_index fdes = {};
	struct hook_opts opts = hs->opts;
	bool have_dbg = false;
	int rc;

	memset(hs, 0, sizeof(*hs));
	hs->opts = opts;
	rc = interp_host_path(ip, ip->asyncio_obj, hs->obj_host_path, sizeof(hs->obj_host_path));
	if (rc)
		goto cleanup;
	rc = elf_file_open(hs->obj_host_path, &obj);
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s", hs->obj_host_path, strerror(-rc));
		goto cleanup;
	}
	hs->obj_symtab = elf_has_symtab(&obj);
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
	if (required_missing(hs) && !have_dbg && !opts.no_debuginfod && hs->lookup.build_id[0])
		try_debuginfod(hs, hs->lookup.build_id);
	/* APS_TEST_NO_SYMFREE=1 (test hook): the path where every source fails */
	if (required_missing(hs) && !getenv("APS_TEST_NO_SYMFREE")) {
		try_symfree(ip, hs, &obj);
		if (hs->symfree == SRC_USED)
			hook_note(hs, "no symbols for %s (build-id %s): hook functions found symbol-free "
				  "(`aps-bpf doctor PID` shows how)", ip->asyncio_obj,
				  hs->lookup.build_id[0] ? hs->lookup.build_id : "none");
		if (hs->symfree == SRC_USED && eh_frame_load(&obj, &fdes)) {
			snprintf(err, errlen, "%s: cannot read .eh_frame to check the symbol-free addresses",
				 ip->asyncio_obj);
			rc = -ENOEXEC;
			goto cleanup;
		}
	}
	for (int i = 0; i < HOOK_COUNT; i++) {
		struct hook *h = &hs->h[i];
		bool symfree;
		char why[256];

		if (!h->found) {
			if (!h->required)
				continue;
			explain_missing(ip, hs, h->func, err, errlen);
			rc = -ENOENT;
			goto cleanup;
		}
		symfree = !strcmp(h->source, "symbol-free");
		if (symfree && !eh_frame_at(&fdes, h->vaddr)) {
			check_symfree_probe(&obj, &fdes, h, why, sizeof(why));
			goto refused;
		}
		rc = place_probe(&obj, h);
		if (rc) {
			snprintf(err, errlen, "%s: cannot place a probe on %s at 0x%llx: %s",
				 ip->asyncio_obj, h->func, (unsigned long long)h->vaddr, strerror(-rc));
			goto cleanup;
		}
		if (!symfree || !check_symfree_probe(&obj, &fdes, h, why, sizeof(why)))
			continue;
refused:
		if (!h->required) {
			hook_note(hs, "symbol-free candidate for %s refused: %s", h->func, why);
			h->found = false;
			h->nprobes = 0;
			continue;
		}
		snprintf(err, errlen, "%s: refusing to probe %s at 0x%llx (found symbol-free): %s",
			 ip->asyncio_obj, h->func, (unsigned long long)h->vaddr, why);
		rc = -EINVAL;
		goto cleanup;
	}
	rc = 0;
cleanup:
	eh_frame_free(&fdes);
	if (have_dbg)
		elf_file_close(&dbg);
	if (obj.fd >= 0)
		elf_file_close(&obj);
	return rc;
}
