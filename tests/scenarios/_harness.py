"""Shared protocol and ground-truth recorder for the aps-bpf test scenarios.

Every scenario is a Python program that runs unchanged on CPython 3.10-3.14
(features a version lacks are skipped and the skip is noted in the ground
truth).  It is started as

    python3.X scenario.py GROUND_TRUTH.json

and follows this protocol:

1. ``import asyncio`` (so ``_asyncio`` is loaded), write ``READY <pid>`` on
   stdout and block until one line arrives on stdin (the "go" signal), so a
   tracer can attach before any task exists.  ``APS_SCENARIO_NO_WAIT=1``
   skips this step (for ``aps-bpf trace -- CMD`` and for plain runs).
2. Run the scenario with ``asyncio.run(main())`` (and threads if needed).
3. Write the ground truth as one JSON object to ``argv[1]`` and exit 0.

The ground truth is what the program itself knows it did, recorded by its
own code:

* ``Truth.begin()`` is the first statement of every ``main()`` run by
  ``asyncio.run``: it records the main task and wraps the running loop's
  ``create_task`` so that every task created through the loop (including
  the ones ``asyncio.run`` creates at shutdown, gather's implicit tasks and
  TaskGroup children) is recorded with its creator.
* Tasks created some other way (eager tasks made by calling the task
  factory directly) are recorded with ``Truth.track()``.
* Every suspension point goes through a helper that knows, by
  construction, whether it suspends and on what: ``sleep0()`` (one bare
  yield), ``sleep(x)`` (one future), ``wait(task)`` (one suspension on the
  task if it is not done yet, none otherwise), ``gather(*tasks)`` (one
  ``_GatheringFuture`` if some task is pending), ``note_future()`` for
  suspensions inside library code (TaskGroup exit).  A task's step count is
  then: one first step plus one step per suspension that was resumed.

``Truth.watch_cancels()`` (in ``main()``, after ``begin()``) records every
``Task.cancel()`` the loop thread makes from then on, as CPython makes it: a
profile hook (``sys.setprofile``) sees each call of a task's ``cancel`` from
Python code, with ``asyncio.current_task()`` at that moment as the requester
(``None`` in a loop callback); a cancel of a pending task that awaits a task
cancels that task too, from C with the same requester and message (derived
from ``_fut_waiter``).  ``cancel(task, msg)`` notes the message;
``expect_cancel()`` adds a C-level cancel the scenario causes by
construction (a task cancelled in its own step cancels the task it then
awaits).

``APS_SCENARIO_VERIFY=1`` additionally observes every task step (see
_Observer: the step callbacks the C Task schedules through loop.call_soon,
and the task's _fut_waiter after each step) and exits 3 if what was recorded
by construction disagrees with what really happened.  The test
harness uses it to validate the scenarios on every interpreter, without
aps-bpf.

Ground truth JSON::

    {"scenario", "python": "3.12.1", "pid", "exit": "normal"|"midway",
     "notes": [skip notes...], "threads": {label: native_tid},
     "tasks": [{"name", "coro", "addr": hex(id(task)), "tid",
                "creator": name|null, "creator_addr": hex|null,
                "steps", "end": {"result": "returned"|"raised"|"cancelled",
                                 "exception": "ValueError"} | null (pending),
                "running_at_exit": bool,
                "awaits": [task names awaited, in order],
                "waits": [{"kind": "yield"} | {"kind": "task", "name",
                           "addr", "type"} | {"kind": "future", "type"}, with
                          "throws": true when the resumption threw], one
                          per suspension, in order,
                "eager": bool, "nested_first": bool, "destroyed": bool}],
     "cancels": [{"task", "task_addr", "by": name|null, "by_addr": hex|null,
                  "already_done": bool, "msg": str|null}, in call order]
                (only with watch_cancels())}
"""
import asyncio  # noqa: F401  (step 1 of the protocol: loads _asyncio)
import gc
import json
import os
import sys
import threading
import weakref

NO_WAIT = os.environ.get("APS_SCENARIO_NO_WAIT") == "1"
VERIFY = os.environ.get("APS_SCENARIO_VERIFY") == "1"

# Coroutines that asyncio.run creates tasks for at shutdown, and the
# condition under which each of them finishes in its first step.
_SHUTDOWN_CORO = {
    "BaseEventLoop.shutdown_asyncgens": lambda loop: not loop._asyncgens,
    "BaseEventLoop.shutdown_default_executor":
        lambda loop: loop._default_executor is None,
}


def tp_name(obj):
    """The C-level tp_name of obj's type, as aps-bpf reports it."""
    t = type(obj)
    if t.__module__ == "_asyncio":
        return "_asyncio." + t.__name__
    return t.__name__


