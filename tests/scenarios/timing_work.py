"""timing_work: tasks doing known CPU work per step, known step counts.

Each worker spins SPIN_MS of CPU per step for STEPS steps (sleep(0) between),
then parks on an Event; the ground truth (argv[1]) lists them. Prints
`PARKED` once all are parked, and exits when stdin closes.
"""
import asyncio
import json
import os
import sys
import time

WORKERS = {"spin2ms": (2.0, 40), "spin5ms": (5.0, 20), "spin1ms": (1.0, 60)}


def spin(ms):
    """A busy loop of known length: the step lasts ms of wall time."""
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


MEASURED = {}


async def worker(name, ms, steps, parked, done):
    # the program's own measure of its steps: wall time from each resume to
    # the next suspension (what a step is), as preemption stretches it too
    total = 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        spin(ms)
        total += time.perf_counter() - t0
        await asyncio.sleep(0)
        t0 = time.perf_counter()
    total += time.perf_counter() - t0
    MEASURED[name] = total * 1000
    done.append(1)
    await parked.wait()


async def main(gt_path):
    parked, done = asyncio.Event(), []
    tasks = [asyncio.create_task(worker(name, ms, n, parked, done), name=name)
             for name, (ms, n) in WORKERS.items()]
    while len(done) < len(tasks):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    with open(gt_path, "w") as f:
        # steps: STEPS sleeps(0) + the step that parks on the event
        json.dump({name: {"spin_ms": ms, "steps": n + 1, "cpu_ms": ms * n,
                          "measured_ms": MEASURED[name]}
                   for name, (ms, n) in WORKERS.items()}, f)
    print("PARKED", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    parked.set()
    await asyncio.gather(*tasks)


print("READY", os.getpid(), flush=True)
sys.stdin.readline()
asyncio.run(main(sys.argv[1]))
