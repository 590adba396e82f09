"""Checks of `aps-bpf trace --json` output against a scenario's ground truth.

The contract is docs/trace-json.md; the ground truth format is described in
tests/scenarios/_harness.py.  Every check is a function

    check_xxx(events, gt) -> list of problems (strings; empty: passed)

where `events` is the list of parsed JSON objects, in output order, and `gt`
the ground-truth dict.  They are pure functions, unit-tested on hand-written
event lists in test_checks.py.
"""
import json

TASK_EVENTS = ("created", "seen", "renamed", "woken", "step", "step_end", "done", "destroyed",
               "cancel_requested")
EVENTS = TASK_EVENTS + ("lost", "summary")
RESULTS = ("awaiting", "yielded", "returned", "raised", "cancelled")
ENDINGS = ("returned", "raised", "cancelled")
BOUNDARIES = ("next_step", "loop_poll", "dealloc", "eager_return", "exit")
MAX_PROBLEMS = 6    # per check: enough to see the pattern


# ---- parsing and indexing ------------------------------------------------

def parse_lines(text):
    """(events, problems): one JSON object per non-empty line."""
    events, problems = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except ValueError as e:
            problems.append(f"line {n} is not JSON ({e}): {line[:200]!r}")
            continue
        if not isinstance(ev, dict):
            problems.append(f"line {n} is not a JSON object: {line[:200]!r}")
            continue
        events.append(ev)
    return events, problems


def by_task(events):
    """task address -> [(position in events, event)] for task events."""
    out = {}
    for i, ev in enumerate(events):
        if ev.get("event") in TASK_EVENTS and "task" in ev:
            out.setdefault(ev["task"], []).append((i, ev))
    return out


def of_kind(evs, kind):
    return [(i, e) for i, e in evs if e.get("event") == kind]


def gt_tasks(gt):
    return gt["tasks"]


def fmt(ev):
    """An event as compact JSON, for problem messages."""
    return json.dumps(ev, separators=(",", ":"), sort_keys=True)


def _cap(problems):
    if len(problems) > MAX_PROBLEMS:
        n = len(problems) - MAX_PROBLEMS
        problems = problems[:MAX_PROBLEMS] + [f"... and {n} more"]
    return problems


def _ending(obj):
    """("raised", "ValueError") / ("returned", None) from a done/step_end
    event or a ground-truth "end"."""
    if obj.get("result") == "raised":
        return ("raised", obj.get("exception"))
    return (obj.get("result"), None)


class Task:
    """One ground-truth task with its events."""

    def __init__(self, t, evs):
        self.gt = t
        self.evs = evs
        self.steps = of_kind(evs, "step")
        self.ends = of_kind(evs, "step_end")

    @property
    def label(self):
        return f"task {self.gt['name']!r} ({self.gt['addr']})"


def tasks(events, gt):
    idx = by_task(events)
    return [Task(t, idx.get(t["addr"], [])) for t in gt_tasks(gt)]


# ---- schema ----------------------------------------------------------------

