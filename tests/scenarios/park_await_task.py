"""park_await_task: tasks awaiting tasks, a chain and a diamond.

    Task-N (main, unnamed)  awaits task "top"
    └── top                 awaits task "middle"
        └── middle          awaits task "bottom"
            └── bottom      asyncio.sleep(3600)

    w.one                   awaits task "shared"   (nobody awaits w.one)
    w.two                   awaits task "shared"   (nobody awaits w.two)
    └── shared              awaits a Future: one task awaited by two
"""
import asyncio

import park_common as pc


async def sleeper():
    await asyncio.sleep(3600)


async def await_it(task):
    await task


async def leaf():
    await pc.forever()


async def main():
    owner = pc.me()
    bottom = pc.spawn(sleeper(), "bottom")
    middle = pc.spawn(await_it(bottom), "middle")
    top = pc.spawn(await_it(middle), "top")
    shared = pc.spawn(leaf(), "shared")
    one = pc.spawn(await_it(shared), "w.one")
    two = pc.spawn(await_it(shared), "w.two")
    pc.edge(bottom, middle)
    pc.edge(middle, top)
    pc.edge(top, owner)
    pc.edge(shared, one)
    pc.edge(shared, two)
    pc.announce_when_parked("park_await_task")
    await top


if __name__ == "__main__":
    asyncio.run(main())
