#!/usr/bin/env python3
"""The kernel matrix's checks: every aps-bpf command on each interpreter given,
against what the scenario programs know. Runs inside each guest (from /init)
and on the host kernel, from the repo root (the guest's /aps):

    guest_check.py --kernel NAME PYTHON...

Prints one line per case: `KCHECK <kernel> <python> <case> PASS` or
`KCHECK <kernel> <python> <case> FAIL <why>`. The cases (CASES), on four
runs of scenario programs per interpreter:
  basic.py           `trace --json PID` and `record -o F PID` at once:
    trace              every check of checks.py against the ground truth
    record             `replay F trace --json`: every check too
    export             `export F --format perfetto`: slices = recorded steps
  park_gather.py     parked in a known tree; `record --tasks-every 200ms`:
    ps_pstree          ps/pstree --format json vs the program's EXPECT
    replay_at          `replay F pstree|ps --at T` = the live views at T
    doctor             `doctor PID`: exit 0, the kernel section, ready
  blocking_target.py `blocked`, `check` and `top -b --json` at once, all attached
                     before it starts; bounds and counts it measured of itself:
    blocked            its 3 blocking steps: each duration within its bounds, the
                       stack (taken while the step ran) and the sleep's line
    check              exit 1 at the program's exit, the one offender `bad`
    top                the snapshot showing both tasks done: steps = the
                       program's count, bad's longest step within bounds
  basic.py           on a stripped copy of _asyncio, debug files hidden:
    symfree            every hook found symbol-free; every trace check (arm64:
                       trace exits 1 saying the search is x86-64 only; doctor too)
Architecture-neutral; stdlib only. Exit 0 (the host counts the lines).
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import checks  # noqa: E402
import command_checks  # noqa: E402
sys.path.insert(0, os.path.join(REPO, "tests", "kernels", "arm64"))
import guest_arm64  # noqa: E402

APS = os.path.join(REPO, "aps-bpf")
SCEN = os.path.join(REPO, "tests", "scenarios")
CASES = ["trace", "record", "export", "ps_pstree", "replay_at", "doctor", "blocked", "check",
         "top", "symfree"]
HOOKS = ("task_step_impl", "_asyncio_Task___init__", "TaskObj_dealloc", "_asyncio_Task_cancel")
STRIPPED_IN_IMAGE = "/aps-symfree"     # made by initramfs.sh where there is no strip
TIMEOUT = 180 * guest_arm64.SLOWDOWN   # seconds, for anything: TCG guests are slow
BLOCKING_TARGET = os.path.join(REPO, "tests", "kernels", "blocking_target.py")
SLEEP_LINE = next(n for n, line in enumerate(open(BLOCKING_TARGET), 1)
                  if line.startswith("    return os.read(0, 1)"))
BLOCK_ROUNDS = 3            # blocking_target.py's ROUNDS
BLOCK_THRESHOLD = "500ms"


class Fail(Exception):
    pass


class Proc:
    """A process with stdout to a file (or a pipe) and stderr to a file.
    The child appends to its stderr file (O_APPEND) and we read it by its
    path: a shared file offset would let our seek put its next line over
    the first ones (a lost `attached` line once hung a case)."""

    def __init__(self, argv, out=None, env=None, stdin=None):
        fd, self.err_path = tempfile.mkstemp(prefix="aps-kcheck-err-")
        os.close(fd)
        weakref.finalize(self, os.unlink, self.err_path)
        self.out = out
        with open(self.err_path, "ab") as err:
            self.p = subprocess.Popen(argv, stdout=out or subprocess.PIPE, stderr=err,
                                      stdin=stdin, env=env, cwd=REPO)

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_stderr(self, prefix, count=1):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if sum(l.startswith(prefix) for l in self.stderr().splitlines()) >= count:
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        raise Fail(f"{self.p.args[1]}: no `{prefix}` (exit {self.p.poll()}): {tail(self.stderr())}")

    def wait(self, what):
        try:
            return self.p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
            raise Fail(f"{what} did not exit within {TIMEOUT}s")

    def stop(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def tail(text, n=300):
    return " ".join(text.split())[-n:]


def aps(*args):
    r = subprocess.run([APS] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=TIMEOUT, cwd=REPO)
    return r.returncode, r.stdout, r.stderr


def aps_ok(*args):
    rc, out, err = aps(*args)
    if rc:
        raise Fail(f"aps-bpf {' '.join(map(str, args[:2]))}: exit {rc}: {tail(err)}")
    return out


def json_lines(text):
    return [json.loads(l) for l in text.splitlines() if l.strip()]


class Interp:
    def __init__(self, path):
        self.path = path
        m = re.search(r"python(\d+)\.(\d+)$", path)
        if not m:
            raise SystemExit(f"guest_check: {path} is not named pythonX.Y")
        self.version = (int(m.group(1)), int(m.group(2)))
        self.label = ("pyenv-" if "/.pyenv/" in path else "system-") + "%d.%d" % self.version

    def asyncio_module(self):
        """The _asyncio extension module (not the debug build's)."""
        prefix = os.path.dirname(os.path.dirname(self.path))
        pat = "%s/lib/python%d.%d/lib-dynload/_asyncio.cpython-%d%d-*.so" % (
            (prefix,) + self.version + self.version)
        mods = [m for m in glob.glob(pat) if not re.search(r"\dd-[^/]*\.so$", m)]
        if not mods:
            raise Fail(f"no _asyncio module matches {pat}")
        return mods[0]

    def start(self, scen, args=(), env_extra=None, wrap=()):
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **(env_extra or {}))
        env.pop("APS_SCENARIO_NO_WAIT", None)
        return Proc(list(wrap) + [self.path, os.path.join(SCEN, scen)] + list(args), env=env,
                    stdin=subprocess.PIPE)


