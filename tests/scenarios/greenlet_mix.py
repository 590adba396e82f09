"""greenlet_mix: asyncio together with greenlet (needs `import greenlet`;
without it only the main task of phase 1 runs, noted in "notes").

Phase 1, loop on the main greenlet:
- "gl.pingpong": inside one step switches 50 times into a child greenlet
  and back, yields once, and switches 50 more times in its second step;
- "gl.bridge": SQLAlchemy-style greenlet_spawn: synchronous code runs in a
  greenlet and hands awaitables to the task step (await_only), which
  awaits them: 3 bare yields and one timer wait, so the greenlet stays
  suspended across task steps (5 steps);
- "gl.bridge2" the same with 2 bare yields, at the same time.
Phase 2, the whole asyncio.run inside a greenlet: "gl.out" switches to the
main greenlet (outside the loop) in the middle of each of its 3 steps and
is switched back into, so its step's C stack is swapped out and restored.
"""
import asyncio
import sys

import _harness

try:
    import greenlet
except ImportError:
    greenlet = None

h = _harness.Truth("greenlet_mix")


def create(coro, name=None):
    return asyncio.get_running_loop().create_task(coro, name=name)


async def pingpong(n):
    def child(x):
        while True:
            x = greenlet.getcurrent().parent.switch(x + 1)
    g = greenlet.greenlet(child)
    v = 0
    for _ in range(n):
        v = g.switch(v)
    await h.sleep0()
    for _ in range(n):
        v = g.switch(v)
    return v


def await_only(awaitable):
    """Called from sync code inside a greenlet_spawn greenlet."""
    return greenlet.getcurrent().parent.switch(awaitable)


async def greenlet_spawn(fn, *args):
    g = greenlet.greenlet(fn, greenlet.getcurrent())
    result = g.switch(*args)
    while not g.dead:
        try:
            value = await result
        except BaseException:
            result = g.throw(*sys.exc_info())
        else:
            result = g.switch(value)
    return result


def sync_work(n_yields, nap):
    for _ in range(n_yields):
        await_only(h.sleep0())
    if nap:
        await_only(h.sleep(0.003))
    return n_yields


async def main1():
    h.begin()
    if greenlet is None:
        h.skip("greenlet is not importable: only the main task ran")
        return "skipped"
    tasks = [create(pingpong(50), "gl.pingpong"),
             create(greenlet_spawn(sync_work, 3, True), "gl.bridge"),
             create(greenlet_spawn(sync_work, 2, False), "gl.bridge2")]
    for t in tasks:
        await h.wait(t)
    assert [t.result() for t in tasks] == [100, 3, 2]
    return "ok"


async def outside(main_gl, n):
    total = 0
    for i in range(n):
        total += main_gl.switch(i)      # to the main greenlet, mid-step
        if i < n - 1:
            await h.sleep0()
    return total


async def main2(main_gl):
    h.begin()
    t = create(outside(main_gl, 3), "gl.out")
    return await h.wait(t)


def body():
    assert asyncio.run(main1()) in ("ok", "skipped")
    if greenlet is None:
        return
    main_gl = greenlet.getcurrent()
    loop_gl = greenlet.greenlet(lambda: asyncio.run(main2(main_gl)))
    got = loop_gl.switch()
    while not loop_gl.dead:
        got = loop_gl.switch(got * 10)   # resume the task mid-step
    assert got == 30, got


if __name__ == "__main__":
    _harness.run(h, body)
