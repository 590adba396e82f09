"""The kernel matrix's target for blocked, check and top (guest_check.py),
with nothing left to timing: what it did is measured by itself, and each
blocking step lasts until the watcher has taken its stack.

Prints READY <pid>, waits for a byte on stdin, then task `bad` blocks the
loop ROUNDS times with a synchronous read of one byte from stdin (printing
BLOCKING <task address> first: the guest writes the byte once `blocked`
took that step's stack), awaiting 0.1 s between, while `ticker` steps every
10 ms until bad is done. Then it prints DONE <json>: each task's steps,
and per blocking step the bounds its duration must lie in: at least the
time spent inside it (lo), at most the time between the steps that ran
just before and just after it on the loop (hi: the loop runs one step at a
time). Both tasks stay referenced (listed, done) until one more byte on
stdin; then it exits.
"""
import asyncio
import json
import os
import sys
import time

ROUNDS = 3
now = time.monotonic_ns
marks = []                   # a timestamp inside every step of ticker (and main's first)
blocks = []                  # (start, end) of each blocking call, inside bad's steps
steps = {"bad": 0, "ticker": 0}


def slow_sync_call():
    return os.read(0, 1)     # the line the blocking detector must point at


async def bad_handler():
    steps["bad"] += 1
    for _ in range(ROUNDS):
        print("BLOCKING", hex(id(asyncio.current_task())), flush=True)
        t0 = now()
        slow_sync_call()
        blocks.append((t0, now()))
        await asyncio.sleep(0.1)
        steps["bad"] += 1


async def ticker(b):
    steps["ticker"] += 1
    marks.append(now())
    while not b.done():
        await asyncio.sleep(0.01)
        steps["ticker"] += 1
        marks.append(now())


async def main():
    loop = asyncio.get_running_loop()
    marks.append(now())
    b = asyncio.create_task(bad_handler(), name="bad")
    t = asyncio.create_task(ticker(b), name="ticker")
    await asyncio.gather(b, t)
    bounds = [{"lo_ns": t1 - t0, "hi_ns": min(m for m in marks if m > t1) - max(m for m in marks if m < t0)}
              for t0, t1 in blocks]
    print("DONE", json.dumps({"steps": steps, "blocks": bounds}), flush=True)
    release = loop.create_future()
    loop.add_reader(0, lambda: release.done() or release.set_result(os.read(0, 1)))
    await release
    loop.remove_reader(0)
    del b, t


print("READY", os.getpid(), flush=True)
os.read(0, 1)
asyncio.run(main())
