"""timing_blocking: one task calls a synchronous time.sleep(0.3) from a helper
every 0.7 s (it blocks the event loop), another ticks every 10 ms.

Prints READY <pid>, waits for a line on stdin, runs ~2.3 s, exits.
"""
import asyncio
import os
import sys
import time

ROUNDS = 3


def slow_sync_call():
    time.sleep(0.3)          # the line the blocking detector must point at


async def bad_handler():
    for _ in range(ROUNDS):
        slow_sync_call()
        await asyncio.sleep(0.4)


async def ticker():
    for _ in range(int(ROUNDS * 0.7 / 0.01)):
        await asyncio.sleep(0.01)


async def main():
    await asyncio.gather(asyncio.create_task(bad_handler(), name="bad"),
                         asyncio.create_task(ticker(), name="ticker"))


print("READY", os.getpid(), flush=True)
if not os.environ.get("APS_SCENARIO_NO_WAIT"):
    sys.stdin.readline()
asyncio.run(main())
