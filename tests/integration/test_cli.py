#!/usr/bin/env python3
"""The command line, as a new user meets it (issue 15: items 1, 5, 6, 7, 13,
14, 15; issue 14: one option parser).  Run as root from the repo root:

    python3 tests/integration/test_cli.py [-k SUBSTR]... [-v]

Tests (names; -k selects by substring):
  durations        NaN, inf, negative and under-the-minimum durations on
                   every command: exit 2, one line naming the option, the
                   value and the range (item 5)
  badvalues        bad values on ps, pstree, top, blocked, check: exit 2,
                   one line naming the option and what it wants (item 14)
  anywhere         options after the PID (`blocked PID --threshold 100ms`),
                   `trace --duration 10s`, --no-debuginfod and --ringbuf-kb
                   on every attaching command, against a live target
  keep-output      `record -o FILE` / `trace -o FILE` with a wrong PID, a
                   process that is not Python, a CMD that cannot run: FILE
                   keeps its bytes; a started run replaces it, no temp file
                   left (item 1)
  write-errors     replay/export/trace/record/ps/doctor into /dev/full:
                   exit 1, the path and the error (item 7)
  duration-cmd     `--duration 1 -- CMD`: aps-bpf exits after ~1 s, CMD
                   keeps running detached (said on stderr); with --kill CMD
                   is killed (item 6); trace and record
  caps             setpriv with reduced capabilities: the message names the
                   missing one (CAP_SYS_ADMIN for uprobes, CAP_SYS_PTRACE to
                   read, CAP_BPF/CAP_PERFMON to load); ps needs only
                   CAP_SYS_PTRACE, or nothing for the same uid; `ps 1` never
                   says "needs root" (item 13)
  smaller          `trace -- /bin/true`, `trace -- /nonexistent`, a zombie
                   target, U+200B/U+FEFF in a task name (item 15)

APS_BIN=PATH runs another aps-bpf binary.  Output: `PASS name` /
`FAIL name: reason` per test, then `N passed, N failed`; exit 1 if any failed.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (free_pid)
REPO = os.path.dirname(os.path.dirname(HERE))
APS = os.environ.get("APS_BIN", os.path.join(REPO, "aps-bpf"))
BED_FILE = os.environ.get("APS_BED_FILE", "/var/cache/aps-bpf/bed.json")
SYSTEM_PY = "/usr/bin/python3"		# readable by every uid: the non-root test
EXAMPLES = "(e.g. 100ms, 1.5s, 2m; a bare number is seconds)"

# A target: tasks w0..w2 and one with invisible characters in its name,
# `READY pid` on stdout, then it lives argv[1] seconds.
PROG = r'''
import asyncio, os, sys
async def work():
    while True:
        await asyncio.sleep(0.02)
async def park():
    await asyncio.sleep(3600)
async def main():
    ts = [asyncio.create_task(work(), name=f"w{i}") for i in range(3)]
    ts.append(asyncio.create_task(park(), name="a\u200bb\ufeffc\u202ed"))
    await asyncio.sleep(0.2)
    print("READY", os.getpid(), flush=True)
    await asyncio.sleep(float(sys.argv[1]))
asyncio.run(main())
'''


class Fail(Exception):
    pass


def python_bin():
    """The bed's 3.12 (else any non-chroot interpreter of the bed)."""
    try:
        bed = json.load(open(BED_FILE))
    except OSError:
        bed = []
    plain = [b for b in bed if (b.get("root") or "/") == "/"]
    for b in plain:
        if str(b["version"]).startswith("3.12"):
            return b["argv"][0]
    if plain:
        return plain[0]["argv"][0]
    return SYSTEM_PY


class Ctx:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="aps-cli-")
        os.chmod(self.dir, 0o755)
        self.prog = os.path.join(self.dir, "prog.py")
        with open(self.prog, "w") as f:
            f.write(PROG)
        os.chmod(self.prog, 0o644)
        self.py = python_bin()


