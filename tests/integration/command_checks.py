"""Checks of what aps-bpf's commands print against what the target program
knows, shared by the integration tests (test_views, test_timing,
test_record) and the kernel matrix's guest (tests/kernels/guest_check.py).

Each xxx_problems(...) is a pure function returning a list of problems
(strings; empty: passed). Stdlib only: it runs inside the kernel matrix's
minimal guests too.
"""
import os
import re

ANNOTATION = re.compile(r"( \[[^\]]*\]| \u26a0 stuck)+$")
PS_TIMING = ("state", "age_ns", "waiting_ns", "busy_ns", "steps", "max_step_ns", "age_lower_bound",
             "waiting_lower_bound", "sleep_left_ns", "child_tasks")


# ---- ps / pstree vs a park scenario's EXPECT ------------------------------------


def pstree_nest(tj):
    """`pstree --format json` (a flat node list with parent ids,
    docs/ps-pstree-json.md) as nested `roots` / `children`, for the checks."""
    nodes, roots = {}, []
    for n in tj["nodes"]:
        m = dict(n, children=[])
        nodes[n["id"]] = m
        (roots if n["parent"] is None else nodes[n["parent"]]["children"]).append(m)
    return dict(tj, roots=roots)

def ours_tasks(ps):
    return {t["task_id"]: t for t in ps["tasks"]}


def ours_edges(ps):
    return {(t["task_id"], a["id"]) for t in ps["tasks"] for a in t["awaiters"]}


def exp_tasks(e):
    return {t["id"]: t for t in e["tasks"]}


def exp_edges(e):
    return {(t["id"], a) for t in e["tasks"] for a in t["awaiters"]}


def frame_triples(frames):
    """[(func, file, line)] from our {"func","file","line"} or EXPECT's."""
    return [(f["func"], f["file"], f["line"]) for f in frames]


def user_frames(triples):
    return [(fn, os.path.basename(fi), ln) for fn, fi, ln in triples
            if os.path.basename(fi).startswith("park_")]


def tree_index(tree):
    """task_id -> the node where the task is shown in full (not a ref)."""
    if "nodes" in tree:
        tree = pstree_nest(tree)
    full = {}
    count = {}

    def walk(n):
        stack = [n]
        while stack:
            x = stack.pop()
            if x["kind"] == "task":
                if x.get("ref"):
                    continue
                count[x["task_id"]] = count.get(x["task_id"], 0) + 1
                full.setdefault(x["task_id"], x)
            stack.extend(x["children"])
    for r in tree["roots"]:
        walk(r)
    return full, count


def diff_sets(what, ours, ref, fmt=repr, limit=4):
    """Errors for two sets that should be equal."""
    errs = []
    missing = sorted(ref - ours, key=repr)
    extra = sorted(ours - ref, key=repr)
    if missing:
        errs.append(f"{what}: missing {len(missing)}: " + "; ".join(fmt(x) for x in missing[:limit]))
    if extra:
        errs.append(f"{what}: extra {len(extra)}: " + "; ".join(fmt(x) for x in extra[:limit]))
    return errs


def tree_problems(ps, tree, e, version, note=None):
    """`ps --format json` and `pstree --format json` vs the scenario's EXPECT
    e: tasks, names, awaiter edges, frames, tids; the tree shows every task
    once with the program's task edges. version: (major, minor)."""
    if "nodes" in tree:
        tree = pstree_nest(tree)
    errs = []
    mine, want = ours_tasks(ps), exp_tasks(e)
    nm = lambda i: f"{(want.get(i) or {}).get('name') or 'Task-?'}({i})"
    errs += diff_sets("tasks", set(mine), set(want), fmt=nm)
    errs += diff_sets("edges task->awaiter", ours_edges(ps), exp_edges(e),
                      fmt=lambda x: f"{nm(x[0])}->{nm(x[1])}")
    for k in sorted(set(mine) & set(want)):
        w, o = want[k], mine[k]
        if w["name"] is None:
            if not re.fullmatch(r"Task-\d+", o["task_name"]):
                errs.append(f"unnamed task {k}: name {o['task_name']!r}, not Task-<n>")
        elif o["task_name"] != w["name"]:
            errs.append(f"name of {k}: ours {o['task_name']!r}, the program's {w['name']!r}")
        a, b = frame_triples(o["coroutine_stack"]), frame_triples(w["frames"])
        if user_frames(a) != user_frames(b):
            errs.append(f"user frames of {nm(k)}: ours {user_frames(a)} != the program's "
                        f"{user_frames(b)}")
        elif a != b:
            errs.append(f"frames of {nm(k)}: ours {a} != the program's {b}")
        # 3.10's PyThreadState has no native thread id: its struct pthread holds it
        if o["tid"] != w["tid"]:
            errs.append(f"tid of {nm(k)}: ours {o['tid']}, expected {w['tid']}")
    unnamed = [mine[k]["task_name"] for k in mine if k in want and want[k]["name"] is None]
    if len(set(unnamed)) != len(unnamed):
        errs.append(f"unnamed tasks share names: {unnamed}")
    # the tree: every task shown once, its task edges the program's
    full, _ = tree_index(tree)
    errs += diff_sets("pstree tasks", set(full), set(want), fmt=nm)
    tedges = set()

    def walk(n, owner):
        if n["kind"] == "task":
            if owner is not None:
                tedges.add((n["task_id"], owner))
            if n.get("ref"):
                return
            owner = n["task_id"]
        for k in n["children"]:
            walk(k, owner)
    for r in tree["roots"]:
        walk(r, None)
    errs += diff_sets("pstree edges task->awaiter", tedges, exp_edges(e),
                      fmt=lambda x: f"{nm(x[0])}->{nm(x[1])}")
    return errs


