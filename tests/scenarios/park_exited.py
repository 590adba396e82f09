"""park_exited: tasks left pending by a thread that has exited, next to
the main thread's loop.

    thread "loop-C" (exited): its loop ran until a helper finished, leaving
        C.waiter            awaits task "C.orphan"
        └── C.orphan        awaits a Future
    pending (a global list keeps them); then the thread ended.  3.14 moves
    such tasks to the interpreter's list: their tid is 0 (no thread).
    main thread:  Task (main, unnamed) awaits task "M.child" (sleep)
"""
import asyncio
import threading

import park_common as pc

keep = []


async def sleeper():
    await asyncio.sleep(3600)


async def leaf():
    await pc.forever()


async def await_it(task):
    await task


def thread_c():
    loop = asyncio.new_event_loop()

    async def setup():
        orphan = pc.spawn(leaf(), "C.orphan")
        waiter = pc.spawn(await_it(orphan), "C.waiter")
        pc.edge(orphan, waiter)
        keep.extend([orphan, waiter])
        await asyncio.sleep(0.05)       # both park meanwhile
    loop.run_until_complete(setup())
    # the loop stays open and its two tasks pending: nothing runs them again


async def main():
    owner = pc.me()
    child = pc.spawn(sleeper(), "M.child")
    pc.edge(child, owner)
    pc.when_parked(lambda tasks: pc.announce(tasks + pc.describe(keep, 0), "park_exited"))
    await child


if __name__ == "__main__":
    t = threading.Thread(target=thread_c, name="loop-C")
    t.start()
    t.join()
    asyncio.run(main())
