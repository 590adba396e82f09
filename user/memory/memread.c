// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include "memory/memread.h"

int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n;

	if (!addr)
		return -EFAULT;
	n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

int mem_read_cstr(pid_t pid, uint64_t addr, char *buf, size_t len)
{
	size_t got = 0;

	if (len == 0)
		return -EINVAL;
	/* read page by page so a string near the end of a mapping still reads */
	while (got < len - 1) {
		size_t page_left = 4096 - ((addr + got) & 4095);
		size_t want = len - 1 - got < page_left ? len - 1 - got : page_left;
		int err = mem_read(pid, addr + got, buf + got, want);

		if (err)
			return err;
		if (memchr(buf + got, '\0', want))
			return 0;
		got += want;
	}
	buf[len - 1] = '\0';
	return 0;
}
