"""A long-running asyncio program for the flight-recorder test.

Prints READY <pid>, waits for a line on stdin, then runs:
- "elder-0" .. "elder-4", created at once, alive until the end: each steps
  every 20 ms (so every window sees them step, created long before);
- a task "gen-N" created every 5 ms, which sleeps 1 ms twice and returns;
until a second line on stdin (or 120 s), then prints DONE and exits.
"""
import asyncio
import os
import sys
import threading
import time

stop = threading.Event()


async def elder():
    while not stop.is_set():
        await asyncio.sleep(0.02)


async def gen():
    await asyncio.sleep(0.001)
    await asyncio.sleep(0.001)


async def main():
    elders = [asyncio.get_running_loop().create_task(elder(), name=f"elder-{i}")
              for i in range(5)]
    n = 0
    deadline = time.monotonic() + 120
    while not stop.is_set() and time.monotonic() < deadline:
        asyncio.get_running_loop().create_task(gen(), name=f"gen-{n}")
        n += 1
        await asyncio.sleep(0.005)
    stop.set()
    await asyncio.gather(*elders)


print("READY", os.getpid(), flush=True)
sys.stdin.readline()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
asyncio.run(main())
print("DONE", flush=True)
