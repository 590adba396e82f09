"""park_shield: asyncio.shield of a task and of a bare coroutine.

    Task-N (main, unnamed)  awaits task "shielder"
    └── shielder            await asyncio.shield(task "shielded")
        └── shielded        asyncio.sleep(3600)

    shield.coro             await asyncio.shield(leaf()): shield makes an
    └── (unnamed)           unnamed task of the coroutine, parked on a Future
"""
import asyncio

import park_common as pc


async def sleeper():
    await asyncio.sleep(3600)


async def leaf():
    await pc.forever()


async def shield_task(task):
    pc.edge(task, pc.me())
    await asyncio.shield(task)


async def shield_coro():
    owner = pc.me()
    before = asyncio.all_tasks()
    outer = asyncio.shield(leaf())
    for t in asyncio.all_tasks() - before:     # the task shield made
        pc.track(t)
        pc.edge(t, owner)
    await outer


async def main():
    owner = pc.me()
    shielded = pc.spawn(sleeper(), "shielded")
    shielder = pc.spawn(shield_task(shielded), "shielder")
    pc.spawn(shield_coro(), "shield.coro")
    pc.edge(shielder, owner)
    pc.announce_when_parked("park_shield")
    await shielder


if __name__ == "__main__":
    asyncio.run(main())
