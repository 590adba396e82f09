"""A task parked under a deep coroutine chain (for test_views.py deep@BED; not the park_common protocol).

    python3.X park_deep.py DEPTH

Task "deep" runs rec(DEPTH): rec(n) awaits rec(n - 1), rec(0) awaits
asyncio.sleep(3600). Its stack, innermost first, is sleep and DEPTH + 1
rec frames. Prints `EXPECT {"frames": N, "outer": [func, file, line]}`
(the outermost frame: rec's line that awaits) and `READY <pid>` once
parked, and stays parked until killed.
"""
import asyncio
import json
import os
import sys

sys.setrecursionlimit(100000)
DEPTH = int(sys.argv[1])


async def rec(n):
    if n == 0:
        await asyncio.sleep(3600)
    else:
        await rec(n - 1)  # the line every rec frame but the innermost waits on


async def main():
    asyncio.create_task(rec(DEPTH), name="deep")
    await asyncio.sleep(0.1)
    line = rec.__code__.co_firstlineno + 4
    print("EXPECT " + json.dumps({"frames": DEPTH + 2, "task": "deep",
                                  "outer": ["rec", os.path.abspath(__file__), line]}), flush=True)
    print(f"READY {os.getpid()}", flush=True)
    await asyncio.sleep(3600)


asyncio.run(main())