class ScenarioError(Exception):
    """The scenario itself is wrong (not the tracer)."""


class _Rec:
    def __init__(self, task, coro=None):
        self.task = task
        self.addr = hex(id(task))
        self.tid = threading.get_native_id()
        # 3.12+: get_coro() is None once an eager task finished eagerly
        coro = coro if coro is not None else task.get_coro()
        self.coro = coro.__qualname__
        self.creator = None
        self.tracked = False
        self.waits = []
        self.eager = False
        self.nested_first = False
        self.weak = None        # set by Truth.release()


class Truth:
    def __init__(self, scenario):
        self.scenario = scenario
        self.lock = threading.RLock()
        self.recs = {}          # id(task) -> _Rec; keeps the task alive
        self.order = []
        self.notes = []
        self.threads = {}
        self.errors = []
        self.observer = _Observer() if VERIFY else None
        self.cancels = None     # watch_cancels(): [[task, by, done, msg]]

    # -- recording tasks ----------------------------------------------------
    def _rec(self, task, coro=None):
        with self.lock:
            rec = self.recs.get(id(task))
            if rec is None:
                rec = _Rec(task, coro)
                self.recs[id(task)] = rec
                self.order.append(rec)
            return rec

    def track(self, task, *, creator=None, eager=False, loop=None, coro=None):
        """Record a task created by this thread, right after creating it.
        creator defaults to the task whose step is running now; pass coro
        for eager tasks (their get_coro() is None once they finished)."""
        loop = loop or task.get_loop()
        rec = self._rec(task, coro)
        with self.lock:
            if rec.tracked:
                return task
            rec.tracked = True
            rec.creator = creator if creator is not None else \
                asyncio.current_task(loop)
            rec.eager = eager
            # An eager task created inside a step ran its first step
            # nested in that step (3.12+: Task(..., eager_start=True)
            # with the loop running).
            rec.nested_first = eager and rec.creator is not None
            if eager and self.observer:
                self.observer.eager_first(task)
            if rec.coro in _SHUTDOWN_CORO and not _SHUTDOWN_CORO[rec.coro](loop):
                self.errors.append(f"{rec.coro}: would not finish in one step")
        return task

    def begin(self, label=None):
        """First statement of every main() run by asyncio.run."""
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        # asyncio.run created the main task outside any task step.
        rec = self._rec(main)
        with self.lock:
            rec.tracked = True
            rec.creator = None
            if label is not None:
                self.threads[label] = threading.get_native_id()
        orig = loop.create_task

        def create_task(coro, *args, **kwargs):
            task = orig(coro, *args, **kwargs)
            self.track(task, loop=loop)
            return task
        loop.create_task = create_task
        return main

    def skip(self, note):
        self.notes.append(note)

    # -- cancellations ------------------------------------------------------
    def watch_cancels(self):
        """Record every Task.cancel() of this thread from now on (run()
        stops it)."""
        self.cancels = []
        sys.setprofile(self._profile)

    def _profile(self, frame, event, arg):
        if event != "c_call" or getattr(arg, "__name__", None) != "cancel":
            return
        task = getattr(arg, "__self__", None)
        if isinstance(task, asyncio.Task):
            try:
                by = asyncio.current_task()
            except RuntimeError:        # no running loop: outside any task
                by = None
            self._add_cancel(task, by)

    def _add_cancel(self, task, by, msg=None):
        done = task.done()
        self.cancels.append([task, by, done, msg])
        # Task.cancel() of a pending task calls waiter.cancel(msg) from C
        if not done and isinstance(task._fut_waiter, asyncio.Task):
            self._add_cancel(task._fut_waiter, by, msg)

    def cancel(self, task, msg):
        """task.cancel(msg), noting the message (passed on to what it awaits)."""
        n = len(self.cancels)
        result = task.cancel(msg)
        for c in self.cancels[n:]:
            c[3] = msg
        return result

    def expect_cancel(self, task, by):
        """A Task.cancel() made from C that the profile hook cannot see."""
        self._add_cancel(task, by)

    def stop_watching(self):
        if self.cancels is not None:
            sys.setprofile(None)

    # -- suspension points --------------------------------------------------
    def _current(self):
        task = asyncio.current_task()
        if task is None:
            raise ScenarioError("suspension helper used outside a task")
        return self._rec(task)

    def _suspend(self, wait):
        rec = self._current()
        rec.waits.append(wait)
        return wait

    async def sleep0(self):
        """One bare yield: exactly one suspension, result "yielded"."""
        w = self._suspend({"kind": "yield"})
        try:
            await asyncio.sleep(0)
        except BaseException:
            w["throws"] = True
            raise

    async def sleep(self, delay):
        """delay > 0: one suspension on an _asyncio.Future."""
        assert delay > 0
        w = self._suspend({"kind": "future", "type": "_asyncio.Future"})
        try:
            return await asyncio.sleep(delay)
        except BaseException:
            w["throws"] = True
            raise

    async def wait(self, task):
        """await task: suspends once on it if not done, else not at all."""
        if task.done():
            return await task
        w = self._suspend({"kind": "task", "task": task})
        try:
            return await task
        except BaseException:
            w["throws"] = True
            raise

    async def gather(self, *aws, **kwargs):
        """await asyncio.gather(*aws): the caller makes sure some of aws is
        pending (a coroutine, or a task that is not done), so it suspends
        exactly once on the _GatheringFuture."""
        if all(asyncio.isfuture(a) and a.done() for a in aws):
            raise ScenarioError("gather of done futures: suspension uncertain")
        w = self._suspend({"kind": "future", "type": "_GatheringFuture"})
        try:
            return await asyncio.gather(*aws, **kwargs)
        except BaseException:
            w["throws"] = True
            raise

    def note_future(self, type_name="_asyncio.Future", throws=False):
        """A suspension inside library code, known by construction."""
        w = self._suspend({"kind": "future", "type": type_name})
        if throws:
            w["throws"] = True

    def note_task(self, task, throws=False):
        """A suspension on a task inside library code (wait_for)."""
        w = self._suspend({"kind": "task", "task": task})
        if throws:
            w["throws"] = True

    # -- output -------------------------------------------------------------
    def _name(self, task):
        return task.get_name()

    def _wait_json(self, w):
        w = dict(w)
        if w["kind"] == "task":
            t = w.pop("task")
            w["name"] = self._name(t)
            w["addr"] = hex(id(t))
            w["type"] = tp_name(t)
        return w

    def _task_json(self, rec, current):
        t = rec.task
        running = t is current
        if t.done():
            steps = len(rec.waits) + 1
            if t.cancelled():
                end = {"result": "cancelled"}
            elif t.exception() is not None:
                end = {"result": "raised",
                       "exception": type(t.exception()).__name__}
            else:
                end = {"result": "returned"}
        else:
            end = None
            steps = len(rec.waits) + (1 if running else 0)
        waits = [self._wait_json(w) for w in rec.waits]
        return {
            "name": self._name(t),
            "coro": rec.coro,
            "addr": rec.addr,
            "tid": rec.tid,
            "creator": self._name(rec.creator) if rec.creator is not None else None,
            "creator_addr": hex(id(rec.creator)) if rec.creator is not None else None,
            "steps": steps,
            "end": end,
            "running_at_exit": running,
            "awaits": [w["name"] for w in waits if w["kind"] == "task"],
            "waits": waits,
            "eager": rec.eager,
            "nested_first": rec.nested_first,
            "destroyed": False,
        }

    def snapshot(self, exit_kind="normal", current=None):
        for rec in self.order:
            if not rec.tracked:
                self.errors.append(
                    f"task {rec.task.get_name()} ({rec.coro}) suspended but "
                    "was never recorded as created")
        tasks = [self._task_json(r, current) for r in self.order]
        out = {
            "scenario": self.scenario,
            "python": "%d.%d.%d" % sys.version_info[:3],
            "pid": os.getpid(),
            "exit": exit_kind,
            "notes": self.notes,
            "threads": self.threads,
            "tasks": tasks,
            "errors": list(self.errors),
        }
        if self.cancels is not None:
            out["cancels"] = [{
                "task": self._name(t), "task_addr": hex(id(t)),
                "by": self._name(by) if by is not None else None,
                "by_addr": hex(id(by)) if by is not None else None,
                "already_done": done, "msg": msg,
            } for t, by, done, msg in self.cancels]
        return out

    def release(self, gt):
        """Drop every task reference, collect, and mark in gt the tasks
        that were really deallocated (their weakref died)."""
        dead = set()
        for rec in self.order:
            rec.weak = weakref.ref(rec.task, lambda _r, a=rec.addr: dead.add(a))
            rec.task = rec.creator = None
            rec.waits = None
        self.recs.clear()
        self.cancels = None
        if self.observer:
            self.observer.tasks.clear()
        gc.collect()
        gc.collect()
        for t in gt["tasks"]:
            t["destroyed"] = t["addr"] in dead


