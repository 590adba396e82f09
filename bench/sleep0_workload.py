"""200k `await asyncio.sleep(0)` steps over 100 tasks; prints its own wall time.

Waits for a line on stdin before starting, so a tracer can attach first.
"""
import asyncio
import os
import sys
import time

TASKS = 100
STEPS = 2000


async def worker():
    for _ in range(STEPS):
        await asyncio.sleep(0)


async def main():
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(TASKS)))
    return time.perf_counter() - t0


print("READY", os.getpid(), flush=True)
sys.stdin.readline()
elapsed = asyncio.run(main())
print("ELAPSED", elapsed, TASKS * STEPS, flush=True)
