"""loop_record: what `record --mode loop` is tested on. After a line on stdin:
  - a loop.call_later callback on_timer sleeps 0.3 s (a stall, no task)    # once
  - the task "stepper" sleeps 0.3 s inside one step (a stall in a task)     # once
  - the task "burner" burns 1 s of CPU (thread time) in ~5 ms steps, then
    waits for the end (a task read after its samples names them)
  - then a steady tree for 3 s: "supervisor" awaits gather(worker-a,
    worker-b), both waiting on an event; main sleeps. The program prints
    TREE <CLOCK_MONOTONIC ns at the start> <ns at the end> <json: task ->
    the task awaiting it> of that tree as it built it, then ends it.
Prints READY <pid>, waits for a line on stdin, prints DONE, exits.
"""
import asyncio
import json
import os
import sys
import time


def on_timer():
    time.sleep(0.3)                             # STALL-TIMER


async def stepper():
    await asyncio.sleep(0.05)
    time.sleep(0.3)                             # STALL-STEP
    await asyncio.sleep(0.05)


def spin(ns):
    end = time.thread_time_ns() + ns
    n = 0
    while time.thread_time_ns() < end:
        n += 1
    return n


async def burner(ev, burnt):
    end = time.thread_time_ns() + 1_000_000_000
    while time.thread_time_ns() < end:
        spin(5_000_000)                         # BURN
        await asyncio.sleep(0)
    burnt.set()
    await ev.wait()


async def worker(ev):
    await ev.wait()


async def supervisor(ev):
    await asyncio.gather(asyncio.create_task(worker(ev), name="worker-a"),
                         asyncio.create_task(worker(ev), name="worker-b"))


async def main():
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, on_timer)
    await asyncio.sleep(0.5)
    await asyncio.create_task(stepper(), name="stepper")
    await asyncio.sleep(0.3)
    ev, burnt = asyncio.Event(), asyncio.Event()
    burn = asyncio.create_task(burner(ev, burnt), name="burner")
    await burnt.wait()
    sup = asyncio.create_task(supervisor(ev), name="supervisor")
    await asyncio.sleep(0.1)
    t0 = time.monotonic_ns()
    tree = {t.get_name(): None for t in asyncio.all_tasks()}
    tree.update({"worker-a": "supervisor", "worker-b": "supervisor"})
    await asyncio.sleep(3.0)
    t1 = time.monotonic_ns()
    print("TREE", t0, t1, json.dumps(tree, sort_keys=True), flush=True)
    ev.set()
    await sup
    await burn
    print("DONE", flush=True)


print("READY", os.getpid(), flush=True)
sys.stdin.readline()
asyncio.run(main())
