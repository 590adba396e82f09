/* SPDX-License-Identifier: MIT */
/* The top view's options (--sort, --by), for `top` and `replay FILE top`. */
#ifndef APS_CLI_TOP_OPTS_H
#define APS_CLI_TOP_OPTS_H

#include "cli/options.h"
#include "output/top_view.h"

#define TOP_OPTS_SORT_BY						\
	{ "sort", required_argument, NULL, CLI_SORT },			\
	{ "by", required_argument, NULL, CLI_BY }

/* --sort KEY, --by task|coro into v: 0, 2 (printed) or -1 (not one of them). */
int top_opts_parse(const struct cli *c, int opt, const char *arg, struct top_view *v);

#endif
