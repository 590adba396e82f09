"""gather: asyncio.gather of N named tasks with known step counts.

- "g0".."g4": g<i> makes i bare yields (i + 1 steps); g3 and g4 also wait
  on a timer future once (one more step each);
- main awaits gather(g0..g4): one suspension on the _GatheringFuture;
- a second gather(return_exceptions=True) of a named raiser ("g_err",
  ValueError) and two coroutines, for which gather itself creates tasks
  (default Task-N names, creator main).
"""
import asyncio

import _harness

h = _harness.Truth("gather")
N = 5


async def work(i):
    for _ in range(i):
        await h.sleep0()
    if i >= 3:
        await h.sleep(0.003)
    return i


async def fail():
    await h.sleep0()
    raise ValueError("g_err")


async def main():
    h.begin()
    h.watch_cancels()
    loop = asyncio.get_running_loop()
    named = [loop.create_task(work(i), name=f"g{i}") for i in range(N)]
    results = await h.gather(*named)
    assert results == list(range(N)), results

    err = loop.create_task(fail(), name="g_err")
    results = await h.gather(err, work(2), work(1), return_exceptions=True)
    assert isinstance(results[0], ValueError) and results[1:] == [2, 1], results
    return "ok"


if __name__ == "__main__":
    _harness.run(h, lambda: asyncio.run(main()))
