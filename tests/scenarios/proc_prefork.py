"""A prefork server in miniature (not the _harness protocol: for
tests/integration/test_procs.py).

    python3.X proc_prefork.py [wait] [SLEEPS]

With "wait": prints READY <pid> and waits for a line on stdin first.
The parent runs task "master-0" (3 sleeps of 50 ms), then forks two workers
(os.fork). Worker K prints "WORKER K <pid>" (one write), waits 0.5 s, then
runs its own asyncio loop: its main task, renamed "wK-main", gathers
"wK-fetch-0" .. "wK-fetch-2", each sleeping 50 ms SLEEPS times (default
40: 2 s). The
parent waits for both and prints "DONE".
"""
import asyncio
import os
import sys
import time

WORKERS, FETCHES = 2, 3
SLEEPS = int(next((a for a in sys.argv[1:] if a.isdigit()), 40))


async def fetch():
    for _ in range(SLEEPS):
        await asyncio.sleep(0.05)


async def worker(k):
    asyncio.current_task().set_name(f"w{k}-main")
    await asyncio.gather(*[asyncio.create_task(fetch(), name=f"w{k}-fetch-{i}")
                           for i in range(FETCHES)])


async def master():
    async def tick():
        for _ in range(3):
            await asyncio.sleep(0.05)
    await asyncio.create_task(tick(), name="master-0")


if "wait" in sys.argv[1:]:
    print(f"READY {os.getpid()}", flush=True)
    sys.stdin.readline()
else:
    time.sleep(0.5)         # a tracer started with the program attaches meanwhile
asyncio.run(master())
kids = []
for k in range(1, WORKERS + 1):
    pid = os.fork()
    if pid == 0:
        os.write(1, f"WORKER {k} {os.getpid()}\n".encode())
        time.sleep(0.5)     # the tracer attaches to the worker meanwhile
        asyncio.run(worker(k))
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
print("DONE", flush=True)