def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _schema_problems(ev):
    p = []
    kind = ev.get("event")
    if kind not in EVENTS:
        return [f"unknown event {kind!r}"]
    if not _is_int(ev.get("ts_ns")):
        p.append("ts_ns is not an int")
    if not _is_int(ev.get("tid")):
        p.append("tid is not an int")
    if kind in TASK_EVENTS:
        task = ev.get("task")
        if not (isinstance(task, str) and task.startswith("0x")):
            p.append("task is not a \"0x...\" string")
        for k in ("name", "coro"):
            if not isinstance(ev.get(k), str):
                p.append(f"{k} is not a string")
    if kind == "created":
        if "creator" not in ev or "creator_name" not in ev:
            p.append("creator/creator_name missing")
    elif kind == "step":
        if "woken_by" not in ev:
            p.append("woken_by missing")
        for k in ("throw", "nested"):
            if not isinstance(ev.get(k), bool):
                p.append(f"{k} is not a bool")
    elif kind == "step_end":
        if not _is_int(ev.get("duration_ns")):
            p.append("duration_ns is not an int")
        if ev.get("result") == "unknown":
            # documented: only for a step that never ended (exit / trace stop)
            if ev.get("boundary") != "exit":
                p.append("result 'unknown' without boundary 'exit'")
        elif ev.get("result") not in RESULTS:
            p.append(f"result {ev.get('result')!r} unknown")
        if ev.get("boundary") not in BOUNDARIES:
            p.append(f"boundary {ev.get('boundary')!r} unknown")
        if ev.get("result") == "awaiting":
            for k in ("awaiting", "awaiting_task", "awaiting_name", "awaiting_type"):
                if k not in ev:
                    p.append(f"{k} missing")
        if ev.get("result") == "raised" and not isinstance(ev.get("exception"), str):
            p.append("exception missing")
    elif kind == "done":
        if ev.get("result") not in ENDINGS:
            p.append(f"result {ev.get('result')!r} unknown")
        if ev.get("result") == "raised" and not isinstance(ev.get("exception"), str):
            p.append("exception missing")
        if not _is_int(ev.get("cancel_requests")):
            p.append("cancel_requests is not an int")
        for k in ("cancel_by", "cancel_by_name", "cancel_ts_ns"):
            if k not in ev:
                p.append(f"{k} missing")
    elif kind == "cancel_requested":
        for k in ("by", "by_name", "msg"):
            if k not in ev:
                p.append(f"{k} missing")
        for k in ("already_done", "by_unverified"):
            if not isinstance(ev.get(k), bool):
                p.append(f"{k} is not a bool")
        if not _is_int(ev.get("requests")):
            p.append("requests is not an int")
    elif kind == "lost":
        if not _is_int(ev.get("count")):
            p.append("count is not an int")
    elif kind == "summary":
        if ev.get("reason") not in ("interrupted", "duration", "target_exited"):
            p.append(f"reason {ev.get('reason')!r} unknown")
        for k in ("tasks", "steps", "lost_events", "read_errors"):
            if not _is_int(ev.get(k)):
                p.append(f"{k} is not an int")
    return p


def check_schema(events, gt):
    """Every line has the keys and types docs/trace-json.md promises."""
    out = []
    for i, ev in enumerate(events):
        p = _schema_problems(ev)
        if p:
            out.append(f"event #{i}: {'; '.join(p)}: {fmt(ev)}")
    return _cap(out)


# ---- the trace as a whole ------------------------------------------------

def check_summary(events, gt, reason="target_exited"):
    """A single summary, as the last line, with the expected reason."""
    sums = [i for i, e in enumerate(events) if e.get("event") == "summary"]
    if not sums:
        return ["no summary line"]
    out = []
    if len(sums) > 1:
        out.append(f"{len(sums)} summary lines")
    if sums[-1] != len(events) - 1:
        out.append(f"summary is not the last line: {fmt(events[-1])}")
    s = events[sums[-1]]
    if s.get("reason") != reason:
        out.append(f"summary reason {s.get('reason')!r}, expected {reason!r}: {fmt(s)}")
    return out


def check_no_lost(events, gt):
    """lost_events == 0 and no `lost` lines."""
    out = [f"events lost: {fmt(e)}" for e in events
           if e.get("event") == "lost" and e.get("count")]
    for e in events:
        if e.get("event") == "summary" and e.get("lost_events") != 0:
            out.append(f"summary lost_events != 0: {fmt(e)}")
    return out


def check_summary_counts(events, gt):
    """summary.tasks == tasks in the ground truth, summary.steps == steps."""
    sums = [e for e in events if e.get("event") == "summary"]
    if not sums:
        return ["no summary line"]
    s = sums[-1]
    want_tasks = len(gt_tasks(gt))
    want_steps = sum(t["steps"] for t in gt_tasks(gt))
    out = []
    if s.get("tasks") != want_tasks:
        out.append(f"summary tasks={s.get('tasks')}, expected {want_tasks}")
    if s.get("steps") != want_steps:
        out.append(f"summary steps={s.get('steps')}, expected {want_steps}")
    return out