def read_line(proc, prefix):
    """The first stdout line starting with prefix (others skipped)."""
    while True:
        line = proc.p.stdout.readline().decode("utf-8", "replace")
        if not line:
            raise Fail(f"scenario exited before `{prefix}`: {tail(proc.stderr())}")
        if line.startswith(prefix):
            return line.rstrip("\n")


def load_gt(path):
    with open(path) as f:
        gt = json.load(f)
    if gt.get("errors"):
        raise Fail(f"scenario ground truth errors: {gt['errors']}")
    return gt


def trace_problems(events, gt):
    failed = checks.run_checks(events, gt)
    return [f"{name}: {ps[0]}" for name, ps in failed]


# ---- the runs -------------------------------------------------------------------

def run_basic(py, work, report):
    """basic.py under `trace --json PID` and `record -o F PID` at once."""
    gt, rec = os.path.join(work, "basic-gt.json"), os.path.join(work, "basic.rec")
    sc = py.start("basic.py", [gt])
    procs = []
    try:
        pid = int(read_line(sc, "READY ").split()[1])
        with open(os.path.join(work, "basic.jsonl"), "wb") as out:
            procs = [Proc([APS, "trace", "--json", str(pid)], out=out),
                     Proc([APS, "record", "-o", rec, str(pid)], out=subprocess.DEVNULL)]
            for p in procs:
                p.wait_stderr("aps-bpf: attached")
            sc.p.stdin.write(b"go\n")
            sc.p.stdin.close()
            if sc.wait("basic.py"):
                raise Fail(f"basic.py exited {sc.p.returncode}: {tail(sc.stderr())}")
            for p in procs:
                if p.wait(p.p.args[1]):
                    raise Fail(f"aps-bpf {p.p.args[1]} exited {p.p.returncode}: {tail(p.stderr())}")
    finally:
        for p in [sc] + procs:
            p.stop()
    truth = load_gt(gt)
    with open(os.path.join(work, "basic.jsonl")) as f:
        events, bad = checks.parse_lines(f.read())
    report("trace", bad or trace_problems(events, truth) or ([] if events else ["no events"]))
    replayed = json_lines(aps_ok("replay", rec, "trace", "--json"))
    report("record", trace_problems(replayed, truth))
    out = os.path.join(work, "basic-perfetto.json")
    aps_ok("export", rec, "--format", "perfetto", "-o", out)
    with open(out) as f:
        doc = json.load(f)
    pid = json.loads(aps_ok("replay", rec, "info", "--json"))["pid"]
    report("export", command_checks.perfetto_problems(doc, replayed, pid))


