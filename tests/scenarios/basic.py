"""basic: the task lifecycle on one loop.

- "parent" creates "child" and awaits it (a task awaiting a task);
- tasks with explicit names and two with default Task-N names;
- sleep(0) loops with known counts ("spin5": 6 steps), sleep(x>0) waits;
- "raiser" raises ValueError, caught by its awaiter "catcher";
- "sleeper" is cancelled while sleeping; its awaiter "sleeper_waiter" sees
  CancelledError and returns normally.
"""
import asyncio

import _harness

h = _harness.Truth("basic")
sleeper_sleeping = False


def create(coro, name=None):
    # loop.create_task passes name= to Task.__init__ on every version
    return asyncio.get_running_loop().create_task(coro, name=name)


async def spin(n):
    """n bare yields: n + 1 steps."""
    for _ in range(n):
        await h.sleep0()
    return n


async def nap(n):
    """n waits on a timer future: n + 1 steps."""
    for _ in range(n):
        await h.sleep(0.002)
    return n


async def parent():
    child = create(spin(2), "child")
    return await h.wait(child)


async def raiser():
    await h.sleep0()
    raise ValueError("raised on purpose")


async def catcher():
    t = create(raiser(), "raiser")
    try:
        await h.wait(t)
    except ValueError:
        return "caught"
    raise AssertionError("raiser did not raise")


async def sleeper():
    global sleeper_sleeping
    sleeper_sleeping = True
    await h.sleep(3600)


async def sleeper_waiter():
    t = create(sleeper(), "sleeper")
    try:
        await h.wait(t)
    except asyncio.CancelledError:
        return "saw CancelledError"
    raise AssertionError("sleeper was not cancelled")


async def main():
    h.begin()
    h.watch_cancels()
    tasks = [
        create(parent(), "parent"),
        create(spin(1)),                  # default name Task-N
        create(spin(0)),                  # default name, a single step
        create(spin(5), "spin5"),
        create(nap(2), "napper"),
        create(catcher(), "catcher"),
    ]
    waiter = create(sleeper_waiter(), "sleeper_waiter")
    while not sleeper_sleeping:
        await h.sleep0()
    # sleeper is now suspended on its timer future: cancel it there
    sleeper = [t for t in asyncio.all_tasks() if t.get_name() == "sleeper"][0]
    sleeper.cancel()
    assert await h.wait(waiter) == "saw CancelledError"
    for t in tasks:
        await h.wait(t)
    return "ok"


if __name__ == "__main__":
    _harness.run(h, lambda: asyncio.run(main()))