class _Observer:
    """APS_SCENARIO_VERIFY: observe every task step independently.

    Every task step but an eager first one is a loop callback that the C
    Task schedules with loop.call_soon: its TaskStepMethWrapper (first step,
    after a bare yield) or its task_wakeup (the awaited future is done).
    The observer wraps call_soon on every new event loop, counts those
    callbacks per task, and after each step reads what the task is left
    awaiting (its _fut_waiter: None for a bare yield)."""

    def __init__(self):
        self.tasks = {}     # id(task) -> [task, nsteps, [throws], [waits]]
        self._orig_new_loop = None

    def _ent(self, task):
        ent = self.tasks.get(id(task))
        if ent is None:
            ent = self.tasks[id(task)] = [task, 0, [], []]
        return ent

    @staticmethod
    def _classify(v):
        if v is None:
            return {"kind": "yield"}
        if isinstance(v, asyncio.Task):
            return {"kind": "task", "name": v.get_name(), "addr": hex(id(v)),
                    "type": tp_name(v)}
        return {"kind": "future", "type": tp_name(v)}

    def _after(self, task):
        if not task.done():
            self._ent(task)[3].append(self._classify(task._fut_waiter))

    def _step(self, task, throws):
        ent = self._ent(task)
        ent[1] += 1
        ent[2].append(bool(throws))

    def eager_first(self, task):
        """An eager task's first step ran inside Task.__init__."""
        self._step(task, False)
        self._after(task)

    def _wrap(self, cb, args):
        task = getattr(cb, "__self__", None)
        if not isinstance(task, asyncio.Task):
            return cb
        if type(cb).__name__ == "TaskStepMethWrapper":
            throws = lambda: task._must_cancel
        elif getattr(cb, "__name__", None) == "task_wakeup":
            fut = args[0]
            throws = lambda: fut.cancelled() or fut.exception() is not None
        else:
            return cb

        def step(*a):
            self._step(task, throws())
            try:
                return cb(*a)
            finally:
                self._after(task)
        return step

    def _install(self, loop):
        orig = loop.call_soon

        def call_soon(callback, *args, **kwargs):
            return orig(self._wrap(callback, args), *args, **kwargs)
        loop.call_soon = call_soon

    def start(self):
        events = asyncio.events
        self._orig_new_loop = orig = events.new_event_loop

        def new_event_loop():
            loop = orig()
            self._install(loop)
            return loop
        events.new_event_loop = new_event_loop

    def stop(self):
        asyncio.events.new_event_loop = self._orig_new_loop

    def compare(self, gt):
        errors = []
        by_addr = {t["addr"]: t for t in gt["tasks"]}
        for task, nsteps, throws, waits in self.tasks.values():
            t = by_addr.get(hex(id(task)))
            if t is None:
                errors.append(f"task {task.get_name()} stepped but is not in the ground truth")
                continue
            if nsteps != t["steps"]:
                errors.append(f"{t['name']}: {nsteps} steps observed, {t['steps']} recorded")
            want = [{k: v for k, v in w.items() if k != "throws"} for w in t["waits"]]
            if waits != want:
                errors.append(f"{t['name']}: suspensions observed {waits}, recorded {want}")
            want_throws = ([False] + [bool(w.get("throws")) for w in t["waits"]])[:nsteps]
            if throws != want_throws:
                errors.append(f"{t['name']}: throws observed {throws}, recorded {want_throws}")
        stepped = {hex(id(e[0])) for e in self.tasks.values()}
        for t in gt["tasks"]:
            if t["steps"] and t["addr"] not in stepped:
                errors.append(f"{t['name']}: recorded {t['steps']} steps, none observed")
        return errors


