"""A chain of N tasks, each awaiting the next (for test_views.py chain@BED;
not the park_common protocol).

    python3.X park_chain.py N

"chain-0" awaits "chain-1" ... awaits "chain-<N-1>", which sleeps. Prints
`EXPECT {"n": N}` and `READY <pid>` once parked, and stays parked.
"""
import asyncio
import json
import os
import sys

N = int(sys.argv[1])


async def link(i):
    if i == N - 1:
        await asyncio.sleep(3600)
    else:
        await asyncio.create_task(link(i + 1), name=f"chain-{i + 1}")


async def main():
    asyncio.create_task(link(0), name="chain-0")
    while len(asyncio.all_tasks()) < N + 1:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    print("EXPECT " + json.dumps({"n": N}), flush=True)
    print(f"READY {os.getpid()}", flush=True)
    await asyncio.sleep(3600)


asyncio.run(main())
