"""taskgroup (3.11+; on 3.10 only the main task runs, noted in "notes").

- group "tg1": children "tg1.a" (2 yields) and "tg1.mid"; "tg1.mid" opens a
  nested group with "tg2.x" (1 yield) and "tg2.y" (3 yields, creator
  tg1.mid): a TaskGroup two deep.  Each group owner suspends once in
  __aexit__ on the group's completion future.
- group "fail": "fail.boom" raises ValueError after one yield, the group
  cancels "fail.victim" (asleep on a timer) and cancels its owner, which is
  suspended in __aexit__: the owner is woken by that cancellation (a throw),
  waits again for the victim, then raises an ExceptionGroup that main
  catches.  The owner is a task of its own, "fail.owner".

TaskGroup.create_task names the task after Task.__init__ on 3.11 and 3.12
(set_name right after creation, before the first step), and at creation on
3.13+.
"""
import asyncio
import sys

import _harness

h = _harness.Truth("taskgroup")


async def spin(n):
    for _ in range(n):
        await h.sleep0()
    return n


def pending(tasks):
    return any(not t.done() for t in tasks)


async def mid():
    async with asyncio.TaskGroup() as tg2:
        kids = [tg2.create_task(spin(1), name="tg2.x"),
                tg2.create_task(spin(3), name="tg2.y")]
        if pending(kids):
            h.note_future()          # __aexit__ waits for the children
    return sum(k.result() for k in kids)


async def boom():
    await h.sleep0()
    raise ValueError("boom")


async def victim():
    await h.sleep(3600)


async def fail_owner():
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(boom(), name="fail.boom")
            tg.create_task(victim(), name="fail.victim")
            # __aexit__: waits; fail.boom's failure cancels this task
            # while it waits (a throw), it waits again for fail.victim
            # to finish cancelling, then raises the ExceptionGroup.
            h.note_future(throws=True)
            h.note_future()
    except Exception as e:
        if type(e).__name__ != "ExceptionGroup":
            raise
        assert [type(x).__name__ for x in e.exceptions] == ["ValueError"]
        return "group failed"
    raise AssertionError("group did not fail")


async def main():
    h.begin()
    h.watch_cancels()
    if sys.version_info < (3, 11):
        h.skip("TaskGroup needs 3.11+: only the main task ran")
        return "skipped"
    async with asyncio.TaskGroup() as tg1:
        kids = [tg1.create_task(spin(2), name="tg1.a"),
                tg1.create_task(mid(), name="tg1.mid")]
        if pending(kids):
            h.note_future()
    assert [k.result() for k in kids] == [2, 4]
    owner = asyncio.get_running_loop().create_task(fail_owner(), name="fail.owner")
    assert await h.wait(owner) == "group failed"
    return "ok"


if __name__ == "__main__":
    _harness.run(h, lambda: asyncio.run(main()))
