"""Shared by the benchmarks (bench/run.py and its parts, step_cost.py,
record_cost.py): the test bed's interpreters, processes that follow the
READY protocol, aps-bpf runs, recordings, medians and figures.

A target prints `READY <pid> [more fields]` on stdout once it can be
attached to (tests/scenarios/_harness.py, park_common.py, the workloads
here); the workloads then wait for a line on stdin ("go") before they run.
aps-bpf prints `aps-bpf: attached to pid ...` on stderr once its probes
are in place.
"""
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
SCENARIOS = os.path.join(ROOT, "tests", "scenarios")
APS = os.path.join(ROOT, "aps-bpf")
BED_FILE = os.environ.get("APS_BED_FILE", "/var/cache/aps-bpf/bed.json")
SID_ROOT = os.environ.get("APS_SID_ROOT", "/var/cache/aps-bpf/sid-root")
STAGE_DIR = f"/tmp/aps-bench-{os.getpid()}"    # inside a chroot interpreter's root

DEFAULT_BED = [
    {"label": "pyenv-3.10", "argv": ["/root/.pyenv/versions/3.10.13/bin/python3.10"], "root": "/"},
    {"label": "pyenv-3.11", "argv": ["/root/.pyenv/versions/3.11.7/bin/python3.11"], "root": "/"},
    {"label": "pyenv-3.12", "argv": ["/root/.pyenv/versions/3.12.1/bin/python3.12"], "root": "/"},
    {"label": "pyenv-3.13", "argv": ["/root/.pyenv/versions/3.13.0/bin/python3.13"], "root": "/"},
    {"label": "debian-3.11", "argv": ["/usr/bin/python3.11"], "root": "/"},
    {"label": "sid-3.14", "argv": ["chroot", SID_ROOT, "python3.14"], "root": SID_ROOT},
]


class BenchError(Exception):
    """A run could not be measured; str() says why."""


# ---- interpreters ------------------------------------------------------------

class Interp:
    """An interpreter of the test bed (bed.json), maybe inside a chroot."""

    def __init__(self, entry):
        self.label = entry["label"]
        self.argv = list(entry["argv"])
        self.root = entry.get("root") or "/"

    @property
    def chrooted(self):
        return os.path.realpath(self.root) != "/"

    def stage(self, *host_files):
        """The files' paths as the interpreter sees them (copied into its
        root's STAGE_DIR if it runs in a chroot); the first one's path."""
        if not self.chrooted:
            return host_files[0]
        dest = os.path.join(self.root, STAGE_DIR.lstrip("/"))
        os.makedirs(dest, exist_ok=True)
        for f in host_files:
            shutil.copy(f, dest)
        return os.path.join(STAGE_DIR, os.path.basename(host_files[0]))

    def cmd(self, script, *args, extra_files=()):
        """argv running script (a host path) with args."""
        return self.argv + [self.stage(script, *extra_files)] + [str(a) for a in args]

    def runs(self):
        try:
            r = subprocess.run(self.argv + ["-c", "import _asyncio"], capture_output=True,
                               timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return r.returncode == 0

    def cleanup(self):
        if self.chrooted:
            shutil.rmtree(os.path.join(self.root, STAGE_DIR.lstrip("/")), ignore_errors=True)


def load_bed():
    """label -> Interp, from bed.json (tests/testbed.sh) or the defaults."""
    entries = DEFAULT_BED
    if os.path.exists(BED_FILE):
        with open(BED_FILE) as f:
            entries = json.load(f)
    return {e["label"]: Interp(e) for e in entries}


# ---- processes ---------------------------------------------------------------

class Proc:
    """A child process; its stdout lines are queued for line(), its stderr
    lines are kept, and `aps-bpf: attached` on stderr sets .attached."""

    def __init__(self, argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
        self.pid = self.p.pid
        self.lines = queue.Queue()
        self.err_lines = []
        self.attached = threading.Event()     # attached, or stderr closed
        self.attach_seen = False
        self.rusage = None
        if stdout == subprocess.PIPE:
            threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self):
        for raw in self.p.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def _read_stderr(self):
        for raw in self.p.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.err_lines.append(line)
            if line.startswith("aps-bpf: attached"):
                self.attach_seen = True
                self.attached.set()
        self.attached.set()

    def name(self):
        return os.path.basename(self.argv[0]) + " " + " ".join(self.argv[1:3])

    def line(self, prefix, timeout):
        """The next stdout line starting with prefix, split in fields."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise BenchError(f"{self.name()}: no {prefix} line within {timeout:.0f}s")
            if line is None:
                raise BenchError(f"{self.name()} exited before {prefix}: {self.last_err()}")
            if line.startswith(prefix):
                return line.split()

    def send(self, text):
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()

    def _reap(self):
        """Collects the exit status and rusage if it has exited."""
        if self.p.returncode is None:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.p.returncode = os.waitstatus_to_exitcode(status)
                self.rusage = ru

    def alive(self):
        self._reap()
        return self.p.returncode is None

    def last_err(self):
        return self.err_lines[-1] if self.err_lines else ""

    def wait(self, timeout):
        """Exit status, waiting at most timeout; keeps the rusage."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name()} did not exit within {timeout:.0f}s")
            time.sleep(0.02)
        return self.p.returncode

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def descendants(self):
        """Pids of its children, their children, ... (e.g. the CMD that
        `aps-bpf record -- CMD` started)."""
        out, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for task in tasks:
                try:
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        kids = [int(k) for k in f.read().split()]
                except OSError:
                    continue
                out += kids
                todo += kids
        return out

    def kill(self):
        """SIGKILL to it and what it started; waits for it."""
        for pid in self.descendants() if self.alive() else ():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.signal(signal.SIGKILL)
        try:
            self.wait(30)
        except BenchError:
            pass

    def cpu_seconds(self):
        """(user, system) CPU seconds: from the rusage once exited, else /proc."""
        if self.rusage is not None:
            return self.rusage.ru_utime, self.rusage.ru_stime
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def vm_hwm_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise BenchError(f"no VmHWM for pid {self.pid}")


