// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "target/layout_runtime.h"
#include "memory/linetable.h"
#include "memory/thread_stack.h"
#include "target/proc.h"

#define MAX_THREADS 4096	/* thread states walked per interpreter */
#define MAX_FRAMES_WALKED 4096	/* frames followed before giving up */
#define TABLE_MAX 65536

/* Owner of a _PyInterpreterFrame: 3.12+ mark C-stack/interpreter entry frames 3. */
#define FRAME_OWNED_BY_CSTACK 3

static const struct frame_layout frame_layouts[] = {
	[10] = { .ts_frame = 24, .fr_previous = 24, .fr_code = 32, .fr_instr = 96,
		 .co_name = 112, .fr_gen = 88, .lasti_index = true },
	[11] = { .ts_frame = 56, .cf_current = 8, .fr_previous = 48, .fr_code = 32, .fr_instr = 56,
		 .fr_owner = 69, .has_cframe = true },
	[12] = { .ts_frame = 56, .cf_current = 0, .fr_previous = 8, .fr_code = 0, .fr_instr = 56,
		 .fr_owner = 70, .has_cframe = true },
	[13] = { .ts_frame = 72, .fr_previous = 8, .fr_code = 0, .fr_instr = 56, .fr_owner = 70 },
	[14] = { .ts_frame = 72, .fr_previous = 8, .fr_code = 0, .fr_instr = 56, .fr_owner = 74,
		 .tagged_code = true },
};

const struct frame_layout *frame_layout_for(int minor)
{
	if (minor < 10 || minor > 14)
		return NULL;
	return &frame_layouts[minor];
}

int thread_stack_reader_init(struct thread_stack_reader *t, const struct interp *ip,
			     const struct py_layout *l, char *err, size_t errlen)
{
	const struct frame_layout *fl = frame_layout_for(ip->minor);
	int rc;

	memset(t, 0, sizeof(*t));
	if (!fl) {
		snprintf(err, errlen, "no frame layout for Python %d.%d", ip->major, ip->minor);
		return -EPROTONOSUPPORT;
	}
	t->pid = ip->pid;
	t->minor = ip->minor;
	t->l = l;
	t->fl = *fl;
	rc = layout_runtime_addr(ip, &t->runtime);
	if (rc) {
		snprintf(err, errlen, "%s: cannot find _PyRuntime (.PyRuntime section): %s",
			 ip->runtime_obj, strerror(-rc));
		return rc;
	}
	pyread_init(&t->r, ip->pid, l, UINT64_MAX);
	return 0;
}

void thread_stack_reader_free(struct thread_stack_reader *t)
{
	for (int i = 0; i < STACK_CODE_CACHE; i++)
		free(t->codes[i].table);
	memset(t, 0, sizeof(*t));
}

/* The thread state of native thread tid (3.10 has no native id: the only
 * thread, if there is one). */
static int find_tstate(struct thread_stack_reader *t, uint32_t tid, uint64_t *ts)
{
	const struct py_snap_layout *s = &t->l->snap;
	uint64_t interp, p, nid = 0, only = 0, last = 0;
	int n = 0, err;

	err = pyread_ptr(&t->r, t->runtime + s->rt_interp_head, &interp);
	if (err)
		return err;
	err = pyread_ptr(&t->r, interp + s->is_threads_head, &p);
	for (; !err && p && n < MAX_THREADS; n++, err = pyread_ptr(&t->r, p + s->ts_next, &p)) {
		only = n == 0 ? p : 0;
		last = p;
		if (!s->ts_native_tid)
			continue;
		err = pyread_ptr(&t->r, p + s->ts_native_tid, &nid);
		if (!err && nid == tid) {
			*ts = p;
			return 0;
		}
	}
	if (err)
		return err;
	if (!s->ts_native_tid && n == 1 && only) {
		*ts = only;
		return 0;
	}
	/* 3.10, several threads: the main thread's state is the first made,
	 * the list's last (as the loop sampler's map has it) */
	if (!s->ts_native_tid && last && tid == proc_ns_tid(t->pid, (uint32_t)t->pid)) {
		*ts = last;
		return 0;
	}
	return -ESRCH;
}

static struct stack_code *code_get(struct thread_stack_reader *t, uint64_t addr)
{
	const struct py_snap_layout *s = &t->l->snap;
	struct stack_code *c = &t->codes[(addr >> 4) % STACK_CODE_CACHE];
	uint64_t name, file, table;
	int32_t first;
	struct pytype ty;

