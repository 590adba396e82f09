"""park_threads: two threads, each running its own event loop.

    main thread:    Task (main_a, unnamed) awaits task "A.child" (sleep)
    thread loop-B:  Task (main_b, unnamed) owns a TaskGroup (gather on 3.10)
                    with "B.x" (sleep) and "B.y" (Future)

The main thread's loop announces, from a loop callback once its tasks are
parked, after loop-B has described its own parked tasks.
"""
import asyncio
import queue
import threading

import park_common as pc

described_b = queue.Queue()


async def sleeper():
    await asyncio.sleep(3600)


async def leaf():
    await pc.forever()


async def main_b():
    pc.me()
    pc.when_parked(described_b.put)
    await pc.group("3.10: TaskGroup emulated with gather",
                   [(sleeper(), "B.x"), (leaf(), "B.y")])


async def main_a():
    owner = pc.me()
    threading.Thread(target=asyncio.run, args=(main_b(),), name="loop-B", daemon=True).start()
    child = pc.spawn(sleeper(), "A.child")
    pc.edge(child, owner)
    # loop-B has parked by the time this loop's tasks have (or we wait here,
    # in a callback: no task of this loop is running)
    pc.when_parked(lambda tasks: pc.announce(tasks + described_b.get(timeout=120),
                                             "park_threads"))
    await child


if __name__ == "__main__":
    asyncio.run(main_a())
