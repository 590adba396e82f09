"""loop_cpu: two tasks burn CPU 3:1 in their steps ("heavy" 15 ms, "light"
5 ms of thread CPU time per step), and a call_later callback `on_tick` burns
5 ms every 20 ms. Prints READY <pid>, waits for a line on stdin, runs until
stdin closes.
"""
import asyncio
import os
import sys
import time


def burn(seconds):
    end = time.thread_time() + seconds      # CPU time: shares hold under contention
    while time.thread_time() < end:
        pass


async def heavy():
    while True:
        burn(0.015)
        await asyncio.sleep(0)


async def light():
    while True:
        burn(0.005)
        await asyncio.sleep(0)


def on_tick(loop):
    burn(0.005)
    loop.call_later(0.02, on_tick, loop)


async def main():
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.readline() else None)
    loop.call_soon(on_tick, loop)
    tasks = [asyncio.create_task(heavy(), name="heavy"), asyncio.create_task(light(), name="light")]
    await stop.wait()
    for t in tasks:
        t.cancel()


print("READY", os.getpid(), flush=True)
sys.stdin.readline()
asyncio.run(main())
