"""A program that imports asyncio only after a tracer started it (not the
_harness protocol: for `record -- CMD` / `trace -- CMD` tests).

    python3.X late_asyncio.py [SECONDS]

Sleeps 0.5 s without asyncio, then imports it, prints READY, creates eight
tasks "late-0" .. "late-7" that wait on one sleep(SECONDS, default 4), and
exits when they are done. Prints "TASKS name,..." once they exist.
"""
import sys
import time

time.sleep(0.5)
import asyncio  # noqa: E402  (late on purpose)

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0


async def waiter():
    await asyncio.sleep(SECONDS)


async def main():
    tasks = [asyncio.create_task(waiter(), name=f"late-{i}") for i in range(8)]
    await asyncio.sleep(0)
    print("TASKS " + ",".join(t.get_name() for t in tasks), flush=True)
    await asyncio.gather(*tasks)


asyncio.run(main())