def start_target(argv, timeout=60):
    """A program that follows the READY protocol: (Proc, READY fields)."""
    t = Proc(argv, stdin=subprocess.PIPE)
    try:
        ready = t.line("READY", timeout)
    except BenchError:
        t.kill()
        raise
    return t, ready


class Tool(Proc):
    """An aps-bpf command, once attached (or failed)."""

    def __init__(self, args, stdout=subprocess.DEVNULL, timeout=60):
        """Runs aps-bpf ARGS and waits until its probes are in place; with
        stdout=PIPE, line() reads it (a CMD it starts writes there too)."""
        super().__init__([APS] + [str(a) for a in args], stdout=stdout)
        if not self.attached.wait(timeout):
            self.kill()
            raise BenchError(f"aps-bpf {self.argv[1]} did not attach within {timeout}s")
        if not self.attach_seen:
            self.kill()
            raise BenchError(f"aps-bpf {self.argv[1]} failed: {self.last_err()}")
        self.cpu_at_attach = self.cpu_seconds()

    def finish(self, timeout=60):
        """Wait for its end (the target exited); raise if it failed."""
        rc = self.wait(timeout)
        if rc:
            raise BenchError(f"aps-bpf {self.argv[1]} exited {rc}: {self.last_err()}")

    def stop(self, timeout=60):
        """Ctrl-C, then finish()."""
        self.signal(signal.SIGINT)
        self.finish(timeout)


SLEEP0 = os.path.join(BENCH, "sleep0_workload.py")


def run_sleep0(interp, tool_args=None, timeout=120):
    """One run of sleep0_workload.py (200k `await asyncio.sleep(0)` steps
    over 100 tasks), with `aps-bpf TOOL_ARGS PID` attached first if given:
    (ns per step, steps)."""
    target, ready = start_target(interp.cmd(SLEEP0))
    tool = None
    try:
        if tool_args:
            tool = Tool(list(tool_args) + [ready[1]])
        target.send("go\n")
        _, elapsed, steps = target.line("ELAPSED", timeout)
        target.wait(timeout)
    finally:
        target.kill()
        if tool:
            tool.finish()
    return float(elapsed) * 1e9 / int(steps), int(steps)


class BpfStats:
    """kernel.bpf_stats_enabled=1 while in use (BPF programs' run counts
    and times), then the previous value again."""

    PATH = "/proc/sys/kernel/bpf_stats_enabled"

    def __enter__(self):
        with open(self.PATH) as f:
            self.before = f.read().strip()
        with open(self.PATH, "w") as f:
            f.write("1")
        return self

    def __exit__(self, *exc):
        with open(self.PATH, "w") as f:
            f.write(self.before)


def trace_summary(path):
    """The summary (last line) of a `trace --json` output file."""
    with open(path) as f:
        return json.loads(f.read().splitlines()[-1])


def recording_info(path):
    """`aps-bpf replay FILE info --json`, plus the file's size."""
    r = subprocess.run([APS, "replay", path, "info", "--json"], capture_output=True, text=True)
    if r.returncode:
        raise BenchError(f"replay {path} info: {r.stderr.strip()}")
    info = json.loads(r.stdout)
    info["file_bytes"] = os.path.getsize(path)
    return info


def timed_run(argv, timeout):
    """Wall seconds, exit status and last line of stderr (of stdout if
    stderr is empty: 3.14's tool prints its errors there) of a command."""
    t0 = time.perf_counter()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"secs": time.perf_counter() - t0, "rc": None, "err": f"timeout {timeout}s"}
    secs = time.perf_counter() - t0
    lines = (r.stderr.strip() or r.stdout.strip()).decode("utf-8", "replace").splitlines()
    return {"secs": secs, "rc": r.returncode, "err": lines[-1] if lines else ""}


