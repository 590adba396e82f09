#!/usr/bin/env python3
"""`aps-bpf ps` and `aps-bpf pstree` against Python 3.14's own tool and
against what the scenario programs know.  Run as root from the repo root:

    python3 tests/integration/test_views.py [-k SUBSTR]... [--bed LABEL]... [-v]

The scenarios are tests/scenarios/park_*.py (see park_common.py): each parks
every task in a known await state, prints `EXPECT {json}` (its own ground
truth) and `READY <pid>`, and stays parked until this file kills it.

Tests (names; -k selects by substring):
  parity:SCEN@sid-3.14     ps/pstree --format json and the text table/tree
                           vs `asyncio.tools` of sid's python3.14 (in its
                           root, /proc bind-mounted there for the run) on
                           the same process: tasks (id, name), awaiter
                           edges, coroutine frames (func, file, line),
                           tids, root-to-leaf label paths of the tree (our
                           [shown above] references expanded), the 7
                           reference columns of the text table
  (SCEN: park_taskgroups, park_gather, park_await_task, park_shield,
   park_names, park_threads, park_exited)
  tree:SCEN@BED            on every interpreter: tasks, names, edges,
                           frames and tids vs the scenario's EXPECT; the
                           pstree's task edges; the user-frame shape of
                           the tree vs 3.14's reference on the same
                           scenario
  cycle@BED                A awaits B awaits A: the rest of the tree, a
                           DEADLOCK section, exit 0, --fail-on-cycle exit
                           3, JSON `cycles` (and 3.14's cycle on sid)
  scale:N@sid-3.14         N = 1k, 10k, 100k leaf tasks in TaskGroups of
                           100: ps/pstree complete with every task; wall
                           times of ours and of `python3.14 -m asyncio ps`
  collapse@sid-3.14        pstree --collapse 100 on 1k leaves: ten folded lines
  churn@BED                ps/pstree while tasks are made and finish all the
                           time: exit 0, whole JSON, parked tasks exact, no
                           garbage
  escape@BED               control characters in task names come out
                           escaped (table, csv, tree, JSON)
  deep@BED                 park_deep.py: a task under 2002 frames: ps JSON
                           lists 128 at most, the innermost (sleep) and
                           the outermost (file, line) kept, one gap marker
                           "… N frames …" with N in JSON (omitted,
                           frames_omitted) and in the pstree text and JSON
  chain@BED                park_chain.py: 10,000 tasks, each awaiting the
                           next: `pstree --format json` (a flat node list)
                           loads in Python's json and in jq, and each
                           chain-k sits under chain-(k-1)
  badinput:...             no such pid, not Python, Python without
                           asyncio (all beds), usage errors
  watch@BED                ps --watch 2 --format json: age/waiting known
                           only for what happened in the window

Known per-version differences, which the tests allow for:
  * TaskGroup is 3.11+; on 3.10 park_taskgroups/park_threads/park_many
    emulate it by having the owner gather its children (same tasks, edges
    and user frames; a NOTE says so).  Internal frames differ between
    versions (TaskGroup._aexit exists only in 3.14, TaskGroup.__aexit__
    from 3.11; gather and shield add no frames); tree:* compares every frame with what the scenario itself
    walks on that interpreter, and the cross-version shape only on the
    user's own frames (files park_*.py).
  * 3.10's PyThreadState has no native thread id: the tid is read from
    the thread's struct pthread (its thread_id); no 0 is allowed.
  * 3.14.10's own tool (the parity reference) lists no task of a thread
    other than the main one (it walks from threads_main to older threads),
    and reads non-ASCII task names as NUL bytes: parity compares those
    tasks/names with the program's EXPECT instead, and says so in a NOTE.
  * Tasks of an exited thread (park_exited) have tid 0 on every version.

APS_BIN=PATH runs another aps-bpf binary (e.g. a wrapper that corrupts the
output, to check that these tests catch it).

Output: `PASS name` / `FAIL name: why` lines, NOTE and timing lines, and as
the very last line `N passed, N failed`; exit status 1 if any failed.
"""
import argparse
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
APS = os.environ.get("APS_BIN") or os.path.join(REPO, "aps-bpf")
SCEN = os.path.join(REPO, "tests", "scenarios")
BED_FILE = os.environ.get("APS_BED_FILE", "/var/cache/aps-bpf/bed.json")
SID = "sid-3.14"

sys.path.insert(0, HERE)
from command_checks import (diff_sets, exp_edges, exp_tasks, frame_triples, pstree_nest,  # noqa: E402,E501
                            ours_edges, ours_tasks, tree_index, tree_problems, user_frames)

TREE_SCENARIOS = ["park_taskgroups", "park_gather", "park_await_task", "park_shield",
                  "park_names", "park_threads", "park_exited"]
SCALES = [("1k", 1000), ("10k", 10000), ("100k", 100000)]
READY_TIMEOUT = 180          # 100k tasks take a while to create
APS_TIMEOUT = 120
REF_TIMEOUT = 180
WATCH_SECONDS = 2

VERBOSE = False
ALL_BEDS = []
NOTES = []
TIMINGS = []


class Fail(Exception):
    pass


def note(text):
    if text not in NOTES:
        NOTES.append(text)


def vlog(text):
    if VERBOSE:
        print("  " + text, flush=True)


def short(s, n=300):
    s = (s if isinstance(s, str) else s.decode("utf-8", "replace")).strip()
    return s if len(s) <= n else s[:n] + "..."


# ---- the bed ---------------------------------------------------------------

class Bed:
    def __init__(self, d):
        self.label = d["label"]
        self.argv = list(d["argv"])
        self.version = tuple(int(x) for x in d["version"].split(".")[:2])
        self.root = d.get("root") or "/"
        self.chroot = self.root != "/"
        self._ok = None

    def probe(self):
        """Raise Fail if the interpreter does not run (a missing one is a FAIL)."""
        if self._ok is None:
            try:
                r = subprocess.run(self.argv + ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                   capture_output=True, text=True, timeout=30)
                got = r.stdout.strip()
                want = "%d.%d" % self.version
                self._ok = "" if r.returncode == 0 and got == want else \
                    f"interpreter {' '.join(self.argv)} does not run as {want}: rc {r.returncode} " \
                    f"{short(got + r.stderr, 200)!r}"
            except (OSError, subprocess.TimeoutExpired) as e:
                self._ok = f"interpreter {' '.join(self.argv)} does not run: {e}"
        if self._ok:
            raise Fail(self._ok)


class ProcMount:
    """/proc bind-mounted into a chroot bed's root while the tests run
    (3.14's reference tool reads /proc/PID there); unmounted after, only if
    it was not mounted before."""

    def __init__(self):
        self.mounted = []

    def ensure(self, bed):
        target = os.path.join(bed.root, "proc")
        if subprocess.run(["mountpoint", "-q", target]).returncode == 0:
            return
        os.makedirs(target, exist_ok=True)
        r = subprocess.run(["mount", "--bind", "/proc", target], capture_output=True, text=True)
        if r.returncode:
            raise Fail(f"mount --bind /proc {target}: {r.stderr.strip()}")
        self.mounted.append(target)

    def release(self):
        for target in reversed(self.mounted):
            subprocess.run(["umount", target], capture_output=True)
        self.mounted = []


PROC = ProcMount()


class Workdirs:
    """Scenario copies inside each chroot root: ROOT/tmp/aps-views-<pid>/."""

    def __init__(self):
        self.dirs = {}

    def get(self, bed):
        if bed.root not in self.dirs:
            d = os.path.join(bed.root, "tmp", f"aps-views-{os.getpid()}")
            os.makedirs(d, exist_ok=True)
            for f in os.listdir(SCEN):
                if f.startswith("park_") and f.endswith(".py"):
                    shutil.copy(os.path.join(SCEN, f), d)
            self.dirs[bed.root] = d
        return self.dirs[bed.root]

    def inside(self, bed):
        """The directory as the chrooted interpreter sees it."""
        return "/" + os.path.relpath(self.get(bed), bed.root)

    def cleanup(self):
        for d in self.dirs.values():
            shutil.rmtree(d, ignore_errors=True)


