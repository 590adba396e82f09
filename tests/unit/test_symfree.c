// SPDX-License-Identifier: MIT
/*
 * Symbol-free hook resolution against the truth: for each of the six
 * builds of the test bed, what symfree finds must equal what the symbol
 * table (pyenv) or the debug file (Debian, sid) says, on the module and
 * on a `strip --strip-all` copy of it; hooks_resolve on a stripped copy
 * with no debug file anywhere uses it; wrong addresses are refused.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "target/debuginfo.h"
#include "target/debuginfod_fetch.h"
#include "target/eh_frame.h"
#include "target/elf_file.h"
#include "hooks/hooks.h"
#include "target/interp.h"
#include "hooks/symfree.h"

#define SID_ROOT "/var/cache/aps-bpf/sid-root"

static const struct build {
	const char *label;
	const char *root;	/* where its debug file is ("" = host) */
	const char *module;	/* inside root */
	int minor;
} builds[] = {
	{ "pyenv-3.10", "", "/root/.pyenv/versions/3.10.13/lib/python3.10/lib-dynload/_asyncio.cpython-310-x86_64-linux-gnu.so", 10 },
	{ "pyenv-3.11", "", "/root/.pyenv/versions/3.11.7/lib/python3.11/lib-dynload/_asyncio.cpython-311-x86_64-linux-gnu.so", 11 },
	{ "pyenv-3.12", "", "/root/.pyenv/versions/3.12.1/lib/python3.12/lib-dynload/_asyncio.cpython-312-x86_64-linux-gnu.so", 12 },
	{ "pyenv-3.13", "", "/root/.pyenv/versions/3.13.0/lib/python3.13/lib-dynload/_asyncio.cpython-313-x86_64-linux-gnu.so", 13 },
	{ "debian-3.11", "", "/usr/lib/python3.11/lib-dynload/_asyncio.cpython-311-x86_64-linux-gnu.so", 11 },
	{ "sid-3.14", SID_ROOT, "/usr/lib/python3.14/lib-dynload/_asyncio.cpython-314-x86_64-linux-gnu.so", 14 },
};
#define NBUILDS (int)(sizeof(builds) / sizeof(builds[0]))

static const char *const hook_funcs[HOOK_COUNT] = {
	"task_step_impl", "_asyncio_Task___init__", "TaskObj_dealloc", "swap_current_task",
	"_asyncio_Task_cancel",
};

struct truth {
	uint64_t vaddr[HOOK_COUNT];	/* 0: the build has no such function */
	const char *from;
};

static void host_path(const struct build *b, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", b->root, b->module);
}

/* The symbol table's answer: the module's .symtab, else its debug file. */
static bool truth_of(const struct build *b, struct truth *t)
{
	struct elf_file ef, dbg;
	struct debuginfo_lookup info;
	char path[4096], dpath[4096];
	struct elf_file *src = &ef;
	bool have_dbg = false;

	memset(t, 0, sizeof(*t));
	host_path(b, path, sizeof(path));
	if (elf_file_open(path, &ef))
		return false;
	t->from = "symtab";
	if (!elf_has_symtab(&ef)) {
		if (debuginfo_find(b->root, b->module, &ef, dpath, sizeof(dpath), &info) ||
		    elf_file_open(dpath, &dbg)) {
			elf_file_close(&ef);
			return false;
		}
		have_dbg = true;
		src = &dbg;
		t->from = "debug file";
	}
	for (int i = 0; i < HOOK_COUNT; i++) {
		struct elf_sym sym;

		if (!elf_find_func(src, hook_funcs[i], &sym))
			t->vaddr[i] = sym.vaddr;
	}
	if (have_dbg)
		elf_file_close(&dbg);
	elf_file_close(&ef);
	return true;
}

/* A `strip --strip-all` copy of the module at dir/<name> (dir made). */
static bool stripped_copy(const struct build *b, const char *dir, char *out, size_t len)
{
	char src[4096], cmd[9000];
	const char *base = strrchr(b->module, '/') + 1;

	host_path(b, src, sizeof(src));
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && strip --strip-all -o '%s/%s' '%s'", dir, dir,
		 base, src);
	snprintf(out, len, "%s/%s", dir, base);
	return system(cmd) == 0;
}