def _go():
    if NO_WAIT:
        return
    sys.stdout.write(f"READY {os.getpid()}\n")
    sys.stdout.flush()
    sys.stdin.readline()


def _write(path, gt):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(gt, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def _fail_if_errors(gt, extra=()):
    errs = list(gt["errors"]) + list(extra)
    if errs:
        for e in errs:
            print(f"scenario {gt['scenario']}: ground truth error: {e}",
                  file=sys.stderr)
        return True
    return False


def run(truth, body):
    """The protocol: READY/go, body() (which calls asyncio.run), then write
    the ground truth to argv[1] and exit 0."""
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} GROUND_TRUTH.json", file=sys.stderr)
        sys.exit(2)
    out = sys.argv[1]
    _go()
    if truth.observer:
        truth.observer.start()
    body()
    truth.stop_watching()
    if truth.observer:
        truth.observer.stop()
    gt = truth.snapshot()
    verify_errors = truth.observer.compare(gt) if truth.observer else []
    truth.release(gt)
    _write(out, gt)
    sys.exit(3 if _fail_if_errors(gt, verify_errors) else 0)


def exit_now(truth, out):
    """Write the ground truth and end the process at once (os._exit), from
    inside the running task's step: tasks stay pending, the calling task
    is mid-step."""
    current = asyncio.current_task()
    if truth.observer:
        truth.observer.stop()
    gt = truth.snapshot("midway", current)
    verify_errors = truth.observer.compare(gt) if truth.observer else []
    _write(out, gt)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(3 if _fail_if_errors(gt, verify_errors) else 0)
