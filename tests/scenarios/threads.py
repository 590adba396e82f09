"""threads: two threads, each running its own event loop (asyncio.run) with
its own named tasks, at the same time.  Each thread's native id is in
"threads" ({"A": tid, "B": tid}) and in each of its tasks' "tid".

Per loop L in (A, B): the main task (default Task-N name), "L.spin" (4
yields), "L.nap" (3 timer waits), "L.child" created by "L.parent", which
awaits it, and one default-named task.
"""
import asyncio
import threading

import _harness

h = _harness.Truth("threads")
barrier = threading.Barrier(2)


async def spin(n):
    for _ in range(n):
        await h.sleep0()
    return n


async def nap(n):
    for _ in range(n):
        await h.sleep(0.003)
    return n


async def parent(label):
    child = asyncio.get_running_loop().create_task(spin(2), name=f"{label}.child")
    return await h.wait(child)


async def thread_main(label):
    h.begin(label)
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(spin(4), name=f"{label}.spin"),
             loop.create_task(nap(3), name=f"{label}.nap"),
             loop.create_task(parent(label), name=f"{label}.parent"),
             loop.create_task(spin(1))]
    for t in tasks:
        await h.wait(t)
    return label


def thread_body(label, results):
    barrier.wait()
    results[label] = asyncio.run(thread_main(label))


def body():
    results = {}
    threads = [threading.Thread(target=thread_body, args=(lbl, results),
                                name=f"loop-{lbl}") for lbl in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"A": "A", "B": "B"}, results


if __name__ == "__main__":
    _harness.run(h, body)
