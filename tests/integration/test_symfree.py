#!/usr/bin/env python3
"""aps-bpf without any symbols: symbol-free mode on every interpreter of the
bed.  Run as root from the repo root:

    python3 tests/integration/test_symfree.py [-k SUBSTR]... [--bed LABEL]... [-v]

Each target loads a `strip --strip-all` copy of its interpreter's _asyncio
module from a directory first on sys.path (PYTHONPATH), runs in a private
mount namespace with a tmpfs over its root's /usr/lib/debug (no debug file
anywhere), and aps-bpf runs without DEBUGINFOD_URLS.

Tests (names; -k selects by substring):
  symfree-trace:SCEN@BED      every scenario of run.py traced, every check of
                              checks.py against its ground truth; every hook
                              reported as found symbol-free
  symfree-doctor@BED          `aps-bpf doctor --explain PID` on that target:
                              each hook symbol-free, the build named, the
                              probe cost per step; exit 0
  symfree-doctor-symbols@BED  doctor on the unmodified target: the symbol
                              source (symtab/debug file), and the symbol-free
                              cross-check agrees on every hook
  symfree-bad:HOOK@BED        APS_TEST_BAD_CANDIDATE=HOOK:+1 (a wrong address):
                              refused by the checks, never attached (required
                              hooks: aps-bpf exits 1 naming the refusal; swap,
                              cancel: dropped with a note, traced without: for
                              cancel, doctor says "not found (optional)" and
                              the trace has no cancel_requested line, its
                              other checks pass); the target runs on unharmed
  symfree-renamed@BED         the stripped module loaded under another file
                              name (sitecustomize): aps-bpf finds the asyncio
                              code in whatever object holds it, and traces

Output: `PASS name` / `FAIL name: reason` lines, then `N passed, N failed`;
exit status 1 if any failed.  Reuses tests/integration/run.py (bed, scenario
protocol, checks).
"""
import argparse
import os
import time
import json
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402
from run import APS, Fail, Proc, Scenario, tail  # noqa: E402

HOOKS = ["task_step_impl", "_asyncio_Task___init__", "TaskObj_dealloc",
         "_asyncio_Task_cancel"]     # cancel: optional, but found on every bed build
SWAP = "swap_current_task"
CANCEL = "_asyncio_Task_cancel"
COPY_DIR = f"/tmp/aps-symfree-{os.getpid()}"   # inside the bed's root; one per run


def tracer_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEBUGINFOD_")}
    return env


class Stripped:
    """A bed with a stripped copy of its _asyncio module."""

    def __init__(self, bed):
        self.bed = bed
        self.module = bed.asyncio_module()           # inside the root
        self.name = os.path.basename(self.module)
        self.dir_inside = f"{COPY_DIR}/{bed.label}"
        self.dir_host = bed.host_path(self.dir_inside)
        os.makedirs(self.dir_host, exist_ok=True)
        self.copy_inside = f"{self.dir_inside}/{self.name}"
        self.copy_host = bed.host_path(self.copy_inside)
        r = subprocess.run(["strip", "--strip-all", "-o", self.copy_host,
                            bed.host_path(self.module)], capture_output=True, text=True)
        if r.returncode != 0:
            raise Fail(f"strip failed: {r.stderr.strip()}")
        r = subprocess.run(["readelf", "-S", "-W", self.copy_host], capture_output=True, text=True)
        if re.search(r"\.symtab|\.debug_info", r.stdout):
            raise Fail(f"{self.copy_host} still has symbols")

    def hide_debug(self):
        """Wrapper: the target in a private mount ns, tmpfs over its root's /usr/lib/debug."""
        d = self.bed.host_path("/usr/lib/debug")
        os.makedirs(d, exist_ok=True)
        return ["unshare", "-m", "--propagation", "private", "sh", "-c",
                'd="$1"; shift; mount -t tmpfs aps-nodebug "$d" && exec "$@"', "sh", d]

    def scenario(self, ctx, name, tag, env_extra=None):
        gt_inside, gt_host = self.bed.gt_path(ctx.workdir, tag)
        env = {"PYTHONPATH": self.dir_inside}
        env.update(env_extra or {})
        return Scenario(self.bed, name, gt_inside, env_extra=env, wrap=self.hide_debug()), gt_host