static void check_against_truth(const struct build *b, const char *obj_path)
{
	struct symfree_result r;
	struct elf_file ef;
	struct truth t;
	int err;

	REQUIRE(truth_of(b, &t));
	REQUIRE(elf_file_open(obj_path, &ef) == 0);
	err = symfree_resolve(&ef, b->minor, &r);
	if (err)
		fprintf(stderr, "%s: %s\n", b->label, r.why);
	CHECK_EQ_INT(err, 0);
	for (int i = 0; i < HOOK_COUNT; i++) {
		if (i == HOOK_SWAP && b->minor < 12) {
			CHECK(!r.h[i].found);	/* no swap_current_task before 3.12 */
			continue;
		}
		if (r.h[i].vaddr != t.vaddr[i])
			fprintf(stderr, "%s %s: symbol-free 0x%llx (%s), %s 0x%llx\n", b->label,
				hook_funcs[i], (unsigned long long)r.h[i].vaddr, r.h[i].how, t.from,
				(unsigned long long)t.vaddr[i]);
		CHECK(r.h[i].found);
		CHECK_EQ_INT(r.h[i].vaddr, t.vaddr[i]);
		CHECK(r.h[i].size > 0);
		CHECK(r.h[i].how[0]);
	}
	elf_file_close(&ef);
}

TEST(symbol_free_equals_symbols_on_every_bed_build)
{
	for (int i = 0; i < NBUILDS; i++) {
		char path[4096];

		host_path(&builds[i], path, sizeof(path));
		check_against_truth(&builds[i], path);
	}
}

TEST(symbol_free_on_stripped_copies)
{
	for (int i = 0; i < NBUILDS; i++) {
		char dir[256], path[4096];
		struct elf_file ef;

		snprintf(dir, sizeof(dir), "/tmp/aps-unit-symfree-%d/%s", (int)getpid(), builds[i].label);
		REQUIRE(stripped_copy(&builds[i], dir, path, sizeof(path)));
		REQUIRE(elf_file_open(path, &ef) == 0);
		CHECK(!elf_has_symtab(&ef));
		elf_file_close(&ef);
		check_against_truth(&builds[i], path);
		/* the version is a hint only: without it, the same answer */
		struct symfree_result r0, r1;
		REQUIRE(elf_file_open(path, &ef) == 0);
		CHECK(symfree_resolve(&ef, 0, &r0) == 0);
		CHECK(symfree_resolve(&ef, builds[i].minor, &r1) == 0);
		for (int h = 0; h < HOOK_SWAP; h++)
			CHECK_EQ_INT(r0.h[h].vaddr, r1.h[h].vaddr);
		CHECK(symfree_has_asyncio(&ef));
		elf_file_close(&ef);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf /tmp/aps-unit-symfree-%d", (int)getpid());
	CHECK(system(cmd) == 0);
}

/* Objects without _asyncio (big ones too: libpython, a static python): a clean no. */
TEST(not_asyncio)
{
	static const char *const objs[] = {
		"/bin/true",
		"/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0",
		"/usr/bin/python3.11",
	};

	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		struct symfree_result *r = calloc(1, sizeof(*r));
		struct elf_file ef;

		REQUIRE(r);
		REQUIRE(elf_file_open(objs[i], &ef) == 0);
		CHECK(!symfree_has_asyncio(&ef));
		CHECK(symfree_resolve(&ef, 12, r) == -ENOENT);
		CHECK(strstr(r->why, "_asyncio.Task") != NULL);
		CHECK(symfree_resolve(&ef, 0, r) == -ENOENT);
		elf_file_close(&ef);
		free(r);
	}
}

/* The checks on real functions of the bed, right and wrong. */
TEST(checks_refuse_wrong_addresses)
{
	for (int i = 0; i < NBUILDS; i++) {
		const struct build *b = &builds[i];
		struct eh_frame_index fdes;
		struct elf_file ef;
		struct truth t;
		char path[4096], why[256];
		uint8_t head[4];

		REQUIRE(truth_of(b, &t));
		host_path(b, path, sizeof(path));
		REQUIRE(elf_file_open(path, &ef) == 0);
		REQUIRE(eh_frame_load(&ef, &fdes) == 0);
		for (int h = 0; h < HOOK_COUNT; h++) {
			uint64_t f = t.vaddr[h];
			const struct fde_range *fr;

			if (!f)
				continue;
			fr = eh_frame_at(&fdes, f);
			REQUIRE(fr != NULL);
			REQUIRE(elf_read_vaddr(&ef, f, head, 4) == 0);
			bool endbr = head[0] == 0xf3 && head[1] == 0x0f && head[2] == 0x1e && head[3] == 0xfa;
			CHECK(symfree_check_entry(&ef, &fdes, f, f, why, sizeof(why)) == 0);
			CHECK_EQ_INT(symfree_check_entry(&ef, &fdes, f, f + 4, why, sizeof(why)),
				     endbr ? 0 : -EINVAL);
			/* one byte in: not an FDE start, so never probed */
			CHECK(symfree_check_entry(&ef, &fdes, f + 1, f + 1, why, sizeof(why)) == -EINVAL);
			CHECK(strstr(why, ".eh_frame") != NULL);
			/* a real function, but the probe point is inside it */
			CHECK(symfree_check_entry(&ef, &fdes, f, f + 2, why, sizeof(why)) == -EINVAL);
			/* the next instruction boundary inside: still not a function start */
			CHECK(symfree_check_entry(&ef, &fdes, f + (endbr ? 4 : 1), f + (endbr ? 4 : 1),
						  why, sizeof(why)) == -EINVAL);
		}
		eh_frame_free(&fdes);
		elf_file_close(&ef);
	}
}

