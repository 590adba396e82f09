// SPDX-License-Identifier: MIT
/*
 * `aps-bpf doctor PID`: how aps-bpf would trace a process, without
 * attaching: the interpreter build, the object with the asyncio C code,
 * where each hook function was found (symtab, debug file, debuginfod,
 * symbol-free) and why, where its probes go, and what a step costs.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <capstone/capstone.h>
#include "cli/commands.h"
#include "loop/loop_tracer.h"
#include "cli/options.h"
#include "target/elf_file.h"
#include "hooks/hooks.h"
#include "target/layout_runtime.h"
#include "target/proc.h"
#include "hooks/symfree.h"
#include "live/kernel_probe.h"
#include "live/session.h"

static const char doctor_usage[] =
	"usage: aps-bpf doctor [--explain] [--no-debuginfod] PID\n"
	"\n"
	"Explain how aps-bpf would trace process PID, without attaching to it: the\n"
	"interpreter build, the object holding the asyncio C code, how each hook\n"
	"function was found (symtab, debug file, debuginfod, symbol-free) and where\n"
	"its probes go, and the probe cost of a task step. --explain also runs the\n"
	"symbol-free analysis when symbols were found and compares the two, and shows\n"
	"the lookups tried. Exit 0 when the process can be traced, 1 when not.\n";

/* The compiler the object was built with (.comment), or "". */
static void elf_comment(struct elf_file *ef, char *buf, size_t len)
{
	uint64_t off, size;
	ssize_t n;

	buf[0] = '\0';
	if (elf_find_section(ef, ".comment", NULL, &off, &size) || size == 0)
		return;
	if (size >= len)
		size = len - 1;
	n = pread(ef->fd, buf, size, (off_t)off);
	buf[n > 0 ? n : 0] = '\0';
	/* the first string; later ones repeat the linker's */
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

struct obj_facts {
	bool ok;
	bool symtab;
	char build_id[129];
	char comment[160];
};

static void obj_facts(const struct interp *ip, const char *target_path, struct obj_facts *f)
{
	char host[PATH_MAX + 64];
	struct elf_file ef;

	memset(f, 0, sizeof(*f));
	if (interp_host_path(ip, target_path, host, sizeof(host)) || elf_file_open(host, &ef))
		return;
	f->ok = true;
	f->symtab = elf_has_symtab(&ef);
	if (elf_build_id(&ef, f->build_id, sizeof(f->build_id)))
		snprintf(f->build_id, sizeof(f->build_id), "none");
	elf_comment(&ef, f->comment, sizeof(f->comment));
	elf_file_close(&ef);
}

static const char *build_flavor(const struct interp *ip, char *buf, size_t len)
{
	char pkg[64];

	if (strstr(ip->runtime_obj, "/.pyenv/versions/"))
		return "a pyenv build";
	if (debuginfo_package_hint(ip->asyncio_obj, pkg, sizeof(pkg))) {
		snprintf(buf, len, "a Debian/Ubuntu package (debug symbols: %s)", pkg);
		return buf;
	}
	if (!strncmp(ip->runtime_obj, "/usr/", 5))
		return "a distribution build";
	return "a custom build";
}

/* "push rbp" (or "paciasp") for the instruction bytes of a probe point. */
static void insn_text(const uint8_t *code, size_t len, uint64_t addr, int machine,
		      char *buf, size_t blen)
{
	cs_insn *insn = NULL;
	csh cs;
	size_t n;

	snprintf(buf, blen, "?");
	if (machine == EM_AARCH64 ? cs_open(CS_ARCH_ARM64, CS_MODE_ARM, &cs) != CS_ERR_OK :
	    cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
		return;
	n = cs_disasm(cs, code, len, addr, 1, &insn);
	if (n == 1)
		snprintf(buf, blen, "%s%s%s", insn->mnemonic, insn->op_str[0] ? " " : "", insn->op_str);
	if (insn)
		cs_free(insn, n);
	cs_close(&cs);
}

static const char *cost_word(const struct hook *h)
{
	if (h->how_probed)
		return h->how_probed;
	return h->emulated ? "emulated" : "single-stepped";
}

static void print_hook(const struct hook *h, bool used, int machine)
{
	char text[200];

	if (!h->found) {
		printf("  %-24s not found%s\n", h->func, h->required ? "" : " (optional)");
		return;
	}
	printf("  %-24s 0x%-8llx %-12s", h->func, (unsigned long long)h->vaddr, h->source);
	if (!used) {
		printf(" not probed on this version\n");
		return;
	}
	if (h->at_call_sites) {
		printf(" probes at its %d call sites:", h->nprobes);
		for (int j = 0; j < h->nprobes && j < HOOK_MAX_PROBES; j++)
			printf(" 0x%llx", (unsigned long long)h->probe_vaddr[j]);
		printf(" (call: %s)\n", cost_word(h));
	} else {
		insn_text(h->insn, sizeof(h->insn), h->probe_vaddr[0], machine, text, sizeof(text));
		printf(" probe at 0x%llx%s (%s: %s)\n", (unsigned long long)h->probe_vaddr[0],
		       h->probe_vaddr[0] != h->vaddr ? ", past endbr64" : ", its entry", text,
		       cost_word(h));
	}
	if (h->how[0])
		printf("  %-24s   how: %s\n", "", h->how);
}

/* --explain: the symbol-free analysis of the same object, against what was used. */
static void cross_check(const struct interp *ip, const struct hook_set *hs, bool swap_used)
{
	struct symfree_result *r = calloc(1, sizeof(*r));
	struct elf_file ef;
	char live[320];
	uint64_t bias;
	int err;

	printf("\ncross-check: symbol-free analysis of %s\n", ip->asyncio_obj);
	if (hs->machine != EM_X86_64) {
		printf("  not done: %s\n", HOOKS_SYMFREE_X86_ONLY);
		free(r);
		return;
	}
	if (!r || elf_file_open(hs->obj_host_path, &ef)) {
		printf("  cannot open %s\n", hs->obj_host_path);
		free(r);
		return;
	}
	err = symfree_resolve(&ef, ip->minor, r);
	if (err)
		printf("  symbol-free analysis fails: %s\n", r->why);
	for (int i = 0; i < HOOK_COUNT; i++) {
		const struct hook *h = &hs->h[i];
		const struct symfree_hook *s = &r->h[i];

		if (i == HOOK_SWAP && !swap_used && !s->found)
			continue;
		if (h->found && !strcmp(h->source, "symbol-free")) {
			printf("  %-24s symbol-free: no symbols to compare with\n", h->func);
			continue;
		}
		if (!s->found) {
			printf("  %-24s symbol-free: not found%s\n", h->func,
			       h->found ? "" : " (nor by any other source)");
			continue;
		}
		if (!h->found)
			printf("  %-24s symbol-free 0x%llx, no other source\n", h->func,
			       (unsigned long long)s->vaddr);
		else if (s->vaddr == h->vaddr)
			printf("  %-24s symbol-free 0x%llx = %s 0x%llx: agree\n", h->func,
			       (unsigned long long)s->vaddr, h->source, (unsigned long long)h->vaddr);
		else
			printf("  %-24s symbol-free 0x%llx != %s 0x%llx: DISAGREE\n", h->func,
			       (unsigned long long)s->vaddr, h->source, (unsigned long long)h->vaddr);
		printf("  %-24s   how: %s\n", "", s->how);
	}
	if (!err && !hooks_live_bias(ip, &ef, &bias)) {
		err = symfree_check_live(ip->pid, bias, r, live, sizeof(live));
		if (err == -ENOENT)
			printf("  live check: not done (3.12+: the Task type is a heap type)\n");
		else
			printf("  live check: %s%s\n", err ? "FAILED: " : "", live);
	}
	elf_file_close(&ef);
	free(r);
}

static void print_cost(const struct session *s)
{
	const struct hook *step = &s->hooks.h[HOOK_STEP], *swap = &s->hooks.h[HOOK_SWAP];
	const struct hook *init = &s->hooks.h[HOOK_INIT], *dealloc = &s->hooks.h[HOOK_DEALLOC];
	const struct hook *cancel = &s->hooks.h[HOOK_CANCEL];

	printf("\nprobe cost\n");
	if (!step->found) {
		printf("  (no step hook)\n");
		return;
	}
	printf("  per task step:        1 uprobe hit (%s%s, %s)\n", step->func,
	       step->at_call_sites ? " call site" : "", cost_word(step));
	if (swap->found && s->layout.bpf.swap_task_arg)
		printf("  per eager step:       +1 (%s on return of the eager step, %s)\n",
		       swap->func, cost_word(swap));
	else if (s->ip.minor >= 12)
		printf("  per eager step:       +0 (no swap_current_task hook: an eager step ends at "
		       "the next event of its thread)\n");
	printf("  per task:             +1 at creation (%s), +1 at destruction (%s)\n",
	       cost_word(init), cost_word(dealloc));
	if (cancel->found)
		printf("  per Task.cancel():    +1 (%s, %s); nothing per step\n", cancel->func,
		       cost_word(cancel));
	else
		printf("  per Task.cancel():    +0 (no %s hook: cancellations are not attributed)\n",
		       cancel->func);
	printf("  per event-loop wait:  one epoll syscall tracepoint hit, no uprobe (kernel: loop idle)\n");
	printf("  no uretprobes: step ends are taken from the next event on the thread\n");
	loop_tracer_doctor();
}

int cmd_doctor(int argc, char **argv)
{
	static int explain;
	static const struct option opts[] = {
		{ "explain", no_argument, &explain, 1 },
		CLI_OPT_NO_DEBUGINFOD, CLI_OPT_VERBOSE, CLI_OPT_HELP,
		{},
	};
	struct cli cli = { .cmd = "doctor", .usage = doctor_usage, .target = CLI_PID };
	static struct session s;
	struct obj_facts rt, ao;
	struct kernel_probe kp;
	char flavor[128], layout_err[512] = "";
	bool swap_used;
	int err, rc;

	explain = 0;
	if (!cli_parse(&cli, argc, argv, "vh", opts, NULL, NULL, &rc))
		return rc;
	cli_apply(&cli, &s);
	err = interp_detect(s.pid, &s.ip);
	if (err && !(err == -EAGAIN && s.ip.runtime_obj[0])) {
		session_explain(&s, err);
		fprintf(stderr, "aps-bpf: %s\n", s.err);
		return 1;
	}
	s.hooks.opts.quiet = true;

	/* the interpreter */
	char comm[64] = "?";

	proc_comm(s.pid, comm, sizeof(comm));
	rc = layout_for_target(&s.ip, &s.layout, layout_err, sizeof(layout_err));
	obj_facts(&s.ip, s.ip.runtime_obj, &rt);
	printf("process %d (%s)\n", s.pid, comm);
	{
		char cg[512];
		uint32_t ns = proc_ns_tid(s.pid, (uint32_t)s.pid);

		if (!proc_cgroup(s.pid, cg, sizeof(cg)))
			printf("  cgroup:    %s\n", cg);
		if (ns != (uint32_t)s.pid)
			printf("  pid namespace: its own (pid %u inside); ids shown are host ids\n", ns);
	}
	printf("\ninterpreter\n");
	printf("  Python %d.%d", s.ip.major, s.ip.minor);
	if (s.ip.micro >= 0)
		printf(".%d", s.ip.micro);
	printf(", %s\n", build_flavor(&s.ip, flavor, sizeof(flavor)));
	printf("  runtime:   %s\n", s.ip.runtime_obj);
	printf("  build-id:  %s%s\n", rt.build_id, rt.ok ? (rt.symtab ? " (has .symtab)" : " (stripped)") : "");
	if (rt.comment[0])
		printf("  compiler:  %s\n", rt.comment);
	printf("  layout:    %s\n", rc ? layout_err : s.layout.source ? s.layout.source : "version table");
	if (err == -EAGAIN) {
		printf("\nasyncio C code: not loaded, and no _asyncio module was found to predict\n");
		return 1;
	}

	/* the asyncio object and its symbols */
	err = hooks_resolve(&s.ip, &s.hooks, s.err, sizeof(s.err));
	if (err == -EACCES || err == -EPERM)
		session_explain(&s, err);	/* which capability is missing */
	obj_facts(&s.ip, s.ip.asyncio_obj, &ao);
	printf("\nasyncio C code\n");
	printf("  object:    %s (%s%s)\n", s.ip.asyncio_obj,
	       s.ip.asyncio_builtin ? "linked into the interpreter" : "extension module",
	       s.ip.asyncio_mapped ? "" : ", not imported yet: predicted");
	printf("  build-id:  %s\n", ao.build_id);
	if (ao.comment[0] && strcmp(ao.comment, rt.comment))
		printf("  compiler:  %s\n", ao.comment);
	printf("  symbols:   %s\n", !ao.ok ? "cannot read the object" :
	       ao.symtab ? ".symtab" : "none (.dynsym only: its imports and PyInit__asyncio)");
	if (s.hooks.debug_path[0] && s.hooks.debuginfod != SRC_USED)
		printf("  debug file: %s\n", s.hooks.debug_path);
	else if (!ao.symtab && s.hooks.lookup.ntried) {
		printf("  debug file: none; looked for:");
		for (int i = 0; i < s.hooks.lookup.ntried; i++)
			printf("%s %s", i ? "," : "", s.hooks.lookup.tried[i]);
		printf("\n");
	}
	if (s.hooks.debuginfod != SRC_NOT_TRIED)
		printf("  debuginfod: %s\n", s.hooks.debuginfod_msg);
	else if (!ao.symtab && !s.hooks.debug_path[0])
		printf("  debuginfod: %s\n", s.hooks.opts.no_debuginfod ? "off (--no-debuginfod)" :
		       getenv("DEBUGINFOD_URLS") && *getenv("DEBUGINFOD_URLS") ? "not needed" :
		       "not asked: DEBUGINFOD_URLS is not set");
	if (s.hooks.symfree != SRC_NOT_TRIED)
		printf("  symbol-free: %s\n", s.hooks.symfree_msg);
	else if (s.hooks.machine != EM_X86_64)
		printf("  symbol-free: %s\n", HOOKS_SYMFREE_X86_ONLY);
	if (s.hooks.symfree_live[0])
		printf("  live check: %s\n", s.hooks.symfree_live);

	/* the hooks */
	swap_used = s.layout.bpf.swap_task_arg != 0;
	printf("\nhooks\n");
	for (int i = 0; i < HOOK_COUNT && s.hooks.h[HOOK_COUNT - 1].func; i++) {
		if (i == HOOK_SWAP && s.ip.minor < 12)
			printf("  %-24s none before 3.12 (eager tasks came in 3.12)\n", s.hooks.h[i].func);
		else
			print_hook(&s.hooks.h[i], i != HOOK_SWAP || swap_used, s.hooks.machine);
	}
	if (!err)
		print_cost(&s);
	kernel_probe_run(&kp);
	kernel_probe_explain(&kp);
	if (!err)
		err = kernel_probe_check(&kp, s.err, sizeof(s.err));
	if (explain)
		cross_check(&s.ip, &s.hooks, swap_used);
	if (err) {
		printf("\ncannot trace: %s\n", s.err);
		return 1;
	}
	if (rc) {
		printf("\ncannot trace: %s\n", layout_err);
		return 1;
	}
	printf("\nready: `aps-bpf trace %d` would attach %s\n", s.pid,
	       s.hooks.symfree == SRC_USED ? "with hooks found symbol-free" : "with symbols");
	return 0;
}