class ProcMount:
    """/proc bind-mounted into a chroot root (3.14's `python -m asyncio ps`
    reads /proc/PID there) while in use; unmounted after only if we
    mounted it."""

    def __init__(self, root):
        self.target = os.path.join(root, "proc")
        self.mounted = False

    def __enter__(self):
        if subprocess.run(["mountpoint", "-q", self.target]).returncode:
            os.makedirs(self.target, exist_ok=True)
            subprocess.run(["mount", "--bind", "/proc", self.target], check=True)
            self.mounted = True
        return self

    def __exit__(self, *exc):
        if self.mounted:
            subprocess.run(["umount", self.target], check=False)


# ---- samples and figures -------------------------------------------------------

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def interleave(modes, reps, run_one, log=None):
    """run_one(mode) for each mode in turn, reps rounds (A B A B ...):
    {mode: [result, ...]}."""
    out = {m: [] for m in modes}
    for i in range(reps):
        for m in modes:
            out[m].append(run_one(m))
            if log:
                log(f"  round {i + 1}/{reps} {m}: {out[m][-1]}")
    return out


@dataclass
class Figure:
    """One row of the results table."""
    name: str
    value: float = None     # None: not measured (note says why)
    unit: str = ""
    target: str = ""
    met: bool = None        # None: no target, or not judged (note says why)
    note: str = ""

    def value_text(self):
        v = self.value
        if v is None:
            return "n/a"
        fmt = {"ns": "{:,.0f} ns", "x": "{:.2f}×", "%": "{:+.1f} %", "s": "{:.3f} s",
               "ms": "{:.2f} ms", "req/s": "{:,.0f} req/s", "steps/s": "{:,.0f} steps/s",
               "events/s": "{:,.0f} events/s", "events": "{:,.0f}", "B/event": "{:.2f} B/event",
               "MB": "{:.1f} MB", "µs": "{:.1f} µs"}.get(self.unit, "{:g} " + self.unit)
        return fmt.format(v)

    def met_text(self):
        return {True: "met", False: "NOT met", None: "—" if not self.target else "n/a"}[self.met]


def judge(value, limit, at_most=True):
    """met / not met of a target; None when there is no value."""
    if value is None:
        return None
    return value <= limit if at_most else value >= limit


# ---- the floor in place: an empty uprobe on aps-bpf's step hook ------------------

def step_hook(interp):
    """(object path inside the target's root, [file offsets]) of the probes
    aps-bpf puts on task steps, as `aps-bpf doctor` reports them."""
    target, ready = start_target(interp.cmd(SLEEP0))
    try:
        out = subprocess.run([APS, "doctor", ready[1]], capture_output=True, text=True,
                             timeout=60).stdout
    finally:
        target.kill()
    obj = re.search(r"^\s*object:\s+(\S+)", out, re.M)
    hook = re.search(r"^\s*task_step_impl\s.*?probes? at (?:its \d+ call sites: )?"
                     r"((?:0x[0-9a-f]+ ?)+)", out, re.M)
    if not obj or not hook:
        raise BenchError(f"aps-bpf doctor shows no step hook for {interp.label}:\n{out}")
    path = obj.group(1)
    host = os.path.join(interp.root, path.lstrip("/")) if interp.chrooted else path
    return path, [vaddr_to_offset(host, int(a, 16)) for a in hook.group(1).split()]


def vaddr_to_offset(path, vaddr):
    """The file offset of a virtual address of an ELF object (its PT_LOADs)."""
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True, check=True).stdout
    for m in re.finditer(r"^\s*LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\S+\s+(0x[0-9a-f]+)",
                         out, re.M):
        off, va, filesz = (int(x, 16) for x in m.groups())
        if va <= vaddr < va + filesz:
            return vaddr - va + off
    raise BenchError(f"{path}: no PT_LOAD holds 0x{vaddr:x}")


class EmptyProbe:
    """bench/floor.c's empty uprobe program on the step hook (step_hook())
    of process pid while in use; .hits after."""

    def __init__(self, floor_bin, pid, hook):
        path, offsets = hook
        self.argv = [floor_bin, "attach", str(pid), f"/proc/{pid}/root{path}"] + \
            [hex(o) for o in offsets]
        self.hits = None

    def __enter__(self):
        self.proc = Proc(self.argv, stdin=subprocess.PIPE)
        try:
            self.proc.line("ATTACHED", 30)
        except BenchError:
            self.proc.kill()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.proc.p.stdin.close()
            self.hits = int(self.proc.line("HITS", 30)[1])
            self.proc.wait(30)
        finally:
            self.proc.kill()
