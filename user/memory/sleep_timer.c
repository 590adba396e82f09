// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include "memory/sleep_timer.h"
#include "target/layout.h"

#define FRAME_310_LOCALS 352	/* 3.10: PyFrameObject.f_localsplus */
#define TP_MEMBERS 240		/* PyTypeObject.tp_members, 3.10-3.14 */
#define MEMBERDEF_SIZE 40	/* PyMemberDef: name, type, offset, flags, doc */
#define MEMBERS_MAX 32
#define FLOAT_VAL 16		/* PyFloatObject.ob_fval */
/* asyncio.sleep(delay, result=None): delay, result, loop, future, h (3.10-3.14) */
#define LOCAL_DELAY 0
#define LOCAL_H 4

bool sleep_timer_frame(const struct snap_frame *f)
{
	size_t n;

	if (!f->qualname || !f->filename || strcmp(f->qualname, "sleep"))
		return false;
	n = strlen(f->filename);
	return n >= 16 && !strcmp(f->filename + n - 16, "asyncio/tasks.py");
}

static int read_float(struct pyreader *r, uint64_t obj, double *v)
{
	struct pytype t;
	int64_t i;
	int err = pyread_typeof(r, obj, &t);

	if (err)
		return err;
	if (pyread_is(&t, "float"))
		return pyread_read(r, obj + FLOAT_VAL, v, sizeof(*v));
	if (pyread_is(&t, "int") && !pyread_long(r, obj, &i)) {
		*v = (double)i;
		return 0;
	}
	return -ENOENT;
}

/* The offset of the slot `name` in instances of type (its own tp_members). */
static int slot_offset(struct pyreader *r, uint64_t type, const char *name, uint64_t *off)
{
	uint64_t members;
	uint8_t m[MEMBERDEF_SIZE];
	char buf[16];
	int err = pyread_ptr(r, type + TP_MEMBERS, &members);

	if (err)
		return err;
	for (int i = 0; members && i < MEMBERS_MAX; i++, members += MEMBERDEF_SIZE) {
		uint64_t np;

		err = pyread_read(r, members, m, sizeof(m));
		if (err)
			return err;
		memcpy(&np, m, 8);
		if (!np)
			break;
		if (pyread_read(r, np, buf, sizeof(buf)))
			continue;
		if (!strncmp(buf, name, sizeof(buf)) && strlen(name) < sizeof(buf)) {
			int64_t o;

			memcpy(&o, m + 16, 8);
			if (o <= 0 || o > 4096)
				return -EINVAL;
			*off = (uint64_t)o;
			return 0;
		}
	}
	return -ENOENT;
}

int sleep_timer_read(struct pyreader *r, uint64_t gen, double *when, double *delay)
{
	const struct py_snap_layout *s = &r->l->snap;
	uint64_t base, locals[LOCAL_H + 1], frame, off, w;
	struct pytype t;
	int err;

	if (!gen)
		return -ENOENT;
	if (r->minor <= 10) {
		err = pyread_ptr(r, gen + s->gen_frame, &frame);
		if (err || !frame)
			return err ? err : -ENOENT;
		base = frame + FRAME_310_LOCALS;
	} else {
		base = gen + s->gen_iframe + s->fr_localsplus;
	}
	err = pyread_read(r, base, locals, sizeof(locals));
	if (err)
		return err;
	if (r->minor >= 14)
		for (int i = 0; i <= LOCAL_H; i++)
			locals[i] &= ~(uint64_t)3;	/* _PyStackRef tag bits */
	if (!locals[LOCAL_H] || !locals[LOCAL_DELAY])
		return -ENOENT;		/* sleep(0) holds no timer */
	err = pyread_typeof(r, locals[LOCAL_H], &t);
	if (err)
		return err == -EFAULT || err == -EINVAL ? -ENOENT : err;
	if (!pyread_is(&t, "TimerHandle"))
		return -ENOENT;
	err = slot_offset(r, t.addr, "_when", &off);
	if (!err)
		err = pyread_ptr(r, locals[LOCAL_H] + off, &w);
	if (!err)
		err = read_float(r, w, when);
	if (!err)
		err = read_float(r, locals[LOCAL_DELAY], delay);
	return err == -EFAULT || err == -EINVAL ? -ENOENT : err;
}
