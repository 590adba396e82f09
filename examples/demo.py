#!/usr/bin/env python3
"""A small asyncio program for aps-bpf to trace (`make demo`).

Runs for about 20 seconds (or the number of seconds given as the first
argument), then exits by itself. Works unchanged on CPython 3.10 to 3.14.

What it does, so that there is something to see in a trace at any moment:
- a producer puts jobs on a queue, two consumers take them off;
- every round (about 1 s), a group of named workers runs in a TaskGroup
  (asyncio.gather on 3.10, which has no TaskGroup);
- every round, one task raises ValueError, which its parent handles,
- and one task that would sleep for an hour is cancelled.
"""
import asyncio
import os
import platform
import sys

DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
STOP = None  # queue sentinel: tells a consumer to finish


async def producer(queue, deadline):
    """Put numbered jobs on the queue until the deadline."""
    loop = asyncio.get_running_loop()
    n = 0
    while loop.time() < deadline:
        n += 1
        await queue.put(n)
        await asyncio.sleep(0.05)
    return n


async def consumer(queue):
    """Take jobs off the queue until it gets STOP; return how many it did."""
    done = 0
    while True:
        job = await queue.get()
        try:
            if job is STOP:
                return done
            await asyncio.sleep(0.01 * (job % 4))  # the "work"
            done += 1
        finally:
            queue.task_done()


async def worker(steps):
    """A few short naps."""
    for _ in range(steps):
        await asyncio.sleep(0.1)
    return steps


async def run_workers(round_no):
    """Named workers, all awaited together."""
    names = ["alpha", "beta", "gamma"]
    if hasattr(asyncio, "TaskGroup"):  # 3.11+
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(worker(3 + i), name="worker-%s-%d" % (n, round_no))
                     for i, n in enumerate(names)]
    else:
        tasks = [asyncio.create_task(worker(3 + i), name="worker-%s-%d" % (n, round_no))
                 for i, n in enumerate(names)]
        await asyncio.gather(*tasks)
    return sum(t.result() for t in tasks)


async def flaky():
    """Fails, as planned."""
    await asyncio.sleep(0.05)
    raise ValueError("flaky failed, as planned")


async def sleeper():
    """Would sleep for an hour; gets cancelled instead."""
    await asyncio.sleep(3600)


async def one_round(round_no):
    steps = await run_workers(round_no)

    handled = 0
    try:
        await asyncio.create_task(flaky(), name="flaky-%d" % round_no)
    except ValueError:
        handled = 1

    task = asyncio.create_task(sleeper(), name="sleeper-%d" % round_no)
    await asyncio.sleep(0.2)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return steps, handled, task.cancelled()


async def main():
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DURATION
    print("demo: pid %d, Python %s, running for %g s"
          % (os.getpid(), platform.python_version(), DURATION), flush=True)

    queue = asyncio.Queue(maxsize=8)
    consumers = [asyncio.create_task(consumer(queue), name="consumer-%d" % i)
                 for i in range(2)]
    prod = asyncio.create_task(producer(queue, deadline), name="producer")

    rounds = handled = cancelled = 0
    while loop.time() < deadline:
        rounds += 1
        _, h, c = await one_round(rounds)
        handled += h
        cancelled += c
        await asyncio.sleep(0.3)

    produced = await prod
    for _ in consumers:
        await queue.put(STOP)
    consumed = sum(await asyncio.gather(*consumers))
    print("demo: %d rounds, %d jobs produced, %d consumed, %d errors handled, "
          "%d tasks cancelled" % (rounds, produced, consumed, handled, cancelled),
          flush=True)


if __name__ == "__main__":
    asyncio.run(main())
