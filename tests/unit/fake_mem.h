/* SPDX-License-Identifier: MIT */
/*
 * Fake target memory for unit tests: objects laid out in this process,
 * read back through process_vm_readv of our own pid. Everything allocated
 * is zeroed, has FAKE_MEM_PRE bytes of room before it (a managed dict or
 * values sit at negative offsets), and is freed at exit.
 */
#ifndef APS_FAKE_MEM_H
#define APS_FAKE_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_MEM_PRE 64
#define FAKE_MEM_MAX 4096

static void *fake_mem_kept[FAKE_MEM_MAX];
static int fake_mem_n;

static inline uint8_t *fake_mem_alloc(size_t size)
{
	uint8_t *p = aligned_alloc(64, ((size + FAKE_MEM_PRE + 63) / 64) * 64);

	if (!p || fake_mem_n == FAKE_MEM_MAX)
		abort();
	memset(p, 0, size + FAKE_MEM_PRE);
	fake_mem_kept[fake_mem_n++] = p;
	return p + FAKE_MEM_PRE;
}

__attribute__((destructor)) static void fake_mem_free_all(void)
{
	while (fake_mem_n)
		free(fake_mem_kept[--fake_mem_n]);
}

static inline void fake_mem_put64(uint8_t *o, ptrdiff_t off, uint64_t v)
{
	memcpy(o + off, &v, sizeof(v));
}

/* The target address of p (our own memory). */
static inline uint64_t fake_mem_addr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

#endif