class Target:
    """PROG running for `secs` seconds (as uid when given)."""

    def __init__(self, ctx, secs=120, py=None, preexec=None):
        self.proc = subprocess.Popen([py or ctx.py, ctx.prog, str(secs)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, preexec_fn=preexec)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY"):
            self.kill()
            raise Fail(f"the target did not start: {line!r}")
        self.pid = self.proc.pid

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def aps(*args, timeout=60, prefix=(), stdout=None):
    """Run aps-bpf; (rc, stdout, stderr lines)."""
    out_f = stdout or subprocess.PIPE
    r = subprocess.run(list(prefix) + [APS] + [str(a) for a in args], stdout=out_f,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=timeout)
    out = r.stdout.decode("utf-8", "replace") if r.stdout is not None else ""
    return r.returncode, out, r.stderr.decode("utf-8", "replace").splitlines()


NO_AGENT = re.compile(r"aps-bpf: no agent running \(.*\): runtime and waiting are known with --watch")


def expect(args, rc, lines, errs, **kw):
    """aps-bpf ARGS exits rc and prints exactly `lines` on stderr (str or regex)."""
    got_rc, _, err = aps(*args, **kw)
    # ps/pstree say once that no agent runs (issue 13): not what is checked here
    err = [e for e in err if not NO_AGENT.fullmatch(e)]
    ok = got_rc == rc and len(err) == len(lines)
    for want, got in zip(lines, err):
        if isinstance(want, str):
            ok = ok and want == got
        else:
            ok = ok and want.fullmatch(got) is not None
    if not ok:
        errs.append(f"`aps-bpf {' '.join(map(str, args))}`: exit {got_rc}, stderr {err!r}; "
                    f"expected exit {rc} and {[getattr(w, 'pattern', w) for w in lines]!r}")


def check(errs):
    if errs:
        raise Fail("; ".join(errs[:4]) + (f" (and {len(errs) - 4} more)" if len(errs) > 4 else ""))


def dur_line(cmd, opt, lo, hi, val):
    return f"aps-bpf: {cmd}: {opt} wants a duration from {lo} to {hi} {EXAMPLES}, got '{val}'"


# ---- item 5 -------------------------------------------------------------------------

def t_durations(ctx):
    errs = []
    cases = [
        (["trace", "--duration", "nan", "1"], "trace", "--duration", "1ms", "1000000s", "nan"),
        (["trace", "--duration", "0.0009", "1"], "trace", "--duration", "1ms", "1000000s", "0.0009"),
        (["trace", "--duration", "inf", "1"], "trace", "--duration", "1ms", "1000000s", "inf"),
        (["trace", "--duration", "-1", "1"], "trace", "--duration", "1ms", "1000000s", "-1"),
        (["check", "--for", "1e-9", "--max-step", "1", "1"], "check", "--for", "1ms", "1000000s", "1e-9"),
        (["ps", "--watch", "1e-9", "1"], "ps", "--watch", "1ms", "1000000s", "1e-9"),
        (["pstree", "--watch", "nan", "1"], "pstree", "--watch", "1ms", "1000000s", "nan"),
        (["record", "-o", "x.rec", "--flight", "nan", "1"], "record", "--flight", "10ms", "1000000s", "nan"),
        (["record", "-o", "x.rec", "--tasks-every", "nan", "1"], "record", "--tasks-every", "10ms",
         "1000000s", "nan"),
        (["record", "-o", "x.rec", "--blocked", "nan", "1"], "record", "--blocked", "1ms", "1000000s", "nan"),
        (["record", "-o", "x.rec", "--duration", "0.0001", "1"], "record", "--duration", "1ms",
         "1000000s", "0.0001"),
        (["top", "--delay", "nan", "1"], "top", "--delay", "100ms", "1h", "nan"),
        (["top", "--delay", "0.05", "1"], "top", "--delay", "100ms", "1h", "0.05"),
        (["blocked", "--duration", "nan", "1"], "blocked", "--duration", "1ms", "1000000s", "nan"),
        (["blocked", "--threshold", "0.5ms", "1"], "blocked", "--threshold", "1ms", "1000000s", "0.5ms"),
    ]
    for args, cmd, opt, lo, hi, val in cases:
        expect(args, 2, [dur_line(cmd, opt, lo, hi, val)], errs)
    check(errs)


# ---- item 14 ------------------------------------------------------------------------

def t_badvalues(ctx):
    errs = []
    cases = [
        (["ps", "abc"], "aps-bpf: ps: PID wants a process id (a positive number), got 'abc'"),
        (["pstree", "12abc"], "aps-bpf: pstree: PID wants a process id (a positive number), got '12abc'"),
        (["blocked", "--threshold", "0", "1"], dur_line("blocked", "--threshold", "1ms", "1000000s", "0")),
        (["check", "--max-step", "-5", "1"], dur_line("check", "--max-step", "1us", "1000000s", "-5")),
        (["top", "--delay", "-1", "1"], dur_line("top", "--delay", "100ms", "1h", "-1")),
        (["ps", "--format", "xml", "1"], "aps-bpf: ps: --format wants table, csv or json, got 'xml'"),
        (["pstree", "--format", "csv", "1"], "aps-bpf: pstree: --format wants text or json, got 'csv'"),
        (["top", "--iterations", "0", "1"],
         "aps-bpf: top: --iterations wants a whole number from 1 to 1000000, got '0'"),
        (["top", "--sort", "bogus", "1"],
         "aps-bpf: top: --sort wants busy, max, steps, age or waiting, got 'bogus'"),
        (["top", "--by", "x", "1"], "aps-bpf: top: --by wants task or coro, got 'x'"),
        (["pstree", "--collapse", "1", "1"],
         "aps-bpf: pstree: --collapse wants a whole number from 2 to 100000000, got '1'"),
        (["trace", "--ringbuf-kb", "3", "1"],
         "aps-bpf: trace: --ringbuf-kb wants a power of two from 4 to 1048576, got '3'"),
        (["trace", "--kill", "1"], "aps-bpf: trace: --kill goes with --duration D -- CMD "
         "(a process given by PID is never stopped)"),
    ]
    for args, line in cases:
        expect(args, 2, [line], errs)
    check(errs)


# ---- one parser: options anywhere, shared options everywhere --------------------------

def t_anywhere(ctx):
    errs = []
    tg = Target(ctx)
    try:
        for args in (["blocked", tg.pid, "--threshold", "100ms", "--duration", "1"],
                     ["trace", tg.pid, "--duration", "1s", "--json"],
                     ["trace", "--duration", "10s", "--no-debuginfod", tg.pid],
                     ["top", "-b", "--iterations", "1", "--delay", "500ms", "--no-debuginfod",
                      "--ringbuf-kb", "64", tg.pid],
                     ["check", tg.pid, "--for", "1", "--max-step", "10s", "--no-debuginfod"],
                     ["ps", tg.pid, "--watch", "500ms", "--no-debuginfod"],
                     ["record", "-q", "-o", os.path.join(ctx.dir, "any.rec"), tg.pid, "--duration",
                      "1", "--no-debuginfod", "--ringbuf-kb", "64"]):
            kw = {"timeout": 30}
            if args[0] == "trace" and "10s" in args:
                # runs until the 10 s are over: stop it early, it must have started
                p = subprocess.Popen([APS] + [str(a) for a in args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
                time.sleep(3)
                p.send_signal(signal.SIGINT)
                _, err = p.communicate(timeout=20)
                if p.returncode != 0 or b"attached to pid" not in err:
                    errs.append(f"trace --duration 10s: exit {p.returncode}, {err[-300:]!r}")
                continue
            rc, out, err = aps(*args, **kw)
            if rc != 0:
                errs.append(f"`{' '.join(map(str, args))}`: exit {rc}, {err[-2:]!r}")
            elif args[0] == "trace" and not all(json.loads(x) for x in out.splitlines() if x):
                errs.append("trace --json: not JSON lines")
            elif args[0] == "ps" and "w0" not in out:
                errs.append(f"ps --watch: no task w0 in {out[:200]!r}")
    finally:
        tg.kill()
    check(errs)


# ---- item 1 -------------------------------------------------------------------------

def t_keep_output(ctx):
    errs = []
    d = os.path.join(ctx.dir, "keep")
    os.makedirs(d, exist_ok=True)
    keep = os.path.join(d, "keep.rec")
    old = b"yesterday's recording\n" * 100
    pid = run.free_pid()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        for cmd in ("record", "trace"):
            for args, line in (
                    ([str(pid)], f"aps-bpf: no such process: {pid}"),
                    ([str(sleeper.pid)], re.compile(
                        rf"aps-bpf: process {sleeper.pid} \(sleep\) is not a Python process.*")),
                    (["--", "/nonexistent"], "aps-bpf: cannot run /nonexistent: No such file or directory")):
                with open(keep, "wb") as f:
                    f.write(old)
                expect([cmd, "-o", keep, "--duration", "1"] + args, 1, [line], errs, timeout=30)
                if open(keep, "rb").read() != old:
                    errs.append(f"{cmd} -o FILE {' '.join(args)}: FILE changed "
                                f"({os.path.getsize(keep)} bytes)")
        if sorted(os.listdir(d)) != ["keep.rec"]:
            errs.append(f"left in the folder: {sorted(os.listdir(d))}")
    finally:
        sleeper.kill()
        sleeper.wait()
    # a started run replaces FILE
    tg = Target(ctx)
    try:
        rc, _, err = aps("record", "-q", "-o", keep, "--duration", "1", tg.pid, timeout=30)
        rc2, out, _ = aps("replay", keep, "info", "--json")
        if rc != 0 or rc2 != 0 or json.loads(out).get("pid") != tg.pid:
            errs.append(f"record -o FILE PID: exit {rc}, {err!r}; replay info exit {rc2}")
        trace_out = os.path.join(d, "t.txt")
        with open(trace_out, "w") as f:
            f.write("old\n")
        rc, _, err = aps("trace", "--json", "-o", trace_out, "--duration", "1", tg.pid, timeout=30)
        lines = open(trace_out).read().splitlines()
        if rc != 0 or "old" in lines or not lines or "task" not in json.loads(lines[0]):
            errs.append(f"trace -o FILE PID: exit {rc}, {lines[:2]!r}")
        if sorted(os.listdir(d)) != ["keep.rec", "t.txt"]:
            errs.append(f"left in the folder: {sorted(os.listdir(d))}")
    finally:
        tg.kill()
    check(errs)


# ---- item 7 -------------------------------------------------------------------------

def t_write_errors(ctx):
    errs = []
    rec = os.path.join(ctx.dir, "w.rec")
    full = re.compile(r"aps-bpf: writing /dev/full: (No space left on device|"
                      r"a write failed; the output is incomplete)")
    full_stdout = re.compile(r"aps-bpf: writing stdout: (No space left on device|"
                             r"a write failed; the output is incomplete)")
    tg = Target(ctx)
    try:
        rc, _, err = aps("record", "-q", "-o", rec, "--duration", "1", tg.pid, timeout=30)
        if rc != 0:
            raise Fail(f"record: exit {rc}, {err!r}")
        expect(["replay", rec, "-o", "/dev/full"], 1, [full], errs)
        expect(["replay", rec, "info", "-o", "/dev/full"], 1, [full], errs)
        expect(["replay", rec, "top", "-o", "/dev/full"], 1, [full], errs)
        expect(["export", rec, "--format", "perfetto", "-o", "/dev/full"], 1, [full], errs)
        with open("/dev/full", "w") as devfull:
            expect(["replay", rec, "info"], 1, [full_stdout], errs, stdout=devfull)
            expect(["ps", tg.pid], 1, [full_stdout], errs, stdout=devfull)
            expect(["doctor", tg.pid], 1, [full_stdout], errs, stdout=devfull)
        rc, _, err = aps("trace", "-o", "/dev/full", "--duration", "1", tg.pid, timeout=30)
        if rc != 1 or not any(full.fullmatch(x) for x in err):
            errs.append(f"trace -o /dev/full: exit {rc}, {err[-2:]!r}")
        rc, _, err = aps("record", "-q", "-o", "/dev/full", "--duration", "1", tg.pid, timeout=30)
        if rc != 1 or not any(full.fullmatch(x) for x in err):
            errs.append(f"record -o /dev/full: exit {rc}, {err[-2:]!r}")
    finally:
        tg.kill()
    check(errs)


# ---- item 6 -------------------------------------------------------------------------

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def t_duration_cmd(ctx):
    errs = []
    for cmd in ("trace", "record"):
        for kill in (False, True):
            args = [cmd, "--duration", "1"] + (["--kill"] if kill else [])
            if cmd == "record":
                args += ["-q", "-o", os.path.join(ctx.dir, "cmd.rec")]
            args += ["--", ctx.py, ctx.prog, "30"]
            # CMD inherits stdout and stderr: files, not pipes (a pipe stays open while CMD runs)
            err_path = os.path.join(ctx.dir, "cmd.err")
            t0 = time.monotonic()
            with open(os.devnull, "w") as null, open(err_path, "w") as ef:
                p = subprocess.Popen([APS] + args, stdout=null, stderr=ef, stdin=subprocess.DEVNULL)
                rc = p.wait(timeout=40)
            took = time.monotonic() - t0
            err = open(err_path).read().splitlines()
            m = [re.fullmatch(r"aps-bpf: --duration ended; process (\d+) " +
                              (r"killed \(--kill\)" if kill else
                               r"keeps running, detached \(--kill stops it\)"), x) for x in err]
            m = [x for x in m if x]
            name = f"{cmd} --duration 1{' --kill' if kill else ''} -- CMD"
            if rc != 0 or not m:
                errs.append(f"{name}: exit {rc}, stderr {err[-3:]!r}")
                continue
            pid = int(m[0].group(1))
            if took > 15:
                errs.append(f"{name}: took {took:.1f} s (CMD lives 30 s: aps-bpf waited for it)")
            if alive(pid) == kill:
                errs.append(f"{name}: CMD {'still alive' if kill else 'not running'} afterwards")
            if not kill and alive(pid):
                os.kill(pid, signal.SIGKILL)
    check(errs)


# ---- item 13 ------------------------------------------------------------------------

def setpriv(caps):
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-all" + "".join(",+" + c for c in caps)]


def t_caps(ctx):
    errs = []
    if not shutil.which("setpriv"):
        raise Fail("setpriv (util-linux) is not installed")
    tg = Target(ctx)
    try:
        p = tg.pid
        # CAP_BPF + CAP_PERFMON + CAP_SYS_PTRACE: loads, but the uprobes need CAP_SYS_ADMIN
        expect(["trace", "--duration", "1", p], 1, [
            f"aps-bpf: cannot attach the uprobes to process {p}: Permission denied; this kernel "
            "allows uprobes only with CAP_SYS_ADMIN (CAP_BPF and CAP_PERFMON are not enough), "
            "which aps-bpf does not have"], errs, prefix=setpriv(["bpf", "perfmon", "sys_ptrace"]))
        # CAP_SYS_ADMIN + CAP_SYS_PTRACE is enough to trace
        rc, _, err = aps("trace", "--duration", "1", p, prefix=setpriv(["sys_admin", "sys_ptrace"]))
        if rc != 0:
            errs.append(f"trace with CAP_SYS_ADMIN and CAP_SYS_PTRACE: exit {rc}, {err[-2:]!r}")
        # root without CAP_SYS_PTRACE: a message about ptrace, not a library path
        for cmd in (["ps", p], ["trace", "--duration", "1", p]):
            expect(cmd, 1, [
                f"aps-bpf: permission denied reading process {p}; reading a process of another "
                "user, or one with more capabilities, needs CAP_SYS_PTRACE, which aps-bpf does not "
                "have"], errs, prefix=setpriv(["bpf", "perfmon", "sys_admin"]))
        # no capability at all: the BPF load names what is missing
        expect(["trace", "--duration", "1", p], 1, [
            "aps-bpf: cannot load the BPF programs: Operation not permitted; that needs CAP_BPF and "
            "CAP_PERFMON, or CAP_SYS_ADMIN (which the uprobes need too), and aps-bpf lacks CAP_BPF "
            "and CAP_PERFMON"], errs, prefix=setpriv([]))
        # ps needs only CAP_SYS_PTRACE
        rc, out, err = aps("ps", p, prefix=setpriv(["sys_ptrace"]))
        if rc != 0 or "w0" not in out:
            errs.append(f"ps with CAP_SYS_PTRACE only: exit {rc}, {err[-2:]!r}")
    finally:
        tg.kill()
    # ps of a process of the same uid needs nothing
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
    tg = Target(ctx, py=SYSTEM_PY,
                preexec=lambda: (os.setgroups([]), os.setgid(65534), os.setuid(65534)))
    try:
        rc, out, err = aps("ps", tg.pid, prefix=nobody)
        if rc != 0 or "w0" not in out:
            errs.append(f"ps as the target's uid, no capabilities: exit {rc}, {err[-2:]!r}")
    finally:
        tg.kill()
    # `ps 1` as root never says "needs root"
    rc, _, err = aps("ps", "1")
    if any("needs root" in x for x in err) or len(err) > 1:
        errs.append(f"ps 1 as root: {err!r}")
    check(errs)


# ---- item 15 ------------------------------------------------------------------------

def t_smaller(ctx):
    errs = []
    expect(["trace", "--", "/bin/true"], 1,
           [re.compile(r"aps-bpf: /bin/true \(pid \d+\) exited before it loaded Python")], errs)
    expect(["trace", "--", "/nonexistent"], 1,
           ["aps-bpf: cannot run /nonexistent: No such file or directory"], errs)
    zombie = subprocess.Popen(["true"])
    try:
        for _ in range(100):
            if not alive(zombie.pid):
                break
            time.sleep(0.02)
        z = zombie.pid
        line = f"aps-bpf: process {z} is a zombie: it has exited and its parent has not reaped it"
        expect(["ps", z], 1, [line], errs)
        expect(["trace", "--duration", "1", z], 1, [line], errs)
    finally:
        zombie.wait()
    tg = Target(ctx)
    try:
        rc, out, err = aps("ps", tg.pid)
        want = "a\\u200bb\\ufeffc\\u202ed"
        if rc != 0 or want not in out or "\u200b" in out or "\ufeff" in out:
            errs.append(f"ps: task name not escaped: exit {rc}, "
                        f"{[x for x in out.splitlines() if 'park' in x]!r}")
        rc, out, err = aps("pstree", "--format", "json", tg.pid)
        if rc != 0 or "\\\\u200b" not in out or "\u200b" in out:
            errs.append(f"pstree --format json: U+200B not escaped: exit {rc}")
    finally:
        tg.kill()
    check(errs)


TESTS = [
    ("durations", t_durations), ("badvalues", t_badvalues), ("anywhere", t_anywhere),
    ("keep-output", t_keep_output), ("write-errors", t_write_errors),
    ("duration-cmd", t_duration_cmd), ("caps", t_caps), ("smaller", t_smaller),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", action="append", default=[], help="run tests whose name has SUBSTR")
    ap.add_argument("-v", action="store_true", help="more detail")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("test_cli.py: run as root")
        print("0 passed, 1 failed")
        return 1
    ctx = Ctx()
    os.chdir(ctx.dir)
    passed = failed = 0
    try:
        for name, fn in TESTS:
            if a.k and not any(k in name for k in a.k):
                continue
            try:
                fn(ctx)
                print(f"PASS {name}", flush=True)
                passed += 1
            except (Fail, run.Fail, subprocess.TimeoutExpired) as e:
                print(f"FAIL {name}: {e}", flush=True)
                failed += 1
    finally:
        shutil.rmtree(ctx.dir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