	if (c->addr == addr && c->table)
		return c;
	if (pyread_typeof(&t->r, addr, &ty) || !pyread_is(&ty, "code"))
		return NULL;
	free(c->table);
	memset(c, 0, sizeof(*c));
	if (pyread_ptr(&t->r, addr + (s->co_qualname ? s->co_qualname : t->fl.co_name), &name) ||
	    pyread_ptr(&t->r, addr + s->co_filename, &file) ||
	    pyread_ptr(&t->r, addr + s->co_linetable, &table) ||
	    pyread_read(&t->r, addr + s->co_firstlineno, &first, sizeof(first)))
		return NULL;
	if (pyread_str(&t->r, name, c->func, sizeof(c->func)))
		snprintf(c->func, sizeof(c->func), "?");
	if (pyread_str(&t->r, file, c->file, sizeof(c->file)))
		snprintf(c->file, sizeof(c->file), "?");
	c->firstlineno = first;
	c->code_start = addr + s->co_code_adaptive;
	c->table = malloc(TABLE_MAX);
	if (!c->table)
		return NULL;
	if (pyread_bytes(&t->r, table, c->table, TABLE_MAX, &c->table_len))
		c->table_len = 0;
	c->addr = addr;
	return c;
}

int thread_stack_symbolize(struct thread_stack_reader *t, uint64_t code, uint32_t instr,
			   struct stack_frame *f)
{
	struct stack_code *c = code_get(t, code);

	if (!c)
		return -ENOENT;
	snprintf(f->func, sizeof(f->func), "%s", c->func);
	snprintf(f->file, sizeof(f->file), "%s", c->file);
	f->gen = 0;
	f->line = linetable_addr2line(t->minor, c->table, c->table_len, c->firstlineno, (int64_t)instr);
	return 0;
}

int thread_stack_tstates(struct thread_stack_reader *t,
			 void (*fn)(void *ctx, uint64_t native_tid, uint64_t tstate), void *ctx)
{
	const struct py_snap_layout *s = &t->l->snap;
	uint64_t interp, p, nid = 0;
	int n = 0, err;

	pyread_refresh(&t->r);
	err = pyread_ptr(&t->r, t->runtime + s->rt_interp_head, &interp);
	if (err)
		return err;
	err = pyread_ptr(&t->r, interp + s->is_threads_head, &p);
	for (; !err && p && n < MAX_THREADS; n++, err = pyread_ptr(&t->r, p + s->ts_next, &p)) {
		nid = 0;
		if (s->ts_native_tid && pyread_ptr(&t->r, p + s->ts_native_tid, &nid))
			continue;
		fn(ctx, nid, p);
	}
	return err;
}

int thread_stack_read(struct thread_stack_reader *t, uint32_t tid, struct thread_stack *out)
{
	const struct frame_layout *fl = &t->fl;
	uint64_t ts, frame, code, instr;
	int err, walked = 0;

	out->n = 0;
	out->truncated = false;
	err = find_tstate(t, tid, &ts);
	if (err)
		return err;
	err = pyread_ptr(&t->r, ts + fl->ts_frame, &frame);
	if (!err && fl->has_cframe && frame)
		err = pyread_ptr(&t->r, frame + fl->cf_current, &frame);
	for (; !err && frame && walked < MAX_FRAMES_WALKED; walked++) {
		struct stack_frame *f;
		struct stack_code *c;
		uint8_t owner = 0;
		int64_t addr;

		if (fl->fr_owner && pyread_read(&t->r, frame + fl->fr_owner, &owner, 1))
			break;
		if (owner == FRAME_OWNED_BY_CSTACK && t->minor >= 12)
			goto next;
		if (pyread_ptr(&t->r, frame + fl->fr_code, &code))
			break;
		if (fl->tagged_code)
			code &= ~(uint64_t)3;
		c = code_get(t, code);
		if (!c)
			goto next;
		if (out->n == STACK_MAX_FRAMES) {
			out->truncated = true;
			break;
		}
		f = &out->f[out->n++];
		snprintf(f->func, sizeof(f->func), "%s", c->func);
		snprintf(f->file, sizeof(f->file), "%s", c->file);
		f->line = -1;
		f->gen = 0;
		if (fl->fr_gen)
			pyread_ptr(&t->r, frame + fl->fr_gen, &f->gen);
		else if (owner == 1)	/* FRAME_OWNED_BY_GENERATOR: inside it */
			f->gen = frame - t->l->snap.gen_iframe;
		if (fl->lasti_index) {
			int32_t lasti;

			if (!pyread_read(&t->r, frame + fl->fr_instr, &lasti, sizeof(lasti)) && lasti >= 0)
				f->line = linetable_addr2line(t->minor, c->table, c->table_len, c->firstlineno,
						       (int64_t)lasti * 2);
		} else if (!pyread_ptr(&t->r, frame + fl->fr_instr, &instr) && instr >= c->code_start) {
			addr = (int64_t)(instr - c->code_start);
			f->line = linetable_addr2line(t->minor, c->table, c->table_len, c->firstlineno, addr);
		}
next:
		if (pyread_ptr(&t->r, frame + fl->fr_previous, &frame))
			break;
	}
	return out->n ? 0 : (err ? err : -ENODATA);
}
