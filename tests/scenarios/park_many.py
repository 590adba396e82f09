"""park_many N: N leaf tasks in TaskGroups of 100 (gather on 3.10), every
leaf parked on asyncio.sleep(3600).

    Task-1 (main, unnamed)      owns a TaskGroup of N/100 group tasks
    └── grp-<i>                 owns a TaskGroup of 100 leaves
        └── leaf-<i>-<j>        asyncio.sleep(3600)

EXPECT carries counts only ("leaves", "groups", "total"), no task list.
"""
import asyncio
import sys

import park_common as pc

PER_GROUP = 100


async def leaf():
    await asyncio.sleep(3600)


async def grp(i):
    if pc.HAVE_TG:
        async with asyncio.TaskGroup() as tg:
            for j in range(PER_GROUP):
                tg.create_task(leaf(), name="leaf-%d-%d" % (i, j))
    else:
        loop = asyncio.get_running_loop()
        await asyncio.gather(*[loop.create_task(leaf(), name="leaf-%d-%d" % (i, j))
                               for j in range(PER_GROUP)])


async def main():
    n = int(sys.argv[1])
    groups = (n + PER_GROUP - 1) // PER_GROUP
    pc.announce_when_parked("park_many", {"leaves": groups * PER_GROUP, "groups": groups,
                                          "total": 1 + groups + groups * PER_GROUP})
    if pc.HAVE_TG:
        async with asyncio.TaskGroup() as tg:
            for i in range(groups):
                tg.create_task(grp(i), name="grp-%d" % i)
    else:
        loop = asyncio.get_running_loop()
        await asyncio.gather(*[loop.create_task(grp(i), name="grp-%d" % i)
                               for i in range(groups)])


if __name__ == "__main__":
    asyncio.run(main())
