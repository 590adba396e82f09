// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memory/coro_stack.h"
#include "memory/linetable.h"
#include "util/bytes.h"
#include "util/grow.h"

#define TABLE_MAX (256 * 1024)	/* bytes of one line table we copy */
#define QUALNAME_MAX 256
#define FILENAME_MAX_BYTES 1024
#define STACK_MAX 4096		/* value stack entries we believe */
#define YIELD_FROM_310 72

struct coro_code {
	uint64_t addr;
	char *qualname, *filename;
	int firstlineno;
	uint8_t *table;
	size_t table_len;
	uint64_t bytecode;	/* 3.10: the co_code bytes object */
	int64_t last_addr;	/* the last instruction looked up, and its line */
	int last_line;
};

/* One coroutine of the chain, as read. */
struct gen_read {
	bool has_frame;		/* false: finished (no frame left) */
	uint64_t code;
	int64_t addr;		/* byte offset of the instruction, for the line table */
	uint64_t qualname;	/* 3.10: the coroutine's __qualname__ */
	uint64_t yf;		/* what it awaits, 0: nothing */
	uint64_t sig;
};

void coro_reader_init(struct coro_reader *c, struct pyreader *r)
{
	memset(c, 0, sizeof(*c));
	c->r = r;
}

void coro_reader_free(struct coro_reader *c)
{
	for (size_t i = 0; i < c->ncodes; i++) {
		free(c->codes[i].qualname);
		free(c->codes[i].filename);
		free(c->codes[i].table);
	}
	for (size_t i = 0; i < c->nstrs; i++)
		free(c->strs[i]);
	free(c->codes);
	free(c->strs);
	u64_map_free(&c->code_index);
	u64_map_free(&c->str_index);
	memset(c, 0, sizeof(*c));
}

/* A str, escaped, in a fresh allocation ("?" when unreadable). */
static char *str_dup(struct pyreader *r, uint64_t obj, size_t max)
{
	char *buf = malloc(max);

	if (buf && pyread_str(r, obj, buf, max))
		snprintf(buf, max, "?");
	return buf;
}

static int code_get(struct coro_reader *c, uint64_t addr, const struct coro_code **out)
{
	const struct py_snap_layout *s = &c->r->l->snap;
	uint8_t buf[256];
	struct coro_code k = { .addr = addr, .last_addr = -2 };
	struct pytype t;
	size_t len, head = s->co_code_adaptive > s->co_linetable ? s->co_code_adaptive
								 : s->co_linetable + 8;
	uint32_t idx;
	int err;

	if (u64_map_get(&c->code_index, addr, &idx)) {
		*out = &c->codes[idx];
		return 0;
	}
	err = pyread_typeof(c->r, addr, &t);
	if (err)
		return err;
	if (!pyread_is(&t, "code") || head > sizeof(buf))
		return -EINVAL;
	err = pyread_read(c->r, addr, buf, head);
	if (err)
		return err;
	if (GROW(c->codes, c->cap, c->ncodes + 1, 64))
		return -ENOMEM;
	k.firstlineno = bytes_i32(buf, s->co_firstlineno);
	k.filename = str_dup(c->r, bytes_u64(buf, s->co_filename), FILENAME_MAX_BYTES);
	if (s->co_qualname)
		k.qualname = str_dup(c->r, bytes_u64(buf, s->co_qualname), QUALNAME_MAX);
	if (s->co_code)
		k.bytecode = bytes_u64(buf, s->co_code);
	k.table = malloc(TABLE_MAX);
	if (!k.filename || (s->co_qualname && !k.qualname) || !k.table) {
		err = -ENOMEM;
		goto fail;
	}
	/* an unreadable line table only costs the line numbers */
	if (pyread_bytes(c->r, bytes_u64(buf, s->co_linetable), k.table, TABLE_MAX, &len))
		len = 0;
	k.table_len = len;
	err = u64_map_put(&c->code_index, addr, (uint32_t)c->ncodes);
	if (err)
		goto fail;
	c->codes[c->ncodes] = k;
	*out = &c->codes[c->ncodes++];
	return 0;
fail:
	free(k.filename);
	free(k.qualname);
	free(k.table);
	return err;
}

/* 3.10: a coroutine's __qualname__, cached by str object */
static const char *qualname_310(struct coro_reader *c, uint64_t obj)
{
	uint32_t idx;
	char *s;

	if (u64_map_get(&c->str_index, obj, &idx))
		return c->strs[idx];
	if (GROW(c->strs, c->strs_cap, c->nstrs + 1, 64))
		return "?";
	s = str_dup(c->r, obj, QUALNAME_MAX);
	if (!s || u64_map_put(&c->str_index, obj, (uint32_t)c->nstrs)) {
		free(s);
		return "?";
	}
	c->strs[c->nstrs++] = s;
	return s;
}