_stripped = {}


def stripped(bed):
    if bed.label not in _stripped:
        _stripped[bed.label] = Stripped(bed)
    return _stripped[bed.label]


def check_attach_lines(err, st, swap_expected, where, cancel_expected=True):
    """The attached lines: our copy is traced, every hook came symbol-free."""
    if where not in err:
        raise Fail(f"aps-bpf did not trace {where}: {tail(err, 6)!r}", err)
    hooks = [h for h in HOOKS if cancel_expected or h != CANCEL]
    for h in hooks + ([SWAP] if swap_expected else []):
        if not re.search(r"aps-bpf:\s+%s\s+0x[0-9a-f]+ \(symbol-free\)" % re.escape(h), err):
            raise Fail(f"{h} not reported as found symbol-free: {tail(err, 8)!r}", err)


def trace_scenario(ctx, st, scen, tag, tracer_extra_env=None, swap_expected=None, where=None,
                   cancel_expected=True):
    """Trace scen on the stripped copy; every check. Without the cancel hook
    (cancel_expected False): no cancel_requested line, and the ground
    truth's cancels are not compared."""
    bed = st.bed
    if swap_expected is None:
        swap_expected = bed.version >= (3, 12)
    out_path = os.path.join(ctx.workdir, tag + ".jsonl")
    sc, gt_host = st.scenario(ctx, scen, tag)
    tr = None
    try:
        pid = sc.read_ready()
        env = tracer_env()
        env.update(tracer_extra_env or {})
        with open(out_path, "wb") as out:
            tr = Proc([APS, "trace", "--json", str(pid)], stdout=out, env=env,
                      watch="aps-bpf: attached")
            if not tr.wait_for_line(run.ATTACH_TIMEOUT):
                rc = tr.p.poll()
                raise Fail(f"aps-bpf did not attach within {run.ATTACH_TIMEOUT}s (exit {rc}): "
                           f"{tail(tr.stderr, 3)}", tail(tr.stderr))
            sc.go()
            sc.finish()
            run.wait_tracer_exit(tr)
    finally:
        sc.stop()
        if tr:
            tr.stop()
    ctx.keep(out_path)
    check_attach_lines(tr.stderr, st, swap_expected, where or st.copy_inside, cancel_expected)
    gt = run.load_gt(gt_host)
    if not cancel_expected:
        if re.search(r"aps-bpf:\s+%s\s+0x" % CANCEL, tr.stderr):
            raise Fail(f"{CANCEL} was attached", tr.stderr)
        with open(out_path) as f:
            if '"event":"cancel_requested"' in f.read():
                raise Fail("cancel_requested lines without the cancel hook")
        if not gt.pop("cancels", None):
            raise Fail(f"{scen} made no cancel() calls: nothing shows the hook missing")
    run.check_trace(out_path, gt)
    return tr.stderr


def t_trace(ctx, bed, scen):
    bed.probe()
    trace_scenario(ctx, stripped(bed), scen, f"symfree-{scen}-{bed.label}")


def run_doctor(pid, extra=(), env=None):
    r = subprocess.run([APS, "doctor", "--explain"] + list(extra) + [str(pid)],
                       capture_output=True, text=True, timeout=60,
                       env=env or tracer_env(), cwd=run.REPO)
    return r.returncode, r.stdout, r.stderr


def expect_in(text, pattern, what):
    if not re.search(pattern, text, re.M):
        raise Fail(f"doctor output lacks {what} (/{pattern}/)", text)


