#!/usr/bin/env python3
"""aps-bpf integration tests.  Run as root from the repo root:

    python3 tests/integration/run.py [-k SUBSTR]... [--bed LABEL]... [-v]

Tests (names; -k selects by substring):
  selftest                      checks.py against hand-written traces
  groundtruth:SCEN@BED          the scenario runs on BED and its recorded
                                ground truth matches what really happened
                                (APS_SCENARIO_VERIFY, no aps-bpf)
  trace:SCEN@BED                `aps-bpf trace --json PID` on the scenario,
                                every check of checks.py against its ground
                                truth (exit_midway: target exits mid-trace)
  trace-cmd:basic@BED           `aps-bpf trace --json -- PYTHON basic.py GT`
  nodebug:BED                   Debian-packaged interpreters with their
                                debug directory hidden: aps-bpf fails naming
                                the build-id and the -dbg package/file
  badinput:...                  no such PID, not Python, not root, usage

The test bed is /var/cache/aps-bpf/bed.json (tests/testbed.sh), a list of
{"label", "argv", "version", "root"}; an interpreter of the bed that does
not run is a FAIL.  Output: one `PASS name` / `FAIL name: reason` line per
test, then `N passed, N failed`; exit status 1 if any failed.
"""
import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCENARIOS = os.path.join(REPO, "tests", "scenarios")
APS = os.path.join(REPO, "aps-bpf")
BED_FILE = os.environ.get("APS_BED_FILE", "/var/cache/aps-bpf/bed.json")
ROOT_SCENARIO_DIR = f"/tmp/aps-tests-{os.getpid()}"  # inside a chroot bed; one per run

sys.path.insert(0, HERE)
import checks  # noqa: E402

ATTACH_TIMEOUT = 20
SCENARIO_TIMEOUT = 60
TRACER_EXIT_TIMEOUT = 10
BADINPUT_TIMEOUT = 20

DEFAULT_BED = [
    {"label": "pyenv-3.10", "argv": ["/root/.pyenv/versions/3.10.13/bin/python3.10"],
     "version": "3.10", "root": "/"},
    {"label": "pyenv-3.11", "argv": ["/root/.pyenv/versions/3.11.7/bin/python3.11"],
     "version": "3.11", "root": "/"},
    {"label": "pyenv-3.12", "argv": ["/root/.pyenv/versions/3.12.1/bin/python3.12"],
     "version": "3.12", "root": "/"},
    {"label": "pyenv-3.13", "argv": ["/root/.pyenv/versions/3.13.0/bin/python3.13"],
     "version": "3.13", "root": "/"},
    {"label": "debian-3.11", "argv": ["/usr/bin/python3.11"], "version": "3.11", "root": "/"},
    {"label": "sid-3.14", "argv": ["chroot", "/var/cache/aps-bpf/sid-root", "python3.14"],
     "version": "3.14", "root": "/var/cache/aps-bpf/sid-root"},
]

# scenario -> predicate on a Bed: where it runs (all scenarios run on every
# interpreter, skipping what it lacks, except greenlet_mix: Debian's 3.11,
# the one interpreter with python3-greenlet).
SCENARIOS_ON = {
    "basic": lambda bed: True,
    "gather": lambda bed: True,
    "taskgroup": lambda bed: True,
    "eager": lambda bed: True,
    "threads": lambda bed: True,
    "create_task_name": lambda bed: True,
    "exit_midway": lambda bed: True,
    "cancel_who": lambda bed: True,
    "greenlet_mix": lambda bed: bed.is_system_python() and bed.version == (3, 11),
}


class Fail(Exception):
    """A test failed; str() is the one-line reason."""

    def __init__(self, reason, details=""):
        super().__init__(reason)
        self.details = details


# ---- the test bed ----------------------------------------------------------