def check_task_set(events, gt):
    """The tasks in `created` events are exactly the ground truth's tasks
    (by name and by address): none missing, none extra, none twice."""
    created = [e for e in events if e.get("event") == "created"]
    want = {t["name"]: t for t in gt_tasks(gt)}
    seen_names = {}
    out = []
    for e in created:
        seen_names.setdefault(e.get("name"), []).append(e)
    for name in sorted(set(want) - set(seen_names)):
        out.append(f"missing task {name!r} (no created event)")
    for name in sorted(set(seen_names) - set(want), key=str):
        out.append(f"extra task {name!r}: {fmt(seen_names[name][0])}")
    for name, evs in sorted(seen_names.items(), key=lambda kv: str(kv[0])):
        if len(evs) > 1:
            out.append(f"task {name!r} created {len(evs)} times")
    want_addrs = {t["addr"] for t in gt_tasks(gt)}
    for e in created:
        if e.get("name") in want and e.get("task") not in want_addrs:
            out.append(f"task {e.get('name')!r} has address {e.get('task')}, "
                       f"expected {want[e.get('name')]['addr']}")
    return _cap(out)


def check_no_seen(events, gt):
    """aps-bpf attached before any task existed: no `seen` events."""
    return _cap([f"unexpected seen event: {fmt(e)}"
                 for e in events if e.get("event") == "seen"])


# ---- per task ---------------------------------------------------------------

def check_identity(events, gt):
    """created: coro, address, creator (address and name), tid."""
    out = []
    for t in tasks(events, gt):
        g = t.gt
        cr = [e for _, e in of_kind(t.evs, "created")]
        if not cr:
            continue            # reported by check_task_set
        e = cr[0]
        want = {"name": g["name"], "coro": g["coro"], "creator": g["creator_addr"],
                "creator_name": g["creator"], "tid": g["tid"]}
        for k, v in want.items():
            if e.get(k) != v:
                out.append(f"{t.label}: created {k}={e.get(k)!r}, expected {v!r}: {fmt(e)}")
    return _cap(out)


def check_names_consistent(events, gt):
    """Every event of a task carries the task's name and coro qualname."""
    out = []
    for t in tasks(events, gt):
        for i, e in t.evs:
            for k in ("name", "coro"):
                if e.get(k) != t.gt[k]:
                    out.append(f"{t.label}: event #{i} {e.get('event')} has "
                               f"{k}={e.get(k)!r}, expected {t.gt[k]!r}")
                    break
    return _cap(out)


def check_created_first(events, gt):
    """A task's `created` event comes before all its other events."""
    out = []
    for t in tasks(events, gt):
        if t.evs and t.evs[0][1].get("event") != "created":
            out.append(f"{t.label}: first event is {fmt(t.evs[0][1])}")
    return _cap(out)


def check_step_counts(events, gt):
    """Number of `step` events per task == the ground truth's steps."""
    out = []
    for t in tasks(events, gt):
        if len(t.steps) != t.gt["steps"]:
            out.append(f"{t.label}: {len(t.steps)} step events, expected {t.gt['steps']}")
    return _cap(out)


def check_step_pairing(events, gt):
    """Each step has exactly one step_end: step, step_end, step, ... in
    order, duration_ns >= 0, step_end ts_ns >= step ts_ns."""
    out = []
    for t in tasks(events, gt):
        seq = [(i, e) for i, e in t.evs if e.get("event") in ("step", "step_end")]
        open_step = None
        for i, e in seq:
            if e["event"] == "step":
                if open_step is not None:
                    out.append(f"{t.label}: step #{open_step[0]} has no step_end "
                               f"before step #{i}")
                open_step = (i, e)
                continue
            if open_step is None:
                out.append(f"{t.label}: step_end #{i} without a step: {fmt(e)}")
                continue
            d = e.get("duration_ns")
            if not _is_int(d) or d < 0:
                out.append(f"{t.label}: step_end #{i} duration_ns={d!r}")
            if _is_int(e.get("ts_ns")) and _is_int(open_step[1].get("ts_ns")) \
                    and e["ts_ns"] < open_step[1]["ts_ns"]:
                out.append(f"{t.label}: step_end #{i} ts_ns {e['ts_ns']} < "
                           f"step ts_ns {open_step[1]['ts_ns']}")
            open_step = None
        if open_step is not None:
            out.append(f"{t.label}: step #{open_step[0]} has no step_end")
    return _cap(out)


