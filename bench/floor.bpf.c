// SPDX-License-Identifier: GPL-2.0
/*
 * The floor of a uprobe: programs that do nothing but count their hits
 * (so the loader can check that every call was probed). Attached by
 * bench/floor.c to its own function; bench/run.py's "floor" part.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 hits;

SEC("uprobe")
int floor_entry(void)
{
	hits++;
	return 0;
}

SEC("uretprobe")
int floor_return(void)
{
	hits++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