/* 3.10: the PyFrameObject of the generator; _PyGen_yf() of 3.10 */
static int read_gen_310(struct coro_reader *c, uint64_t gen, struct gen_read *g)
{
	const struct py_layout *l = c->r->l;
	const struct py_snap_layout *s = &l->snap;
	const struct coro_code *code;
	uint8_t buf[64], fr[128];
	uint64_t frame, stack, bsize;
	int32_t lasti, depth;
	int8_t state;
	uint8_t op;
	struct pytype t;
	int err;

	err = pyread_read(c->r, gen, buf, l->bpf.coro_qualname + 8);
	if (err)
		return err;
	frame = bytes_u64(buf, s->gen_frame);
	g->qualname = bytes_u64(buf, l->bpf.coro_qualname);
	if (!frame)
		return 0;	/* finished */
	err = pyread_typeof(c->r, frame, &t);
	if (!err && !pyread_is(&t, "frame"))
		err = -EINVAL;
	if (!err)
		err = pyread_read(c->r, frame, fr, s->fr_state + 1);
	if (err)
		return err;
	g->has_frame = true;
	g->code = bytes_u64(fr, s->fr_code);
	lasti = bytes_i32(fr, s->fr_instr);
	depth = bytes_i32(fr, s->fr_stack);
	stack = bytes_u64(fr, s->fr_localsplus);
	state = (int8_t)fr[s->fr_state];
	g->addr = lasti < 0 ? -1 : 2 * (int64_t)lasti;
	g->sig = bytes_mix(bytes_mix(frame, (uint64_t)lasti), (uint64_t)(uint8_t)state);
	err = code_get(c, g->code, &code);
	if (err)
		return err;
	/* suspended (-1) on YIELD_FROM: the awaited object is on top of the stack */
	if (state != -1 || lasti < 0 || depth < 1 || depth > STACK_MAX ||
	    pyread_ptr(c->r, code->bytecode + s->bytes_size, &bsize) ||
	    (uint64_t)(lasti + 1) * 2 >= bsize ||
	    pyread_read(c->r, code->bytecode + s->bytes_data + (uint64_t)(lasti + 1) * 2, &op, 1) ||
	    op != YIELD_FROM_310)
		return 0;
	return pyread_ptr(c->r, stack + 8 * (uint64_t)(depth - 1), &g->yf);
}

static bool is_resume(int minor, unsigned op)
{
	if (minor == 11)
		return op == 151 || op == 150;	/* RESUME, RESUME_QUICK */
	return op == 151 || op == 240;		/* RESUME, INSTRUMENTED_RESUME */
}

/* 3.11+: the embedded _PyInterpreterFrame; _PyGen_yf() of each version */
static int read_gen_311(struct coro_reader *c, uint64_t gen, struct gen_read *g)
{
	const struct py_snap_layout *s = &c->r->l->snap;
	int minor = c->r->minor;
	const struct coro_code *code;
	uint8_t buf[256];
	const uint8_t *fr;
	uint64_t instr, base, sp;
	int32_t top;
	int8_t state;
	uint16_t next;
	int err;

	if ((size_t)s->gen_iframe + s->fr_localsplus > sizeof(buf) ||
	    s->gen_frame_state >= sizeof(buf))
		return -EINVAL;
	err = pyread_read(c->r, gen, buf, s->gen_iframe + s->fr_localsplus);
	if (err)
		return err;
	state = (int8_t)buf[s->gen_frame_state];
	if (state >= 1)		/* FRAME_COMPLETED, FRAME_CLEARED: no frame */
		return 0;
	fr = buf + s->gen_iframe;
	g->has_frame = true;
	g->code = bytes_u64(fr, s->fr_code);
	if (minor >= 14)
		g->code &= ~(uint64_t)3;	/* _PyStackRef tag bits */
	instr = bytes_u64(fr, s->fr_instr);
	g->sig = bytes_mix(bytes_mix(gen, instr), (uint64_t)(uint8_t)state);
	err = code_get(c, g->code, &code);
	if (err)
		return err;
	/* 3.11/3.12 keep the last instruction done, 3.13+ the next one */
	g->addr = (int64_t)(instr - (g->code + s->co_code_adaptive));
	base = gen + s->gen_iframe + s->fr_localsplus;
	if (state != -1)	/* 3.13+: FRAME_SUSPENDED_YIELD_FROM; 3.11/3.12: SUSPENDED */
		return 0;
	if (minor >= 14) {
		sp = bytes_u64(fr, s->fr_stack);
		if (sp <= base || sp > base + 8 * STACK_MAX || (sp & 7))
			return 0;
		err = pyread_ptr(c->r, sp - 8, &g->yf);
		g->yf &= ~(uint64_t)3;
		return err;
	}
	if (minor <= 12) {
		/* in an await only if the next instruction is RESUME with oparg >= 2 */
		if (pyread_read(c->r, instr + 2, &next, sizeof(next)) ||
		    !is_resume(minor, next & 0xff) || (next >> 8) < 2)
			return 0;
	}
	top = bytes_i32(fr, s->fr_stack);
	if (top < 1 || top > STACK_MAX)
		return 0;
	return pyread_ptr(c->r, base + 8 * (uint64_t)(top - 1), &g->yf);
}