def run_park(py, work, report):
    """park_gather.py: live ps/pstree vs EXPECT, replay --at vs live, doctor."""
    rec = os.path.join(work, "park.rec")
    sc = py.start("park_gather.py")
    recp = None
    try:
        expect = json.loads(read_line(sc, "EXPECT ")[len("EXPECT "):])
        pid = int(read_line(sc, "READY ").split()[1])
        recp = Proc([APS, "record", "--tasks-every", "200ms", "-o", rec, str(pid)],
                    out=subprocess.DEVNULL)
        recp.wait_stderr("aps-bpf: attached")
        time.sleep(1.5)     # a memory read of the record after attach
        t0 = time.monotonic_ns()
        ps = json.loads(aps_ok("ps", "--format", "json", pid))
        tree = json.loads(aps_ok("pstree", "--format", "json", pid))
        text = aps_ok("pstree", pid)
        t = (t0 + time.monotonic_ns()) // 2
        rc, dout, derr = aps("doctor", pid)
        recp.stop(signal.SIGINT)
        if recp.p.returncode:
            raise Fail(f"record exited {recp.p.returncode}: {tail(recp.stderr())}")
    finally:
        for p in [sc, recp]:
            if p:
                p.stop()
    report("ps_pstree", command_checks.tree_problems(ps, tree, expect, py.version))
    start = json.loads(aps_ok("replay", rec, "info", "--json"))["start_ns"]
    at = f"{(t - start) / 1e9:.3f}"
    rtext = aps_ok("replay", rec, "pstree", "--at", at)
    rps = json.loads(aps_ok("replay", rec, "ps", "--at", at, "--format", "json"))
    errs = []
    if command_checks.tree_lines(rtext) != command_checks.tree_lines(text):
        errs.append(f"replay pstree --at {at} differs from the live pstree: {tail(rtext, 200)}")
    if command_checks.untimed_ps_rows(rps) != command_checks.untimed_ps_rows(ps):
        errs.append(f"replay ps --at {at} differs from the live ps")
    report("replay_at", errs)
    errs = [] if rc == 0 else [f"doctor exited {rc}: {tail(derr)}"]
    for want in ("\nkernel\n", "ring buffer yes", "\nready: "):
        if want not in dout:
            errs.append(f"doctor output lacks {want.strip()!r}")
    if guest_arm64.ARM64:
        errs += guest_arm64.doctor_problems(dout)
    report("doctor", errs)


def read_snapshot(path, want, deadline):
    """The first JSON line of path (a growing file) for which want(line) holds."""
    seen = 0
    while time.monotonic() < deadline:
        with open(path) as f:
            lines = f.read().split("\n")[:-1]      # whole lines only
        for line in lines[seen:]:
            snap = json.loads(line)
            if want(snap):
                return snap
        seen = len(lines)
        time.sleep(0.1)
    raise Fail(f"no snapshot of top showed the finished tasks within {TIMEOUT}s")


def done_tasks(snap):
    return {t["name"]: t for t in snap.get("tasks", []) if t.get("state") == "done"}


def run_blocking(py, work, report):
    """blocking_target.py under blocked, check and top -b at once, all three
    attached before it starts; each blocking step held until blocked took
    its stack (-v says so); what the program measured of itself (DONE) is
    the truth: no assertion depends on how fast the guest runs. The
    threshold is far above a 10 ms step stretched by a starved guest."""
    sc = py.start(BLOCKING_TARGET)
    cmds = {"blocked": ["blocked", "-v", "--mode", "step", "--threshold", BLOCK_THRESHOLD, "--json"],
            # --for outlasts the program: the check ends when it exits
            "check": ["check", "--mode", "step", "--for", f"{2 * TIMEOUT}s", "--max-step",
                      BLOCK_THRESHOLD, "--json"],
            "top": ["top", "--mode", "step", "-b", "--json", "--delay", "200ms"]}
    procs, outs = {}, {case: os.path.join(work, case + ".out") for case in cmds}
    try:
        pid = int(read_line(sc, "READY ").split()[1])
        for case, argv in cmds.items():
            with open(outs[case], "wb") as out:
                procs[case] = Proc([APS] + argv + [str(pid)], out=out)
        for p in procs.values():
            p.wait_stderr("aps-bpf: attached")
        sc.p.stdin.write(b"g")
        sc.p.stdin.flush()
        for i in range(BLOCK_ROUNDS):
            task = read_line(sc, "BLOCKING ").split()[1]
            procs["blocked"].wait_stderr(f"aps-bpf: task {task} over the threshold", count=i + 1)
            sc.p.stdin.write(b"r")
            sc.p.stdin.flush()
        truth = json.loads(read_line(sc, "DONE ")[len("DONE "):])
        # the program holds its finished tasks until top has shown them
        snap = read_snapshot(outs["top"], lambda s: {"bad", "ticker"} <= set(done_tasks(s)),
                             time.monotonic() + TIMEOUT)
        sc.p.stdin.write(b"x")
        sc.p.stdin.close()
        if sc.wait("blocking_target.py"):
            raise Fail(f"blocking_target.py exited {sc.p.returncode}: {tail(sc.stderr())}")
        rc = {case: p.wait(case) for case, p in procs.items()}
    finally:
        for p in [sc] + list(procs.values()):
            p.stop()
    text = {}
    for case in cmds:
        with open(outs[case]) as f:
            text[case] = f.read()
    report("blocked", [f"exit {rc['blocked']}: {tail(procs['blocked'].stderr())}"] if rc["blocked"]
           else blocked_problems(json_lines(text["blocked"]), truth))
    report("check", check_problems(rc["check"], text["check"], truth))
    report("top", [f"exit {rc['top']}: {tail(procs['top'].stderr())}"] if rc["top"]
           else top_problems(snap, json_lines(text["top"]), truth))


