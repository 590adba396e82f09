/* SPDX-License-Identifier: MIT */
/* Reading the target's memory: never writing it, never stopping it. */
#ifndef APS_MEMREAD_H
#define APS_MEMREAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 0 when all len bytes were read, else -errno (-EFAULT for a short read). */
int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len);
/* A NUL-terminated string of at most len-1 bytes; 0, or -errno. */
int mem_read_cstr(pid_t pid, uint64_t addr, char *buf, size_t len);

#endif
