/* SPDX-License-Identifier: MIT */
/*
 * user/hooks/: where the probes go: hook offsets from symbols, debug files,
 * or x86 code analysis when there are none.
 */
/* Where the probes go: hook functions of _asyncio resolved to file offsets. */
#ifndef APS_HOOKS_H
#define APS_HOOKS_H

#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <signal.h>
#include "target/interp.h"
#include "target/debuginfo.h"

enum hook_id {
	HOOK_STEP,	/* task_step_impl: every step, on every build */
	HOOK_INIT,	/* _asyncio_Task___init__: creation, and the creator */
	HOOK_DEALLOC,	/* TaskObj_dealloc: destruction */
	HOOK_SWAP,	/* swap_current_task (3.12+): end of an eager step */
	HOOK_CANCEL,	/* _asyncio_Task_cancel: Task.cancel() calls (optional) */
	HOOK_COUNT,
};

#define HOOK_MAX_PROBES 16

struct hook {
	const char *func;
	bool required;
	bool found;
	bool per_step;		/* hit on every task step: worth the cheapest probe point */
	uint64_t vaddr;		/* the function's address in the object */
	uint64_t size;
	const char *source;	/* "symtab", "dynsym", "debug file", "debuginfod", "symbol-free" */
	char how[320];		/* symbol-free: the evidence that found it */
	/*
	 * Where the probes sit: the entry (past an endbr64 onto a push), or,
	 * when the entry instruction would be single-stepped, every direct
	 * call/jmp to the function (calls are emulated; args are in place).
	 */
	int nprobes;
	bool at_call_sites;
	bool emulated;		/* every probe instruction is emulated by the kernel */
	uint64_t probe_vaddr[HOOK_MAX_PROBES];
	uint64_t file_offset[HOOK_MAX_PROBES];
	uint8_t insn[16];	/* bytes at the entry probe point */
	const char *how_probed;	/* arm64: "simulated" or "single-stepped" (NULL on x86-64) */
};

/* Inputs of hooks_resolve, set by the caller before it (kept across it). */
struct hook_opts {
	bool no_debuginfod;		/* --no-debuginfod: never ask a server */
	bool quiet;			/* no notes on stderr (doctor prints its own) */
	volatile sig_atomic_t *cancel;	/* stops a debuginfod download when set */
};

/* Where symbols were looked for, and what each source said. */
enum hook_src_state {
	SRC_NOT_TRIED = 0,
	SRC_USED,			/* gave at least one hook */
	SRC_FAILED,			/* tried: nothing (see the message) */
};

struct hook_set {
	struct hook h[HOOK_COUNT];
	struct hook_opts opts;
	char obj_host_path[PATH_MAX + 64];	/* the object, as we open it */
	char debug_path[PATH_MAX + 64];		/* "" when the object had symbols */
	struct debuginfo_lookup lookup;
	bool obj_symtab;			/* the object has a .symtab */
	int machine;				/* the object's e_machine */
	/* debuginfod, when no local debug file had the hooks */
	enum hook_src_state debuginfod;
	int debuginfod_err;
	char debuginfod_server[1024];		/* the server that answered ("" = cache) */
	char debuginfod_msg[1536];
	/* symbol-free, for the hooks still missing */
	enum hook_src_state symfree;
	char symfree_msg[640];
	char symfree_live[320];			/* the live cross-check (3.10/3.11), if done */
};

/*
 * Resolve the hooks: the object's .symtab, a local debug file (by
 * build-id or debuglink, in the target's root), a debug file from
 * debuginfod (unless opts.no_debuginfod), then symbol-free analysis
 * (symfree.h) whose every address is checked before a probe goes there.
 * 0, or -ENOENT with a message in err naming the build-id and the fix.
 * hs->opts is read, not cleared.
 */
/* Why the symbol-free analysis is not tried on an object that is not x86-64. */
#define HOOKS_SYMFREE_X86_ONLY "symbol-free hook search is x86-64 only: on arm64 install the " \
	"debug symbols or set DEBUGINFOD_URLS"

int hooks_resolve(const struct interp *ip, struct hook_set *hs, char *err, size_t errlen);
/* Load bias of the target's mapped asyncio object (live address - vaddr). */
struct elf_file;
int hooks_live_bias(const struct interp *ip, struct elf_file *obj, uint64_t *bias);
/* Offset of the probe point for a function's first bytes: skips an
 * endbr64 when a push (which the kernel emulates) follows it. */
unsigned hooks_probe_skip(const uint8_t *insn, size_t len);
/* Instruction the kernel emulates instead of single-stepping (push/nop). */
bool hooks_insn_emulated(const uint8_t *insn, size_t len);

#endif
