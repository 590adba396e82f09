#!/usr/bin/env python3
"""`aps-bpf profile` on real interpreters (loop mode's perf-event sampler).
Run as root from the repo root:

    python3 tests/integration/test_profile.py [-k SUBSTR]... [--bed LABEL]...

The scenario is tests/scenarios/profile_ratio.py: it times its own burns
(thread CPU) and blocks (wall clock) and prints them when stdin closes.

Tests (names; -k selects by substring):
  ratio@BED     two tasks burning CPU 3:1 (heavy, light, gathered by Task-1):
                --folded counts of `task Task-1;task heavy;...` over
                `task Task-1;task light;...` within 10% of the ratio the program
                measured (the attribution error is printed); the folded lines
                are `frame;...;frame COUNT`, and the burner's stack has the
                task chain on top, then heavy() and burn() at their lines;
                --by coro names the chain by coroutines (coro main;coro heavy)
  callback@BED  a loop callback (call_soon / call_later) burning CPU: its
                share of the samples under `callback burn_cb` within 10
                points of the share the program measured, with burn() inside;
                the --pprof file parses in `go tool pprof -top`, whose top
                function (flat) is burn
  wall@BED      --wall --by thread: a task blocking in time.sleep shows off-CPU
                samples under `task blocker` at the time.sleep line, their
                share of the main thread's samples within 10 points of the
                share of time the program measured blocked; Task-1, awaiting
                its gather all along, has ~4 s of `(awaiting)` samples at
                the gather's line (from the task snapshots, +-30%)
  badinput      usage errors exit 2, no such process / not Python / an
                unwritable output exit 1, each with one line on stderr

Sampling is statistical: the ratio test profiles again (summing the counts)
while fewer than MIN_SAMPLES burner samples came in (a loaded machine).

APS_BIN=PATH runs another aps-bpf binary. Output: `PASS name` / `FAIL name:
why` lines, NOTE lines, and as the very last line `N passed, N failed`.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
APS = os.environ.get("APS_BIN", os.path.join(REPO, "aps-bpf"))
SCEN = os.path.join(REPO, "tests", "scenarios", "profile_ratio.py")
BED_FILE = os.environ.get("APS_BED_FILE", "/var/cache/aps-bpf/bed.json")
FOLDED = re.compile(r"^(\S[^\n]*) (\d+)$")
MIN_SAMPLES = 3000     # heavy + light samples: the ratio's noise well under 10%
MAX_RUNS = 4


def line_of(text):
    with open(SCEN) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise RuntimeError(f"{text!r} not in {SCEN}")


BURN_LINES = {line_of("while time.thread_time() < end:"), line_of("        pass")}
HEAVY_LINE = line_of('MEASURED["heavy"] += burn(3)')
CB_LINE = line_of('MEASURED["burn_cb"] += burn(4)')
SLEEP_LINE = line_of("        time.sleep(0.03)")
GATHER_LINE = line_of('await asyncio.gather(asyncio.create_task(blocker()')


class Fail(Exception):
    pass


def note(msg):
    print("NOTE " + msg, flush=True)


class Target:
    """profile_ratio.py MODE on one interpreter, until stop()."""

    def __init__(self, bed, mode):
        self.dir = None
        self.path = SCEN
        if bed["root"] != "/":
            self.dir = tempfile.mkdtemp(prefix="aps-prof-", dir=os.path.join(bed["root"], "tmp"))
            shutil.copy(SCEN, self.dir)
            self.path = os.path.join("/" + os.path.relpath(self.dir, bed["root"]),
                                     os.path.basename(SCEN))
        self.p = subprocess.Popen(bed["argv"] + [self.path, mode], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().split()
        if not line or line[0] != "READY":
            raise Fail(f"profile_ratio.py did not start on {bed['label']}: {line}")
        self.pid = int(line[1])
        self.measured = None

    def stop(self):
        """Close stdin: the program stops and prints what it measured."""
        try:
            self.p.stdin.close()
            out = self.p.stdout.read()
            self.p.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            out = ""
        for line in out.splitlines():
            if line.startswith("MEASURED "):
                self.measured = json.loads(line.split(" ", 1)[1])
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        if self.measured is None:
            raise Fail("the program printed no MEASURED line")
        return self.measured


def profile(args, timeout=120):
    r = subprocess.run([APS, "profile"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, cwd=REPO)
    if r.returncode != 0:
        raise Fail(f"aps-bpf profile exited {r.returncode}: {r.stderr[-400:]}")
    return r


def folded_of(path):
    """[(frames, count)]; every line must be `frame;...;frame COUNT`."""
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            m = FOLDED.match(line.rstrip("\n"))
            if not m:
                raise Fail(f"folded line {n} is not `frames count`: {line[:200]!r}")
            frames = m.group(1).split(";")
            if any(not fr for fr in frames):
                raise Fail(f"folded line {n} has an empty frame: {line[:200]!r}")
            out.append((frames, int(m.group(2))))
    if not out:
        raise Fail("the folded file is empty")
    return out


def frame_at(func, path, line):
    return f"{func} ({path}:{line})"


def t_ratio(bed):
    tg = Target(bed, "ratio")
    tmp = tempfile.mkdtemp(prefix="aps-prof-out-")
    heavy = light = total = 0
    chain_ok = False
    try:
        time.sleep(0.5)
        for run in range(MAX_RUNS):
            out = os.path.join(tmp, f"run{run}.folded")
            profile(["--hz", "999", "--duration", "5s", "--folded", out, str(tg.pid)])
            for frames, n in folded_of(out):
                total += n
                if frames[:2] == ["task Task-1", "task heavy"]:
                    heavy += n
                    if (len(frames) == 4 and frames[2] == frame_at("heavy", tg.path, HEAVY_LINE)
                            and any(frames[3] == frame_at("burn", tg.path, ln)
                                    for ln in BURN_LINES)):
                        chain_ok = True
                elif frames[:2] == ["task Task-1", "task light"]:
                    light += n
            if heavy + light >= MIN_SAMPLES:
                break
        coro = os.path.join(tmp, "coro.folded")
        profile(["--hz", "499", "--duration", "1s", "--by", "coro", "--folded", coro,
                 str(tg.pid)])
        coro_lines = folded_of(coro)
    finally:
        measured = tg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if not chain_ok:
        raise Fail("no stack `task Task-1;task heavy;heavy (file:%d);burn (file:line)`"
                   % HEAVY_LINE)
    if not light:
        raise Fail(f"no samples of task light ({heavy} of heavy, {total} in all)")
    want = measured["heavy"] / measured["light"]
    got = heavy / light
    err = got / want - 1
    note(f"ratio@{bed['label']}: heavy/light {got:.3f} from {heavy}+{light} samples "
         f"({run + 1} run(s)), the program measured {want:.3f}: attribution error "
         f"{100 * err:+.1f}%; {100 * (heavy + light) / total:.1f}% of all samples in the two tasks")
    if abs(err) > 0.10:
        raise Fail(f"heavy/light {got:.3f} vs measured {want:.3f}: error {100 * err:+.1f}% "
                   f"(limit 10%)")
    if (heavy + light) < 0.9 * total:
        raise Fail(f"only {heavy + light} of {total} samples in the two burning tasks")
    if not any(fr[:2] == ["coro main", "coro heavy"] for fr, _ in coro_lines):
        raise Fail("--by coro: no stack under `coro main;coro heavy`: "
                   + repr([fr[:2] for fr, _ in coro_lines][:5]))


def go_top(path):
    """go tool pprof -top: [(flat, function)]."""
    r = subprocess.run(["go", "tool", "pprof", "-top", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    if r.returncode != 0:
        raise Fail(f"go tool pprof -top exited {r.returncode}: {r.stderr[-300:]}")
    rows, table = [], False
    for line in r.stdout.splitlines():
        if line.split()[:2] == ["flat", "flat%"]:
            table = True
            continue
        if table and line.strip():
            cols = line.split(None, 5)
            if len(cols) == 6:
                rows.append((cols[0], cols[5]))
    if not rows:
        raise Fail("go tool pprof -top printed no rows: " + r.stdout[-300:])
    return rows


def t_callback(bed):
    tg = Target(bed, "callback")
    tmp = tempfile.mkdtemp(prefix="aps-prof-out-")
    try:
        time.sleep(0.5)
        out, pb = os.path.join(tmp, "cb.folded"), os.path.join(tmp, "cb.pb.gz")
        profile(["--hz", "999", "--duration", "3s", "--folded", out, "--pprof", pb, str(tg.pid)])
        lines = folded_of(out)
        with open(pb, "rb") as f:
            magic = f.read(2)
        rows = go_top(pb) if shutil.which("go") else None
    finally:
        measured = tg.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    total = sum(n for _, n in lines)
    cb = sum(n for fr, n in lines if fr[0] == "callback burn_cb")
    in_burn = [fr for fr, _ in lines
               if fr[:2] == ["callback burn_cb", frame_at("burn_cb", tg.path, CB_LINE)]
               and len(fr) == 3 and fr[2] in [frame_at("burn", tg.path, ln) for ln in BURN_LINES]]
    want = measured["burn_cb"] / measured["thread"]
    got = cb / total
    note(f"callback@{bed['label']}: {100 * got:.1f}% of {total} samples under callback burn_cb, "
         f"the program measured {100 * want:.1f}% of its CPU there")
    if abs(got - want) > 0.10:
        raise Fail(f"callback share {100 * got:.1f}% vs measured {100 * want:.1f}%")
    if not in_burn:
        raise Fail("no stack `callback burn_cb;burn_cb (file:%d);burn (file:line)`" % CB_LINE)
    if any(fr[0].startswith("task ") and n > 0.05 * total for fr, n in lines):
        raise Fail("a task got more than 5% of the samples of a callback burner")
    if magic != b"\x1f\x8b":
        raise Fail(f"the pprof file is not gzip: {magic!r}")
    if rows is None:
        raise Fail("go (golang-go) is not installed: tests/testbed.sh installs it")
    if rows[0][1] != "burn":
        raise Fail(f"go tool pprof -top: top function {rows[0][1]!r}, expected burn: {rows[:3]}")


def t_wall(bed):
    tg = Target(bed, "wall")
    tmp = tempfile.mkdtemp(prefix="aps-prof-out-")
    try:
        time.sleep(0.5)
        out = os.path.join(tmp, "wall.folded")
        profile(["--wall", "--by", "thread", "--hz", "199", "--duration", "4s", "--folded", out,
                 str(tg.pid)])
        lines = folded_of(out)
    finally:
        measured = tg.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    awaiting = sum(n for fr, n in lines if fr[-1] == "(awaiting)" and fr[1:3] == [
        "task Task-1", frame_at("main", tg.path, GATHER_LINE)])
    main = [(fr, n) for fr, n in lines
            if fr[0].startswith(f"thread {tg.pid} ") and fr[-1] != "(awaiting)"]
    total = sum(n for _, n in main)
    blocked = sum(n for fr, n in main if fr[1:3] == ["task Task-1", "task blocker"])
    at_sleep = sum(n for fr, n in main if fr[1:3] == ["task Task-1", "task blocker"]
                   and fr[-1] == "(off-cpu)"
                   and fr[-2] == frame_at("blocker", tg.path, SLEEP_LINE))
    want = measured["blocked"] / measured["wall"]
    got = blocked / total if total else 0
    note(f"wall@{bed['label']}: {100 * got:.1f}% of {total} main-thread samples in task blocker "
         f"({at_sleep} off-CPU at time.sleep), the program measured {100 * want:.1f}% blocked")
    if not total:
        raise Fail("no samples of the main thread `thread %d (...)`" % tg.pid)
    if abs(got - want) > 0.10:
        raise Fail(f"blocked share {100 * got:.1f}% vs measured {100 * want:.1f}%")
    # Task-1 awaits the gather all along: the snapshots credit it the whole run
    note(f"wall@{bed['label']}: Task-1 awaiting at line {GATHER_LINE}: {awaiting} samples "
         f"of ~{4 * 199} in 4 s at 199 Hz")
    if not 0.7 * 4 * 199 <= awaiting <= 1.3 * 4 * 199:
        raise Fail(f"Task-1 awaiting: {awaiting} samples, expected ~{4 * 199} (+-30%)")
    if at_sleep < 0.8 * blocked:
        raise Fail(f"only {at_sleep} of {blocked} samples of task blocker are off-CPU at "
                   f"line {SLEEP_LINE}")


def t_badinput(beds):
    cases = [
        (["--hz", "0", "1"], 2), (["--hz", "5000", "1"], 2), (["--by", "loop", "1"], 2),
        (["--duration", "soon", "1"], 2), ([], 2), (["12x"], 2),
        (["--duration", "1s", "999999999"], 1),
        (["--duration", "1s", "--folded", "/nonexistent-dir/x.folded", str(os.getpid())], 1),
    ]
    sleeper = subprocess.Popen(["sleep", "30"])
    cases.append((["--duration", "1s", str(sleeper.pid)], 1))   # not Python at all
    try:
        for args, code in cases:
            r = subprocess.run([APS, "profile"] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=60)
            if r.returncode != code:
                raise Fail(f"profile {' '.join(args)}: exit {r.returncode}, expected {code}: "
                           f"{r.stderr[-200:]}")
            if not r.stderr.strip():
                raise Fail(f"profile {' '.join(args)}: nothing said on stderr")
            if "Sanitizer" in r.stderr or "Segmentation" in r.stderr:
                raise Fail(f"profile {' '.join(args)}: crashed: {r.stderr[-300:]}")
    finally:
        sleeper.kill()
        sleeper.wait()


TESTS = [("ratio", t_ratio), ("callback", t_callback), ("wall", t_wall)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", action="append", default=[])
    ap.add_argument("--bed", action="append", default=[])
    args = ap.parse_args()
    with open(BED_FILE) as f:
        beds = json.load(f)
    passed = failed = 0

    def run(name, fn, arg):
        nonlocal passed, failed
        if args.k and not any(k in name for k in args.k):
            return
        try:
            fn(arg)
            print(f"PASS {name}", flush=True)
            passed += 1
        except Exception as e:      # a harness error is a failure too
            print(f"FAIL {name}: {'' if isinstance(e, Fail) else type(e).__name__ + ': '}{e}",
                  flush=True)
            failed += 1

    for tname, fn in TESTS:
        for bed in beds:
            if args.bed and bed["label"] not in args.bed:
                continue
            run(f"{tname}@{bed['label']}", fn, bed)
    run("badinput", t_badinput, beds)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
