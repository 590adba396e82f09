"""park_names: named and unnamed tasks, all leaves awaited by main.

Named "alpha", "with space", "ünïcödé ✓", "" (empty), "renamed" (set with
set_name after creation, before its first step), three unnamed tasks
(Task-<n>: 3.12+ keeps the number until get_name(), which nobody calls),
each parked on a Future or asyncio.sleep; main gathers them all.
"""
import asyncio

import park_common as pc


async def sleeper():
    await asyncio.sleep(3600)


async def leaf():
    await pc.forever()


async def main():
    owner = pc.me()
    kids = [pc.spawn(leaf(), "alpha"), pc.spawn(sleeper(), "with space"),
            pc.spawn(leaf(), "ünïcödé ✓"), pc.spawn(sleeper(), ""),
            pc.spawn(leaf()), pc.spawn(sleeper()), pc.spawn(leaf())]
    t = asyncio.get_running_loop().create_task(leaf())
    t.set_name("renamed")
    kids.append(pc.track(t, "renamed"))
    for k in kids:
        pc.edge(k, owner)
    pc.announce_when_parked("park_names")
    await asyncio.gather(*kids)


if __name__ == "__main__":
    asyncio.run(main())
