"""park_gather: asyncio.gather of tasks and of bare coroutines, two deep.

    Task-N (main, unnamed)   gather(g.a, g.b, g.c)
    ├── g.a                  asyncio.sleep(3600)
    ├── g.b                  gather(leaf(), leaf()): two unnamed tasks that
    │   ├── (unnamed)        gather itself creates, each parked on a Future
    │   └── (unnamed)
    └── g.c                  awaits a Future
"""
import asyncio

import park_common as pc


async def sleeper():
    await asyncio.sleep(3600)


async def leaf():
    await pc.forever()


async def inner_gather():
    owner = pc.me()
    fut = asyncio.gather(leaf(), leaf())
    for child in fut._children:          # the tasks gather made for the coroutines
        pc.track(child)
        pc.edge(child, owner)
    await fut


async def main():
    owner = pc.me()
    kids = [pc.spawn(sleeper(), "g.a"), pc.spawn(inner_gather(), "g.b"),
            pc.spawn(leaf(), "g.c")]
    for k in kids:
        pc.edge(k, owner)
    pc.announce_when_parked("park_gather")
    await asyncio.gather(*kids)


if __name__ == "__main__":
    asyncio.run(main())
