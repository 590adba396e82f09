/* SPDX-License-Identifier: MIT */
/* Struct layouts of one CPython build: what BPF needs, plus userspace extras. */
#ifndef APS_LAYOUT_H
#define APS_LAYOUT_H

#include <stdint.h>
#include "aps_events.h"

struct py_layout {
	int major, minor;
	struct aps_layout bpf;
	/* userspace-only */
	uint16_t tp_basicsize;   /* PyTypeObject.tp_basicsize */
	uint16_t tp_base;        /* PyTypeObject.tp_base */
	uint16_t fut_loop;       /* FutureObj.fut_loop */
	uint16_t sw_task;        /* TaskStepMethWrapper.sw_task */
	const char *source;      /* where the offsets came from, for `doctor` */
};

/* The version table: NULL when the version is not supported. */
const struct py_layout *layout_table_lookup(int major, int minor);

#endif
