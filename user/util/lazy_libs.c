// SPDX-License-Identifier: MIT
/*
 * libcapstone and libdebuginfod, loaded on first use. Linked in, they cost
 * every run ~19 ms of loading (debuginfod brings curl, gnutls, krb5, ...),
 * while most runs need neither: a build with symbols needs no disassembler
 * and a local debug file no server. These definitions stand in for the
 * libraries' own; hidden, so the loaded libraries still bind to themselves.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#pragma GCC visibility push(hidden)
#include <capstone/capstone.h>
#include <elfutils/debuginfod.h>
#pragma GCC visibility pop

#define STR_(x) #x
#define STR(x) STR_(x)
#define CAPSTONE_SONAME "libcapstone.so." STR(CS_API_MAJOR)
#define DEBUGINFOD_SONAME "libdebuginfod.so.1"

struct lazy_lib {
	const char *soname;
	const char *package_hint;
	pthread_once_t once;
	void *handle;
};

static struct lazy_lib capstone = { CAPSTONE_SONAME, "libcapstone" STR(CS_API_MAJOR),
				    PTHREAD_ONCE_INIT, NULL };
static struct lazy_lib debuginfod = { DEBUGINFOD_SONAME, "libdebuginfod1",
				      PTHREAD_ONCE_INIT, NULL };

static void open_lib(struct lazy_lib *lib)
{
	lib->handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!lib->handle)
		fprintf(stderr, "aps-bpf: cannot load %s (%s; package %s)\n", lib->soname,
			dlerror(), lib->package_hint);
}

static void open_capstone(void) { open_lib(&capstone); }
static void open_debuginfod(void) { open_lib(&debuginfod); }

static void *sym(struct lazy_lib *lib, void (*open_once)(void), const char *name)
{
	void *p;

	pthread_once(&lib->once, open_once);
	if (!lib->handle)
		return NULL;
	p = dlsym(lib->handle, name);
	if (!p)
		fprintf(stderr, "aps-bpf: %s has no %s\n", lib->soname, name);
	return p;
}

/* fn: the library's function of this name, or NULL (then return fail) */
#define LAZY_FN(lib, open_once, name) \
	static __typeof__(name) *cached; \
	__typeof__(name) *fn = __atomic_load_n(&cached, __ATOMIC_ACQUIRE); \
	if (!fn) { \
		fn = (__typeof__(name) *)sym(&lib, open_once, #name); \
		__atomic_store_n(&cached, fn, __ATOMIC_RELEASE); \
	}
#define CAPSTONE_FN(name) LAZY_FN(capstone, open_capstone, name)
#define DEBUGINFOD_FN(name) LAZY_FN(debuginfod, open_debuginfod, name)

cs_err cs_open(cs_arch arch, cs_mode mode, csh *handle)
{
	CAPSTONE_FN(cs_open);
	return fn ? fn(arch, mode, handle) : CS_ERR_MEM;
}

cs_err cs_option(csh handle, cs_opt_type type, size_t value)
{
	CAPSTONE_FN(cs_option);
	return fn ? fn(handle, type, value) : CS_ERR_HANDLE;
}

cs_err cs_close(csh *handle)
{
	CAPSTONE_FN(cs_close);
	return fn ? fn(handle) : CS_ERR_HANDLE;
}

cs_insn *cs_malloc(csh handle)
{
	CAPSTONE_FN(cs_malloc);
	return fn ? fn(handle) : NULL;
}

void cs_free(cs_insn *insn, size_t count)
{
	CAPSTONE_FN(cs_free);
	if (fn)
		fn(insn, count);
}

size_t cs_disasm(csh handle, const uint8_t *code, size_t code_size, uint64_t address,
		 size_t count, cs_insn **insn)
{
	CAPSTONE_FN(cs_disasm);
	return fn ? fn(handle, code, code_size, address, count, insn) : 0;
}

bool cs_disasm_iter(csh handle, const uint8_t **code, size_t *size, uint64_t *address,
		    cs_insn *insn)
{
	CAPSTONE_FN(cs_disasm_iter);
	return fn ? fn(handle, code, size, address, insn) : false;
}

bool cs_insn_group(csh handle, const cs_insn *insn, unsigned int group_id)
{
	CAPSTONE_FN(cs_insn_group);
	return fn ? fn(handle, insn, group_id) : false;
}

debuginfod_client *debuginfod_begin(void)
{
	DEBUGINFOD_FN(debuginfod_begin);
	return fn ? fn() : NULL;
}

void debuginfod_end(debuginfod_client *client)
{
	DEBUGINFOD_FN(debuginfod_end);
	if (fn)
		fn(client);
}

int debuginfod_find_debuginfo(debuginfod_client *client, const unsigned char *build_id,
			      int build_id_len, char **path)
{
	DEBUGINFOD_FN(debuginfod_find_debuginfo);
	return fn ? fn(client, build_id, build_id_len, path) : -ENOSYS;
}

const char *debuginfod_get_url(debuginfod_client *client)
{
	DEBUGINFOD_FN(debuginfod_get_url);
	return fn ? fn(client) : NULL;
}

void *debuginfod_get_user_data(debuginfod_client *client)
{
	DEBUGINFOD_FN(debuginfod_get_user_data);
	return fn ? fn(client) : NULL;
}

void debuginfod_set_user_data(debuginfod_client *client, void *data)
{
	DEBUGINFOD_FN(debuginfod_set_user_data);
	if (fn)
		fn(client, data);
}

void debuginfod_set_progressfn(debuginfod_client *client, debuginfod_progressfn_t fn_)
{
	DEBUGINFOD_FN(debuginfod_set_progressfn);
	if (fn)
		fn(client, fn_);
}
