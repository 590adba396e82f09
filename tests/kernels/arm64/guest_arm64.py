"""The arm64 guest's own checks (tests/kernels/guest_check.py runs them on
aarch64): what differs from x86-64, as the user sees it.

- doctor on a live program: hooks from the debug files, probes at the
  function entries (arm64: single-stepped or simulated, never refused), the
  loop-idle boundary on epoll_pwait (arm64 has no epoll_wait syscall);
- without debug files: trace and doctor say plainly that the symbol-free
  search is x86-64 only, and trace exits 1.

Each check returns a list of problems (empty: passed). Stdlib only.
"""
import os
import subprocess
import time

SYMFREE_X86_ONLY = ("symbol-free hook search is x86-64 only: on arm64 install the "
                    "debug symbols or set DEBUGINFOD_URLS")
DEBUG_DIR = "/usr/lib/debug"
IDLE_PROGRAM = "import asyncio, sys; print('READY', flush=True); asyncio.run(asyncio.sleep(600))"


def _start_idle(py):
    """A program waiting in its loop, with _asyncio mapped; (proc, problem)."""
    p = subprocess.Popen([py, "-c", IDLE_PROGRAM], stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "READY":
        p.kill()
        return p, "the idle program did not start"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open(f"/proc/{p.pid}/maps") as f:
            if "_asyncio" in f.read():
                return p, None
        time.sleep(0.2)
    p.kill()
    return p, "_asyncio never mapped in the idle program"


def _run(argv, timeout=120):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, DEBUGINFOD_URLS=""))
    return r.returncode, r.stdout, r.stderr


def doctor_problems(aps, py):
    p, why = _start_idle(py)
    if why:
        return [why]
    try:
        rc, out, err = _run([aps, "doctor", "--no-debuginfod", str(p.pid)])
    finally:
        p.kill()
        p.wait()
    problems = []
    if rc != 0:
        problems.append(f"doctor exit {rc}: {err.strip()[-300:]}")
    for want in ("task_step_impl", "debug file", "its entry", "epoll_pwait",
                 "no epoll_wait syscall on this architecture", SYMFREE_X86_ONLY):
        if want not in out:
            problems.append(f"doctor does not say {want!r}")
    for line in out.splitlines():
        if "probe at" in line and not ("single-stepped" in line or "simulated" in line):
            problems.append(f"doctor: a probe neither stepped nor simulated: {line.strip()}")
    if problems:
        problems.append("doctor said:\n" + out[-3000:])
    return problems


def symfree_message_problems(aps, py):
    """Debug files moved away: the error names the x86-64-only search."""
    hidden = DEBUG_DIR + ".hidden"
    os.rename(DEBUG_DIR, hidden)
    try:
        p, why = _start_idle(py)
        if why:
            return [why]
        try:
            rc, _, err = _run([aps, "trace", "--no-debuginfod", str(p.pid)], timeout=60)
            drc, dout, _ = _run([aps, "doctor", "--no-debuginfod", str(p.pid)])
        finally:
            p.kill()
            p.wait()
    finally:
        os.rename(hidden, DEBUG_DIR)
    problems = []
    if rc != 1:
        problems.append(f"trace without symbols: exit {rc}, not 1")
    if SYMFREE_X86_ONLY not in err:
        problems.append(f"trace without symbols does not say {SYMFREE_X86_ONLY!r}: {err.strip()[-500:]}")
    if drc != 1 or SYMFREE_X86_ONLY not in dout or "cannot trace" not in dout:
        problems.append(f"doctor without symbols: exit {drc}, output:\n{dout[-1500:]}")
    return problems


CHECKS = [("arm64-doctor", doctor_problems), ("arm64-no-symbols", symfree_message_problems)]
