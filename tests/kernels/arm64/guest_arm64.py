"""What the kernel matrix's guest checks (tests/kernels/guest_check.py) expect
on arm64 beyond x86-64's, as pure functions of what aps-bpf printed; each
returns a list of problems (empty: passed). Stdlib only.

- doctor: hooks from the debug files, probes at the function entries (the
  kernel single-steps or simulates them, never refuses), the loop-idle
  boundary on epoll_pwait (arm64 has no epoll_wait syscall);
- without symbols (the symfree case): the symbol-free search is x86-64
  only, and trace and doctor say so plainly; trace exits 1.
"""
import platform

ARM64 = platform.machine() == "aarch64"
# arm64 under TCG: Python runs ~13x slower than on the host, twice an x86
# guest's time: the time limits are tripled
SLOWDOWN = 3 if ARM64 else 1
SYMFREE_X86_ONLY = ("symbol-free hook search is x86-64 only: on arm64 install the "
                    "debug symbols or set DEBUGINFOD_URLS")


def doctor_problems(out):
    problems = []
    for want in ("task_step_impl", "(debug file)" if "(debug file)" in out else "debug file",
                 ", its entry", "epoll_pwait",
                 "no epoll_wait syscall on this architecture", SYMFREE_X86_ONLY):
        if want not in out:
            problems.append(f"doctor does not say {want!r}")
    for line in out.splitlines():
        if "probe at" in line and not ("single-stepped)" in line or "simulated)" in line):
            problems.append(f"a probe neither stepped nor simulated: {line.strip()}")
    return problems


def no_symbols_problems(trace_rc, trace_err, doctor_rc, doctor_out):
    problems = []
    if trace_rc != 1:
        problems.append(f"trace without symbols exited {trace_rc}, not 1")
    if SYMFREE_X86_ONLY not in trace_err:
        problems.append(f"trace without symbols does not say {SYMFREE_X86_ONLY!r}")
    if doctor_rc != 1 or "cannot trace" not in doctor_out:
        problems.append(f"doctor without symbols exited {doctor_rc}, not 1 with 'cannot trace'")
    if SYMFREE_X86_ONLY not in doctor_out:
        problems.append(f"doctor without symbols does not say {SYMFREE_X86_ONLY!r}")
    return problems