def t_doctor(ctx, bed):
    bed.probe()
    st = stripped(bed)
    sc, _ = st.scenario(ctx, "basic", f"doctor-{bed.label}")
    try:
        pid = sc.read_ready()
        rc, out, err = run_doctor(pid)
    finally:
        sc.stop()
    if rc != 0:
        raise Fail(f"doctor exited {rc}: {tail(out + err, 3)!r}", out + err)
    expect_in(out, r"^  Python %d\.%d" % bed.version, "the Python version")
    expect_in(out, r"^  object: +%s" % re.escape(st.copy_inside), "the stripped object")
    expect_in(out, r"^  symbols: +none", "'no symbols'")
    for h in HOOKS + ([SWAP] if bed.version >= (3, 12) else []):
        expect_in(out, r"^  %s +0x[0-9a-f]+ +symbol-free " % re.escape(h), f"{h} symbol-free")
    expect_in(out, r"per task step: +1 uprobe hit .*emulated\)", "the probe cost per step")
    expect_in(out, r"per Task\.cancel\(\): +\+1 \(%s, emulated\); nothing per step" % CANCEL,
              "the probe cost per cancel")
    if bed.version <= (3, 11):
        expect_in(out, r"live check: live _asyncio.Task: tp_init = 0x", "the live type check")


def t_doctor_symbols(ctx, bed):
    """The unmodified target: symbols from .symtab or the debug file; the
    symbol-free analysis of the same object agrees on every hook."""
    bed.probe()
    gt_inside, _ = bed.gt_path(ctx.workdir, f"doctor-sym-{bed.label}")
    sc = Scenario(bed, "basic", gt_inside)
    try:
        pid = sc.read_ready()
        rc, out, err = run_doctor(pid)
    finally:
        sc.stop()
    if rc != 0:
        raise Fail(f"doctor exited {rc}: {tail(out + err, 3)!r}", out + err)
    src = "debug file" if bed.is_system_python() else "symtab"
    hooks = HOOKS + ([SWAP] if bed.version >= (3, 12) else [])
    for h in hooks:
        expect_in(out, r"^  %s +0x[0-9a-f]+ +%s " % (re.escape(h), src), f"{h} from {src}")
        expect_in(out, r"^  %s +symbol-free (0x[0-9a-f]+) = %s \1: agree" % (re.escape(h), src),
                  f"{h}: symbol-free agrees with {src}")
    if "DISAGREE" in out:
        raise Fail("symbol-free disagrees with the symbols", out)


