"""A program for tests/integration/test_agent.py (runs on CPython 3.10-3.14).

    agent_prog.py MODE TOKEN LOG [COMM]

TOKEN only marks the command line (the test's --match). LOG gets one JSON
line per event the program itself knows, times in time.monotonic() (the
CLOCK_MONOTONIC the agent uses):

    {"ev": "task", "name", "id": hex(id(task)), "created": t}
    {"ev": "sleep", "name", "id", "when": loop time the sleep ends, "delay"}
    {"ev": "ready", "pid"}

MODEs:
  serve   "old-0".."old-2" made at start; a heartbeat (asyncio.sleep(30)
          in a loop: its remaining time is known); a TaskGroup (gather on
          3.10) "group" holding 4 "member-N" tasks waiting on an Event; a
          task with a hostile name; then a "gen-N" task every 0.5 s, each
          sleeping 6 s (so about 12 alive at once). COMM, if given, is set
          with prctl(PR_SET_NAME).
  plain   no asyncio at all: sleeps.
  exit    asyncio; exits with status 3 (os._exit) once LOG.go exists.
  late    sleeps 2 s before importing asyncio, then as serve without gen.
  exec-M  as serve; once LOG.go exists, logs {"ev": "exec"} and execs the
          same interpreter on this file in mode M with log LOG.next.
  fork    as serve; once LOG.go exists, forks: the child (logs
          {"ev": "child", "pid"} to LOG) runs a new event loop with three
          parked tasks "child-N" (logged to LOG.child, then "ready").
  spin    the loop's callbacks spin 50 ms each, back to back (a CPU).
  busy    every 0.1 s a callback spins 0.03 s of wall time (logs
          {"ev": "busy", "t", "spun"}: the loop's busy time it made); once
          LOG.go exists, one callback sleeps 0.8 s (a stall; logs
          {"ev": "stall", "begin", "end"}), once.
"""
import json
import os
import sys
import time

MODE, TOKEN, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
COMM = sys.argv[4] if len(sys.argv) > 4 else None
HOSTILE = 'evil"name\\with\nnewline{}='


def log(**kw):
    with open(LOG, "a") as f:
        f.write(json.dumps(kw) + "\n")


if COMM:
    import ctypes
    libc = ctypes.CDLL(None)
    libc.prctl(15, ctypes.c_char_p(COMM.encode()[:15]), 0, 0, 0)

if MODE == "plain":
    log(ev="ready", pid=os.getpid())
    while True:
        time.sleep(1)

if MODE == "late":
    time.sleep(2)

import asyncio  # noqa: E402


def spawn(name, coro):
    t = asyncio.get_running_loop().create_task(coro, name=name)
    log(ev="task", name=name, id=hex(id(t)), created=time.monotonic())
    return t


async def heartbeat():
    while True:
        loop = asyncio.get_running_loop()
        log(ev="sleep", name="heartbeat", when=loop.time() + 30, delay=30)
        await asyncio.sleep(30)


async def member(ev):
    await ev.wait()


async def group(ev):
    if hasattr(asyncio, "TaskGroup"):
        async with asyncio.TaskGroup() as tg:
            for i in range(4):
                t = tg.create_task(member(ev), name="member-%d" % i)
                log(ev="task", name="member-%d" % i, id=hex(id(t)), created=time.monotonic())
    else:
        ts = [spawn("member-%d" % i, member(ev)) for i in range(4)]
        await asyncio.gather(*ts)


async def parked(ev):
    await ev.wait()


async def gen(i):
    await asyncio.sleep(6)


def spin(loop, state):
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.03:
        pass
    state["spun"] += time.monotonic() - t0
    log(ev="busy", t=time.monotonic(), spun=state["spun"])
    if not state["stalled"] and os.path.exists(LOG + ".go"):
        state["stalled"] = True
        loop.call_soon(stall_now)
    loop.call_later(0.1, spin, loop, state)


def stall_now():
    b = time.monotonic()
    time.sleep(0.8)                                   # AGENT-STALL
    log(ev="stall", begin=b, end=time.monotonic())


def spin_forever(loop):
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.05:
        pass
    loop.call_soon(spin_forever, loop)


async def child_main():
    global LOG
    LOG = LOG + ".child"
    ev = asyncio.Event()
    keep = [spawn("child-%d" % i, parked(ev)) for i in range(3)]
    log(ev="ready", pid=os.getpid())
    await asyncio.sleep(3600)
    del keep


def fork_now():
    pid = os.fork()
    if pid:
        log(ev="child", pid=pid)
        return
    # the child: never back into the parent's loop (its epoll is shared)
    asyncio.events._set_running_loop(None)
    try:
        asyncio.run(child_main())
    finally:
        os._exit(0)


async def after_go():
    while not os.path.exists(LOG + ".go"):
        await asyncio.sleep(0.1)
    if MODE == "fork":
        asyncio.get_running_loop().call_soon(fork_now)     # outside any task
        return
    log(ev="exec")
    os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), MODE[5:], TOKEN,
                              LOG + ".next"])


async def main():
    ev = asyncio.Event()
    me = asyncio.current_task()
    log(ev="task", name=me.get_name(), id=hex(id(me)), created=time.monotonic())
    if MODE == "spin":
        asyncio.get_running_loop().call_soon(spin_forever, asyncio.get_running_loop())
    if MODE == "fork" or MODE.startswith("exec-"):
        spawn("after-go", after_go())
    if MODE == "busy":
        loop = asyncio.get_running_loop()
        loop.call_soon(spin, loop, {"spun": 0.0, "stalled": False})
    keep = [spawn("old-%d" % i, parked(ev)) for i in range(3)]
    keep.append(spawn("heartbeat", heartbeat()))
    keep.append(spawn("group", group(ev)))
    keep.append(spawn(HOSTILE, parked(ev)))
    await asyncio.sleep(0.2)
    log(ev="ready", pid=os.getpid())
    if MODE == "exit":
        while not os.path.exists(LOG + ".go"):
            await asyncio.sleep(0.1)
        os._exit(3)
    i = 0
    while True:
        await asyncio.sleep(0.5)
        if MODE in ("serve", "fork") or MODE.startswith("exec-"):
            keep.append(spawn("gen-%d" % i, gen(i)))
            keep = [t for t in keep if not t.done()]
            i += 1


asyncio.run(main())
