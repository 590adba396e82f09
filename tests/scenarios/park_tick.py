"""park_tick: for `ps --watch`.  Tasks, all made before READY:

    Task-N (main, unnamed)  gather(old, ticker, rewait)
    ├── old                 awaits a Future: parked before any window
    ├── ticker              asyncio.sleep(0.05) in a loop: steps all the time
    └── rewait              awaits an Event; on "go" it wakes and parks again

On a line "go" on stdin (read by a thread): the Event is set, and a new task
"late" is created (parked on a Future, awaited by nobody); then the
program prints "WENT" and stays parked.
"""
import asyncio
import sys
import threading

import park_common as pc


async def leaf():
    await pc.forever()


async def ticker():
    while True:
        await asyncio.sleep(0.05)


async def rewait(ev):
    await ev.wait()
    await pc.forever()


def reader(loop, ev):
    for line in sys.stdin:
        if line.strip() == "go":
            def go():
                ev.set()
                loop.create_task(leaf(), name="late")
                sys.stdout.write("WENT\n")
                sys.stdout.flush()
            loop.call_soon_threadsafe(go)


async def main():
    owner = pc.me()
    ev = asyncio.Event()
    kids = [pc.spawn(leaf(), "old"), pc.spawn(ticker(), "ticker"),
            pc.spawn(rewait(ev), "rewait")]
    for k in kids:
        pc.edge(k, owner)
    pc.announce_when_parked("park_tick")
    threading.Thread(target=reader, args=(asyncio.get_running_loop(), ev), daemon=True).start()
    await asyncio.gather(*kids)


if __name__ == "__main__":
    asyncio.run(main())
