"""park_cycle: a deadlock, cycle.A awaits cycle.B awaits cycle.A, plus the
rest of a tree that is not in the cycle.

    Task-N (main, unnamed)  gather(into.cycle, normal)
    ├── into.cycle          awaits task cycle.A (so it hangs off the cycle)
    └── normal              asyncio.sleep(3600)
    cycle.A                 awaits task cycle.B  (after both have started)
    cycle.B                 awaits task cycle.A
    ring.X                  awaits task ring.Y: a second cycle that no task
    ring.Y                  awaits task ring.X  outside it leads to
    tri.P -> tri.Q -> tri.R -> tri.P   a cycle of three, each awaiting the next
"""
import asyncio

import park_common as pc

box = {}


async def sleeper():
    await asyncio.sleep(3600)


async def ping(other):
    await asyncio.sleep(0)          # both have started before either awaits
    await box[other]


async def await_it(task):
    await task


async def main():
    owner = pc.me()
    a = box["A"] = pc.spawn(ping("B"), "cycle.A")
    b = box["B"] = pc.spawn(ping("A"), "cycle.B")
    x = box["X"] = pc.spawn(ping("Y"), "ring.X")
    y = box["Y"] = pc.spawn(ping("X"), "ring.Y")
    pc.edge(x, y)
    pc.edge(y, x)
    tri = {}
    for me_, nxt in (("P", "Q"), ("Q", "R"), ("R", "P")):
        tri[me_] = box[me_] = pc.spawn(ping(nxt), "tri." + me_)
    for me_, nxt in (("P", "Q"), ("Q", "R"), ("R", "P")):
        pc.edge(tri[nxt], tri[me_])
    into = pc.spawn(await_it(a), "into.cycle")
    normal = pc.spawn(sleeper(), "normal")
    pc.edge(b, a)
    pc.edge(a, b)
    pc.edge(a, into)
    pc.edge(into, owner)
    pc.edge(normal, owner)
    pc.announce_when_parked("park_cycle")
    await asyncio.gather(into, normal)


if __name__ == "__main__":
    asyncio.run(main())
