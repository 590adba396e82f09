/* SPDX-License-Identifier: MIT */
/* The views' options, one definition each: live and in `replay`. */
#ifndef APS_CLI_VIEW_OPTS_H
#define APS_CLI_VIEW_OPTS_H

#include "cli/options.h"
#include "output/top_view.h"

/* top: --sort KEY, --by task|coro */
#define VIEW_OPTS_TOP							\
	{ "sort", required_argument, NULL, CLI_SORT },			\
	{ "by", required_argument, NULL, CLI_BY }

/* ps, pstree: --format F, --collapse N, --fail-on-cycle (each command checks them) */
#define VIEW_OPTS_TASKS							\
	{ "format", required_argument, NULL, 'f' },			\
	{ "collapse", required_argument, NULL, 'c' },			\
	{ "fail-on-cycle", no_argument, NULL, 'F' }

/* --sort, --by into v: 0, 2 (printed) or -1 (not one of them). */
int view_opts_top(const struct cli *c, int opt, const char *arg, struct top_view *v);

#endif
