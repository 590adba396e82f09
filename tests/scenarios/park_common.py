"""Shared code of the park_*.py scenarios (tests/integration/test_views.py).

A park scenario builds a static tree of asyncio tasks, each parked in a
known await state, then prints what it knows about it and stays parked
until it is killed:

    EXPECT {json}        (one line)
    READY <pid>

and then nothing more.  It runs unchanged on CPython 3.10-3.14.

The EXPECT object is the program's own ground truth, taken on the loop's
thread from a loop callback (so no task is mid-step) once every task it
made is parked:

    {"scenario", "python": "3.12.1", "pid", "notes": [...],
     "tasks": [{"id": hex(id(task)), "name": str | null, "tid": native tid,
                "frames": [{"func", "file", "line"}, ...],  # innermost first
                "awaiters": [hex(id(awaiting task)), ...]}]}

* ``name`` is null for a task the program did not name (its name is
  whatever the interpreter makes of it, "Task-<n>"; it is never read, so
  3.12+'s lazy names stay lazy).
* ``frames`` walk the task's coroutine and what it awaits (cr_await /
  gi_yieldfrom) while that is a coroutine or generator with a frame: the
  same chain a reader of memory walks.  Function names are co_qualname
  (3.11+) or the coroutine's __qualname__ (3.10).
* ``awaiters`` are declared by construction by the scenario (``edge()``):
  the tasks that wait for this one (await it, gather it, shield it, or own
  the TaskGroup it is in and wait in __aexit__).
"""
import asyncio
import json
import os
import sys
import threading

HAVE_TG = hasattr(asyncio, "TaskGroup")
NOTES = []
_lock = threading.Lock()
_tasks = {}            # id(task) -> [task, name_or_None, tid, [awaiter ids]]
_order = []


def note(text):
    with _lock:
        if text not in NOTES:
            NOTES.append(text)


def track(task, name=None):
    """Record a task of this program; name: the name it was given, if any."""
    with _lock:
        if id(task) not in _tasks:
            _tasks[id(task)] = [task, name, None, []]
            _order.append(id(task))
    return task


def spawn(coro, name=None):
    """loop.create_task(coro[, name]) on the running loop, tracked."""
    loop = asyncio.get_running_loop()
    t = loop.create_task(coro, name=name) if name is not None else loop.create_task(coro)
    return track(t, name)


def edge(child, awaiter):
    """By construction: awaiter waits for child."""
    track(child)
    track(awaiter)
    with _lock:
        _tasks[id(child)][3].append(id(awaiter))


def me():
    """The current task, tracked (asyncio.run's main task is unnamed)."""
    return track(asyncio.current_task())


def _qualname(obj):
    code = getattr(obj, "cr_code", None) or getattr(obj, "gi_code", None)
    q = getattr(code, "co_qualname", None)
    return q if q is not None else obj.__qualname__


def frames_of(task):
    out = []
    c = task.get_coro()
    seen = 0
    while c is not None and seen < 200:
        fr = getattr(c, "cr_frame", None) or getattr(c, "gi_frame", None)
        if fr is None:
            break
        out.append({"func": _qualname(c), "file": fr.f_code.co_filename, "line": fr.f_lineno})
        nxt = getattr(c, "cr_await", None)
        if nxt is None:
            nxt = getattr(c, "gi_yieldfrom", None)
        c = nxt
        seen += 1
    out.reverse()
    return out


def _describe_loop(loop):
    """On the loop's thread, no task running: the tasks of this loop."""
    tid = threading.get_native_id()
    mine = []
    with _lock:
        for k in _order:
            ent = _tasks[k]
            t = ent[0]
            if t.get_loop() is loop:
                ent[2] = tid
                mine.append(ent)
    return [{"id": hex(id(t)), "name": name, "tid": tid, "frames": frames_of(t),
             "awaiters": [hex(a) for a in aw]} for t, name, _tid, aw in mine]


def describe(tasks, tid):
    """Tasks whose loop does not run (their thread has exited): described
    from another thread, with the tid they are expected to show (0)."""
    with _lock:
        ents = [_tasks[id(t)] for t in tasks]
    return [{"id": hex(id(t)), "name": name, "tid": tid, "frames": frames_of(t),
             "awaiters": [hex(a) for a in aw]} for t, name, _tid, aw in ents]


def _all_parked(loop):
    for t in asyncio.all_tasks(loop):
        if t.done() or getattr(t, "_fut_waiter", None) is None:
            return False
    return True


def when_parked(callback, loop=None, settle=3):
    """Call callback(description) on the loop's thread once every task of
    the loop has been parked (awaiting a future) for `settle` loop rounds."""
    loop = loop or asyncio.get_running_loop()
    state = {"n": 0}

    def check():
        if _all_parked(loop):
            state["n"] += 1
            if state["n"] >= settle:
                callback(_describe_loop(loop))
                return
        else:
            state["n"] = 0
        loop.call_later(0.01, check)
    loop.call_soon(check)


def announce(tasks, scenario, extra=None):
    obj = {"scenario": scenario, "python": "%d.%d.%d" % sys.version_info[:3],
           "pid": os.getpid(), "notes": NOTES, "tasks": tasks}
    if extra:
        obj.update(extra)
    sys.stdout.write("EXPECT " + json.dumps(obj) + "\n")
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()


def announce_when_parked(scenario, extra=None):
    """For one-loop scenarios: EXPECT and READY once all is parked."""
    when_parked(lambda tasks: announce(tasks, scenario, extra))


async def forever():
    """Park on a future nobody resolves."""
    await asyncio.get_running_loop().create_future()


async def group(owner_note, children):
    """Run children [(coro, name)] in a TaskGroup (3.11+) or, on 3.10, as
    tasks gathered by the owner: either way the owner waits for each child.
    Returns only if they all finish (they never do)."""
    owner = me()
    if HAVE_TG:
        async with asyncio.TaskGroup() as tg:
            for coro, name in children:
                t = track(tg.create_task(coro, name=name) if name is not None
                          else tg.create_task(coro), name)
                edge(t, owner)
    else:
        note(owner_note)
        kids = [spawn(coro, name) for coro, name in children]
        for t in kids:
            edge(t, owner)
        await asyncio.gather(*kids)
