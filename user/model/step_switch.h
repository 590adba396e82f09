/* SPDX-License-Identifier: MIT */
#ifndef APS_STEP_SWITCH_H
#define APS_STEP_SWITCH_H

#include <stddef.h>
#include "aps_events.h"

/*
 * Split an APS_EV_STEP_SWITCH record into the STEP_END and STEP_BEGIN it
 * stands for. 1: split; 0: not a STEP_SWITCH; -1: a STEP_SWITCH of the
 * wrong size (passed on as it is, for the model to count as bad).
 */
int step_switch_split(const void *data, size_t len, struct aps_ev_step_end *end,
		      struct aps_ev_step_begin *begin);

#endif
