// SPDX-License-Identifier: MIT
#include <string.h>
#include "model/step_switch.h"

int step_switch_split(const void *data, size_t len, struct aps_ev_step_end *end,
		      struct aps_ev_step_begin *begin)
{
	const struct aps_ev_step_switch *e = data;
	const struct aps_event_hdr *h = data;

	if (len < sizeof(*h) || h->type != APS_EV_STEP_SWITCH)
		return 0;
	if (len != sizeof(*e))
		return -1;
	memset(end, 0, sizeof(*end));
	end->hdr = (struct aps_event_hdr){ APS_EV_STEP_END, 0, h->tid, h->ts_ns, e->end_task };
	end->begin_ts_ns = e->end_begin_ts_ns;
	end->waiter = e->end_waiter;
	end->waiter_type = e->end_waiter_type;
	end->exc_type = e->end_exc_type;
	end->result = e->end_result;
	end->boundary = APS_BND_NEXT_STEP;
	memset(begin, 0, sizeof(*begin));
	begin->hdr = (struct aps_event_hdr){ APS_EV_STEP_BEGIN, h->flags, h->tid, h->ts_ns, h->task };
	begin->waiter = e->waiter;
	begin->exc = e->exc;
	begin->depth = 0;
	return 1;
}