/* Call sites: real ones pass; one byte off, or to another target, do not. */
TEST(call_site_checks)
{
	const struct build *b = &builds[5];	/* sid 3.14: task_step_impl is probed at its calls */
	struct eh_frame_index fdes;
	struct elf_file ef;
	struct truth t;
	char path[4096], why[256];
	uint64_t step;
	int n = 0;

	REQUIRE(truth_of(b, &t));
	step = t.vaddr[HOOK_STEP];
	host_path(b, path, sizeof(path));
	REQUIRE(elf_file_open(path, &ef) == 0);
	REQUIRE(eh_frame_load(&ef, &fdes) == 0);
	for (size_t k = 0; k < fdes.n; k++) {
		uint8_t *code = malloc(fdes.v[k].size);

		REQUIRE(code);
		REQUIRE(elf_read_vaddr(&ef, fdes.v[k].start, code, fdes.v[k].size) == 0);
		for (uint64_t o = 0; o + 5 <= fdes.v[k].size; o++) {
			int32_t rel;
			uint64_t site = fdes.v[k].start + o;

			memcpy(&rel, code + o + 1, 4);
			if (code[o] != 0xe8 || site + 5 + (uint64_t)(int64_t)rel != step)
				continue;
			n++;
			CHECK(symfree_check_call_site(&ef, &fdes, site, step, why, sizeof(why)) == 0);
			CHECK(symfree_check_call_site(&ef, &fdes, site + 1, step, why, sizeof(why)) == -EINVAL);
			CHECK(symfree_check_call_site(&ef, &fdes, site, step + 1, why, sizeof(why)) == -EINVAL);
		}
		free(code);
	}
	CHECK_EQ_INT(n, 3);
	eh_frame_free(&fdes);
	elf_file_close(&ef);
}

/* A root holding only a stripped copy: no debug file anywhere. */
static bool stripped_root(const struct build *b, char *root, size_t rlen, struct interp *ip)
{
	char path[4096];

	snprintf(root, rlen, "/tmp/aps-unit-root-%d-%s", (int)getpid(), b->label);
	if (!stripped_copy(b, root, path, sizeof(path)))
		return false;
	memset(ip, 0, sizeof(*ip));
	ip->major = 3;
	ip->minor = b->minor;
	ip->micro = -1;
	snprintf(ip->root, sizeof(ip->root), "%s", root);
	snprintf(ip->asyncio_obj, sizeof(ip->asyncio_obj), "%s", strrchr(path, '/'));
	ip->asyncio_mapped = true;
	return true;
}

static void remove_root(const char *root)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
}

