"""park_phases: three parked task trees, one after another, for replays at
an instant (tests/integration/test_record.py, replay-at).

The program parks a tree, prints ``PHASE n {json}`` (the pending tasks it
made: name -> names of the tasks it knows wait for it) and waits for a
line on stdin before it changes the tree:

    phase 1: main waits for "next"; TaskGroup owner "grp" with children
             "grp.a" (sleep) and "grp.b" (a future); "beta" awaits "alpha"
    phase 2: "alpha" is cancelled; "beta" goes on to await "gamma";
             "delta" awaits "epsilon", which awaits a future
    phase 3: "epsilon" returns, so "delta" ends; "zeta" gathers "eta" and
             "theta"; "gamma" is renamed "gamma-renamed", then steps once

It runs unchanged on CPython 3.10-3.14 (3.10: the TaskGroup is a gather).
"""
import asyncio
import json
import sys
import threading

import park_common as pc

EDGES = {}          # name -> [names of tasks waiting for it], by construction


def wait_for(child, awaiter):
    EDGES.setdefault(child, []).append(awaiter)


async def sleeper():
    await asyncio.sleep(3600)


async def parked():
    await pc.forever()


async def parked_twice(first):
    await first
    await pc.forever()


async def await_task(task):
    await task


async def beta(alpha_task, gamma_ready):
    try:
        await alpha_task
    except asyncio.CancelledError:
        pass
    gamma = await gamma_ready
    await gamma


async def epsilon(release):
    await release


async def zeta(kids):
    await asyncio.gather(*kids)


def phase_done(n, names):
    """Once parked: what is pending, and who waits for whom."""
    def report(_tasks):
        pending = sorted(names())
        edges = {k: sorted(v) for k, v in EDGES.items() if k in pending}
        sys.stdout.write("PHASE %d %s\n" % (n, json.dumps({"tasks": pending, "edges": edges})))
        sys.stdout.flush()
    pc.when_parked(report)


def stdin_lines(loop, queue):
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line.strip())


async def main():
    loop = asyncio.get_running_loop()
    lines = asyncio.Queue()
    threading.Thread(target=stdin_lines, args=(loop, lines), daemon=True).start()
    live = {}

    def names():
        return [n for n, t in live.items() if not t.done()]

    # phase 1
    live["grp"] = pc.spawn(pc.group("3.10: TaskGroup emulated with gather",
                                    [(sleeper(), "grp.a"), (parked(), "grp.b")]), "grp")
    wait_for("grp.a", "grp")
    wait_for("grp.b", "grp")
    live["alpha"] = pc.spawn(parked(), "alpha")
    gamma_ready = loop.create_future()
    live["beta"] = pc.spawn(beta(live["alpha"], gamma_ready), "beta")
    wait_for("alpha", "beta")
    await asyncio.sleep(0.05)
    for t in asyncio.all_tasks():
        if t.get_name() in ("grp.a", "grp.b"):
            live[t.get_name()] = t
    phase_done(1, names)
    await lines.get()

    # phase 2
    live["alpha"].cancel()
    gamma_wake = loop.create_future()
    live["gamma"] = pc.spawn(parked_twice(gamma_wake), "gamma")
    gamma_ready.set_result(live["gamma"])
    EDGES.pop("alpha")
    wait_for("gamma", "beta")
    release = loop.create_future()
    live["epsilon"] = pc.spawn(epsilon(release), "epsilon")
    live["delta"] = pc.spawn(await_task(live["epsilon"]), "delta")
    wait_for("epsilon", "delta")
    phase_done(2, names)
    await lines.get()

    # phase 3
    release.set_result(None)
    await asyncio.sleep(0.05)
    kids = [pc.spawn(parked(), "eta"), pc.spawn(parked(), "theta")]
    live["eta"], live["theta"] = kids
    live["zeta"] = pc.spawn(zeta(kids), "zeta")
    wait_for("eta", "zeta")
    wait_for("theta", "zeta")
    live["gamma"].set_name("gamma-renamed")
    gamma_wake.set_result(None)         # it steps once more: a tracer sees the name
    live["gamma-renamed"] = live.pop("gamma")
    EDGES["gamma-renamed"] = EDGES.pop("gamma")
    phase_done(3, names)
    await lines.get()


if __name__ == "__main__":
    sys.stdout.write("READY %d\n" % __import__("os").getpid())
    sys.stdout.flush()
    asyncio.run(main())
