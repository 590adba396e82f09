"""Task steps at a target rate: 100 tasks on one loop, each resuming
(`await asyncio.sleep(0)`, or a sleep until the schedule catches up when it
is ahead) so that the total number of steps follows RATE per second, for
SECONDS. Every resumption counts as a step. The tasks are created and
parked first, 0.2 s before the clock starts, so the rate is a steady one.

    python3 paced_workload.py RATE SECONDS

Prints `READY <pid>`, waits for a line on stdin, runs, prints
`DONE <steps> <elapsed seconds>`. Below RATE when the interpreter (plus
what traces it) cannot go faster: one thread, the GIL.
"""
import asyncio
import os
import sys
import time

TASKS = 100
PARKED = 0.2
steps = 0


async def worker(rate, start, clock):
    global steps
    await start.wait()
    t0, end = clock
    while True:
        now = time.perf_counter()
        if now >= end:
            return
        ahead = steps / rate - (now - t0)
        await asyncio.sleep(ahead if ahead > 0 else 0)
        steps += 1


async def main(rate, seconds):
    start, clock = asyncio.Event(), []
    workers = [asyncio.create_task(worker(rate, start, clock)) for _ in range(TASKS)]
    await asyncio.sleep(PARKED)
    t0 = time.perf_counter()
    clock += [t0, t0 + seconds]
    start.set()
    await asyncio.gather(*workers)
    return time.perf_counter() - t0


rate, seconds = float(sys.argv[1]), float(sys.argv[2])
print("READY", os.getpid(), flush=True)
sys.stdin.readline()
elapsed = asyncio.run(main(rate, seconds))
print("DONE", steps, elapsed, flush=True)
