"""Exec into the same interpreter (not the _harness protocol: for
tests/integration/test_procs.py).

    python3.X proc_exec.py         prints READY <pid>, waits for a line on
                                   stdin, runs tasks "before-0" .. "before-2"
                                   (5 sleeps of 20 ms each) inside a step of
                                   Task-1 that then calls
                                   os.execv(sys.executable, [.., "after"])
    python3.X proc_exec.py after   the new program: tasks "after-0" ..
                                   "after-2" step 5 times each, then it sleeps
                                   1 s in one more task "after-idle" and exits
"""
import asyncio
import os
import sys


async def worker():
    for _ in range(5):
        await asyncio.sleep(0.02)


async def before():
    tasks = [asyncio.create_task(worker(), name=f"before-{i}") for i in range(3)]
    await asyncio.gather(*tasks)
    await asyncio.sleep(0.05)
    sys.stdout.flush()
    # inside this task's step: the old program's step never ends
    os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), "after"])


async def after():
    tasks = [asyncio.create_task(worker(), name=f"after-{i}") for i in range(3)]
    await asyncio.gather(*tasks)
    await asyncio.create_task(asyncio.sleep(1), name="after-idle")


if len(sys.argv) > 1 and sys.argv[1] == "after":
    asyncio.run(after())
    print("AFTER DONE", flush=True)
else:
    print(f"READY {os.getpid()}", flush=True)
    sys.stdin.readline()
    asyncio.run(before())