def in_bounds(ns, lo, hi):
    return lo <= ns <= hi


def blocked_problems(reps, truth):
    """Each blocking step of bad, in order: its duration within the bounds
    the program measured, its stack at the sleep (taken while it ran)."""
    blocks = truth["blocks"]
    if len(reps) != len(blocks):
        seen = ", ".join(f"{r.get('name')} {r.get('duration_ns', 0) / 1e9:.3f}s" for r in reps[:8])
        return [f"{len(reps)} blocking steps reported, the program made {len(blocks)}: {seen}"]
    errs = []
    for r, b in zip(reps, blocks):
        if r["name"] != "bad" or r["coro"] != "bad_handler":
            errs.append(f"reported the wrong task: {r['name']} ({r['coro']})")
        if not in_bounds(r["duration_ns"], b["lo_ns"], b["hi_ns"]):
            errs.append(f"duration {r['duration_ns']} ns not within the program's "
                        f"{b['lo_ns']}-{b['hi_ns']} ns")
        st = r.get("stack") or []
        funcs = [f["func"] for f in st]
        if funcs[:2] != ["slow_sync_call", "bad_handler"]:
            errs.append(f"stack does not start slow_sync_call <- bad_handler: {funcs[:4]}")
            continue
        if st[0]["line"] != SLEEP_LINE or "os.read" not in st[0]["source"]:
            errs.append(f"innermost frame is not line {SLEEP_LINE} `os.read(...)`: {st[0]}")
        if not st[0]["file"].endswith(os.path.basename(BLOCKING_TARGET)):
            errs.append(f"innermost frame's file: {st[0]['file']}")
        if r["thread_state"] == "R":
            errs.append("the thread was running at the crossing; os.read has it waiting")
    return errs


def check_problems(rc, text, truth):
    """Exit 1; the one offender is bad, its longest step within bounds."""
    if rc != 1:
        return [f"check exited {rc} on a blocking program: {tail(text)}"]
    offs = json.loads(text).get("offenders", [])
    if {o["name"] for o in offs} != {"bad"}:
        return [f"offenders {[o['name'] for o in offs]}, expected only 'bad'"]
    lo = min(b["lo_ns"] for b in truth["blocks"])
    hi = max(b["hi_ns"] for b in truth["blocks"])
    return [f"offender's step of {o['duration_ns']} ns not within {lo}-{hi} ns"
            for o in offs if not in_bounds(o["duration_ns"], lo, hi)]


def top_problems(snap, snaps, truth):
    """The snapshot showing both tasks done: each task's steps as counted
    by the program, bad's longest step within bounds, no lost events; and
    top's last snapshot, at the program's exit."""
    tasks = done_tasks(snap)
    errs = [f"{name}: {tasks[name]['steps']} steps, the program counted {n}"
            for name, n in truth["steps"].items() if tasks[name]["steps"] != n]
    lo = max(b["lo_ns"] for b in truth["blocks"])
    hi = max(b["hi_ns"] for b in truth["blocks"])
    if not in_bounds(tasks["bad"]["max_ns"], lo, hi):
        errs.append(f"bad's longest step {tasks['bad']['max_ns']} ns not within {lo}-{hi} ns")
    if snap.get("lost_events") != 0 or not snap.get("threads"):
        errs.append(f"lost_events {snap.get('lost_events')}, threads {snap.get('threads')}")
    if not snaps or snaps[-1]["ts_ns"] <= snap["ts_ns"]:
        errs.append("no snapshot after the program exited")
    return errs


