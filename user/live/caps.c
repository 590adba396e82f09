// SPDX-License-Identifier: MIT
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include "live/caps.h"

bool caps_have(int cap)
{
	char line[256];
	uint64_t eff = 0;
	bool found = false;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "CapEff: %" SCNx64, &eff) == 1;
	fclose(f);
	return cap >= 0 && cap < 64 && (eff >> cap & 1);
}

/* "CAP_A and CAP_B" of the ones not held. */
static void missing(const int *caps, const char *const *names, int n, char *buf, size_t len)
{
	size_t pos = 0;
	int k = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && pos < len; i++) {
		if (caps_have(caps[i]))
			continue;
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", k++ ? " and " : "", names[i]);
	}
}

void caps_explain(enum caps_step step, pid_t pid, const char *detail, char *buf, size_t len)
{
	static const int load_caps[] = { CAP_BPF, CAP_PERFMON };
	static const char *const load_names[] = { "CAP_BPF", "CAP_PERFMON" };
	char d[512], miss[64];

	snprintf(d, sizeof(d), "%s%s", detail && *detail ? ": " : "", detail ? detail : "");
	switch (step) {
	case CAPS_READ:
		/* the file that was refused (a library under /proc/PID/root) is no help */
		if (!caps_have(CAP_SYS_PTRACE))
			snprintf(buf, len, "permission denied reading process %d; reading a process of "
				 "another user, or one with more capabilities, needs CAP_SYS_PTRACE, which "
				 "aps-bpf does not have", pid);
		else
			snprintf(buf, len, "permission denied reading process %d; aps-bpf has "
				 "CAP_SYS_PTRACE, so the kernel refused for another reason (another user "
				 "namespace, or a security module: Yama, AppArmor, SELinux)", pid);
		break;
	case CAPS_LOAD:
		missing(load_caps, load_names, 2, miss, sizeof(miss));
		if (!caps_have(CAP_SYS_ADMIN) && miss[0])
			snprintf(buf, len, "cannot load the BPF programs%s; that needs CAP_BPF and "
				 "CAP_PERFMON, or CAP_SYS_ADMIN (which the uprobes need too), and aps-bpf "
				 "lacks %s", d, miss);
		else
			snprintf(buf, len, "cannot load the BPF programs%s, although aps-bpf has %s "
				 "(-v shows libbpf's log)", d,
				 caps_have(CAP_SYS_ADMIN) ? "CAP_SYS_ADMIN" : "CAP_BPF and CAP_PERFMON");
		break;
	case CAPS_ATTACH:
		if (!caps_have(CAP_SYS_ADMIN))
			snprintf(buf, len, "cannot attach the uprobes to process %d%s; this kernel allows "
				 "uprobes only with CAP_SYS_ADMIN (CAP_BPF and CAP_PERFMON are not enough), "
				 "which aps-bpf does not have", pid, d);
		else if (!caps_have(CAP_SYS_PTRACE))
			snprintf(buf, len, "cannot attach the uprobes to process %d%s; attaching to a "
				 "process of another user needs CAP_SYS_PTRACE, which aps-bpf does not have",
				 pid, d);
		else
			snprintf(buf, len, "cannot attach the uprobes to process %d%s, although aps-bpf "
				 "has CAP_SYS_ADMIN and CAP_SYS_PTRACE (a security module?)", pid, d);
		break;
	}
}