TEST(hooks_resolve_uses_symbol_free_when_nothing_else)
{
	for (int i = 0; i < NBUILDS; i++) {
		const struct build *b = &builds[i];
		struct hook_set *hs = calloc(1, sizeof(*hs)), *ref = calloc(1, sizeof(*ref));
		struct interp ip, rip = { .major = 3, .minor = b->minor, .micro = -1,
					  .asyncio_mapped = true };
		struct truth t;
		char root[256], err[2048] = "";
		int rc;

		REQUIRE(hs && ref);
		REQUIRE(truth_of(b, &t));
		/* the reference: the same module, with its symbols or debug file */
		snprintf(rip.root, sizeof(rip.root), "%s", b->root);
		snprintf(rip.asyncio_obj, sizeof(rip.asyncio_obj), "%s", b->module);
		ref->opts.quiet = true;
		ref->opts.no_debuginfod = true;
		REQUIRE(hooks_resolve(&rip, ref, err, sizeof(err)) == 0);
		CHECK_EQ_INT(ref->symfree, SRC_NOT_TRIED);
		REQUIRE(stripped_root(b, root, sizeof(root), &ip));
		hs->opts.no_debuginfod = true;
		hs->opts.quiet = true;
		rc = hooks_resolve(&ip, hs, err, sizeof(err));
		if (rc)
			fprintf(stderr, "%s: %s\n", b->label, err);
		CHECK_EQ_INT(rc, 0);
		CHECK(hs->opts.no_debuginfod);	/* inputs survive */
		CHECK_EQ_INT(hs->symfree, SRC_USED);
		CHECK_EQ_INT(hs->debuginfod, SRC_NOT_TRIED);
		for (int h = 0; h < HOOK_COUNT; h++) {
			if (!t.vaddr[h]) {
				CHECK(!hs->h[h].found);
				continue;
			}
			CHECK(hs->h[h].found);
			CHECK_EQ_STR(hs->h[h].source, "symbol-free");
			CHECK_EQ_INT(hs->h[h].vaddr, t.vaddr[h]);
			CHECK(hs->h[h].nprobes >= 1);
			/* the probes go exactly where they go with symbols */
			CHECK_EQ_INT(hs->h[h].nprobes, ref->h[h].nprobes);
			CHECK_EQ_INT(hs->h[h].emulated, ref->h[h].emulated);
			CHECK_EQ_INT(hs->h[h].at_call_sites, ref->h[h].at_call_sites);
			CHECK_EQ_INT(hs->h[h].size, ref->h[h].size);
			for (int j = 0; j < hs->h[h].nprobes && j < HOOK_MAX_PROBES; j++) {
				CHECK_EQ_INT(hs->h[h].probe_vaddr[j], ref->h[h].probe_vaddr[j]);
				CHECK_EQ_INT(hs->h[h].file_offset[j], ref->h[h].file_offset[j]);
			}
		}
		/* sid's GCC 16 task_step_impl starts with `sub`: its calls are probed */
		if (b->minor == 14) {
			CHECK(hs->h[HOOK_STEP].at_call_sites);
			CHECK_EQ_INT(hs->h[HOOK_STEP].nprobes, 3);
		}
		/* a task step costs one emulated probe hit, with or without symbols */
		CHECK(hs->h[HOOK_STEP].emulated);
		remove_root(root);
		free(hs);
		free(ref);
	}
}

TEST(bad_candidate_is_refused_never_placed)
{
	static const char *const moves[] = { "step:+1", "init:+1", "dealloc:+3", "step:-1",
					     "init:+0x10", "swap:+1", "cancel:+1" };
	const struct build *b = &builds[2];	/* 3.12: has all five hooks */

	for (size_t m = 0; m < sizeof(moves) / sizeof(moves[0]); m++) {
		struct hook_set *hs = calloc(1, sizeof(*hs));
		struct interp ip;
		char root[256], err[2048] = "";
		int rc;

		REQUIRE(hs);
		REQUIRE(stripped_root(b, root, sizeof(root), &ip));
		setenv("APS_TEST_BAD_CANDIDATE", moves[m], 1);
		hs->opts.no_debuginfod = true;
		hs->opts.quiet = true;
		rc = hooks_resolve(&ip, hs, err, sizeof(err));
		unsetenv("APS_TEST_BAD_CANDIDATE");
		if (!strncmp(moves[m], "swap", 4) || !strncmp(moves[m], "cancel", 6)) {
			int h = moves[m][0] == 's' ? HOOK_SWAP : HOOK_CANCEL;

			/* optional: dropped, the rest still resolves */
			CHECK_EQ_INT(rc, 0);
			CHECK(!hs->h[h].found);
			CHECK_EQ_INT(hs->h[h].nprobes, 0);
			CHECK(hs->h[HOOK_STEP].found && hs->h[HOOK_INIT].found);
		} else {
			CHECK_EQ_INT(rc, -EINVAL);
			CHECK(strstr(err, "refusing to probe") != NULL);
			CHECK(strstr(err, "does not start a function") != NULL);
		}
		remove_root(root);
		free(hs);
	}
}

/* The symtab route is untouched: pyenv resolves from its own .symtab. */
TEST(symtab_first)
{
	const struct build *b = &builds[3];
	struct hook_set *hs = calloc(1, sizeof(*hs));
	struct interp ip = { .major = 3, .minor = 13, .micro = -1, .asyncio_mapped = true };
	char err[2048];

	REQUIRE(hs);
	snprintf(ip.asyncio_obj, sizeof(ip.asyncio_obj), "%s", b->module);
	hs->opts.quiet = true;
	CHECK(hooks_resolve(&ip, hs, err, sizeof(err)) == 0);
	for (int h = 0; h < HOOK_COUNT; h++)
		CHECK_EQ_STR(hs->h[h].source, "symtab");
	CHECK_EQ_INT(hs->symfree, SRC_NOT_TRIED);
	CHECK_EQ_INT(hs->debuginfod, SRC_NOT_TRIED);
	free(hs);
}

