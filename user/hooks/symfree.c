// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hooks/sf.h"

/* ---- the hooks ------------------------------------------------------------ */

/*
 * task_step_impl from a root that reaches it (TaskStepMethWrapper's
 * tp_call, task_wakeup): at the smallest depth where some function
 * entered by a call/jmp calls PyIter_Send, exactly one does.
 */
static int step_from(struct sf *sf, uint64_t root, struct visit *v, uint64_t *out, int *depth,
		     char *why, size_t len)
{
	int err;

	memset(v, 0, sizeof(*v));
	sf_visit_add(v, root, 0, true);
	/* level by level: stop at the first level with a PyIter_Send caller */
	for (int d = 1; d <= BFS_DEPTH; d++) {
		int n = 0;

		err = sf_bfs_level(sf, v, d);
		if (err) {
			sf_note(why, len, "cannot follow the calls of 0x%llx: %s", (unsigned long long)root,
			        strerror(-err));
			return err;
		}

		for (int i = 0; i < v->n; i++) {
			bool yes;

			if (v->depth[i] != d || !v->entered_by[i])
				continue;
			err = sf_calls_named(sf, v->f[i], "PyIter_Send", &yes);
			if (err) {
				sf_note(why, len, "cannot disassemble 0x%llx: %s",
				        (unsigned long long)v->f[i], strerror(-err));
				return err;
			}
			if (yes) {
				*out = v->f[i];
				n++;
			}
		}
		if (n > 1) {
			sf_note(why, len, "%d functions called from 0x%llx call PyIter_Send",
			        n, (unsigned long long)root);
			return -ENOTUNIQ;
		}
		if (n == 1) {
			*depth = d;
			return 0;
		}
	}
	sf_note(why, len, "nothing called from 0x%llx (depth %d) calls PyIter_Send",
	        (unsigned long long)root, BFS_DEPTH);
	return -ENOENT;
}

static bool visited(const struct visit *v, uint64_t f)
{
	for (int i = 0; i < v->n; i++)
		if (v->f[i] == f)
			return true;
	return false;
}

/* Direct call/jmp rel32 sites of target, each an instruction boundary of its FDE. */
static int sites_of(struct sf *sf, uint64_t target, uint64_t *out, int max)
{
	int k = 0;

	for (int i = 0; i < sf->nsec; i++) {
		const struct sec *s = &sf->sec[i];
		uint8_t *code;

		if (!s->exec || s->plt || s->size > (256u << 20))
			continue;
		code = malloc(s->size);
		if (!code)
			return -ENOMEM;
		if (elf_read_vaddr(sf->ef, s->vaddr, code, s->size)) {
			free(code);
			continue;
		}
		for (uint64_t o = 0; o + 5 <= s->size; o++) {
			int32_t rel;
			char why[8];

			if (code[o] != 0xe8 && code[o] != 0xe9)
				continue;
			memcpy(&rel, code + o + 1, 4);
			if (s->vaddr + o + 5 + (uint64_t)(int64_t)rel != target)
				continue;
			if (symfree_check_call_site(sf->ef, &sf->fdes, s->vaddr + o, target,
						    why, sizeof(why)))
				continue;
			if (k < max)
				out[k] = s->vaddr + o;
			k++;
		}
		free(code);
	}
	return k;
}

#define MAX_EAGER_CALLS 128

struct eager_arg {
	uint64_t site, step;
	int n;
	struct {
		uint64_t target;
		uint64_t last_before;	/* its last call before the site (0: none) */
		bool after;		/* called after the site too */
	} c[MAX_EAGER_CALLS];
	uint64_t context_enter;		/* last PyContext_Enter call before the site */
};

static int eager_branch(struct sf *sf, const struct branch *b, void *arg)
{
	struct eager_arg *a = arg;
	int i;

	if (b->kind != BR_CALL || b->at == a->site)
		return 0;
	if (b->at < a->site && b->name && !strcmp(b->name, "PyContext_Enter")) {
		a->context_enter = b->at;
		return 0;
	}
	if (!b->target || b->target == a->step || !sf_local_func(sf, b->target))
		return 0;
	for (i = 0; i < a->n && a->c[i].target != b->target; i++)
		;
	if (i == a->n) {
		if (a->n == MAX_EAGER_CALLS)
			return 0;
		memset(&a->c[i], 0, sizeof(a->c[i]));
		a->c[i].target = b->target;
		a->n++;
	}
	if (b->at < a->site)
		a->c[i].last_before = b->at;
	else
		a->c[i].after = true;
	return 0;
}