def t_bad(ctx, bed, hook):
    """A wrong candidate address is refused, never attached."""
    bed.probe()
    st = stripped(bed)
    func = {"step": "task_step_impl", "init": "_asyncio_Task___init__",
            "dealloc": "TaskObj_dealloc", "swap": SWAP, "cancel": CANCEL}[hook]
    if hook == "cancel":
        # optional: dropped with a note; everything else is traced
        err = trace_scenario(ctx, st, "cancel_who", f"bad-cancel-{bed.label}",
                             {"APS_TEST_BAD_CANDIDATE": "cancel:+1"}, cancel_expected=False)
        if not re.search(r"symbol-free candidate for %s refused: .*does not start a function"
                         % CANCEL, err):
            raise Fail(f"no refusal note for cancel: {tail(err, 6)!r}", err)
        sc, _ = st.scenario(ctx, "basic", f"bad-cancel-doctor-{bed.label}")
        try:
            pid = sc.read_ready()
            env = tracer_env()
            env["APS_TEST_BAD_CANDIDATE"] = "cancel:+1"
            rc, out, derr = run_doctor(pid, env=env)
        finally:
            sc.stop()
        if rc != 0:
            raise Fail(f"doctor exited {rc} without the optional cancel hook", out + derr)
        expect_in(out, r"^  %s +not found \(optional\)" % CANCEL, "cancel: not found (optional)")
        expect_in(out, r"per Task\.cancel\(\): +\+0 \(no %s hook" % CANCEL, "the cancel cost line")
        return
    if hook == "swap":
        # optional: dropped with a note, tracing goes on with the other hooks
        err = trace_scenario(ctx, st, "basic", f"bad-swap-{bed.label}",
                             {"APS_TEST_BAD_CANDIDATE": "swap:+1"}, swap_expected=False)
        if not re.search(r"symbol-free candidate for swap_current_task refused: .*does not start a function",
                         err):
            raise Fail(f"no refusal note for swap: {tail(err, 6)!r}", err)
        if re.search(r"aps-bpf:\s+swap_current_task\s+0x", err):
            raise Fail("the refused swap_current_task was attached", err)
        return
    sc, gt_host = st.scenario(ctx, "basic", f"bad-{hook}-{bed.label}")
    tr = None
    try:
        pid = sc.read_ready()
        env = tracer_env()
        env["APS_TEST_BAD_CANDIDATE"] = f"{hook}:+1"
        tr = Proc([APS, "trace", "--json", str(pid)], stdout=subprocess.DEVNULL, env=env,
                  watch="aps-bpf: attached")
        attached = tr.wait_for_line(run.BADINPUT_TIMEOUT)
        rc = tr.wait(run.BADINPUT_TIMEOUT)
        err = tr.stderr
        # the target was never touched: it runs its scenario to the end
        sc.go()
        sc.finish()
    finally:
        sc.stop()
        if tr:
            tr.stop()
    if attached or rc == 0:
        raise Fail(f"aps-bpf attached with a wrong {func} address (exit {rc})", err)
    if rc != 1:
        raise Fail(f"aps-bpf exited {rc}, expected 1", err)
    if not re.search(r"refusing to probe %s at 0x[0-9a-f]+ \(found symbol-free\): "
                     r"0x[0-9a-f]+ does not start a function in \.eh_frame" % func, err):
        raise Fail(f"message does not name the refusal: {tail(err, 3)!r}", err)
    run.load_gt(gt_host)


SITECUSTOMIZE = '''\
# aps-bpf test: _asyncio from a file not named _asyncio*.so
import importlib.machinery, importlib.util, sys


class _Finder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "_asyncio":
            return None
        p = {path!r}
        return importlib.util.spec_from_file_location(
            name, p, loader=importlib.machinery.ExtensionFileLoader(name, p))


sys.meta_path.insert(0, _Finder)
'''


def t_renamed(ctx, bed):
    """The asyncio code in an object of any name: aps-bpf looks in every mapped object."""
    bed.probe()
    st = stripped(bed)
    rdir_inside = f"{COPY_DIR}/renamed-{bed.label}"
    rdir_host = bed.host_path(rdir_inside)
    os.makedirs(rdir_host, exist_ok=True)
    lib_inside = f"{rdir_inside}/libaps_renamed_async.so"
    shutil.copy(st.copy_host, bed.host_path(lib_inside))
    with open(os.path.join(rdir_host, "sitecustomize.py"), "w") as f:
        f.write(SITECUSTOMIZE.format(path=lib_inside))
    renamed = Stripped.__new__(Stripped)
    renamed.__dict__.update(st.__dict__)
    renamed.dir_inside = rdir_inside
    trace_scenario(ctx, renamed, "basic", f"renamed-{bed.label}", where=lib_inside)


# ---- runner ----------------------------------------------------------------

