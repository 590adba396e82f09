"""exit_midway: the target exits (os._exit) while tasks are pending.

main starts "m.sleeper" (asleep on a timer for an hour), "m.spinner" (bare
yields forever) and "m.parent" (awaits "m.child", which sleeps an hour),
makes 5 bare yields itself, creates "m.unstarted" (never gets a step), then
writes the ground truth and calls os._exit(0) in the middle of its own
step.  In the ground truth, pending tasks have "end": null and main has
"running_at_exit": true (its last step never ends).
"""
import asyncio
import sys

import _harness

h = _harness.Truth("exit_midway")


async def sleeper():
    await h.sleep(3600)


async def spinner():
    while True:
        await h.sleep0()


async def parent():
    child = asyncio.get_running_loop().create_task(sleeper(), name="m.child")
    await h.wait(child)


async def never():
    raise AssertionError("m.unstarted ran")


async def main():
    h.begin()
    loop = asyncio.get_running_loop()
    keep = [loop.create_task(sleeper(), name="m.sleeper"),
            loop.create_task(spinner(), name="m.spinner"),
            loop.create_task(parent(), name="m.parent")]
    for _ in range(5):
        await h.sleep0()
    keep.append(loop.create_task(never(), name="m.unstarted"))
    _harness.exit_now(h, sys.argv[1])


def body():
    asyncio.run(main())
    raise AssertionError("not reached")


if __name__ == "__main__":
    _harness.run(h, body)