/* The line of an instruction; tasks parked alike ask for the same one. */
static int line_of(struct coro_reader *c, const struct coro_code *code, int64_t addr)
{
	struct coro_code *k = &c->codes[code - c->codes];

	if (k->last_addr != addr) {
		k->last_line = linetable_addr2line(c->r->minor, k->table, k->table_len, k->firstlineno,
					    addr);
		k->last_addr = addr;
	}
	return k->last_line;
}

/* Keep: the innermost frames in a ring, the outermost in order. */
struct kept {
	struct snap_frame outer[CORO_KEEP_OUTER], inner[SNAP_FRAMES_KEEP];
	uint32_t nouter, ninner;	/* ninner counts every frame past the outer ones */
};

static void keep_frame(struct kept *k, const struct snap_frame *f, uint32_t max_outer)
{
	if (k->nouter < max_outer)
		k->outer[k->nouter++] = *f;
	else
		k->inner[k->ninner++ % SNAP_FRAMES_KEEP] = *f;
}

int coro_stack_read(struct coro_reader *c, uint64_t coro, struct snap_frame *frames,
		    uint32_t max, uint32_t *n, uint64_t *sig)
{
	struct kept *k;
	struct pytype t0, t;
	uint32_t depth = 0, max_outer, max_inner, nin;
	uint64_t cur = coro;
	int err;

	*n = 0;
	*sig = 0xcbf29ce484222325ULL;
	if (!coro || !max)
		return 0;
	err = pyread_typeof(c->r, coro, &t0);
	if (err)
		return err;
	/* a task's coroutine may be any awaitable: only these have frames */
	if (!pyread_is(&t0, "coroutine") && !pyread_is(&t0, "generator"))
		return 0;
	/* up to max frames: the outermost half and the innermost, a gap between */
	max_inner = max / 2 < SNAP_FRAMES_KEEP ? max / 2 : SNAP_FRAMES_KEEP;
	max_outer = max - max_inner > 1 ? max - max_inner - 1 : 0;
	if (max_outer > CORO_KEEP_OUTER)
		max_outer = CORO_KEEP_OUTER;
	k = malloc(sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->nouter = k->ninner = 0;
	while (cur && depth < CORO_MAX_DEPTH) {
		struct gen_read g = { 0 };
		const struct coro_code *code;
		struct snap_frame f;

		err = c->r->minor <= 10 ? read_gen_310(c, cur, &g) : read_gen_311(c, cur, &g);
		if (err)
			goto out;
		*sig = bytes_mix(bytes_mix(*sig, cur), g.sig);
		if (!g.has_frame)
			break;
		err = code_get(c, g.code, &code);
		if (err)
			goto out;
		f.qualname = code->qualname ? code->qualname : qualname_310(c, g.qualname);
		f.filename = code->filename;
		f.line = line_of(c, code, g.addr);
		f.gen = cur;
		keep_frame(k, &f, max_outer);
		depth++;
		/* follow the awaited object only while it is the same kind */
		if (!g.yf || pyread_typeof(c->r, g.yf, &t) || t.addr != t0.addr)
			break;
		cur = g.yf;
	}
	/* innermost first: the innermost kept, the gap, the outermost */
	nin = k->ninner < max_inner ? k->ninner : max_inner;
	if (k->nouter + k->ninner <= max && k->ninner <= SNAP_FRAMES_KEEP) {	/* all of them */
		for (uint32_t i = 0; i < k->ninner; i++)
			frames[(*n)++] = k->inner[(k->ninner - 1 - i) % SNAP_FRAMES_KEEP];
	} else {
		for (uint32_t i = 0; i < nin; i++)
			frames[(*n)++] = k->inner[(k->ninner - 1 - i) % SNAP_FRAMES_KEEP];
		frames[(*n)++] = (struct snap_frame){
			.line = snap_gap_line(k->ninner - nin),
		};
	}
	for (uint32_t i = 0; i < k->nouter; i++)
		frames[(*n)++] = k->outer[k->nouter - 1 - i];
	err = 0;
out:
	free(k);
	return err;
}
