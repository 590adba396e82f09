"""A prefork program (not the _harness protocol: for
tests/integration/test_procs.py).

    python3.X proc_fork.py [wait]

With "wait": prints READY <pid> and waits for a line on stdin first.
Then runs tasks "parent-0", "parent-1" (3 sleeps of 50 ms each), forks two
children that each run tasks "childK-0", "childK-1" the same way in their
own asyncio.run (printing "CHILD K <pid>" first), and waits for them.
"""
import asyncio
import os
import sys
import time


async def work():
    for _ in range(3):
        await asyncio.sleep(0.05)


async def main(tag):
    await asyncio.gather(*[asyncio.create_task(work(), name=f"{tag}-{i}") for i in range(2)])


if len(sys.argv) > 1 and sys.argv[1] == "wait":
    print(f"READY {os.getpid()}", flush=True)
    sys.stdin.readline()
else:
    time.sleep(0.5)         # a tracer started with the program attaches meanwhile
asyncio.run(main("parent"))
kids = []
for k in range(2):
    pid = os.fork()
    if pid == 0:
        os.write(1, f"CHILD {k} {os.getpid()}\n".encode())  # one write: the children share stdout
        time.sleep(0.3)     # the tracer attaches to the child meanwhile
        asyncio.run(main(f"child{k}"))
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
print("DONE", flush=True)