def check_tids(events, gt):
    """created/step/step_end/done happen on the task's loop thread."""
    out = []
    for t in tasks(events, gt):
        for i, e in t.evs:
            if e.get("event") in ("created", "step", "step_end", "done") \
                    and e.get("tid") != t.gt["tid"]:
                out.append(f"{t.label}: event #{i} {e.get('event')} tid={e.get('tid')}, "
                           f"expected {t.gt['tid']}")
                break
    return _cap(out)


def check_endings(events, gt):
    """A finished task: its last step_end has the ending's result, a `done`
    with that result is the very next line, and it is the only `done`.
    A pending task: no `done`; if it was mid-step at exit, that step was
    closed with boundary "exit"."""
    out = []
    for t in tasks(events, gt):
        dones = of_kind(t.evs, "done")
        end = t.gt["end"]
        if end is None:
            if dones:
                out.append(f"{t.label}: pending at exit but has {fmt(dones[0][1])}")
            if t.gt.get("running_at_exit") and t.ends \
                    and (t.ends[-1][1].get("boundary") != "exit"
                         or t.ends[-1][1].get("result") != "unknown"):
                out.append(f"{t.label}: mid-step at exit, last step_end "
                           f"{fmt(t.ends[-1][1])} is not result \"unknown\", boundary \"exit\"")
            for _, e in t.ends:
                if e.get("result") == "unknown" and not t.gt.get("running_at_exit"):
                    out.append(f"{t.label}: step cut by exit, but it was not running: {fmt(e)}")
            continue
        want = _ending(end)
        if len(dones) != 1:
            out.append(f"{t.label}: {len(dones)} done events, expected 1")
        if not t.ends or len(t.ends) != t.gt["steps"]:
            continue            # reported by the step checks
        i, last = t.ends[-1]
        if _ending(last) != want:
            out.append(f"{t.label}: last step_end {_ending(last)}, expected {want}: {fmt(last)}")
        nxt = events[i + 1] if i + 1 < len(events) else None
        if not nxt or nxt.get("event") != "done" or nxt.get("task") != t.gt["addr"]:
            out.append(f"{t.label}: the line after its last step_end is not its done: "
                       f"{fmt(nxt) if nxt else 'end of output'}")
        elif _ending(nxt) != want:
            out.append(f"{t.label}: done {_ending(nxt)}, expected {want}: {fmt(nxt)}")
    return _cap(out)


def check_intermediate_results(events, gt):
    """Every step_end that suspended the task is `awaiting` or `yielded`."""
    out = []
    for t in tasks(events, gt):
        for i, e in t.ends[:len(t.gt["waits"])]:
            if e.get("result") not in ("awaiting", "yielded"):
                out.append(f"{t.label}: suspending step_end #{i} result "
                           f"{e.get('result')!r}: {fmt(e)}")
    return _cap(out)


def _wait_problem(w, e):
    """Does step_end e match the suspension w of the ground truth?"""
    kind = w["kind"]
    if kind == "yield":
        return None if e.get("result") == "yielded" else "expected yielded"
    if e.get("result") != "awaiting":
        return "expected awaiting"
    if kind == "task":
        want = {"awaiting": w["addr"], "awaiting_task": True, "awaiting_name": w["name"],
                "awaiting_type": w.get("type", "_asyncio.Task")}
    else:
        want = {"awaiting_task": False, "awaiting_name": None, "awaiting_type": w["type"]}
    bad = [f"{k}={e.get(k)!r} (expected {v!r})" for k, v in want.items() if e.get(k) != v]
    return ", ".join(bad) or None