def t_views(ctx, bed, scen):
    """ps/pstree with no symbols anywhere (stripped _asyncio first on the
    path, debug files hidden): the tasks, awaiter edges and frame functions
    the program records of itself (EXPECT of the park scenarios)."""
    run.need_aps()
    st = stripped(bed)
    env = dict(os.environ, PYTHONPATH=st.dir_inside, PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.Popen(st.hide_debug() + bed.argv + [bed.scenario_path(scen)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        expect, pid = None, None
        deadline = time.time() + 60
        while time.time() < deadline and pid is None:
            line = p.stdout.readline()
            if not line:
                raise Fail(f"{scen} exited: {p.stderr.read()[-300:]}")
            if line.startswith("EXPECT "):
                expect = json.loads(line[7:])
            elif line.startswith("READY "):
                pid = int(line.split()[1])
        if expect is None or pid is None:
            raise Fail(f"{scen} did not print EXPECT and READY")
        env_aps = tracer_env()
        r = subprocess.run([run.APS, "ps", "--format", "json", str(pid)], capture_output=True,
                           text=True, env=env_aps, timeout=120)
        if r.returncode:
            raise Fail(f"ps exited {r.returncode}: {r.stderr.strip()[-300:]}")
        ps = json.loads(r.stdout)
        rt = subprocess.run([run.APS, "pstree", "--format", "json", str(pid)], capture_output=True,
                            text=True, env=env_aps, timeout=120)
        if rt.returncode:
            raise Fail(f"pstree exited {rt.returncode}: {rt.stderr.strip()[-300:]}")
        json.loads(rt.stdout)
    finally:
        p.kill()
        p.wait()
    got = {t["task_id"]: t for t in ps["tasks"]}
    want = {t["id"]: t for t in expect["tasks"]}
    if set(got) != set(want):
        raise Fail(f"tasks differ: missing {sorted(set(want) - set(got))}, "
                   f"extra {sorted(set(got) - set(want))}")
    for tid, w in want.items():
        g = got[tid]
        if w["name"] is not None and g["task_name"] != w["name"]:
            raise Fail(f"{tid}: name {g['task_name']!r}, expected {w['name']!r}")
        if {a["id"] for a in g["awaiters"]} != set(w["awaiters"]):
            raise Fail(f"{w['name'] or tid}: awaiters {[a['id'] for a in g['awaiters']]}, "
                       f"expected {w['awaiters']}")
        gf = [f["func"] for f in g["coroutine_stack"]]
        wf = [f["func"] for f in w["frames"]]
        if gf != wf:
            raise Fail(f"{w['name'] or tid}: frames {gf}, expected {wf}")


def all_tests(beds):
    tests = []
    for scen, on in run.SCENARIOS_ON.items():
        for bed in beds:
            if on(bed):
                tests.append((f"symfree-trace:{scen}@{bed.label}", t_trace, (bed, scen)))
    for bed in beds:
        tests.append((f"symfree-doctor@{bed.label}", t_doctor, (bed,)))
        tests.append((f"symfree-doctor-symbols@{bed.label}", t_doctor_symbols, (bed,)))
    for bed in beds:
        tests.append((f"symfree-bad:step@{bed.label}", t_bad, (bed, "step")))
    b312 = run.bed_with(beds, (3, 12))
    if b312:
        for hook in ("init", "dealloc", "swap", "cancel"):
            tests.append((f"symfree-bad:{hook}@{b312.label}", t_bad, (b312, hook)))
    for bed in beds:
        tests.append((f"symfree-renamed@{bed.label}", t_renamed, (bed,)))
    for bed in beds:
        for scen in ("park_gather", "park_await_task", "park_taskgroups"):
            if scen == "park_taskgroups" and bed.version < (3, 11):
                continue
            tests.append((f"symfree-views:{scen}@{bed.label}", t_views, (bed, scen)))
    return tests


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTR")
    ap.add_argument("--bed", action="append", default=[], metavar="LABEL")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("test_symfree.py: must run as root", file=sys.stderr)
    beds = run.load_bed(args.bed, ap)
    ctx = run.Ctx(args.v)
    tests = [t for t in all_tests(beds) if not args.k or any(k in t[0] for k in args.k)]
    passed = failed = 0
    try:
        p, f = run.run_tests(ctx, tests, args.v)
        passed += p
        failed += f
    finally:
        for st in _stripped.values():
            shutil.rmtree(st.bed.host_path(COPY_DIR), ignore_errors=True)
    return run.finish(ctx, beds, passed, failed, args.v)


if __name__ == "__main__":
    sys.exit(main())
