"""create_task_name: tasks named through the idiomatic asyncio.create_task(
coro, name=...).  On 3.10-3.12 asyncio.create_task creates the task with a
default name and calls set_name() right after Task.__init__, before the
task's first step; on 3.13+ the name is passed to Task.__init__.  Either
way the task's name, for its whole life, is the name= given.

- "ct.a" (1 yield), "ct.b" (2 yields), "ct.nap" (one timer wait), and one
  default-named task; main awaits each.
"""
import asyncio

import _harness

h = _harness.Truth("create_task_name")


async def spin(n):
    for _ in range(n):
        await h.sleep0()
    return n


async def nap():
    await h.sleep(0.002)


async def main():
    h.begin()
    h.watch_cancels()
    tasks = [asyncio.create_task(spin(1), name="ct.a"),
             asyncio.create_task(spin(2), name="ct.b"),
             asyncio.create_task(nap(), name="ct.nap"),
             asyncio.create_task(spin(1))]
    for t in tasks:
        await h.wait(t)
    return "ok"


if __name__ == "__main__":
    _harness.run(h, lambda: asyncio.run(main()))
