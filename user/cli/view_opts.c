// SPDX-License-Identifier: MIT
#include <string.h>
#include "cli/view_opts.h"

int view_opts_top(const struct cli *c, int opt, const char *arg, struct top_view *v)
{
	switch (opt) {
	case CLI_SORT:
		if (top_view_sort_name(arg, &v->sort))
			return cli_bad(c, "--sort", "busy, max, steps, age or waiting", arg);
		return 0;
	case CLI_BY:
		if (strcmp(arg, "task") && strcmp(arg, "coro"))
			return cli_bad(c, "--by", "task or coro", arg);
		v->by_coro = !strcmp(arg, "coro");
		return 0;
	default: return -1;
	}
}