def check_waits(events, gt):
    """The k-th suspending step_end of a task is what the task really
    suspended on, k-th: a bare yield, a task (address and name), or a
    future of a given type."""
    out = []
    for t in tasks(events, gt):
        for k, (w, (i, e)) in enumerate(zip(t.gt["waits"], t.ends)):
            p = _wait_problem(w, e)
            if p:
                out.append(f"{t.label}: suspension {k} ({w['kind']} "
                           f"{w.get('name') or w.get('type') or ''}): {p}: {fmt(e)}")
    return _cap(out)


def check_awaits(events, gt):
    """For every task the ground truth says a task awaited, a step_end of
    the awaiter with result awaiting and that awaiting_name exists; in
    order, and no other awaited task names."""
    out = []
    for t in tasks(events, gt):
        names = [e.get("awaiting_name") for _, e in t.ends
                 if e.get("result") == "awaiting" and e.get("awaiting_name") is not None]
        for want in t.gt["awaits"]:
            if want not in names:
                out.append(f"{t.label}: no step_end awaiting {want!r} "
                           f"(awaited names seen: {names})")
        if names != t.gt["awaits"] and all(w in names for w in t.gt["awaits"]):
            out.append(f"{t.label}: awaited names {names}, expected {t.gt['awaits']}")
    return _cap(out)


def check_woken_lines(events, gt):
    """A `woken` line precedes exactly the steps with a woken_by, naming the
    same object, task and throw flag."""
    out = []
    for i, ev in enumerate(events):
        if ev.get("event") == "step":
            prev = events[i - 1] if i > 0 else {}
            if ev.get("woken_by"):
                if prev.get("event") != "woken" or prev.get("task") != ev.get("task") \
                        or prev.get("by") != ev.get("woken_by") or prev.get("throw") != ev.get("throw"):
                    out.append(f"step woken by {ev.get('woken_by')} not preceded by its woken line: "
                               f"{fmt(prev) if prev else 'start'} / {fmt(ev)}")
        elif ev.get("event") == "woken":
            nxt = events[i + 1] if i + 1 < len(events) else {}
            if nxt.get("event") != "step" or nxt.get("task") != ev.get("task"):
                out.append(f"woken line not followed by the task's step: {fmt(ev)}")
    return out


def check_woken_by(events, gt):
    """step.woken_by: null for a first step and after a bare yield, else
    the address the previous step_end was awaiting."""
    out = []
    for t in tasks(events, gt):
        for n, (i, s) in enumerate(t.steps):
            if n == 0:
                want = None
            elif n - 1 < len(t.ends):
                prev = t.ends[n - 1][1]
                want = prev.get("awaiting") if prev.get("result") == "awaiting" else None
            else:
                continue
            if s.get("woken_by") != want:
                out.append(f"{t.label}: step #{i} woken_by={s.get('woken_by')!r}, "
                           f"expected {want!r}")
    return _cap(out)


def check_throw(events, gt):
    """step.throw is true exactly for resumptions that threw into the
    coroutine (cancellation, exception of the awaited task/future)."""
    out = []
    for t in tasks(events, gt):
        waits = t.gt["waits"]
        for n, (i, s) in enumerate(t.steps):
            want = n > 0 and n - 1 < len(waits) and bool(waits[n - 1].get("throws"))
            if s.get("throw") is not want:
                out.append(f"{t.label}: step #{i} (step {n}) throw={s.get('throw')!r}, "
                           f"expected {want}")
    return _cap(out)


def check_nested(events, gt):
    """step.nested is true exactly for eager first steps run inside their
    creator's step."""
    out = []
    for t in tasks(events, gt):
        for n, (i, s) in enumerate(t.steps):
            want = n == 0 and bool(t.gt.get("nested_first"))
            if s.get("nested") is not want:
                out.append(f"{t.label}: step #{i} (step {n}) nested={s.get('nested')!r}, "
                           f"expected {want}")
    return _cap(out)