class Bed:
    def __init__(self, entry):
        self.label = entry["label"]
        self.argv = list(entry["argv"])
        self.version = tuple(int(x) for x in str(entry["version"]).split(".")[:2])
        self.root = entry.get("root") or "/"
        self._probe = None

    @property
    def chrooted(self):
        return os.path.realpath(self.root) != "/"

    def host_path(self, inside):
        """A path inside the bed's root, as seen from here."""
        if not self.chrooted:
            return inside
        return os.path.join(self.root, inside.lstrip("/"))

    def is_system_python(self):
        """A Debian-packaged interpreter: /usr/bin/python3.X, or in a root."""
        return self.chrooted or self.argv[0].startswith("/usr/bin/")

    def scenario_path(self, name):
        """The scenario's path as the bed's interpreter sees it."""
        if not self.chrooted:
            return os.path.join(SCENARIOS, name + ".py")
        dest = self.host_path(ROOT_SCENARIO_DIR)
        os.makedirs(dest, exist_ok=True)
        for f in os.listdir(SCENARIOS):
            if f.endswith(".py"):
                shutil.copy(os.path.join(SCENARIOS, f), dest)
        return f"{ROOT_SCENARIO_DIR}/{name}.py"

    def gt_path(self, workdir, tag):
        """(path for the scenario, path to read it from here)."""
        if not self.chrooted:
            p = os.path.join(workdir, tag + ".gt.json")
            return p, p
        inside = f"{ROOT_SCENARIO_DIR}/{tag}.gt.json"
        host = self.host_path(inside)
        if os.path.exists(host):
            os.unlink(host)
        return inside, host

    def probe(self):
        """Run the interpreter once: None if it works, else the problem."""
        if self._probe is None:
            try:
                r = subprocess.run(self.argv + ["-c", "import sys, _asyncio; "
                                                "print('%d.%d' % sys.version_info[:2])"],
                                   capture_output=True, text=True, timeout=30)
                got = r.stdout.strip()
                if r.returncode != 0:
                    self._probe = f"interpreter {self.argv} does not run: {r.stderr.strip()[-300:]}"
                elif got != "%d.%d" % self.version:
                    self._probe = f"interpreter {self.argv} is {got}, bed says {self.version}"
                else:
                    self._probe = ""
            except (OSError, subprocess.TimeoutExpired) as e:
                self._probe = f"interpreter {self.argv} does not run: {e}"
        if self._probe:
            raise Fail(self._probe)

    def asyncio_module(self):
        """Path (inside the root) of the interpreter's _asyncio module."""
        r = subprocess.run(self.argv + ["-c", "import _asyncio; print(_asyncio.__file__)"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise Fail(f"cannot locate _asyncio: {r.stderr.strip()[-300:]}")
        return r.stdout.strip()


def load_bed(labels, ap):
    if os.path.exists(BED_FILE):
        with open(BED_FILE) as f:
            entries = json.load(f)
    else:
        entries = DEFAULT_BED
    beds = [Bed(e) for e in entries]
    if labels:
        unknown = set(labels) - {b.label for b in beds}
        if unknown:
            ap.error(f"no such bed label(s): {', '.join(sorted(unknown))}; "
                     f"known: {', '.join(b.label for b in beds)}")
        beds = [b for b in beds if b.label in labels]
    return beds


def bed_with(beds, version, system=False):
    for b in beds:
        if b.version == version and b.is_system_python() == system:
            return b
    return None


# ---- processes -------------------------------------------------------------

class Proc:
    """A child process with its stderr collected line by line."""

    def __init__(self, argv, stdout=None, stdin=None, env=None, watch=None):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                                  env=env, cwd=REPO)
        self.lines = []
        self.watch = watch
        self.matched = threading.Event()
        self.t = threading.Thread(target=self._read_stderr, daemon=True)
        self.t.start()

    def _read_stderr(self):
        for raw in self.p.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if self.watch and line.startswith(self.watch):
                self.matched.set()

    @property
    def stderr(self):
        self.t.join(timeout=2)
        return "\n".join(self.lines)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_for_line(self, timeout):
        """True once a stderr line starts with self.watch; False if the
        process exited or the time ran out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.matched.wait(0.05):
                return True
            if self.p.poll() is not None:
                self.t.join(timeout=2)
                return self.matched.is_set()
        return False

    def stop(self):
        """Make sure the process is gone (SIGINT, then SIGKILL)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            if self.wait(3) is None:
                self.p.kill()
                self.p.wait()


def tail(text, n=15):
    lines = text.strip().splitlines()
    return "\n".join(lines[-n:])


class Scenario(Proc):
    """A scenario program started with READY/go (or no-wait) protocol."""

    def __init__(self, bed, name, gt_inside, env_extra=None, wrap=()):
        env = {k: v for k, v in os.environ.items() if not k.startswith("APS_SCENARIO_")}
        env.update(PYTHONDONTWRITEBYTECODE="1", **(env_extra or {}))
        super().__init__(list(wrap) + bed.argv + [bed.scenario_path(name), gt_inside],
                         stdout=subprocess.PIPE, stdin=subprocess.PIPE, env=env)

    def read_ready(self, timeout=ATTACH_TIMEOUT):
        """The target pid from the READY line."""
        box = []
        t = threading.Thread(target=lambda: box.append(self.p.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        line = box[0].decode(errors="replace") if box else ""
        m = re.match(r"READY (\d+)$", line.strip())
        if not m:
            self.stop()
            raise Fail(f"scenario did not print READY (got {line.strip()!r})",
                       tail(self.stderr))
        return int(m.group(1))

    def go(self):
        self.p.stdin.write(b"go\n")
        self.p.stdin.close()

    def finish(self, timeout=SCENARIO_TIMEOUT):
        rc = self.wait(timeout)
        if rc is None:
            self.stop()
            raise Fail(f"scenario did not exit within {timeout}s", tail(self.stderr))
        if rc != 0:
            raise Fail(f"scenario exited {rc}: {tail(self.stderr, 3)}", tail(self.stderr))


def need_aps():
    if not os.access(APS, os.X_OK):
        raise Fail(f"{APS} does not exist or is not executable (run make)")


def tracer(pid_or_cmd, out_file, env=None):
    argv = [APS, "trace", "--json"] + ([str(pid_or_cmd)] if isinstance(pid_or_cmd, int)
                                       else ["--"] + list(pid_or_cmd))
    return Proc(argv, stdout=out_file, env=env, watch="aps-bpf: attached")


def wait_tracer_exit(tr):
    """aps-bpf exits by itself once the target is gone; else SIGINT it."""
    rc = tr.wait(TRACER_EXIT_TIMEOUT)
    if rc is None:
        tr.stop()
        raise Fail(f"aps-bpf did not exit within {TRACER_EXIT_TIMEOUT}s of the target's exit",
                   tail(tr.stderr))
    if rc != 0:
        raise Fail(f"aps-bpf exited {rc}: {tail(tr.stderr, 3)}", tail(tr.stderr))


# ---- checking a trace ----------------------------------------------------------

def load_gt(host_path):
    try:
        with open(host_path) as f:
            gt = json.load(f)
    except (OSError, ValueError) as e:
        raise Fail(f"no ground truth at {host_path}: {e}")
    if gt.get("errors"):
        raise Fail(f"scenario ground truth errors: {gt['errors']}")
    return gt


def check_trace(out_path, gt):
    with open(out_path) as f:
        events, problems = checks.parse_lines(f.read())
    if problems:
        raise Fail(f"output is not JSON lines: {problems[0]}", "\n".join(problems))
    if not events:
        raise Fail("aps-bpf printed no events")
    failed = checks.run_checks(events, gt)
    if failed:
        first_name, first = failed[0]
        names = ", ".join(n for n, _ in failed)
        details = "\n".join(f"{n}: {p}" for n, ps in failed for p in ps)
        raise Fail(f"{len(failed)} checks failed ({names}); {first_name}: {first[0]}",
                   details)


# ---- tests -------------------------------------------------------------------

def t_selftest(ctx):
    import test_checks
    suite = unittest.defaultTestLoader.loadTestsFromModule(test_checks)
    buf = io.StringIO()
    result = unittest.TextTestRunner(stream=buf, verbosity=1).run(suite)
    if not result.wasSuccessful():
        bad = [str(t) for t, _ in result.failures + result.errors]
        raise Fail(f"checks.py unit tests failed: {', '.join(bad)}", buf.getvalue())


def t_groundtruth(ctx, bed, scen):
    """The scenario runs on this interpreter and what it records is what
    happened (APS_SCENARIO_VERIFY), without aps-bpf."""
    bed.probe()
    gt_inside, gt_host = bed.gt_path(ctx.workdir, f"gt-{scen}-{bed.label}")
    sc = Scenario(bed, scen, gt_inside, {"APS_SCENARIO_NO_WAIT": "1",
                                         "APS_SCENARIO_VERIFY": "1"})
    try:
        sc.finish()
    finally:
        sc.stop()
    gt = load_gt(gt_host)
    if not gt["tasks"]:
        raise Fail("ground truth has no tasks")
    ctx.note(f"{scen}@{bed.label}: {len(gt['tasks'])} tasks, "
             f"{sum(t['steps'] for t in gt['tasks'])} steps, notes={gt['notes']}")


def t_trace(ctx, bed, scen):
    """aps-bpf trace --json PID: attach before go, the target runs and
    exits, aps-bpf exits 0 by itself; then every check."""
    need_aps()
    bed.probe()
    tag = f"trace-{scen}-{bed.label}"
    gt_inside, gt_host = bed.gt_path(ctx.workdir, tag)
    out_path = os.path.join(ctx.workdir, tag + ".jsonl")
    sc = Scenario(bed, scen, gt_inside)
    tr = None
    try:
        pid = sc.read_ready()
        with open(out_path, "wb") as out:
            tr = tracer(pid, out)
            if not tr.wait_for_line(ATTACH_TIMEOUT):
                rc = tr.p.poll()
                raise Fail(f"aps-bpf did not report attached within {ATTACH_TIMEOUT}s "
                           f"(exit {rc}): {tail(tr.stderr, 3)}", tail(tr.stderr))
            sc.go()
            sc.finish()
            wait_tracer_exit(tr)
    finally:
        sc.stop()
        if tr:
            tr.stop()
    ctx.keep(out_path)
    check_trace(out_path, load_gt(gt_host))


def t_trace_cmd(ctx, bed):
    """aps-bpf trace --json -- PYTHON basic.py GT: aps-bpf starts the target."""
    need_aps()
    bed.probe()
    tag = f"trace-cmd-basic-{bed.label}"
    gt_inside, gt_host = bed.gt_path(ctx.workdir, tag)
    out_path = os.path.join(ctx.workdir, tag + ".jsonl")
    env = dict(os.environ, APS_SCENARIO_NO_WAIT="1", PYTHONDONTWRITEBYTECODE="1")
    cmd = bed.argv + [bed.scenario_path("basic"), gt_inside]
    with open(out_path, "wb") as out:
        tr = tracer(cmd, out, env=env)
        try:
            rc = tr.wait(SCENARIO_TIMEOUT)
            if rc is None:
                raise Fail(f"aps-bpf -- CMD did not exit within {SCENARIO_TIMEOUT}s",
                           tail(tr.stderr))
            if rc != 0:
                raise Fail(f"aps-bpf exited {rc}: {tail(tr.stderr, 3)}", tail(tr.stderr))
        finally:
            tr.stop()
    ctx.keep(out_path)
    check_trace(out_path, load_gt(gt_host))


def t_lost(ctx, bed):
    """A slow consumer: aps-bpf's stdout is a pipe nobody reads while 200k
    steps run, so it blocks on write and its 16 KiB ring buffer overflows.
    The losses are counted in BPF, shown as `lost` lines, and add up to the
    summary; the steps that got through are all there."""
    need_aps()
    workload = os.path.join(REPO, "bench", "sleep0_workload.py")
    target = subprocess.Popen(bed.argv + [workload], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, cwd=REPO)
    try:
        line = target.stdout.readline().split()
        if not line or line[0] != b"READY":
            raise Fail(f"workload did not start: {line!r}")
        tr = subprocess.Popen([APS, "trace", "--json", "--ringbuf-kb", "16", line[1].decode()],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
        time.sleep(0.2)
        deadline = time.monotonic() + ATTACH_TIMEOUT
        # attach is announced on stderr; stdout stays unread until the end
        while time.monotonic() < deadline:
            l = tr.stderr.readline()
            if not l or l.startswith(b"aps-bpf: attached"):
                break
        target.stdin.write(b"go\n")
        target.stdin.flush()
        target.wait(SCENARIO_TIMEOUT)
        out, err = tr.communicate(timeout=SCENARIO_TIMEOUT)
    finally:
        if target.poll() is None:
            target.kill()
    out_path = os.path.join(ctx.workdir, f"lost-{bed.label}.jsonl")
    with open(out_path, "wb") as f:
        f.write(out)
    ctx.keep(out_path)
    if tr.returncode:
        raise Fail(f"aps-bpf exited {tr.returncode}", err.decode(errors="replace"))
    events, problems = checks.parse_lines(out.decode(errors="replace"))
    if problems or not events or events[-1].get("event") != "summary":
        raise Fail("no summary line", "\n".join(problems))
    summary = events[-1]
    lost_lines = [e for e in events if e.get("event") == "lost"]
    shown = sum(e["count"] for e in lost_lines)
    steps = sum(1 for e in events if e.get("event") == "step")
    if summary["lost_events"] <= 0:
        raise Fail("no events lost although the consumer was blocked")
    if shown != summary["lost_events"]:
        raise Fail(f"lost lines add up to {shown}, the summary says {summary['lost_events']}")
    if steps != summary["steps"] or not 0 < steps < 200000:
        raise Fail(f"{steps} step lines, summary steps {summary['steps']}: "
                   "with losses there must be fewer than 200000")


def build_id(path):
    r = subprocess.run(["readelf", "-n", path], capture_output=True, text=True)
    m = re.search(r"Build ID:\s*([0-9a-fA-F]{40})\b", r.stdout)
    if not m:
        raise Fail(f"no GNU build-id in {path}")
    return m.group(1).lower()


def t_nodebug(ctx, bed):
    """Debug symbols hidden (tmpfs over the root's /usr/lib/debug, in a
    private mount namespace the target lives in), no debuginfod, symbol-free
    mode off (APS_TEST_NO_SYMFREE; it is tested in test_symfree.py): aps-bpf
    must refuse, naming the _asyncio build-id and the package or file to
    install."""
    need_aps()
    bed.probe()
    module = bed.asyncio_module()
    bid = build_id(bed.host_path(module))
    debug_file = f"/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug"
    if not os.path.exists(bed.host_path(debug_file)):
        raise Fail(f"bed has no {debug_file} to hide (testbed incomplete?)")
    debug_dir = bed.host_path("/usr/lib/debug")
    hide = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'd="$1"; shift; mount -t tmpfs aps-nodebug "$d" && exec "$@"', "sh", debug_dir]
    gt_inside, _ = bed.gt_path(ctx.workdir, f"nodebug-{bed.label}")
    sc = Scenario(bed, "basic", gt_inside, wrap=hide)
    tr = None
    try:
        pid = sc.read_ready()
        env = dict(os.environ, APS_TEST_NO_SYMFREE="1")
        env.pop("DEBUGINFOD_URLS", None)
        tr = Proc([APS, "trace", "--json", str(pid)], stdout=subprocess.DEVNULL, env=env,
                  watch="aps-bpf: attached")
        attached = tr.wait_for_line(BADINPUT_TIMEOUT)
        rc = tr.wait(BADINPUT_TIMEOUT)
        err = tr.stderr
    finally:
        if tr:
            tr.stop()
        sc.stop()
    if attached or rc == 0:
        raise Fail(f"aps-bpf attached without debug symbols (exit {rc})", tail(err))
    if rc is None:
        raise Fail("aps-bpf neither attached nor exited", tail(err))
    if not re.search(bid, err, re.I):
        raise Fail(f"message does not name build-id {bid}: {tail(err, 3)!r}", err)
    pkg = "python%d.%d-dbg" % bed.version
    if not re.search(re.escape(pkg) + "|" + re.escape(f".build-id/{bid[:2]}/{bid[2:]}"),
                     err, re.I):
        raise Fail(f"message names neither {pkg} nor {debug_file}: {tail(err, 3)!r}", err)


def run_bad(argv, timeout=BADINPUT_TIMEOUT):
    """(exit code, stderr) of an aps-bpf run that should fail."""
    need_aps()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired as e:
        raise Fail(f"{' '.join(argv)} did not exit within {timeout}s",
                   (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes)
                   else (e.stderr or ""))
    return r.returncode, r.stderr


def expect_failure(argv, pattern, code=None):
    rc, err = run_bad(argv)
    if rc == 0 or (code is not None and rc != code):
        want = f"exit {code}" if code is not None else "a non-zero exit"
        raise Fail(f"{' '.join(argv[-3:])}: exit {rc}, expected {want}; stderr: {tail(err, 3)!r}",
                   err)
    if not re.search(pattern, err, re.I):
        raise Fail(f"stderr does not match /{pattern}/i: {tail(err, 3)!r}", err)


def free_pid():
    for pid in (999999, 999998, 999997, 3999999):
        if not os.path.exists(f"/proc/{pid}"):
            return pid
    raise Fail("no unused pid found")


def t_no_such_pid(ctx):
    expect_failure([APS, "trace", str(free_pid())], r"no such process")


def t_not_python(ctx):
    need_aps()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        expect_failure([APS, "trace", str(sleeper.pid)], r"not a python")
    finally:
        sleeper.kill()
        sleeper.wait()


def t_not_root(ctx, bed):
    need_aps()
    bed.probe()
    gt_inside, _ = bed.gt_path(ctx.workdir, f"notroot-{bed.label}")
    sc = Scenario(bed, "basic", gt_inside)
    try:
        pid = sc.read_ready()
        expect_failure(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        APS, "trace", str(pid)], r"CAP_BPF|root|permission|not permitted")
    finally:
        sc.stop()


def t_usage_no_pid(ctx):
    expect_failure([APS, "trace"], r"usage|pid", code=2)


def t_usage_bad_pid(ctx):
    expect_failure([APS, "trace", "abc"], r"abc|pid|usage|invalid", code=2)


# ---- the runner ----------------------------------------------------------------

class Ctx:
    def __init__(self, verbose):
        self.verbose = verbose
        self.workdir = tempfile.mkdtemp(prefix="aps-integration-")
        self.notes = []
        self.kept = []

    def note(self, text):
        self.notes.append(text)

    def keep(self, path):
        self.kept.append(path)


def all_tests(beds):
    """[(name, function, args)] in run order."""
    tests = [("selftest", t_selftest, ())]
    for scen, on in SCENARIOS_ON.items():
        for bed in beds:
            if on(bed):
                tests.append((f"groundtruth:{scen}@{bed.label}", t_groundtruth, (bed, scen)))
    for scen, on in SCENARIOS_ON.items():
        for bed in beds:
            if on(bed):
                tests.append((f"trace:{scen}@{bed.label}", t_trace, (bed, scen)))
    b312 = bed_with(beds, (3, 12))
    if b312:
        tests.append((f"trace-cmd:basic@{b312.label}", t_trace_cmd, (b312,)))
        tests.append((f"lost:{b312.label}", t_lost, (b312,)))
    b314 = next((b for b in beds if b.version == (3, 14)), None)
    if b314:
        # `chroot DIR python3.14`: aps-bpf waits through the exec chain
        tests.append((f"trace-cmd:basic@{b314.label}", t_trace_cmd, (b314,)))
    for bed in beds:
        if bed.is_system_python():
            tests.append((f"nodebug:{bed.label}", t_nodebug, (bed,)))
    tests += [
        ("badinput:no-such-pid", t_no_such_pid, ()),
        ("badinput:not-python", t_not_python, ()),
    ]
    if beds:
        tests.append((f"badinput:not-root@{beds[0].label}", t_not_root, (beds[0],)))
    tests += [
        ("badinput:usage-no-pid", t_usage_no_pid, ()),
        ("badinput:usage-bad-pid", t_usage_bad_pid, ()),
    ]
    return tests


REQUIRED_VERSIONS = [(3, 10), (3, 11), (3, 12), (3, 13), (3, 14)]


def missing_tests(beds, labels):
    """Interpreters the bed must have but lacks (only checked on a full
    run, without --bed): each is a FAIL, not a skip."""
    out = []
    if labels:
        return out
    for v in REQUIRED_VERSIONS:
        if not any(b.version == v for b in beds):
            out.append(("bed:python%d.%d" % v, "no %d.%d interpreter in the bed" % v))
    if not bed_with(beds, (3, 11), system=True):
        out.append(("bed:debian-3.11", "no Debian /usr/bin/python3.11 in the bed "
                    "(greenlet_mix and nodebug run on it)"))
    if not bed_with(beds, (3, 12)):
        out.append(("trace-cmd:basic", "no pyenv 3.12 interpreter in the bed"))
    return out


def run_tests(ctx, tests, verbose):
    """Run [(name, fn, args)], printing PASS/FAIL lines; (passed, failed).
    A harness error is a FAIL too. The other integration scripts use it."""
    passed = failed = 0
    for name, fn, fargs in tests:
        try:
            fn(ctx, *fargs)
        except Fail as f:
            failed += 1
            print(f"FAIL {name}: {f}", flush=True)
            if verbose and f.details:
                print("    " + f.details.replace("\n", "\n    "), flush=True)
        except Exception as e:      # a bug in the harness: still a FAIL
            failed += 1
            print(f"FAIL {name}: harness error {type(e).__name__}: {e}", flush=True)
            if verbose:
                import traceback
                traceback.print_exc(file=sys.stdout)
        else:
            passed += 1
            print(f"PASS {name}", flush=True)
    return passed, failed


def finish(ctx, beds, passed, failed, verbose):
    """Notes, keep or clean the outputs, the closing count; the exit status."""
    if verbose:
        for n in ctx.notes:
            print(f"note: {n}")
    if failed:
        print(f"outputs kept in {ctx.workdir}")
    else:
        shutil.rmtree(ctx.workdir, ignore_errors=True)
        for bed in beds:
            if bed.chrooted:
                shutil.rmtree(bed.host_path(ROOT_SCENARIO_DIR), ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTR",
                    help="run only tests whose name contains SUBSTR (repeatable)")
    ap.add_argument("--bed", action="append", default=[], metavar="LABEL",
                    help="only these interpreters of the bed (repeatable)")
    ap.add_argument("-v", action="store_true", help="details of failures, notes")
    args = ap.parse_args()

    if os.geteuid() != 0:
        print("run.py: must run as root", file=sys.stderr)
    beds = load_bed(args.bed, ap)
    ctx = Ctx(args.v)
    tests = [t for t in all_tests(beds) if not args.k or any(k in t[0] for k in args.k)]
    missing = [m for m in missing_tests(beds, args.bed)
               if not args.k or any(k in m[0] for k in args.k)]

    passed = failed = 0
    for name, reason in missing:
        print(f"FAIL {name}: {reason}", flush=True)
        failed += 1
    p, f = run_tests(ctx, tests, args.v)
    passed += p
    failed += f
    return finish(ctx, beds, passed, failed, args.v)


if __name__ == "__main__":
    sys.exit(main())
