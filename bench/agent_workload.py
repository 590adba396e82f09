"""A Python process for bench/parts/agent.py: asyncio, idle or under load.

    python3 agent_workload.py idle|load

idle: 20 tasks parked on an Event and a heartbeat (asyncio.sleep(1)).
load: the same, plus a request stream made in-process: every 10 ms a task
that does ~0.2 ms of CPU work, awaits asyncio.sleep(0.02), and ends (about
2 alive at once, a few % of a CPU).
Prints `READY <pid>`, waits for a line on stdin, runs until it reads
another line, then prints `DONE <requests finished> <seconds>`.
"""
import asyncio
import os
import sys
import time


def work(n=2000):
    x = 0
    for i in range(n):
        x += i
    return x


async def request(state):
    work()
    await asyncio.sleep(0.02)
    state["done"] += 1


async def heartbeat():
    while True:
        await asyncio.sleep(1)


async def parked(ev):
    await ev.wait()


async def main(mode):
    loop = asyncio.get_running_loop()
    ev = asyncio.Event()
    keep = [asyncio.create_task(parked(ev), name="parked-%d" % i) for i in range(20)]
    keep.append(asyncio.create_task(heartbeat(), name="heartbeat"))
    print("READY %d" % os.getpid(), flush=True)
    stop = asyncio.Event()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.readline()
    state = {"done": 0}
    t0 = time.monotonic()

    async def wait_stop():
        await reader.readline()
        stop.set()
    stopper = asyncio.create_task(wait_stop())
    n = 0
    while not stop.is_set():
        if mode == "load":
            asyncio.create_task(request(state), name="req-%d" % n)
            n += 1
            await asyncio.sleep(0.01)
        else:
            await asyncio.sleep(0.1)
    print("DONE %d %.3f" % (state["done"], time.monotonic() - t0), flush=True)
    stopper.cancel()


asyncio.run(main(sys.argv[1]))
