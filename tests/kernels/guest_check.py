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
  timing_blocking.py `blocked`, `check` and `top -b` at once:
    blocked            the 3 blocking steps (0.3 s sleeps: 0.24-0.6 s, threshold 200 ms:
                       TCG runs the code around them 10x slower), stack and line
    check              exit 1, the one offender is the blocking task
    top                `top -b --iterations 2 --json`: the tasks, counters
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
SLEEP_LINE = next(n for n, line in enumerate(open(os.path.join(SCEN, "timing_blocking.py")), 1)
                  if line.startswith("    time.sleep(0.3)"))


class Fail(Exception):
    pass


class Proc:
    """A process with stdout to a file (or a pipe) and stderr to a file."""

    def __init__(self, argv, out=None, env=None, stdin=None):
        self.err = tempfile.TemporaryFile()
        self.out = out
        self.p = subprocess.Popen(argv, stdout=out or subprocess.PIPE, stderr=self.err,
                                  stdin=stdin, env=env, cwd=REPO)

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode("utf-8", "replace")

    def wait_stderr(self, prefix):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if any(l.startswith(prefix) for l in self.stderr().splitlines()):
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


def run_blocking(py, work, report):
    """timing_blocking.py under blocked, check and top -b at once."""
    sc = py.start("timing_blocking.py")
    cmds = {"blocked": ["blocked", "--mode", "step", "--threshold", "200ms", "--json"],   # TCG: 10x slower steps
            "check": ["check", "--mode", "step", "--for", guest_arm64.CHECK_WINDOW, "--max-step", "200ms",
                      "--json"],
            "top": ["top", "--mode", "step", "-b", "--iterations", "2", "--delay", guest_arm64.TOP_DELAY, "--json"]}
    procs = {}
    try:
        pid = int(read_line(sc, "READY ").split()[1])
        # check and top watch a fixed window from their attach: they attach
        # after blocked, so its load time (~40 s under arm64 TCG) is not in it
        for group in (("blocked",), ("check", "top")):
            for case in group:
                procs[case] = Proc([APS] + cmds[case] + [str(pid)])
            for case in group:
                procs[case].wait_stderr("aps-bpf: attached")
        sc.p.stdin.write(b"go\n")
        sc.p.stdin.close()
        outs = {case: p.p.communicate(timeout=TIMEOUT)[0].decode() for case, p in procs.items()}
        sc.wait("timing_blocking.py")
    finally:
        for p in [sc] + list(procs.values()):
            p.stop()
    rc = {case: p.p.returncode for case, p in procs.items()}
    report("blocked", [f"exit {rc['blocked']}: {tail(procs['blocked'].stderr())}"] if rc["blocked"]
           else command_checks.blocked_problems(json_lines(outs["blocked"]), SLEEP_LINE,
                                                 max_s=0.6, every_stack=False))
    report("check", command_checks.check_problems(
        rc["check"], json.loads(outs["check"]) if outs["check"].strip() else None))
    report("top", [f"exit {rc['top']}: {tail(procs['top'].stderr())}"] if rc["top"]
           else command_checks.top_problems(json_lines(outs["top"])))


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


WALL_CLOCK_RUNS = (run_blocking,)


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
            # wall-clock cases (blocked, check, top) get one more run when a
            # starved emulated guest made one fail; the retry is said (KRETRY)
            tries = 2 if fn in WALL_CLOCK_RUNS else 1
            t0 = time.monotonic()
            for attempt in range(tries):
                results = run_cases(py, fn, cases)
                if attempt + 1 == tries or all(not p for p in results.values()):
                    break
                print(f"KRETRY {args.kernel} {py.label} {fn.__name__}: "
                      f"{tail('; '.join(sum(results.values(), [])), 300)}", flush=True)
            for case in cases:
                problems = results[case]
                word = "FAIL " + tail("; ".join(problems), 400) if problems else "PASS"
                print(f"KCHECK {args.kernel} {py.label} {case} {word}", flush=True)
            print(f"KTIME {args.kernel} {py.label} {fn.__name__} {time.monotonic() - t0:.1f}s",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