/* The function called both before and after the site whose call before is nearest it. */
static uint64_t eager_swap(const struct eager_arg *a)
{
	uint64_t best = 0, best_at = 0;

	for (int i = 0; i < a->n; i++)
		if (a->c[i].last_before && a->c[i].after && a->c[i].last_before > best_at) {
			best = a->c[i].target;
			best_at = a->c[i].last_before;
		}
	/* PyContext_Enter(task->task_context) comes between the swap and the step */
	return best && a->context_enter > best_at ? best : 0;
}

/*
 * swap_current_task (3.12+): the eager start (task_eager_start, often
 * inlined into Task.__init__ or its .cold part) calls task_step_impl
 * between swap_current_task(loop, task) and swap_current_task(loop,
 * prevtask), with PyContext_Enter before the step. Its call site is the
 * one not on the TaskStepMethWrapper/task_wakeup paths.
 */
static int find_swap(struct sf *sf, uint64_t step, const struct visit *v1, const struct visit *v2,
		     struct symfree_hook *h)
{
	uint64_t sites[MAX_SITES], found = 0, found_site = 0, meth;
	int n = sites_of(sf, step, sites, MAX_SITES);
	int nfound = 0;
	struct visit mv;

	if (n < 0)
		return n;
	if (n > MAX_SITES)
		n = MAX_SITES;
	for (int i = 0; i < n; i++) {
		const struct fde_range *f = eh_frame_containing(&sf->fdes, sites[i]);
		struct eager_arg *a;
		uint64_t x;

		if (!f || visited(v1, f->start) || (v2 && visited(v2, f->start)))
			continue;
		a = calloc(1, sizeof(*a));
		if (!a)
			return -ENOMEM;
		a->site = sites[i];
		a->step = step;
		x = sf_walk(sf, f, eager_branch, a) ? 0 : eager_swap(a);
		free(a);
		if (!x)
			continue;
		if (nfound && x != found)
			return -ENOTUNIQ;
		found = x;
		found_site = sites[i];
		nfound++;
	}
	if (!nfound)
		return -ENOENT;
	h->found = true;
	h->vaddr = found;
	h->size = eh_frame_at(&sf->fdes, found)->size;
	sf_note(h->how, sizeof(h->how),
	        "called before (then PyContext_Enter) and after the eager call of "
	        "task_step_impl at 0x%llx", (unsigned long long)found_site);
	/* the _swap_current_task() method calls it too, unless it was inlined there */
	if (!sf_types_find_method(sf, "_swap_current_task", METH_FASTCALL_KW, 0, &meth) &&
	    !sf_bfs(sf, meth, 1, &mv) && visited(&mv, found)) {
		size_t l = strlen(h->how);

		sf_note(h->how + l, sizeof(h->how) - l, "; also called by _swap_current_task() (0x%llx)",
		        (unsigned long long)meth);
	}
	return 0;
}

static void set_hook(struct sf *sf, struct symfree_hook *h, uint64_t vaddr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_hook(struct sf *sf, struct symfree_hook *h, uint64_t vaddr, const char *fmt, ...)
{
	const struct fde_range *f = sf_local_func(sf, vaddr);
	va_list ap;

	if (!f)
		return;
	h->found = true;
	h->vaddr = vaddr;
	h->size = f->size;
	va_start(ap, fmt);
	vsnprintf(h->how, sizeof(h->how), fmt, ap);
	va_end(ap);
}

static const char *type_where(const struct type_fns *t, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s at 0x%llx", t->spec ? "PyType_Spec" : "static type", name,
		 (unsigned long long)t->at);
	return buf;
}