# ---- replay ps / pstree --at vs the live views ------------------------------------

def tree_lines(text):
    """pstree text lines without their timing annotations."""
    return [ANNOTATION.sub("", line) for line in text.splitlines()]


def untimed_ps_rows(obj):
    """ps --format json rows without the timing columns, by task id."""
    rows = [{k: v for k, v in t.items() if k not in PS_TIMING} for t in obj["tasks"]]
    return sorted(rows, key=lambda t: t["task_id"])


# ---- timing_blocking.py: blocked, check, top ----------------------------------------

def blocked_problems(reps, sleep_line, rounds=3, max_s=0.36, every_stack=True):
    """`blocked --threshold 100ms --json` on timing_blocking.py: each of its
    rounds, the bad task, 0.3 s +- 20% (up to max_s: an emulated guest runs
    the step's code around the sleep 10x slower), the helper's stack and line.
    every_stack=False (emulated guests): a round whose stack could not be
    taken before the step ended may have none, if another round has it."""
    if not every_stack and reps and any(r.get("stack") for r in reps):
        reps_checked = [r for r in reps if r.get("stack")]
    else:
        reps_checked = reps
    if len(reps) != rounds:
        seen = ", ".join(f"{r.get('name')} {r.get('duration_ns', 0) / 1e9:.3f}s" for r in reps[:8])
        return [f"{len(reps)} blocking steps reported, expected {rounds}: {seen}"]
    errs = []
    for r in reps:
        if r not in reps_checked:
            continue
        if r["name"] != "bad" or r["coro"] != "bad_handler":
            errs.append(f"reported the wrong task: {r['name']} ({r['coro']})")
        if not 0.24e9 <= r["duration_ns"] <= max_s * 1e9:
            errs.append(f"duration {r['duration_ns'] / 1e9:.3f}s not within 0.24-{max_s}s "
                        "(a 0.3 s sleep)")
        st = r.get("stack") or []
        funcs = [f["func"] for f in st]
        if funcs[:2] != ["slow_sync_call", "bad_handler"]:
            errs.append(f"stack does not start slow_sync_call <- bad_handler: {funcs[:4]}")
            continue
        if st[0]["line"] != sleep_line or "time.sleep" not in st[0]["source"]:
            errs.append(f"innermost frame is not line {sleep_line} `time.sleep(...)`: {st[0]}")
        if not st[0]["file"].endswith("timing_blocking.py"):
            errs.append(f"innermost frame's file: {st[0]['file']}")
        if r["thread_state"] == "R":
            errs.append("the thread was running at the crossing; time.sleep should have it waiting")
    return errs


def check_problems(rc, result):
    """`check --max-step 100ms --json` on timing_blocking.py: exit 1, the
    one offender is the bad task. result: the parsed JSON (or None)."""
    if rc != 1:
        return [f"check exited {rc} on a blocking program"]
    names = {o["name"] for o in (result or {}).get("offenders", [])}
    return [] if names == {"bad"} else [f"offenders {names}, expected only 'bad'"]