WORK = Workdirs()


class Target:
    """A park scenario running on a bed, until kill()."""

    def __init__(self, bed, scen, args=(), timeout=READY_TIMEOUT):
        bed.probe()
        self.bed = bed
        self.scen = scen
        if bed.chroot:
            path = os.path.join(WORK.inside(bed), scen + ".py")
        else:
            path = os.path.join(SCEN, scen + ".py")
        self.path = path
        self.errf = tempfile.TemporaryFile()
        self.p = subprocess.Popen(bed.argv + [path] + [str(a) for a in args],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.errf)
        self.pid = None
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.expect = json.loads(self.wait_line("EXPECT ", timeout)[7:])
            self.pid = int(self.wait_line("READY ", 10).split()[1])
        except Exception:
            self.kill()
            raise
        if self.pid != self.p.pid:
            self.kill()
            raise Fail(f"READY pid {self.pid} is not the started process {self.p.pid}")
        for n in self.expect.get("notes", []):
            note(f"{scen}@{bed.label}: {n}")

    def _read(self):
        for raw in self.p.stdout:
            self.lines.put(raw.decode("utf-8", "replace"))
        self.lines.put(None)

    def wait_line(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail(f"{self.scen} on {self.bed.label}: no {prefix.strip()} line within {timeout}s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.errf.seek(0)
                raise Fail(f"{self.scen} on {self.bed.label} exited (rc {self.p.poll()}) before "
                           f"{prefix.strip()}: {short(self.errf.read(), 400)}")
            if line.startswith(prefix):
                return line.rstrip("\n")

    def send(self, text):
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()

    def kill(self):
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.p.wait(20)
        except subprocess.TimeoutExpired:
            pass
        self.errf.close()

    def alive(self):
        return self.p.poll() is None


# ---- running aps-bpf and the reference ---------------------------------------

class Run:
    def __init__(self, argv, rc, out, err, secs):
        self.argv, self.rc, self.outb, self.err, self.secs = argv, rc, out, err, secs
        self.out = out.decode("utf-8", "replace")

    def json(self):
        try:
            d = json.loads(self.out)
            return pstree_nest(d) if "nodes" in d else d
        except ValueError as e:
            raise Fail(f"{' '.join(self.argv[1:])}: not JSON ({e}): {short(self.out)} "
                       f"stderr {short(self.err)}")

    def ok(self, what=None):
        if self.rc != 0:
            raise Fail(f"{what or ' '.join(self.argv[1:])}: exit {self.rc}; stderr "
                       f"{short(self.err)!r}; stdout {short(self.out)!r}")
        return self


def run(argv, timeout, stdin=subprocess.DEVNULL):
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, stdin=stdin, capture_output=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        raise Fail(f"{' '.join(argv)} did not finish within {timeout}s")
    return Run(argv, r.returncode, r.stdout, r.stderr.decode("utf-8", "replace"),
               time.monotonic() - t0)


def aps(*args, timeout=APS_TIMEOUT):
    if not os.access(APS, os.X_OK):
        raise Fail(f"{APS} is not built (make)")
    return run([APS] + [str(a) for a in args], timeout)


# Runs inside sid's root as `python3.14 -c REF_CODE PID`: the data of
# asyncio.tools (3.14's `python -m asyncio ps|pstree`) as JSON.
REF_CODE = r'''
import json, sys
import asyncio.tools as T
pid = int(sys.argv[1])
try:
    res = T.get_all_awaited_by(pid)
except BaseException as e:
    while e.__context__ is not None:
        e = e.__context__
    print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
    sys.exit(0)
def fr(f):
    return [f.funcname, f.filename, f.lineno]
out = {"threads": [], "table": T.build_task_table(res)}
for a in res:
    tasks = []
    for t in a.awaited_by:
        tasks.append({"id": hex(t.task_id), "name": t.task_name,
                      "frames": [fr(f) for c in t.coroutine_stack for f in c.call_stack],
                      "awaited_by": [{"id": hex(c.task_name) if isinstance(c.task_name, int)
                                      else str(c.task_name),
                                      "frames": [fr(f) for f in c.call_stack]}
                                     for c in t.awaited_by]})
    out["threads"].append({"tid": a.thread_id, "tasks": tasks})
try:
    out["tree"] = ["\n".join(lines) for lines in T.build_async_tree(res)]
except T.CycleFoundException as e:
    out["cycles"] = [[hex(x) for x in c] for c in e.cycles]
print(json.dumps(out))
'''


def sid_bed(beds):
    for b in beds:
        if b.label == SID:
            return b
    raise Fail(f"no {SID} in {BED_FILE}")


def ref_data(sid, pid):
    PROC.ensure(sid)
    r = run(sid.argv + ["-c", REF_CODE, str(pid)], REF_TIMEOUT)
    if r.rc:
        raise Fail(f"reference (asyncio.tools) failed: rc {r.rc} {short(r.err)}")
    d = r.json()
    if "error" in d:
        raise Fail(f"reference (asyncio.tools) could not read pid {pid}: {d['error']}")
    return d


def ref_tool(sid, cmd, pid, timeout=REF_TIMEOUT):
    """`python3.14 -m asyncio ps|pstree PID`, as a user types it."""
    PROC.ensure(sid)
    return run(sid.argv + ["-m", "asyncio", cmd, str(pid)], timeout)


# ---- shapes --------------------------------------------------------------------

def ref_tasks(ref):
    out = {}
    for th in ref["threads"]:
        for t in th["tasks"]:
            t = dict(t, tid=th["tid"])
            out[t["id"]] = t
    return out


def ref_edges(ref):
    return {(t["id"], a["id"]) for t in ref_tasks(ref).values() for a in t["awaited_by"]}


def label_of(node):
    if node["kind"] == "task":
        return "(T) " + node["name"]
    if node["kind"] == "coro":
        return " " + node["frame"]
    return "(F) future " + node["future_id"]


def ours_paths(tree, relabel=None):
    """Root-to-leaf label paths of our pstree JSON, each [shown above]
    reference expanded with the subtree shown where the task was first
    printed (a path re-entering a task on it ends with "<cycle>")."""
    full, _ = tree_index(tree)
    relabel = relabel or label_of
    paths = set()

    def walk(node, path, on_path):
        if node["kind"] == "task" and node.get("ref"):
            if node["task_id"] not in full:
                paths.add(tuple(path + [relabel(node), "<ref to a task never shown>"]))
                return
            node = full[node["task_id"]]
        lab = relabel(node)
        if node["kind"] == "task" and node["task_id"] in on_path:
            paths.add(tuple(path + [lab, "<cycle>"]))
            return
        path = path + ([lab] if lab is not None else [])
        on = on_path | {node["task_id"]} if node["kind"] == "task" else on_path
        if not node["children"]:
            paths.add(tuple(path))
        for k in node["children"]:
            walk(k, path, on)
    for r in tree["roots"]:
        walk(r, [], frozenset())
    return paths


# what our pstree adds to a task's line beyond 3.14's (timer, child tasks, agent waits)
OUR_ANNOTATIONS = re.compile(r"(?m)^(.*\(T\) .*?)((?: \[\d+ tasks?\]| \[sleeping [0-9.]+ s\]"
                             r"| \[\u2265?[0-9.]+ s\]| \u26a0 stuck)+)( \[shown above\])?$")


def strip_annotations(text):
    """Our text tree without the annotations 3.14's has no equivalent of."""
    return OUR_ANNOTATIONS.sub(lambda m: m.group(1) + (m.group(3) or ""), text)


def text_paths(text):
    """Root-to-leaf label paths of a 3.14-style text tree."""
    paths = set()
    stack = []
    prev_depth = -1
    for line in strip_annotations(text).split("\n"):
        m = re.search("(└── |├── )", line)
        if not m:
            continue
        depth = m.start() // 4
        lab = line[m.end():]
        if depth <= prev_depth and stack:
            paths.add(tuple(stack))
        stack = stack[:depth] + [lab]
        prev_depth = depth
    if stack:
        paths.add(tuple(stack))
    return paths


def expand_text_refs(text):
    """Our text tree with each `(T) NAME [shown above]` replaced by the
    subtree printed under the first `(T) NAME` (names are unique in the
    park scenarios)."""
    lines = text.split("\n")
    entries = []
    for line in lines:
        m = re.search("(└── |├── )", line)
        if m:
            entries.append((m.start() // 4, line[m.end():]))
    sub = {}
    for i, (d, lab) in enumerate(entries):
        if lab.startswith("(T) ") and not lab.endswith(" [shown above]") and lab not in sub:
            kids = []
            for d2, lab2 in entries[i + 1:]:
                if d2 <= d:
                    break
                kids.append((d2 - d, lab2))
            sub[lab] = kids
    out = []

    def emit(d, lab, seen):
        if lab.endswith(" [shown above]"):
            base = lab[:-len(" [shown above]")]
            out.append((d, base))
            if base in seen:
                out.append((d + 1, "<cycle>"))
                return
            i = 0
            kids = sub.get(base, [])
            # re-emit the children with their own refs expanded
            while i < len(kids):
                rd, rl = kids[i]
                emit(d + rd, rl, seen | {base})
                # skip the rest of a subtree we just emitted for a ref
                j = i + 1
                if rl.endswith(" [shown above]"):
                    while j < len(kids) and kids[j][0] > rd:
                        j += 1
                i = j
            return
        out.append((d, lab))
    for d, lab in entries:
        emit(d, lab, frozenset())
    return "\n".join("    " * d + "└── " + lab for d, lab in out)


def check(errs):
    if errs:
        raise Fail(" | ".join(errs[:6]) + (f" | (+{len(errs) - 6} more)" if len(errs) > 6 else ""))


# ---- 1. parity with 3.14 ------------------------------------------------------

REF_TABLE_FMT = "{:<10} {:<20} {:<20} {:<50} {:<50} {:<15} {:<15}"
SID_SHAPES = {}     # scenario -> user-frame shape of 3.14's reference tree


def t_parity(beds, scen):
    sid = sid_bed(beds)
    tg = Target(sid, scen)
    try:
        ps = aps("ps", "--format", "json", tg.pid).ok().json()
        tree = aps("pstree", "--format", "json", tg.pid).ok().json()
        table = aps("ps", tg.pid).ok().out
        text = aps("pstree", tg.pid).ok().out
        ref = ref_data(sid, tg.pid)
        ref_table = ref_tool(sid, "ps", tg.pid)
        ref_text = ref_tool(sid, "pstree", tg.pid)
        alive = tg.alive()
    finally:
        tg.kill()
    if not alive:
        raise Fail("the scenario died while it was read")
    e = tg.expect
    want = exp_tasks(e)
    errs = []
    mine, theirs = ours_tasks(ps), ref_tasks(ref)
    raw_tree = ref.get("tree")
    # Known 3.14.10 limits, each allowed only in its exact form and noted:
    # (a) its get_all_awaited_by starts at the main thread and follows
    #     `next`, which leads to older threads only: tasks of other threads
    #     are never listed.  They are compared with EXPECT instead.
    hidden = set()
    if not any(t["tid"] != tg.pid for t in theirs.values()):
        hidden = {k for k, t in want.items() if t["tid"] != tg.pid}
        if hidden:
            note(f"parity:{scen}: 3.14.10's tool lists no task of a non-main thread "
                 f"({len(hidden)} tasks here); those are checked against the program's "
                 "EXPECT only")
    # (b) it reads a non-ASCII task name as NUL bytes: the name the
    #     program gave is used for it instead.
    fixes = {}
    for k, t in theirs.items():
        w = want.get(k)
        if w and w["name"] and not w["name"].isascii() and t["name"] != w["name"]:
            fixes[t["name"]] = w["name"]
            note(f"parity:{scen}: 3.14.10's tool reads the name {w['name']!r} as "
                 f"{t['name']!r}; compared with the program's name instead")
            t["name"] = w["name"]
    for row in ref["table"]:
        row[2] = fixes.get(row[2], row[2])
        row[5] = fixes.get(row[5], row[5])
    if raw_tree is not None:
        fixed = []
        for t in raw_tree:
            lines = t.split("\n")
            for i, line in enumerate(lines):
                for bad, good in fixes.items():
                    if line.endswith("(T) " + bad):
                        lines[i] = line[:-len(bad)] + good
            fixed.append("\n".join(lines))
        raw_tree = fixed
    keep = lambda k: k not in hidden
    name = {k: t["name"] for k, t in theirs.items()}
    nm = lambda i: f"{name.get(i, (want.get(i) or {}).get('name') or '?')}({i})"
    errs += diff_sets("tasks (id, name)",
                      {(k, t["task_name"]) for k, t in mine.items() if keep(k)},
                      {(k, t["name"]) for k, t in theirs.items()})
    errs += diff_sets("awaiter edges task->awaiter", {x for x in ours_edges(ps) if keep(x[0])},
                      ref_edges(ref), fmt=lambda x: f"{nm(x[0])}->{nm(x[1])}")
    for k in sorted(set(mine) & set(theirs)):
        a = frame_triples(mine[k]["coroutine_stack"])
        b = [tuple(f) for f in theirs[k]["frames"]]
        if a != b:
            errs.append(f"frames of {nm(k)}: ours {a} != 3.14 {b}")
        if mine[k]["tid"] != theirs[k]["tid"]:
            errs.append(f"tid of {nm(k)}: ours {mine[k]['tid']} != 3.14 {theirs[k]['tid']}")
        for a in mine[k]["awaiters"]:
            w = theirs.get(a["id"], {}).get("name", "Unknown")
            if a["name"] != w:
                errs.append(f"awaiter name of {nm(k)}: ours {a['name']!r} != 3.14 {w!r}")
    if ps.get("dropped"):
        errs.append(f"ps dropped {ps['dropped']} tasks of a static process")
    # pstree: root-to-leaf label paths, ours from JSON and from text (our
    # [shown above] references expanded), 3.14's from build_async_tree
    if raw_tree is None:
        errs.append(f"3.14 found cycles {ref.get('cycles')} in an acyclic scenario")
    else:
        hidden_roots = {"(T) " + mine[k]["task_name"] for k in hidden if k in mine}
        vis = lambda paths: {p for p in paths if p[0] not in hidden_roots}
        wantp = set()
        for t in raw_tree:
            wantp |= text_paths(t)
        errs += diff_sets("pstree json paths", vis(ours_paths(tree)), wantp,
                          fmt=lambda p: " / ".join(p))
        errs += diff_sets("pstree text paths", vis(text_paths(expand_text_refs(text))), wantp,
                          fmt=lambda p: " / ".join(p))
        SID_SHAPES[scen] = shape_of_paths(wantp, {k: t["name"] for k, t in theirs.items()}, e)
        if hidden:
            SID_SHAPES[scen] |= shape_of_paths(
                {p for p in ours_paths(tree) if p[0] in hidden_roots},
                {k: t["task_name"] for k, t in mine.items()}, e)
        ref_txt = "".join(t + "\n" for t in ref["tree"])
        if ref_text.rc != 0 or ref_text.out != ref_txt:
            errs.append(f"harness: `python3.14 -m asyncio pstree` (rc {ref_text.rc}) differs "
                        "from asyncio.tools' tree")
        _, count = tree_index(tree)
        many = [k for k, c in count.items() if c > 1]
        if many:
            errs.append(f"pstree expands tasks more than once: {[nm(k) for k in many]}")
        # without a shared task our text is 3.14's, byte for byte
        blocks = re.split(r"(?m)^(?=└── )", strip_annotations(text))
        ours_vis = "".join(b for b in blocks if b and b.split("\n")[0][4:] not in hidden_roots)
        want_txt = "".join(t + "\n" for t in raw_tree)
        if "[shown above]" not in text and ours_vis != want_txt:
            errs.append(f"pstree text is not 3.14's (no shared task in it): ours "
                        f"{short(ours_vis, 300)!r} vs 3.14 {short(want_txt, 300)!r}")
    errs += compare_tables(table, ref_table, ref, ps, hidden)
    errs += ["EXPECT: " + x for x in expect_errors(sid, scen, ps, tree, e)]
    check(errs)


def compare_tables(table, ref_table, ref, ps, hidden=()):
    """The 7 reference columns of our text table, as 3.14's formats them."""
    errs = []
    if ref_table.rc:
        return [f"`python3.14 -m asyncio ps` failed: rc {ref_table.rc} {short(ref_table.out)}"]
    rlines = ref_table.out.rstrip("\n").split("\n")
    olines = table.rstrip("\n").split("\n")
    if not olines[0].startswith(rlines[0].rstrip()):
        errs.append(f"header: ours {olines[0]!r} does not start with 3.14's {rlines[0]!r}")
    if not olines[1].startswith(rlines[1]):
        errs.append("no dashed rule under the header")
    rows = rlines[2:]
    built = [REF_TABLE_FMT.format(*r) for r in ref["table"]]     # names fixed
    if len(built) != len(rows):
        errs.append("harness: `python3.14 -m asyncio ps` rows differ from build_task_table")
    rrows = built
    orows = [l for l in olines[2:] if l.split()[1] not in hidden]
    if len(orows) != len(rrows):
        errs.append(f"table rows: ours {len(orows)}, 3.14 {len(rrows)}")
    unmatched = list(rrows)
    bad = []
    for line in orows:
        hit = None
        for r in unmatched:
            if line.startswith(r) and line[len(r):len(r) + 1] == " ":
                hit = r
                break
        if hit is None:
            bad.append(line)
        else:
            unmatched.remove(hit)
            rest = line[len(hit):].split()
            # waiting is known without --watch for a task in asyncio.sleep (its timer)
            if rest[:2] != ["pending", "?"] or (rest[2] != "?" and " sleep" not in " " + hit.split("  ")[0] + " "
                                                  and "sleep ->" not in hit):
                errs.append(f"state/age/waiting columns without --watch: {rest[:3]}")
    if bad or unmatched:
        # say which column differs, row by row, for the first mismatch
        for line in bad[:1]:
            tid_id = line.split()[:2]
            cand = [r for r in ref["table"] if [str(r[0]), r[1]] == tid_id]
            cols = ["tid", "task id", "task name", "coroutine stack", "awaiter chain",
                    "awaiter name", "awaiter id"]
            if cand:
                want = REF_TABLE_FMT.format(*cand[0])
                widths = [10, 20, 20, 50, 50, 15, 15]
                pos = 0
                for c, w, v in zip(cols, widths, cand[0]):
                    seg = str(v).ljust(w) + " "
                    if line[pos:pos + len(seg)] != seg:
                        got = line[pos:pos + len(seg)]
                        hint = ""
                        if got.startswith(str(v)):
                            hint = (f" (same text, padded to {w} bytes of UTF-8 where 3.14 "
                                    f"pads to {w} characters)"
                                    if len(str(v).encode()) > len(str(v)) else " (padding)")
                        errs.append(f"table column {c!r} of task {tid_id[1]}: 3.14 {str(v)!r}, "
                                    f"ours {got.rstrip()!r}{hint}")
                        break
                    pos += len(seg)
                else:
                    errs.append(f"table row {line!r} vs 3.14 {want!r}")
            else:
                errs.append(f"table row of ours not in 3.14's: {line!r}")
        if unmatched and not bad:
            errs.append(f"3.14 table rows missing from ours: {unmatched[:2]}")
    return errs


# ---- 2. the same tree on every interpreter -----------------------------------

def shape_of_paths(paths, id2name, expect):
    """A version-independent shape of a tree given as label paths: task
    labels with unnamed tasks as Task-*, coroutine labels reduced to the
    function names of the user's own frames (park_*.py), the rest dropped."""
    unnamed = {t["id"] for t in expect["tasks"] if t["name"] is None}
    unnamed_names = {id2name[i] for i in unnamed if i in id2name}
    out = set()
    for p in paths:
        q = []
        for lab in p:
            if lab.startswith("(T) "):
                n = lab[4:]
                q.append("(T) Task-*" if n in unnamed_names else lab)
            elif lab.startswith(" "):
                m = re.match(r" (\S+) (.*):(-?\d+)$", lab)
                if m and os.path.basename(m.group(2)).startswith("park_"):
                    q.append(m.group(1))
            else:
                q.append(lab)
        out.add(tuple(q))
    return out


def t_tree(beds, bed, scen):
    tg = Target(bed, scen)
    try:
        ps = aps("ps", "--format", "json", tg.pid).ok().json()
        tree = aps("pstree", "--format", "json", tg.pid).ok().json()
        alive = tg.alive()
    finally:
        tg.kill()
    if not alive:
        raise Fail("the scenario died while it was read")
    check(expect_errors(bed, scen, ps, tree, tg.expect))


def expect_errors(bed, scen, ps, tree, e):
    """ps and pstree JSON vs what the scenario program knows."""
    errs = tree_problems(ps, tree, e, bed.version, note=lambda t: note(f"{bed.label}: {t}"))
    mine = ours_tasks(ps)
    # the user-frame shape of the tree, vs 3.14's reference on this scenario
    if bed.label != SID and scen not in SID_SHAPES:
        try:
            t_parity([b for b in ALL_BEDS if b.label == SID], scen)   # records the shape
        except Fail:
            pass
    if scen in SID_SHAPES:
        vlog(f"3.14 shape of {scen}: {sorted(SID_SHAPES[scen])}")
        shape = shape_of_paths(ours_paths(tree), {k: t["task_name"] for k, t in mine.items()}, e)
        errs += diff_sets(f"tree shape vs 3.14's (user frames)", shape, SID_SHAPES[scen],
                          fmt=lambda p: " / ".join(p))
    else:
        note(f"tree:{scen}@{bed.label}: no 3.14 reference shape to compare with")
    return errs


# ---- 3. a cycle ------------------------------------------------------------------

def t_cycle(beds, bed):
    tg = Target(bed, "park_cycle")
    ref = None
    try:
        text = aps("pstree", tg.pid)
        fail = aps("pstree", "--fail-on-cycle", tg.pid)
        tree = aps("pstree", "--format", "json", tg.pid)
        failj = aps("pstree", "--format", "json", "--fail-on-cycle", tg.pid)
        ps = aps("ps", "--format", "json", tg.pid).ok().json()
        if bed.label == SID:
            ref = ref_data(bed, tg.pid)
            ref_cli = ref_tool(bed, "pstree", tg.pid)
    finally:
        tg.kill()
    e = tg.expect
    byname = {t["name"]: t["id"] for t in e["tasks"] if t["name"]}
    errs = []
    if text.rc != 0:
        errs.append(f"pstree exit {text.rc} on a cycle, expected 0: {short(text.err)}")
    if fail.rc != 3:
        errs.append(f"pstree --fail-on-cycle exit {fail.rc}, expected 3")
    if failj.rc != 3:
        errs.append(f"pstree --format json --fail-on-cycle exit {failj.rc}, expected 3")
    # (a sleep's time left is read anew each run: compare without it)
    if strip_annotations(fail.out) != strip_annotations(text.out):
        errs.append("--fail-on-cycle changed what is printed")
    out = text.out
    head, sep, dead = out.partition("DEADLOCK")
    rings = (("cycle.A", "cycle.B"), ("ring.X", "ring.Y"), ("tri.P", "tri.Q", "tri.R"))
    edges = exp_edges(e)
    awaits = lambda u, v: (byname[v], byname[u]) in edges      # u awaits v
    id2name = {t["id"]: t["name"] for t in e["tasks"]}
    if not sep:
        errs.append(f"no DEADLOCK section: {short(out, 400)!r}")
    else:
        lines = [l for l in dead.split("\n") if l.startswith("cycle")]
        for ring in rings:
            hit = [l for l in lines if all(n + " (" in l for n in ring)]
            if len(hit) != 1:
                errs.append(f"DEADLOCK section: {len(hit)} cycle lines naming {ring}: {dead!r}")
                continue
            names = re.findall(r"(\S+) \(0x[0-9a-f]+\)", hit[0])
            if names[0] != names[-1] or len(names) != len(ring) + 1 or \
                    not all(awaits(u, v) for u, v in zip(names, names[1:])):
                errs.append(f"DEADLOCK line {hit[0]!r}: not a path where each task awaits "
                            "the next")
    if len(re.findall(r"(?m)^cycle", dead)) != len(rings):
        errs.append(f"DEADLOCK section lists {len(re.findall(r'(?m)^cycle', dead))} cycles, "
                    f"expected {len(rings)}")
    for n in ("normal", "into.cycle") + tuple(n for r in rings for n in r):
        if f"(T) {n}" not in head:
            errs.append(f"the tree before DEADLOCK lacks (T) {n}")
    if "sleeper" not in head:
        errs.append("the tree lacks normal's frames (sleeper)")
    errs += diff_sets("edges task->awaiter", ours_edges(ps), edges)
    want_cycles = {frozenset(byname[n] for n in r) for r in rings}
    try:
        tj = tree.json()
        cycles = tj.get("cycles") or []
        got = set()
        for c in cycles:
            ids = [x["task_id"] for x in c]
            if ids[0] != ids[-1] or not all((v, u) in edges for u, v in zip(ids, ids[1:])):
                errs.append(f"JSON cycle {[x['name'] for x in c]}: not a path where each task "
                            "awaits the next")
            if [x["name"] for x in c] != [id2name.get(i) for i in ids]:
                errs.append(f"JSON cycle names {[x['name'] for x in c]} do not match the ids")
            got.add(frozenset(ids))
        if got != want_cycles or len(cycles) != len(rings):
            errs.append(f"pstree JSON cycles {[[x['name'] for x in c] for c in cycles]}, "
                        f"expected {rings}")
        full, count = tree_index(tj)
        errs += diff_sets("pstree JSON tasks", set(full), {t["id"] for t in e["tasks"]})
        if any(c != 1 for c in count.values()):
            errs.append("pstree JSON expands a task more than once")
    except Fail as x:
        errs.append(str(x))
    if ref is not None:
        if "cycles" not in ref:
            errs.append("3.14's tools found no cycle (harness)")
        else:
            rc = {frozenset(c) for c in ref["cycles"]}
            if rc != want_cycles:
                errs.append(f"cycles: 3.14 {rc}, the program's {want_cycles}")
        if ref_cli.rc != 1 or "cycle" not in ref_cli.err:
            errs.append(f"3.14's pstree on a cycle: rc {ref_cli.rc} {short(ref_cli.err)} "
                        "(expected: exit 1, refuses)")
    check(errs)


# ---- 4. scale --------------------------------------------------------------------

def t_scale(beds, label, n):
    sid = sid_bed(beds)
    t0 = time.monotonic()
    tg = Target(sid, "park_many", [n])
    made = time.monotonic() - t0
    errs = []
    try:
        e = tg.expect
        psj = aps("ps", "--format", "json", tg.pid)
        tree = aps("pstree", "--format", "json", tg.pid)
        table = aps("ps", tg.pid)
        ref = ref_tool(sid, "ps", tg.pid)
        alive = tg.alive()
    finally:
        tg.kill()
    if not alive:
        raise Fail("the scenario died while it was read")
    ref_status = "ok"
    if ref.rc != 0:
        first = (ref.out + ref.err).strip().split("\n")[-1]
        ref_status = f"FAILED rc {ref.rc}: {first[:90]}"
        if "corrupted" in ref.out + ref.err:
            note(f"scale:{label}: 3.14's `python -m asyncio ps` failed as expected of 3.14.10: "
                 f"{first[:120]}")
    else:
        rows = len(ref.out.rstrip("\n").split("\n")) - 2
        ref_status = f"ok, {rows} rows"
    ours_status = "ok" if psj.rc == table.rc == tree.rc == 0 else \
        "FAILED: " + short(psj.err or table.err or tree.err, 70)
    TIMINGS.append((label, e["total"], psj.secs, table.secs, tree.secs, ours_status, ref.secs,
                    ref_status, made))
    for r, what in ((psj, "ps --format json"), (tree, "pstree --format json"), (table, "ps")):
        if r.rc:
            errs.append(f"{what}: exit {r.rc}: {short(r.err)}")
    check(errs)
    ps = psj.json()
    tasks = ps["tasks"]
    names = {t["task_name"]: t for t in tasks}
    leaves = [t for t in tasks if t["task_name"].startswith("leaf-")]
    groups = [t for t in tasks if t["task_name"].startswith("grp-")]
    if len(tasks) != e["total"] or len(leaves) != e["leaves"] or len(groups) != e["groups"]:
        errs.append(f"ps: {len(tasks)} tasks ({len(leaves)} leaves, {len(groups)} groups), "
                    f"expected {e['total']} ({e['leaves']}, {e['groups']})")
    if ps.get("dropped"):
        errs.append(f"ps dropped {ps['dropped']}")
    bad = 0
    for t in leaves:
        i = t["task_name"].split("-")[1]
        g = names.get(f"grp-{i}")
        if not g or [a["id"] for a in t["awaiters"]] != [g["task_id"]] or \
                [f["func"] for f in t["coroutine_stack"]] != ["sleep", "leaf"]:
            bad += 1
    if bad:
        errs.append(f"{bad} leaves without their group as only awaiter or with other frames")
    main = [t for t in tasks if not t["awaiters"]]
    if len(main) != 1 or any([a["id"] for a in g["awaiters"]] != [main[0]["task_id"]]
                             for g in groups):
        errs.append("groups are not all awaited by the one main task")
    tj = tree.json()
    full, count = tree_index(tj)
    if len(full) != e["total"] or any(c != 1 for c in count.values()):
        errs.append(f"pstree JSON shows {len(full)} tasks ({sum(count.values())} times), "
                    f"expected {e['total']} once each")
    if len(tj["roots"]) != 1:
        errs.append(f"pstree JSON has {len(tj['roots'])} roots, expected 1 (main)")
    rows = table.out.rstrip("\n").split("\n")
    if len(rows) - 2 != e["total"]:
        errs.append(f"ps table has {len(rows) - 2} rows, expected {e['total']}")
    check(errs)


def t_collapse(beds):
    """pstree --collapse N folds N or more alike sibling leaves (off by default)."""
    sid = sid_bed(beds)
    tg = Target(sid, "park_many", [1000])
    try:
        plain = aps("pstree", tg.pid).ok().out
        text = aps("pstree", "--collapse", "100", tg.pid).ok().out
        high = aps("pstree", "--collapse", "101", tg.pid).ok().out
        tj = aps("pstree", "--format", "json", "--collapse", "100", tg.pid).ok().json()
    finally:
        tg.kill()
    errs = []
    folded = [l for l in text.split("\n") if re.search(r"\(T\) \[\S+ 100 like leaf-\d+-\d+\]", l)]
    if len(folded) != 10:
        errs.append(f"--collapse 100: {len(folded)} folded lines, expected 10 (one per group): "
                    f"{short(text, 300)!r}")
    if "like" in plain or "like" in high:
        errs.append("leaves folded without --collapse or with N above the group size")
    if plain.count("(T) leaf-") != 1000 or high.count("(T) leaf-") != 1000:
        errs.append("without folding, not every leaf is printed")
    likes = []

    def walk(n):
        if n.get("like"):
            likes.append(n["like"])
        for k in n["children"]:
            walk(k)
    for r in tj["roots"]:
        walk(r)
    if likes != [100] * 10:
        errs.append(f"JSON --collapse 100: like counts {likes}, expected ten 100s")
    check(errs)


CHURN_READS = 12


def t_churn(beds, bed):
    """Reads that race a storm of task creation and completion: every run
    exits 0 with whole JSON; the parked tasks are always there, exact; every
    other task is the churner or a churn-<n> task with their frames."""
    tg = Target(bed, "park_churn")
    runs = []
    try:
        time.sleep(0.3)
        for i in range(CHURN_READS):
            runs.append(aps("ps", "--format", "json", tg.pid))
            if i % 3 == 0:
                runs.append(aps("pstree", "--format", "json", tg.pid))
        alive = tg.alive()
    finally:
        tg.kill()
    if not alive:
        raise Fail("the scenario died")
    e = tg.expect
    want = exp_tasks(e)
    user = {"churn", "work"}
    errs = []
    dropped = 0
    seen_churn = 0
    for r in runs:
        if r.rc != 0:
            errs.append(f"{' '.join(r.argv[1:3])}: exit {r.rc}: {short(r.err, 150)}")
            continue
        try:
            d = json.loads(r.out)
        except ValueError:
            errs.append(f"{' '.join(r.argv[1:3])}: output is not JSON: {short(r.out, 150)!r}")
            continue
        dropped += d.get("dropped") or 0
        if "nodes" in d:
            full, count = tree_index(pstree_nest(d))
            if not set(want) <= set(full):
                errs.append(f"pstree lost a parked task: {sorted(set(want) - set(full))}")
            if any(c != 1 for c in count.values()):
                errs.append("pstree expands a task twice")
            continue
        mine = ours_tasks(d)
        for k, w in want.items():
            o = mine.get(k)
            if o is None:
                errs.append(f"ps lost the parked task {w['name'] or 'main'}")
                continue
            if (w["name"] and o["task_name"] != w["name"]) or \
                    frame_triples(o["coroutine_stack"]) != frame_triples(w["frames"]) or \
                    sorted(a["id"] for a in o["awaiters"]) != sorted(w["awaiters"]):
                errs.append(f"parked task {o['task_name']} read wrong: {short(json.dumps(o), 200)}")
        for k, o in mine.items():
            if k in want:
                continue
            n = o["task_name"]
            if n != "churner" and not re.fullmatch(r"churn-\d+", n):
                errs.append(f"a task named {n!r} (garbage?)")
                continue
            seen_churn += n != "churner"
            funcs = [f["func"] for f in o["coroutine_stack"]
                     if os.path.basename(f["file"]).startswith("park_")]
            # a stack that kept moving while read is left empty (by design)
            if o["coroutine_stack"] and (not set(funcs) <= user or
                                         (n == "churner") != (funcs[-1:] == ["churn"])):
                errs.append(f"{n}: frames {o['coroutine_stack']}")
            for a in o["awaiters"]:
                if mine.get(a["id"], {}).get("task_name", "churner") != "churner":
                    errs.append(f"{n} awaited by {a['name']!r}, not the churner")
    note(f"churn@{bed.label}: {len(runs)} reads saw {seen_churn} churn tasks in all, "
         f"{dropped} tasks left out as changed while read")
    vlog(f"churn@{bed.label}: {len(runs)} reads, {seen_churn} churn tasks seen, "
         f"{dropped} dropped as changed")
    check(sorted(set(errs), key=errs.index))


# ---- 5. untrusted names -------------------------------------------------------

ESC_NAMES = ["\x1b]0;pwned\x07", "two\nlines", "tab\there\r", "bell\x07\x1b[31mred"]
LONG_NAME = "long-" + "0123456789" * 100


def unescape(s):
    return re.sub(r"\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})",
                  lambda m: chr(int(m.group(1) or m.group(2), 16)), s)


def has_controls(b, allow=b"\n"):
    return [hex(c) for c in sorted(set(b)) if (c < 0x20 or c == 0x7f) and bytes([c]) not in allow]


def t_escape(beds, bed):
    tg = Target(bed, "park_escape")
    try:
        table = aps("ps", tg.pid).ok()
        csv = aps("ps", "--format", "csv", tg.pid).ok()
        text = aps("pstree", tg.pid).ok()
        psj = aps("ps", "--format", "json", tg.pid).ok()
        tree = aps("pstree", "--format", "json", tg.pid).ok()
    finally:
        tg.kill()
    errs = []
    for r, what in ((table, "ps table"), (csv, "ps csv"), (text, "pstree text"),
                    (psj, "ps json"), (tree, "pstree json")):
        bad = has_controls(r.outb)
        if bad:
            errs.append(f"{what}: raw control bytes {bad} in stdout")
    if b"\\x1b]0;pwned\\x07" not in table.outb:
        errs.append(f"ps table does not show the name escaped as \\x1b]0;pwned\\x07: "
                    f"{short(table.outb, 400)!r}")
    if b"\\x1b]0;pwned\\x07" not in text.outb:
        errs.append("pstree text does not show \\x1b]0;pwned\\x07")
    got = {t["task_name"] for t in psj.json()["tasks"]}
    for n in ESC_NAMES:
        hits = [g for g in got if unescape(g) == n]
        if not hits:
            errs.append(f"ps json: no name that unescapes to {n!r}: {sorted(got)}")
        elif any(has_controls(h.encode(), b"") for h in hits):
            errs.append(f"ps json: name {hits[0]!r} decodes to control characters")
    full, _ = tree_index(tree.json())
    for t in full.values():
        if has_controls(t["name"].encode(), b""):
            errs.append(f"pstree json: name {t['name']!r} decodes to control characters")
    # a long name is cut, with a mark
    long = [g for g in got if g.startswith("long-")]
    if len(long) != 1 or not long[0].endswith("\u2026") or \
            not LONG_NAME.startswith(long[0][:-1]) or len(long[0].encode()) > 256:
        errs.append(f"the 1005-character name is not cut with a mark (…) within 256 bytes: "
                    f"{[short(x, 60) for x in long]}")
    check(errs)


# ---- 6. bad input ----------------------------------------------------------------

def free_pid():
    for pid in (999999, 999998, 999997, 3999999):
        if not os.path.exists(f"/proc/{pid}"):
            return pid
    raise Fail("no unused pid found")


def t_no_such_pid(beds):
    pid = free_pid()
    errs = []
    for cmd in (["ps"], ["pstree"], ["ps", "--format", "json"]):
        r = aps(*cmd, pid)
        if r.rc != 1 or not re.search("no such process", r.err, re.I):
            errs.append(f"{' '.join(cmd)} {pid}: exit {r.rc}, stderr {short(r.err)!r} "
                        "(expected exit 1, 'no such process')")
    check(errs)


def t_not_python(beds):
    p = subprocess.Popen(["sleep", "60"])
    errs = []
    try:
        time.sleep(0.2)
        for cmd in (["ps"], ["pstree"]):
            r = aps(*cmd, p.pid)
            if r.rc != 1 or not re.search("not a python", r.err, re.I):
                errs.append(f"{' '.join(cmd)} PID-of-sleep: exit {r.rc}, stderr "
                            f"{short(r.err)!r} (expected exit 1, 'not a Python')")
    finally:
        p.kill()
        p.wait()
    check(errs)


def t_no_asyncio(beds, bed):
    tg = Target(bed, "park_noasyncio")
    errs = []
    try:
        for cmd in (["ps"], ["pstree"]):
            r = aps(*cmd, tg.pid)
            if r.rc != 0 or "no asyncio tasks" not in r.out:
                errs.append(f"{' '.join(cmd)}: exit {r.rc}, stdout {short(r.out)!r}, stderr "
                            f"{short(r.err)!r} (expected exit 0, 'no asyncio tasks')")
            vlog(f"{' '.join(cmd)}: {r.out.strip()}")
        # the machine formats answer with an empty result, still parseable
        for cmd, key in ((["ps", "--format", "json"], "tasks"),
                         (["pstree", "--format", "json"], "nodes")):
            r = aps(*cmd, tg.pid)
            try:
                empty = r.rc == 0 and json.loads(r.out)[key] == []
            except (ValueError, KeyError, TypeError):
                empty = False
            if not empty:
                errs.append(f"{' '.join(cmd)}: exit {r.rc}, stdout {short(r.out)!r} "
                            f"(expected exit 0 and an empty {key} list)")
        r = aps("ps", "--format", "csv", tg.pid)
        if r.rc != 0 or r.out.strip().count("\n") != 0 or not r.out.startswith("tid,"):
            errs.append(f"ps --format csv: exit {r.rc}, stdout {short(r.out)!r} (expected "
                        "exit 0 and the header only)")
        alive = tg.alive()
    finally:
        tg.kill()
    if not alive:
        errs.append("the target died")
    check(errs)


# usage errors: the usage text on stderr
USAGE = [["ps"], ["pstree"], ["ps", "1", "2"], ["ps", "--collapse", "5", "1"],
         ["ps", "--fail-on-cycle", "1"], ["ps", "--bogus", "1"], ["ps", "-5"]]
# bad values: one line naming the option and what it wants (issue 15, item 14)
BAD_VALUES = [
    (["ps", "abc"], "PID", "abc"), (["ps", "0"], "PID", "0"),
    (["ps", "12abc"], "PID", "12abc"),
    (["ps", "--format", "text", "1"], "--format", "text"),
    (["pstree", "--format", "csv", "1"], "--format", "csv"),
    (["pstree", "--format", "table", "1"], "--format", "table"),
    (["ps", "--format", "bogus", "1"], "--format", "bogus"),
    (["pstree", "--collapse", "1", "1"], "--collapse", "1"),
    (["pstree", "--collapse", "x", "1"], "--collapse", "x"),
    (["ps", "--watch", "0", "1"], "--watch", "0"), (["ps", "--watch", "abc", "1"], "--watch", "abc"),
]


def t_usage(beds):
    errs = []
    for cmd in USAGE:
        r = aps(*cmd)
        if r.rc != 2 or "usage" not in r.err:
            errs.append(f"`{' '.join(cmd)}`: exit {r.rc} (expected 2 and usage on stderr; "
                        f"stderr {short(r.err, 80)!r})")
    for cmd, opt, val in BAD_VALUES:
        r = aps(*cmd)
        lines = r.err.splitlines()
        if (r.rc != 2 or len(lines) != 1 or
                not lines[0].startswith(f"aps-bpf: {cmd[0]}: {opt} wants ") or
                not lines[0].endswith(f", got '{val}'")):
            errs.append(f"`{' '.join(cmd)}`: exit {r.rc} (expected 2 and one line naming {opt} "
                        f"and '{val}'; stderr {short(r.err, 120)!r})")
    r = aps("ps", "--help")
    if r.rc != 0 or "usage" not in r.out:
        errs.append(f"ps --help: exit {r.rc}")
    check(errs)


# ---- 7. --watch ------------------------------------------------------------------

def t_watch(beds, bed):
    tg = Target(bed, "park_tick")
    errs = []
    try:
        p = subprocess.Popen([APS, "ps", "--watch", str(WATCH_SECONDS), "--format", "json",
                              str(tg.pid)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=REPO)
        err_lines = queue.Queue()

        def rd():
            for l in p.stderr:
                err_lines.put(l.decode("utf-8", "replace"))
            err_lines.put(None)
        threading.Thread(target=rd, daemon=True).start()
        seen = []
        deadline = time.monotonic() + 30
        while True:
            try:
                l = err_lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                l = None
            if l is None:
                p.kill()
                p.wait()
                raise Fail(f"aps-bpf ps --watch never said it was watching: {''.join(seen)[-300:]}")
            seen.append(l)
            if "watching" in l:
                break
        t_go = time.monotonic()
        tg.send("go\n")
        tg.wait_line("WENT", 10)
        try:
            out, _ = p.communicate(timeout=WATCH_SECONDS + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise Fail("ps --watch did not finish")
        since_go = time.monotonic() - t_go
    finally:
        tg.kill()
    if p.returncode:
        raise Fail(f"ps --watch exit {p.returncode}: {''.join(seen)[-300:]}")
    try:
        ps = json.loads(out)
    except ValueError as e:
        raise Fail(f"ps --watch --format json: not JSON: {short(out)}")
    byname = {t["task_name"]: t for t in ps["tasks"]}
    main = [t for t in ps["tasks"] if t["task_name"].startswith("Task-")]
    limit = (since_go + 0.5) * 1e9
    window = (WATCH_SECONDS + 1.0) * 1e9

    def need(name, key, known, lo=0, hi=None):
        t = byname.get(name)
        if t is None:
            errs.append(f"no task {name}: {sorted(byname)}")
            return
        v = t.get(key)
        if not known:
            if v is not None:
                errs.append(f"{name}: {key} {v}, expected null (not seen in the window)")
        elif v is None:
            errs.append(f"{name}: {key} null, expected a value (seen in the window)")
        elif not lo <= v <= (hi or window):
            errs.append(f"{name}: {key} {v / 1e9:.3f}s out of [{lo / 1e9:.3f}, "
                        f"{(hi or window) / 1e9:.3f}]s")
    need("late", "age_ns", True, 1, limit)          # created in the window
    need("late", "waiting_ns", True, 1, limit)
    need("old", "age_ns", False)                    # parked long before
    need("old", "waiting_ns", False)
    need("rewait", "age_ns", False)                 # created before, re-parked in the window
    need("rewait", "waiting_ns", True, 1, limit)
    need("ticker", "age_ns", False)
    need("ticker", "waiting_ns", True, 1, 0.5e9)    # a 50 ms sleep began in the window
    if len(main) != 1:
        errs.append(f"main task not found: {sorted(byname)}")
    else:
        if main[0]["age_ns"] is not None or main[0]["waiting_ns"] is not None:
            errs.append(f"main (parked in gather before the window): age {main[0]['age_ns']}, "
                        f"waiting {main[0]['waiting_ns']}, expected null")
    # the loop runs on the main thread (3.10 too: its pthread, or the steps seen)
    wrong = {t["task_name"]: t["tid"] for t in ps["tasks"] if t["tid"] != tg.pid}
    if wrong:
        errs.append(f"tids {wrong}, expected the main thread {tg.pid}")
    tick = byname.get("ticker")
    if tick and not (tick.get("steps") or 0) >= 10:
        errs.append(f"ticker: {tick.get('steps')} steps in {WATCH_SECONDS}s of 50 ms ticks")
    for n in ("late", "rewait"):
        t = byname.get(n)
        if t and t.get("state") != "awaiting":
            errs.append(f"{n}: state {t.get('state')!r}, expected awaiting")
    check(errs)


# ---- deep stacks -------------------------------------------------------------------

DEEP = 2000         # coroutines in the chain: more than ps keeps (128 frames)


def t_deep(beds, bed):
    """A 2002-frame stack: innermost and outermost kept, the gap marked and counted."""
    tg = Target(bed, "park_deep", args=(DEEP,))
    try:
        ps = aps("ps", "--format", "json", tg.pid)
        tree = aps("pstree", tg.pid)
        tree_json = aps("pstree", "--format", "json", tg.pid)
    finally:
        tg.kill()
    errs = []
    for r in (ps, tree, tree_json):
        if r.rc:
            raise Fail(f"{' '.join(r.argv[1:])} exit {r.rc}: {r.err.strip()[-200:]}")
    e = tg.expect
    deep = [t for t in json.loads(ps.out)["tasks"] if t["task_name"] == e["task"]]
    if len(deep) != 1:
        raise Fail(f"task {e['task']} not listed once: {short(ps.out)}")
    t = deep[0]
    cs = t["coroutine_stack"]
    gaps = [i for i, f in enumerate(cs) if "omitted" in f]
    real = [f for f in cs if "omitted" not in f]
    if len(cs) > 128:
        errs.append(f"{len(cs)} frames listed, more than 128")
    if not cs or cs[0]["func"] != "sleep":
        errs.append(f"innermost frame {cs[:1]}, expected sleep (the task waits on it)")
    if cs and [cs[-1].get("func"), cs[-1].get("file"), cs[-1].get("line")] != e["outer"]:
        errs.append(f"outermost frame {cs[-1:]}, expected {e['outer']}")
    if len(gaps) != 1:
        errs.append(f"{len(gaps)} gap markers, expected 1")
    else:
        g = cs[gaps[0]]
        want = e["frames"] - len(real)
        if g["omitted"] != want or t.get("frames_omitted") != want:
            errs.append(f"gap of {g['omitted']} (frames_omitted {t.get('frames_omitted')}), "
                        f"expected {want}: {e['frames']} frames, {len(real)} listed")
        if g["func"] != f"\u2026 {want} frames \u2026":
            errs.append(f"gap marker {g['func']!r}")
        if f"\u2026 {want} frames \u2026" not in tree.out:
            errs.append("the pstree text does not mark the gap")
        if f"\u2026 {want} frames \u2026" not in tree_json.out:
            errs.append("the pstree JSON does not mark the gap")
    if "sleep " not in tree.out:
        errs.append("the pstree text has no sleep frame")
    check(errs)
    note(f"deep@{bed.label}: {e['frames']} frames, {len(real)} listed, gap at {gaps}")


# ---- long await chains -------------------------------------------------------------

CHAIN = 10000       # tasks, each awaiting the next


def t_chain(beds, bed):
    """pstree --format json of a 10,000-task chain loads in Python's json and in jq."""
    tg = Target(bed, "park_chain", args=(CHAIN,), timeout=120)
    try:
        tree = aps("pstree", "--format", "json", tg.pid, timeout=300)
    finally:
        tg.kill()
    if tree.rc:
        raise Fail(f"pstree --format json exit {tree.rc}: {tree.err.strip()[-200:]}")
    try:
        d = json.loads(tree.out)
    except (ValueError, RecursionError) as e:
        raise Fail(f"Python's json cannot load it: {type(e).__name__}: {str(e)[:100]}")
    jq = shutil.which("jq")
    if not jq:
        raise Fail("jq is not installed (apt-get install jq)")
    r = subprocess.run([jq, "[.nodes[] | select(.kind == \"task\")] | length"],
                       input=tree.outb, capture_output=True, timeout=120)
    if r.returncode or r.stdout.decode().strip() != str(CHAIN + 1):
        raise Fail(f"jq: exit {r.returncode}, {r.stdout.decode().strip()!r} tasks "
                   f"(expected {CHAIN + 1}): {r.stderr.decode()[-200:]}")
    # each chain-k is under chain-(k-1): the task node above it is its awaiter
    byid = {n["id"]: n for n in d["nodes"]}
    errs = []
    for n in d["nodes"]:
        if n["kind"] != "task" or not n["name"].startswith("chain-"):
            continue
        k = int(n["name"][6:])
        up = byid.get(n["parent"])
        while up is not None and up["kind"] != "task":
            up = byid.get(up["parent"])
        want = f"chain-{k - 1}" if k else None
        got = up["name"] if up else None
        if got != want and not (k == 0 and got and got.startswith("Task-")):
            errs.append(f"chain-{k} is under {got}, expected {want}")
    check(errs)
    note(f"chain@{bed.label}: {len(d['nodes'])} nodes, {len(tree.outb)} bytes")


# ---- the runner ------------------------------------------------------------------

def build_tests(beds):
    tests = []
    for s in TREE_SCENARIOS:
        tests.append((f"parity:{s}@{SID}", t_parity, (s,)))
    for s in TREE_SCENARIOS:
        for b in beds:
            tests.append((f"tree:{s}@{b.label}", t_tree, (b, s)))
    for b in beds:
        tests.append((f"cycle@{b.label}", t_cycle, (b,)))
    for label, n in SCALES:
        tests.append((f"scale:{label}@{SID}", t_scale, (label, n)))
    tests.append((f"collapse@{SID}", t_collapse, ()))
    for b in beds:
        tests.append((f"churn@{b.label}", t_churn, (b,)))
    for b in beds:
        tests.append((f"escape@{b.label}", t_escape, (b,)))
    tests.append(("badinput:no-such-pid", t_no_such_pid, ()))
    tests.append(("badinput:not-python", t_not_python, ()))
    for b in beds:
        tests.append((f"badinput:no-asyncio@{b.label}", t_no_asyncio, (b,)))
    tests.append(("badinput:usage", t_usage, ()))
    for b in beds:
        tests.append((f"watch@{b.label}", t_watch, (b,)))
    for b in beds:
        tests.append((f"deep@{b.label}", t_deep, (b,)))
    for b in beds:
        tests.append((f"chain@{b.label}", t_chain, (b,)))
    return tests


def print_timings():
    if not TIMINGS:
        return
    print("TIMING wall seconds, ours and 3.14's tool on the same sid python3.14 process per row")
    print("TIMING  tasks           ours: ps    ps json  pstree json   | python3.14 -m asyncio ps")
    for label, total, pj, pt, tj, ours, ref, status, made in TIMINGS:
        print(f"TIMING  {label:>4} ({total:>6})  {pt:8.3f}  {pj:8.3f}  {tj:8.3f} [{ours}]"
              f"   | {ref:8.3f} [{status}]   (setup {made:.1f}s)")


def main():
    global VERBOSE
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", action="append", default=[])
    ap.add_argument("--bed", action="append", default=[])
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.v
    if os.geteuid() != 0:
        print("FAIL setup: run as root")
        print("0 passed, 1 failed")
        return 1
    with open(BED_FILE) as f:
        beds = [Bed(d) for d in json.load(f)]
    ALL_BEDS[:] = beds
    if args.bed:
        beds = [b for b in beds if b.label in args.bed or b.label == SID]
    passed = failed = 0
    t_start = time.monotonic()
    try:
        for name, fn, fargs in build_tests(beds):
            if args.k and not any(k in name for k in args.k):
                continue
            if args.bed and "@" in name and name.split("@")[1] not in args.bed:
                continue
            t0 = time.monotonic()
            try:
                fn(beds, *fargs)
                print(f"PASS {name}", flush=True)
                passed += 1
            except Exception as e:      # a harness error is a failure too
                why = str(e) if isinstance(e, Fail) else f"{type(e).__name__}: {e}"
                print(f"FAIL {name}: {why}", flush=True)
                failed += 1
            vlog(f"{name}: {time.monotonic() - t0:.1f}s")
    finally:
        PROC.release()
        WORK.cleanup()
    for n in NOTES:
        print(f"NOTE {n}")
    print_timings()
    vlog(f"total {time.monotonic() - t_start:.1f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