/* 3.10/3.11 snapshots need _asyncio's static all_tasks: found without symbols too */
TEST(all_tasks_static_on_310_311)
{
	for (int i = 0; i < NBUILDS; i++) {
		const struct build *b = &builds[i];
		struct elf_file ef, dbg;
		struct debuginfo_lookup info;
		struct elf_sym sym;
		char path[4096], dpath[4096], how[512];
		uint64_t v = 0;
		int err;

		if (b->minor > 11)
			continue;
		host_path(b, path, sizeof(path));
		REQUIRE(elf_file_open(path, &ef) == 0);
		if (elf_find_object(&ef, "all_tasks", &sym)) {
			REQUIRE(debuginfo_find(b->root, b->module, &ef, dpath, sizeof(dpath), &info) == 0);
			REQUIRE(elf_file_open(dpath, &dbg) == 0);
			REQUIRE(elf_find_object(&dbg, "all_tasks", &sym) == 0);
			elf_file_close(&dbg);
		}
		err = symfree_find_all_tasks(&ef, &v, how, sizeof(how));
		if (err)
			fprintf(stderr, "%s: %s\n", b->label, how);
		CHECK_EQ_INT(err, 0);
		CHECK_EQ_INT(v, sym.vaddr);
		elf_file_close(&ef);
	}
}

TEST(debuginfod_urls)
{
	char host[64], port[8], server[64];

	CHECK(debuginfod_fetch_parse_url("http://127.0.0.1:8002", host, sizeof(host), port, sizeof(port)) == 0);
	CHECK_EQ_STR(host, "127.0.0.1");
	CHECK_EQ_STR(port, "8002");
	CHECK(debuginfod_fetch_parse_url("https://debuginfod.debian.net/", host, sizeof(host), port, sizeof(port)) == 0);
	CHECK_EQ_STR(host, "debuginfod.debian.net");
	CHECK_EQ_STR(port, "443");
	CHECK(debuginfod_fetch_parse_url("http://[::1]:99/x", host, sizeof(host), port, sizeof(port)) == 0);
	CHECK_EQ_STR(host, "::1");
	CHECK_EQ_STR(port, "99");
	CHECK(debuginfod_fetch_parse_url("http://h", host, sizeof(host), port, sizeof(port)) == 0);
	CHECK_EQ_STR(port, "80");
	CHECK(debuginfod_fetch_parse_url("ftp://h", host, sizeof(host), port, sizeof(port)) == -EINVAL);
	CHECK(debuginfod_fetch_parse_url("http://:80", host, sizeof(host), port, sizeof(port)) == -EINVAL);
	CHECK(debuginfod_fetch_parse_url("http://h:8x", host, sizeof(host), port, sizeof(port)) == -EINVAL);
	CHECK(debuginfod_fetch_parse_url("http://[::1", host, sizeof(host), port, sizeof(port)) == -EINVAL);
	debuginfod_fetch_server_of("http://127.0.0.1:8002/buildid/ab/debuginfo", server, sizeof(server));
	CHECK_EQ_STR(server, "http://127.0.0.1:8002");
	debuginfod_fetch_server_of("http://h/prefix/buildid/ab/debuginfo", server, sizeof(server));
	CHECK_EQ_STR(server, "http://h/prefix");
	debuginfod_fetch_server_of("http://a-very-long-host-name.example/buildid/x", server, 8);
	CHECK_EQ_STR(server, "http://");
	CHECK(debuginfod_fetch_unreachable(-ECONNREFUSED));
	CHECK(!debuginfod_fetch_unreachable(-ENOENT));
}

TEST(debuginfod_unset_is_not_an_error_to_show)
{
	struct debuginfod_fetch_result r;
	char *old = getenv("DEBUGINFOD_URLS") ? strdup(getenv("DEBUGINFOD_URLS")) : NULL;

	unsetenv("DEBUGINFOD_URLS");
	CHECK(debuginfod_fetch_debuginfo("0123456789abcdef0123456789abcdef01234567", NULL, &r) == -ENOSYS);
	CHECK(strstr(r.msg, "DEBUGINFOD_URLS") != NULL);
	if (old) {
		setenv("DEBUGINFOD_URLS", old, 1);
		free(old);
	}
}

UNIT_MAIN()
