/* SPDX-License-Identifier: MIT */
/*
 * A task in asyncio.sleep(): when its timer fires, read from the timer
 * handle the sleep holds (its local `h`, a TimerHandle, and `_when`, in
 * loop.time(), which is CLOCK_MONOTONIC) and how long it sleeps (`delay`),
 * so the time left and the time asleep need no history.
 */
#ifndef APS_SLEEP_TIMER_H
#define APS_SLEEP_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include "memory/coro_stack.h"
#include "memory/pyread.h"

/* Is this frame asyncio.sleep's (asyncio/tasks.py)? */
bool sleep_timer_frame(const struct snap_frame *f);
/*
 * gen: the coroutine of asyncio.sleep (snap_task.inner_coro). 0 with *when (s,
 * CLOCK_MONOTONIC) and *delay (s); -ENOENT when it holds no readable timer
 * (uvloop's handles, a sleep(0)); -errno.
 */
int sleep_timer_read(struct pyreader *r, uint64_t gen, double *when, double *delay);

#endif
