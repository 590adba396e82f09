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


def all_tests(beds):
    return [(f"exec@{bed.label}", t_exec, (bed,)) for bed in beds]


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
