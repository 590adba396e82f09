// SPDX-License-Identifier: MIT
#include <errno.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "live/prog_stat.h"

int prog_stat_read(const struct bpf_program *p, struct prog_stat *out)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_program__fd(p);

	out->name = bpf_program__name(p);
	out->runs = out->run_ns = 0;
	if (fd < 0)
		return -EBADF;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	out->runs = info.run_cnt;
	out->run_ns = info.run_time_ns;
	return 0;
}