def stripped_copy(py, work):
    """A directory holding a stripped copy of py's _asyncio module."""
    mod = py.asyncio_module()
    if shutil.which("strip"):
        d = os.path.join(work, "symfree")
        os.makedirs(d, exist_ok=True)
        subprocess.run(["strip", "--strip-all", "-o", os.path.join(d, os.path.basename(mod)), mod],
                       check=True)
        return d
    d = os.path.join(STRIPPED_IN_IMAGE, os.path.basename(py.path))
    if not os.path.exists(os.path.join(d, os.path.basename(mod))):
        raise Fail(f"no stripped copy of {mod} in {d} (initramfs.sh makes it)")
    return d


def run_symfree(py, work, report):
    """basic.py on a stripped _asyncio copy, /usr/lib/debug hidden from it."""
    d = stripped_copy(py, work)
    gt = os.path.join(work, "symfree-gt.json")
    hide = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs aps-nodebug /usr/lib/debug && exec "$@"', "sh"]
    sc = py.start("basic.py", [gt], env_extra={"PYTHONPATH": d}, wrap=hide)
    tr = None
    try:
        pid = int(read_line(sc, "READY ").split()[1])
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEBUGINFOD_")}
        with open(os.path.join(work, "symfree.jsonl"), "wb") as out:
            tr = Proc([APS, "trace", "--json", str(pid)], out=out, env=env)
            if guest_arm64.ARM64:   # no symbol-free search on arm64: say so, exit 1
                rc = tr.wait("trace")
                drc, dout, _ = aps("doctor", "--no-debuginfod", pid)
                report("symfree", guest_arm64.no_symbols_problems(rc, tr.stderr(), drc, dout))
                return
            tr.wait_stderr("aps-bpf: attached")
            sc.p.stdin.write(b"go\n")
            sc.p.stdin.close()
            sc.wait("basic.py")
            if tr.wait("trace"):
                raise Fail(f"trace exited {tr.p.returncode}: {tail(tr.stderr())}")
    finally:
        for p in [sc, tr]:
            if p:
                p.stop()
    err = tr.stderr()
    errs = [] if d in err else [f"the stripped copy in {d} was not traced: {tail(err)}"]
    for h in HOOKS:
        if not re.search(r"aps-bpf:\s+%s\s+0x[0-9a-f]+ \(symbol-free\)" % re.escape(h), err):
            errs.append(f"{h} not found symbol-free: {tail(err)}")
    with open(os.path.join(work, "symfree.jsonl")) as f:
        events, bad = checks.parse_lines(f.read())
    report("symfree", errs or bad or trace_problems(events, load_gt(gt)))


RUNS = [(run_basic, ("trace", "record", "export")),
        (run_park, ("ps_pstree", "replay_at", "doctor")),
        (run_blocking, ("blocked", "check", "top")),
        (run_symfree, ("symfree",))]


def run_cases(py, fn, cases):
    """Run fn once; {case: [problems]} (a harness error fails what it left)."""
    results = {}

    def report(case, problems):
        results[case] = list(problems)
    work = tempfile.mkdtemp(prefix="aps-kcheck-")
    try:
        fn(py, work, report)
    except Exception as e:      # a harness error fails the cases not reported yet
        why = tail(str(e) if isinstance(e, Fail) else f"{type(e).__name__}: {e}", 400)
        for case in cases:
            results.setdefault(case, [why])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for case in cases:
        results.setdefault(case, ["not reported"])
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel", required=True)
    ap.add_argument("pythons", nargs="+")
    args = ap.parse_args()
    for path in args.pythons:
        py = Interp(path)
        for fn, cases in RUNS:
            t0 = time.monotonic()
            results = run_cases(py, fn, cases)
            for case in cases:
                problems = results[case]
                word = "FAIL " + tail("; ".join(problems), 400) if problems else "PASS"
                print(f"KCHECK {args.kernel} {py.label} {case} {word}", flush=True)
            print(f"KTIME {args.kernel} {py.label} {fn.__name__} {time.monotonic() - t0:.1f}s",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
