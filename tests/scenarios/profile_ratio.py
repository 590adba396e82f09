"""profile_ratio: two tasks burning CPU in a known 3:1 ratio, and a loop callback.

Task "heavy" burns 3 units of thread CPU per step, task "light" 1 unit,
each then `await asyncio.sleep(0)`, so the loop alternates them; both are
gathered by the main task (Task-1). With argv[1] == "callback", a loop
callback burn_cb burns instead (rescheduled by call_soon and call_later in
turn) while one task only sleeps. With "wall", task "blocker" blocks the
loop in time.sleep(0.03) then awaits asyncio.sleep(0.02), in turn. Each
burn is timed by the program itself (time.thread_time), each block by the
wall clock; when stdin closes it prints `MEASURED {json}`: CPU seconds per
burner and of the whole thread, seconds blocked and the main thread's wall
time. Prints `READY <pid>` first.
"""
import asyncio
import json
import os
import sys
import threading
import time

UNIT = 0.001
MEASURED = {"heavy": 0.0, "light": 0.0, "burn_cb": 0.0, "blocked": 0.0}
stop = threading.Event()


def burn(units):
    """Spin until the thread has run `units` more units of CPU."""
    t0 = time.thread_time()
    end = t0 + units * UNIT
    while time.thread_time() < end:
        pass
    return time.thread_time() - t0


async def heavy():
    while not stop.is_set():
        MEASURED["heavy"] += burn(3)
        await asyncio.sleep(0)


async def light():
    while not stop.is_set():
        MEASURED["light"] += burn(1)
        await asyncio.sleep(0)


def burn_cb(loop, n):
    MEASURED["burn_cb"] += burn(4)
    if stop.is_set():
        return
    if n % 2:
        loop.call_soon(burn_cb, loop, n + 1)
    else:
        loop.call_later(0.001, burn_cb, loop, n + 1)


async def sleeper():
    while not stop.is_set():
        await asyncio.sleep(0.05)


async def blocker():
    while not stop.is_set():
        t0 = time.monotonic()
        time.sleep(0.03)
        MEASURED["blocked"] += time.monotonic() - t0
        await asyncio.sleep(0.02)


async def main(mode):
    loop = asyncio.get_running_loop()
    if mode == "wall":
        await asyncio.gather(asyncio.create_task(blocker(), name="blocker"))
    elif mode == "callback":
        loop.call_soon(burn_cb, loop, 0)
        await asyncio.gather(asyncio.create_task(sleeper(), name="sleeper"))
    else:
        await asyncio.gather(asyncio.create_task(heavy(), name="heavy"),
                             asyncio.create_task(light(), name="light"))


def watch_stdin():
    sys.stdin.read()
    stop.set()


if __name__ == "__main__":
    threading.Thread(target=watch_stdin, daemon=True).start()
    print("READY", os.getpid(), flush=True)
    t0, w0 = time.thread_time(), time.monotonic()
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ratio"))
    MEASURED["thread"] = time.thread_time() - t0
    MEASURED["wall"] = time.monotonic() - w0
    print("MEASURED", json.dumps(MEASURED), flush=True)