def top_problems(snaps, iterations=2):
    """`top -b --iterations N --json` on timing_blocking.py."""
    if len(snaps) != iterations:
        return [f"{len(snaps)} snapshots, expected {iterations}"]
    # tasks seen in any snapshot: a slow guest's program may end before the last
    names = {t["name"] for s in snaps for t in s["tasks"]}
    if not {"bad", "ticker"} <= names:
        return [f"tasks {names} lack bad/ticker"]
    for s in snaps:
        if "lost_events" not in s or not s["threads"]:
            return ["snapshot without lost_events or threads"]
    return []


# ---- export --format perfetto of a recording of basic.py ----------------------------

def perfetto_problems(doc, replayed, pid):
    """The export is trace-event JSON whose slices are the recorded steps
    (replayed: `replay F trace --json` events), with paired flows and the
    creation, cancellation and exception markers basic.py causes."""
    evs = doc.get("traceEvents") if isinstance(doc, dict) else None
    if not isinstance(evs, list) or not evs:
        return ["no traceEvents array"]
    for e in evs:
        if e.get("ph") not in ("X", "i", "s", "f", "M"):
            return [f"unexpected phase: {e}"]
        if e.get("pid") != pid or not isinstance(e.get("name"), str):
            return [f"bad pid or name: {e}"]
        if e["ph"] != "M" and not isinstance(e.get("ts"), (int, float)):
            return [f"no ts: {e}"]
        needs_tid = e["ph"] in ("X", "s", "f") or (e["ph"] == "i" and e.get("s") == "t") \
            or e.get("name") == "thread_name"
        if needs_tid and not isinstance(e.get("tid"), int):
            return [f"no tid: {e}"]
    slices = [e for e in evs if e["ph"] == "X"]
    ends = [e for e in replayed if e.get("event") == "step_end"]
    if len(slices) != len(ends):
        return [f"{len(slices)} slices, {len(ends)} recorded steps"]
    got = sorted((s["args"]["addr"], round(s["dur"] * 1000)) for s in slices)
    want = sorted((e["task"], e["duration_ns"]) for e in ends)
    if got != want:
        bad = next(((a, b) for a, b in zip(got, want) if a != b), None)
        return [f"slices differ from the recorded steps (task, ns): {bad}"]
    coros = {e["task"]: e["coro"] for e in ends}
    for s in slices:
        if s["name"] != coros[s["args"]["addr"]]:
            return [f"slice named {s['name']!r}, its coroutine is {coros[s['args']['addr']]!r}"]
        if s["dur"] < 0:
            return [f"negative duration: {s}"]
    names = {e["tid"]: e["args"]["name"] for e in evs
             if e["ph"] == "M" and e["name"] == "thread_name"}
    for s in slices:
        if names.get(s["tid"]) != s["args"]["task"]:
            return [f"track {s['tid']} is named {names.get(s['tid'])!r}, "
                    f"its slices are of {s['args']['task']!r}"]
    starts, ends_f = {}, {}
    for e in evs:
        if e["ph"] == "s":
            starts[e["id"]] = starts.get(e["id"], 0) + 1
        if e["ph"] == "f":
            ends_f[e["id"]] = ends_f.get(e["id"], 0) + 1
    if starts != ends_f or any(v != 1 for v in starts.values()):
        return ["flow starts and ends are not paired one to one"]
    kinds = {e["name"] for e in evs if e["ph"] == "s"}
    if not {"await", "wakeup"} <= kinds:
        return [f"flows: {sorted(kinds)}; basic has a task awaiting a task"]
    instants = [e["name"] for e in evs if e["ph"] == "i"]
    created = sum(1 for e in replayed if e.get("event") == "created")
    if instants.count("created") != created:
        return [f"{instants.count('created')} creation markers, {created} tasks created"]
    for mark in ("cancelled", "raised"):
        if mark not in instants:
            return [f"no {mark!r} marker (basic cancels a task and has one raise)"]
    reqs = [e for e in replayed if e.get("event") == "cancel_requested"]
    marks = [e for e in evs if e["ph"] == "i" and e["name"] == "cancelled"]
    if len(reqs) != 1 or len(marks) != 1:
        return [f"{len(reqs)} cancel requests, {len(marks)} cancelled markers; basic has one"]
    want = {"by": reqs[0]["by_name"], "requests": 1}
    got = {k: marks[0].get("args", {}).get(k) for k in want}
    if got != want or not want["by"]:
        return [f"cancelled marker args {marks[0].get('args')}, expected {want}"]
    return []