def check_destroyed(events, gt):
    """`destroyed` only for known tasks, at most once, as the task's last
    event; and for every task the ground truth saw deallocated."""
    known = {t["addr"]: t for t in gt_tasks(gt)}
    out = []
    count = {}
    for e in events:
        if e.get("event") == "destroyed":
            if e.get("task") not in known:
                out.append(f"destroyed for an unknown task: {fmt(e)}")
            count[e.get("task")] = count.get(e.get("task"), 0) + 1
    for t in tasks(events, gt):
        n = count.get(t.gt["addr"], 0)
        if n > 1:
            out.append(f"{t.label}: destroyed {n} times")
        if n and t.evs[-1][1].get("event") != "destroyed":
            out.append(f"{t.label}: events after destroyed: {fmt(t.evs[-1][1])}")
        if t.gt.get("destroyed") and n == 0:
            out.append(f"{t.label}: deallocated while traced, no destroyed event")
    return _cap(out)


def check_cancels(events, gt):
    """The cancel_requested lines are the program's Task.cancel() calls
    (gt "cancels", when the scenario watched them), in order: the task, who
    requested it (address and name; null outside any task step), whether
    the task was already done, the message; `requests` counts a task's
    requests (not those of a done task); a task's `done` line has its
    count and its last request's requester and time."""
    if "cancels" not in gt:
        return []
    got = [e for e in events if e.get("event") == "cancel_requested"]
    want = gt["cancels"]
    out = []
    if len(got) != len(want):
        out.append(f"{len(got)} cancel_requested lines, expected {len(want)}: "
                   f"{[(e.get('name'), e.get('by_name')) for e in got]} vs "
                   f"{[(w['task'], w['by']) for w in want]}")
    count, last = {}, {}
    for g, w in zip(got, want):
        if not w["already_done"]:
            count[w["task_addr"]] = count.get(w["task_addr"], 0) + 1
            last[w["task_addr"]] = (g, w)
        expect = {"task": w["task_addr"], "name": w["task"], "by": w["by_addr"],
                  "by_name": w["by"], "already_done": w["already_done"], "msg": w["msg"],
                  "by_unverified": False, "requests": count.get(w["task_addr"], 0)}
        bad = [f"{k}={g.get(k)!r} (expected {v!r})" for k, v in expect.items() if g.get(k) != v]
        if bad:
            out.append(f"cancel of {w['task']!r} by {w['by']!r}: {', '.join(bad)}: {fmt(g)}")
    for e in events:
        if e.get("event") != "done":
            continue
        g, w = last.get(e.get("task"), (None, None))
        expect = {"cancel_requests": count.get(e.get("task"), 0),
                  "cancel_by": w["by_addr"] if w else None,
                  "cancel_by_name": w["by"] if w else None,
                  "cancel_ts_ns": g.get("ts_ns") if g else None}
        bad = [f"{k}={e.get(k)!r} (expected {v!r})" for k, v in expect.items() if e.get(k) != v]
        if bad:
            out.append(f"done of {e.get('name')!r}: {', '.join(bad)}")
    return _cap(out)


TRACE_CHECKS = (
    check_schema,
    check_summary,
    check_no_lost,
    check_summary_counts,
    check_task_set,
    check_no_seen,
    check_identity,
    check_names_consistent,
    check_created_first,
    check_tids,
    check_step_counts,
    check_step_pairing,
    check_endings,
    check_intermediate_results,
    check_waits,
    check_awaits,
    check_woken_by,
    check_woken_lines,
    check_throw,
    check_nested,
    check_destroyed,
    check_cancels,
)


def run_checks(events, gt, checks=TRACE_CHECKS):
    """[(check name, [problems])] for the checks that failed."""
    failed = []
    for check in checks:
        problems = check(events, gt)
        if problems:
            failed.append((check.__name__, problems))
    return failed