int symfree_resolve(struct elf_file *obj, int minor, struct symfree_result *res)
{
	static const int task_want[] = { PY_TP_INIT, PY_TP_DEALLOC };
	static const int wrapper_want[] = { PY_TP_CALL };
	struct symfree_hook *step = &res->h[HOOK_STEP];
	struct type_fns task, wrapper;
	struct visit *v1 = NULL, *v2 = NULL;
	uint64_t s1 = 0, s2 = 0, wakeup = 0, cancel = 0;
	int d1 = 0, d2 = 0, err, e1 = -ENOENT, e2 = -ENOENT;
	char w[200], why1[200] = "", why2[200] = "";
	struct sf sf;

	memset(res, 0, sizeof(*res));
	err = sf_open(&sf, obj, true, res->why, sizeof(res->why));
	if (err)
		return err;

	/* creation and destruction: the Task type's tp_init and tp_dealloc */
	err = sf_types_find_type(&sf, minor, "_asyncio.Task", "_asyncio.Task", task_want, 2, &task,
			why1, sizeof(why1));
	if (err) {
		sf_add_note(res->why, sizeof(res->why), why1);
		why1[0] = '\0';
	} else {
		res->task_type = task.at;
		res->task_type_spec = task.spec;
		type_where(&task, "_asyncio.Task", w, sizeof(w));
		set_hook(&sf, &res->h[HOOK_INIT], task.fn[PY_TP_INIT], "%s of the %s",
			 task.spec ? "Py_tp_init slot" : "tp_init", w);
		set_hook(&sf, &res->h[HOOK_DEALLOC], task.fn[PY_TP_DEALLOC], "%s of the %s",
			 task.spec ? "Py_tp_dealloc slot" : "tp_dealloc", w);
		/* Task.cancel(): "cancel" in the Task type's own method table
		 * (Future's has one too) */
		if (task.fn[PY_TP_METHODS] &&
		    !sf_types_find_method(&sf, "cancel", METH_FASTCALL_KW, task.fn[PY_TP_METHODS], &cancel))
			set_hook(&sf, &res->h[HOOK_CANCEL], cancel,
				 "PyMethodDef \"cancel\" (METH_FASTCALL|METH_KEYWORDS) of the %s's "
				 "%s at 0x%llx", w, task.spec ? "Py_tp_methods slot" : "tp_methods",
				 (unsigned long long)task.fn[PY_TP_METHODS]);
	}

	/* the step: from TaskStepMethWrapper's tp_call, and from task_wakeup */
	v1 = calloc(1, sizeof(*v1));
	v2 = calloc(1, sizeof(*v2));
	if (!v1 || !v2) {
		err = -ENOMEM;
		goto out;
	}
	if (!sf_types_find_type(&sf, minor, "_asyncio.TaskStepMethWrapper", "TaskStepMethWrapper",
		       wrapper_want, 1, &wrapper, why1, sizeof(why1))) {
		if (sf_local_func(&sf, wrapper.fn[PY_TP_CALL]))
			e1 = step_from(&sf, wrapper.fn[PY_TP_CALL], v1, &s1, &d1, why1, sizeof(why1));
		else
			sf_note(why1, sizeof(why1), "TaskStepMethWrapper has no tp_call function");
	}
	if (!sf_types_find_method(&sf, "task_wakeup", METH_O, 0, &wakeup))
		e2 = step_from(&sf, wakeup, v2, &s2, &d2, why2, sizeof(why2));
	else
		sf_note(why2, sizeof(why2), "no PyMethodDef \"task_wakeup\" (METH_O)");
	if (!e1 && !e2 && s1 != s2) {
		sf_note(w, sizeof(w), "task_step_impl: TaskStepMethWrapper's tp_call leads to 0x%llx, "
		        "task_wakeup to 0x%llx", (unsigned long long)s1, (unsigned long long)s2);
		sf_add_note(res->why, sizeof(res->why), w);
	} else if (!e1 && !e2) {
		set_hook(&sf, step, s1,
			 "the one function calling PyIter_Send reached from both TaskStepMethWrapper's "
			 "tp_call (0x%llx, %s; %d call%s deep) and task_wakeup (0x%llx, PyMethodDef; "
			 "%d call%s deep)", (unsigned long long)wrapper.fn[PY_TP_CALL],
			 type_where(&wrapper, "TaskStepMethWrapper", w, sizeof(w)), d1, d1 > 1 ? "s" : "",
			 (unsigned long long)wakeup, d2, d2 > 1 ? "s" : "");
	} else if (!e1 || !e2) {
		/* one path only: still an FDE start reached from a type slot or method */
		set_hook(&sf, step, !e1 ? s1 : s2,
			 "the one function calling PyIter_Send reached from %s (0x%llx); "
			 "the other path failed: %s",
			 !e1 ? "TaskStepMethWrapper's tp_call" : "task_wakeup",
			 (unsigned long long)(!e1 ? wrapper.fn[PY_TP_CALL] : wakeup), !e1 ? why2 : why1);
	} else {
		sf_add_note(res->why, sizeof(res->why), "task_step_impl");
		sf_add_note(res->why, sizeof(res->why), why1);
		sf_add_note(res->why, sizeof(res->why), why2);
	}

	/* 3.12+: the end of an eager step */
	if (step->found && (minor == 0 || minor >= 12))
		find_swap(&sf, step->vaddr, !e1 ? v1 : v2, !e1 && !e2 ? v2 : NULL, &res->h[HOOK_SWAP]);

	err = 0;
	for (int i = 0; i < HOOK_COUNT; i++) {
		if (i == HOOK_SWAP || i == HOOK_CANCEL || res->h[i].found)
			continue;
		if (!res->why[0])
			sf_add_note(res->why, sizeof(res->why),
				 i == HOOK_STEP ? "task_step_impl: not found" :
				 i == HOOK_INIT ? "the Task type has no tp_init function" :
				 "the Task type has no tp_dealloc function");
		err = -ENOENT;
	}
out:
	free(v1);
	free(v2);
	sf_close(&sf);
	return err;
}
