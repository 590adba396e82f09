#!/usr/bin/env python3
"""aps-bpf and the target's processes: exec and fork.  Run as root from the
repo root:

    python3 tests/integration/test_procs.py [-k SUBSTR]... [--bed LABEL]... [-v]

Tests (names; -k selects by substring):
  exec@BED     proc_exec.py runs three tasks, then os.execv()s the same
               interpreter from inside a step: `trace --json PID` ends at
               the exec (summary reason target_execed, stderr says so, exit
               0 while the new program still runs); no event names a task
               of the new program; no step of the old program outlives the
               exec; the old program's tasks have the steps it made (6)
  fork@BED     `trace --json -o F -- PYTHON proc_fork.py`: forks are followed
               (the default with -- CMD): every line has the pid of its
               process; each child's tasks childK-0/1 are in that child's
               pid (as it printed it) with the steps it made (4), their
               gather future named (_GatheringFuture); the parent's tasks in
               the parent's; one summary per process (the children's:
               target_exited)
  nofork@BED   `trace --json PID` of proc_fork.py (no -f): the forks are
               announced once on stderr ("not traced"), and no event is of
               a child's task

Output: one `PASS name` / `FAIL name: reason` line per test, then
`N passed, N failed`; exit status 1 if any failed.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checks  # noqa: E402
import run  # noqa: E402
from run import APS, ATTACH_TIMEOUT, REPO, Fail, Proc, tail  # noqa: E402

EXIT_TIMEOUT = 20


def json_lines(text, what):
    events, problems = checks.parse_lines(text)
    if problems:
        raise Fail(f"{what} is not JSON lines: {problems[0]}", "\n".join(problems))
    return events


def t_exec(ctx, bed):
    run.need_aps()
    bed.probe()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    tg = Proc(bed.argv + [bed.scenario_path("proc_exec")], stdout=subprocess.PIPE,
              stdin=subprocess.PIPE, env=env)
    out_path = os.path.join(ctx.workdir, f"exec-{bed.label}.jsonl")
    tr = None
    try:
        line = tg.p.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "READY":
            raise Fail(f"proc_exec did not print READY: {line}", tail(tg.stderr))
        pid = int(line[1])
        with open(out_path, "w") as out:
            tr = Proc([APS, "trace", "--json", str(pid)], stdout=out, watch="aps-bpf: attached")
            if not tr.wait_for_line(ATTACH_TIMEOUT):
                raise Fail(f"trace did not attach: {tail(tr.stderr, 3)}")
            tg.p.stdin.write(b"go\n")
            tg.p.stdin.flush()
            rc = tr.wait(EXIT_TIMEOUT)
        if rc is None:
            raise Fail("trace did not end at the exec", tail(tr.stderr))
        still = tg.p.poll() is None
        if rc != 0:
            raise Fail(f"trace exited {rc}: {tail(tr.stderr, 3)}", tr.stderr)
        if not still:
            raise Fail("trace ran on until the new program exited: it did not end at the exec")
    finally:
        if tr:
            tr.stop()
        tg.stop()
    with open(out_path) as f:
        events = json_lines(f.read(), "trace --json")
    summary = [e for e in events if e.get("event") == "summary"]
    if not summary or summary[-1].get("reason") != "target_execed":
        raise Fail(f"summary {summary[-1:] or None}, expected reason target_execed")
    if "executed a new program" not in tr.stderr:
        raise Fail(f"stderr does not say the target executed a new program: "
                   f"{tail(tr.stderr, 3)}")
    names = {}
    for e in events:
        if e.get("event") in ("created", "seen") and "name" in e:
            names[e["task"]] = e["name"]
    after = sorted(n for n in names.values() if n.startswith("after-"))
    if after:
        raise Fail(f"events of the new program's tasks {after}")
    steps = {}
    for e in events:
        if e.get("event") == "step_end":
            n = names.get(e["task"], e["task"])
            steps[n] = steps.get(n, 0) + 1
            if e.get("duration_ns", 0) > 500_000_000:
                raise Fail(f"a step of {n} lasted {e['duration_ns'] / 1e6:.0f} ms")
    want = {f"before-{i}": 6 for i in range(3)}
    got = {n: steps.get(n) for n in want}
    if got != want:
        raise Fail(f"steps {got}, the program made {want}")
    ctx.note(f"exec@{bed.label}: {len(events)} events, ended at the exec")


FORK_WANT_STEPS = 4     # a first step, then 3 sleeps


def task_steps(events):
    """{name: (pid, steps)} from the created/seen and step_end events of each pid."""
    names, out = {}, {}
    for e in events:
        key = (e.get("pid"), e.get("task"))
        if e.get("event") in ("created", "seen") and "name" in e:
            names[key] = e["name"]
        elif e.get("event") == "step_end" and key in names:
            pid, n = out.get(names[key], (e.get("pid"), 0))
            out[names[key]] = (pid, n + 1)
    return out


def t_fork(ctx, bed):
    run.need_aps()
    bed.probe()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    out_path = os.path.join(ctx.workdir, f"fork-{bed.label}.jsonl")
    tr = Proc([APS, "trace", "--json", "-o", out_path, "--"] + bed.argv
              + [bed.scenario_path("proc_fork")], stdout=subprocess.PIPE, env=env)
    try:
        rc = tr.wait(EXIT_TIMEOUT + 20)
        if rc is None:
            raise Fail("trace -- CMD did not exit", tail(tr.stderr))
        if rc != 0:
            raise Fail(f"trace exited {rc}: {tail(tr.stderr, 3)}", tr.stderr)
        prog_out = tr.p.stdout.read().decode()
    finally:
        tr.stop()
    kids = {}
    for line in prog_out.splitlines():
        w = line.split()
        if len(w) == 3 and w[0] == "CHILD":
            kids[f"child{w[1]}"] = int(w[2])
    if len(kids) != 2 or "DONE" not in prog_out:
        raise Fail(f"proc_fork did not run to its end: {prog_out!r}")
    with open(out_path) as f:
        events = json_lines(f.read(), "trace --json")
    nopid = [e for e in events if "pid" not in e and e.get("event") != "lost"]
    if nopid:
        raise Fail(f"{len(nopid)} lines without a pid, e.g. {nopid[0]}")
    parent = tr.p.pid    # aps-bpf's child: the program itself
    steps = task_steps(events)
    want = {f"{t}-{i}": (pid, FORK_WANT_STEPS) for t, pid in
            list(kids.items()) + [("parent", None)] for i in range(2)}
    pids = {e["pid"] for e in events}
    want = {n: (pid if pid else steps.get(n, (None,))[0], s) for n, (pid, s) in want.items()}
    got = {n: steps.get(n) for n in want}
    if got != want:
        raise Fail(f"tasks (pid, steps) {got}; the program: {want}")
    if steps["parent-0"][0] in kids.values():
        raise Fail("the parent's tasks are shown in a child")
    types = {e.get("awaiting_type") for e in events
             if e.get("event") == "step_end" and e.get("pid") in kids.values()}
    summaries = {e["pid"]: e["reason"] for e in events if e.get("event") == "summary"}
    if set(summaries) != pids or len(summaries) != 3:
        raise Fail(f"summaries {summaries} for processes {sorted(pids)}")
    if any(summaries[p] != "target_exited" for p in kids.values()):
        raise Fail(f"children's summaries {summaries}")
    if "following fork" not in tr.stderr:
        raise Fail(f"stderr does not say the forks are followed: {tail(tr.stderr, 3)}")
    ctx.note(f"fork@{bed.label}: {len(events)} events, processes {sorted(pids)}, "
             f"awaited types in children {sorted(t for t in types if t)}")
    del parent


def t_nofork(ctx, bed):
    run.need_aps()
    bed.probe()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    tg = Proc(bed.argv + [bed.scenario_path("proc_fork"), "wait"], stdout=subprocess.PIPE,
              stdin=subprocess.PIPE, env=env)
    out_path = os.path.join(ctx.workdir, f"nofork-{bed.label}.jsonl")
    tr = None
    try:
        line = tg.p.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "READY":
            raise Fail(f"proc_fork did not print READY: {line}", tail(tg.stderr))
        pid = int(line[1])
        tr = Proc([APS, "trace", "--json", "-o", out_path, str(pid)],
                  watch="aps-bpf: attached")
        if not tr.wait_for_line(ATTACH_TIMEOUT):
            raise Fail(f"trace did not attach: {tail(tr.stderr, 3)}")
        tg.p.stdin.write(b"go\n")
        tg.p.stdin.flush()
        if tg.wait(EXIT_TIMEOUT) is None:
            raise Fail("proc_fork did not exit")
        rc = tr.wait(EXIT_TIMEOUT)
        if rc != 0:
            raise Fail(f"trace exited {rc}: {tail(tr.stderr, 3)}", tr.stderr)
    finally:
        if tr:
            tr.stop()
        tg.stop()
    told = [l for l in tr.stderr.splitlines() if "forked process" in l]
    if len(told) != 1 or "not traced" not in told[0]:
        raise Fail(f"fork announcements {told}, expected one 'not traced' line")
    with open(out_path) as f:
        events = json_lines(f.read(), "trace --json")
    kid_tasks = sorted(n for n in task_steps(events) if n.startswith("child"))
    if kid_tasks:
        raise Fail(f"events of children's tasks {kid_tasks} without -f")
    if task_steps(events).get("parent-0", (0, 0))[1] != FORK_WANT_STEPS:
        raise Fail(f"parent-0 steps {task_steps(events).get('parent-0')}")
    ctx.note(f"nofork@{bed.label}: {told[0]}")


def all_tests(beds):
    tests = [(f"exec@{bed.label}", t_exec, (bed,)) for bed in beds]
    tests += [(f"fork@{bed.label}", t_fork, (bed,)) for bed in beds]
    tests += [(f"nofork@{bed.label}", t_nofork, (bed,)) for bed in beds]
    return tests


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTR")
    ap.add_argument("--bed", action="append", default=[], metavar="LABEL")
    ap.add_argument("-v", action="store_true", help="details of failures, notes")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("test_procs.py: must run as root", file=sys.stderr)
    beds = run.load_bed(args.bed, ap)
    ctx = run.Ctx(args.v)
    tests = [t for t in all_tests(beds) if not args.k or any(k in t[0] for k in args.k)]
    passed, failed = run.run_tests(ctx, tests, args.v)
    return run.finish(ctx, beds, passed, failed, args.v)


if __name__ == "__main__":
    sys.exit(main())
