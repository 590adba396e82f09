"""park_churn: parked tasks next to a storm of short-lived ones, for reads
that race the target's changes.

    Task-N (main, unnamed)  gather(stable.a, stable.b)
    ├── stable.a            asyncio.sleep(3600)
    └── stable.b            awaits a Future
    churner                 forever: makes 50 tasks "churn-<n>" (work():
                            two asyncio.sleep(0) and return) and gathers them

EXPECT describes main, stable.a and stable.b (taken before the churner
starts); the churner and its tasks come and go while readers read.
"""
import asyncio
import itertools

import park_common as pc

counter = itertools.count()


async def sleeper():
    await asyncio.sleep(3600)


async def leaf():
    await pc.forever()


async def work():
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def churn():
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.gather(*[loop.create_task(work(), name="churn-%d" % next(counter))
                               for _ in range(50)])


def start(tasks):
    pc.announce(tasks, "park_churn")
    asyncio.get_running_loop().create_task(churn(), name="churner")


async def main():
    owner = pc.me()
    kids = [pc.spawn(sleeper(), "stable.a"), pc.spawn(leaf(), "stable.b")]
    for k in kids:
        pc.edge(k, owner)
    pc.when_parked(start)
    await asyncio.gather(*kids)


if __name__ == "__main__":
    asyncio.run(main())
