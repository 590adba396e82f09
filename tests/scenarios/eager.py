"""eager (3.12+; on 3.10/3.11 only the main task runs, noted in "notes").

main installs loop.set_task_factory(asyncio.eager_task_factory) and creates
tasks by calling the installed factory with name= (loop.create_task would
pass the name to a factory only on 3.14+; on 3.12/3.13 it renames the task
after its eager first step already ran).  Every task below starts eagerly:
its first step runs nested inside its creator's step ("nested_first").

- "e.quick": returns in its first step (1 step, never suspends);
- "e.raise": raises KeyError in its first step (1 step);
- a default-named eager task (Task-N) that returns at once;
- "e.spin": 2 bare yields (3 steps, only the first nested);
- "e.fut": waits once on a timer future (2 steps);
- "e.outer": in its (nested) first step creates "e.inner", which returns in
  its own first step (nested two deep), and "e.inner2", which yields once;
  e.outer then awaits e.inner2 (not done: one suspension on a task).
The factory is removed before main returns, so the tasks asyncio.run
creates at shutdown are ordinary ones.
"""
import asyncio
import sys

import _harness

h = _harness.Truth("eager")


def spawn(coro, name=None):
    loop = asyncio.get_running_loop()
    task = loop.get_task_factory()(loop, coro, name=name)
    return h.track(task, eager=True, coro=coro)


async def quick():
    return "quick"


async def raise_key():
    raise KeyError("eager")


async def spin(n):
    for _ in range(n):
        await h.sleep0()
    return n


async def fut():
    await h.sleep(0.002)
    return "fut"


async def inner():
    return "inner"


async def outer():
    i1 = spawn(inner(), "e.inner")
    assert i1.done(), "e.inner should have finished eagerly"
    i2 = spawn(spin(1), "e.inner2")
    assert await h.wait(i2) == 1
    return await h.wait(i1)


async def main():
    h.begin()
    h.watch_cancels()
    if sys.version_info < (3, 12):
        h.skip("eager_task_factory needs 3.12+: only the main task ran")
        return "skipped"
    loop = asyncio.get_running_loop()
    loop.set_task_factory(asyncio.eager_task_factory)
    try:
        q = spawn(quick(), "e.quick")
        assert q.done()
        r = spawn(raise_key(), "e.raise")
        assert r.done()
        d = spawn(quick())                 # default name
        assert d.done()
        s = spawn(spin(2), "e.spin")
        f = spawn(fut(), "e.fut")
        o = spawn(outer(), "e.outer")
        assert not s.done() and not f.done() and not o.done()
        for t in (q, d, s, f, o):
            await h.wait(t)
        try:
            await h.wait(r)
        except KeyError:
            pass
    finally:
        loop.set_task_factory(None)
    return "ok"


if __name__ == "__main__":
    _harness.run(h, lambda: asyncio.run(main()))
