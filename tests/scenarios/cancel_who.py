"""cancel_who: who requested each Task.cancel(), and what it did.

The ground truth's "cancels" come from CPython itself (Truth.watch_cancels:
every call of a task's cancel from Python code, with the task running at
that moment; the cancels Task.cancel makes from C follow from _fut_waiter):

- "who.a" cancels "who.b" (asleep) with a message: by who.a, msg.
- "who.a2" cancels "who.outer", which awaits the task "who.inner": who.outer
  and then (from C, inside that cancel) who.inner, both by who.a2.
- A loop callback cancels "cb.victim" right after the step of "cb.stepper",
  in the same loop iteration (that step is still open for the tracer, which
  closes steps lazily): by none.
- "self.task" cancels itself, then awaits "self.child": the end of its step
  (task_step_impl, its cancellation pending) cancels self.child: both by
  self.task.
- main cancels the finished who.a: no effect (already done).
- 3.11+: a TaskGroup child "tg.boom" fails: its done callback (a loop
  callback) cancels the sibling "tg.sib" and the owner "tg.owner": by none.
- 3.11+: the body of "tgb.owner"'s TaskGroup raises: __aexit__, in its step,
  cancels "tgb.sib": by tgb.owner.
- 3.11+: asyncio.timeout() in "to.outer": the timer callback cancels
  to.outer, and so "to.inner" it awaits: by none.
- asyncio.wait_for("wf.inner", 0.05) in "wf.outer": 3.10/3.11 cancel the
  inner task from wait_for itself (by wf.outer); 3.12+ use a timeout, whose
  callback cancels wf.outer and so wf.inner (by none).

Every task is awaited by main, so nothing is left for asyncio.run to cancel.
"""
import asyncio
import sys

import _harness

h = _harness.Truth("cancel_who")


def create(coro, name):
    return asyncio.get_running_loop().create_task(coro, name=name)


async def sleeper():
    await h.sleep(3600)


async def spin(n):
    for _ in range(n):
        await h.sleep0()
    return n


async def expect_cancelled(task):
    """await task, which must end cancelled."""
    try:
        await h.wait(task)
    except asyncio.CancelledError:
        return
    raise AssertionError(f"{task.get_name()} was not cancelled")


async def canceller(task, msg=None):
    await h.sleep0()                # the victims are asleep by now
    if msg is None:
        task.cancel()
    else:
        h.cancel(task, msg)


async def awaiter(task):
    await h.wait(task)


async def self_cancel(child):
    await h.sleep0()
    me = asyncio.current_task()
    me.cancel()
    # yielding the task while cancelled: task_step_impl cancels it
    h.expect_cancel(child, me)
    await h.wait(child)


async def boom():
    await h.sleep0()
    raise ValueError("boom")


async def tg_fail():
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(boom(), name="tg.boom")
            tg.create_task(sleeper(), name="tg.sib")
            # __aexit__ waits; tg.boom's done callback cancels this task
            # (a throw), it waits again for tg.sib, then raises
            h.note_future(throws=True)
            h.note_future()
    except Exception as e:
        if type(e).__name__ != "ExceptionGroup":
            raise
        return "group failed"
    raise AssertionError("group did not fail")


async def tg_body():
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(sleeper(), name="tgb.sib")
            await h.sleep0()        # tgb.sib is asleep by now
            h.note_future()         # __aexit__ cancels it, waits for it
            raise KeyError("body")
    except Exception as e:
        if type(e).__name__ != "ExceptionGroup":
            raise
        return "body raised"
    raise AssertionError("group did not raise")


async def with_timeout():
    inner = create(sleeper(), "to.inner")
    try:
        async with asyncio.timeout(0.05):
            await h.wait(inner)
    except TimeoutError:
        return "timed out"
    raise AssertionError("no timeout")


async def with_wait_for():
    inner = create(sleeper(), "wf.inner")
    if sys.version_info >= (3, 12):
        h.note_task(inner, throws=True)     # async with timeout: await inner
    else:
        h.note_future()                     # wait_for's waiter, released by the timer
        h.note_future()                     # _cancel_and_wait's waiter
    try:
        await asyncio.wait_for(inner, 0.05)
    except asyncio.TimeoutError:
        return "timed out"
    raise AssertionError("no timeout")


async def main():
    h.begin()
    h.watch_cancels()
    loop = asyncio.get_running_loop()

    # a task cancels a task, with a message
    b = create(sleeper(), "who.b")
    a = create(canceller(b, "stop who.b"), "who.a")
    await expect_cancelled(b)
    await h.wait(a)

    # ... that awaits a task: both, by the same requester
    inner = create(sleeper(), "who.inner")
    outer = create(awaiter(inner), "who.outer")
    a2 = create(canceller(outer), "who.a2")
    await expect_cancelled(outer)
    await expect_cancelled(inner)
    await h.wait(a2)

    # a loop callback, right after another task's step
    victim = create(sleeper(), "cb.victim")
    stepper = create(spin(1), "cb.stepper")
    loop.call_soon(lambda: victim.cancel())
    await expect_cancelled(victim)
    await h.wait(stepper)

    # a task cancels itself, then awaits a task
    child = create(sleeper(), "self.child")
    me = create(self_cancel(child), "self.task")
    await expect_cancelled(me)
    await expect_cancelled(child)

    # a finished task: no effect
    assert a.cancel() is False

    if sys.version_info >= (3, 11):
        assert await h.wait(create(tg_fail(), "tg.owner")) == "group failed"
        assert await h.wait(create(tg_body(), "tgb.owner")) == "body raised"
        assert await h.wait(create(with_timeout(), "to.outer")) == "timed out"
    else:
        h.skip("TaskGroup and asyncio.timeout need 3.11+")
    assert await h.wait(create(with_wait_for(), "wf.outer")) == "timed out"
    return "ok"


if __name__ == "__main__":
    _harness.run(h, lambda: asyncio.run(main()))
