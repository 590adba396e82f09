// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>
#include "live/verifier_log.h"

#define VERIFIER_LOG_PROGS 16
#define VERIFIER_LOG_BYTES 16384	/* stats and an error: a few lines */
#define VERIFIER_LOG_STATS 4		/* BPF_LOG_STATS (kernel 5.2+) */

struct verifier_log {
	int n;
	const struct bpf_program *prog[VERIFIER_LOG_PROGS];
	char buf[VERIFIER_LOG_PROGS][VERIFIER_LOG_BYTES];
};

struct verifier_log *verifier_log_arm(struct bpf_object *obj)
{
	struct verifier_log *v = calloc(1, sizeof(*v));
	struct bpf_program *p;

	if (!v)
		return NULL;
	bpf_object__for_each_program(p, obj) {
		if (!bpf_program__autoload(p) || v->n == VERIFIER_LOG_PROGS)
			continue;
		/* level 4 alone: no per-instruction trace, so the buffer never fills */
		if (bpf_program__set_log_buf(p, v->buf[v->n], VERIFIER_LOG_BYTES) ||
		    bpf_program__set_log_level(p, VERIFIER_LOG_STATS))
			continue;
		v->prog[v->n++] = p;
	}
	return v;
}

void verifier_log_print(const struct verifier_log *v, FILE *f)
{
	for (int i = 0; v && i < v->n; i++) {
		const char *s = v->buf[i], *end = s + strnlen(s, VERIFIER_LOG_BYTES), *nl;
		int len;

		while (s < end) {
			nl = memchr(s, '\n', (size_t)(end - s));
			len = nl ? (int)(nl - s) : (int)(end - s);

			if (len)
				fprintf(f, "aps-bpf: verifier: %s: %.*s\n", bpf_program__name(v->prog[i]),
					len, s);
			s += len + (nl ? 1 : 0);
		}
	}
}

void verifier_log_free(struct verifier_log *v)
{
	free(v);
}
