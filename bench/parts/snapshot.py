"""Snapshot speed: `aps-bpf ps PID` and `aps-bpf pstree PID` vs sid's
`python3.14 -m asyncio ps PID` and `pstree PID` (run in its root, /proc
bind-mounted there) on the same python3.14 process with 1k, 10k and 100k
live tasks (tests/scenarios/park_many.py); `aps-bpf ps` alone on pyenv 3.12
at the same sizes. Commands interleaved on each process; ratio = the
reference's time / ours. Where the reference fails, its exit status and
last stderr line are kept instead of a ratio.
"""
import contextlib
import os

from benchlib import APS, SCENARIOS, BenchError, Figure, ProcMount, interleave, judge, median, start_target, \
    timed_run

PARK_MANY = os.path.join(SCENARIOS, "park_many.py")
PARK_COMMON = os.path.join(SCENARIOS, "park_common.py")
SIZES = (1000, 10000, 100000)
PARK_TIMEOUT = 300
RUN_TIMEOUT = 300
REF_LABEL, OTHER_LABELS = "sid-3.14", ("pyenv-3.12",)


def size_label(n):
    return f"{n // 1000}k"


def commands(interp, pid, with_reference):
    """ours ps; with the reference: ours pstree, 3.14's ps and pstree too."""
    cmds = {"ours ps": [APS, "ps", pid]}
    if with_reference:
        cmds["ours pstree"] = [APS, "pstree", pid]
        cmds["3.14 ps"] = interp.argv + ["-m", "asyncio", "ps", pid]
        cmds["3.14 pstree"] = interp.argv + ["-m", "asyncio", "pstree", pid]
    return cmds


def measure(ctx, interp, n, with_reference):
    """{command: [run, ...]} on one park_many process of n leaf tasks."""
    target, ready = start_target(interp.cmd(PARK_MANY, n, extra_files=(PARK_COMMON,)),
                                 timeout=PARK_TIMEOUT)
    try:
        cmds = commands(interp, ready[1], with_reference)
        samples = interleave(list(cmds), ctx.reps, lambda c: timed_run(cmds[c], RUN_TIMEOUT),
                             ctx.log)
        if not target.alive():
            raise BenchError("park_many died while it was read")
    finally:
        target.kill()
    return samples


def summary(runs):
    """Median seconds of the successful runs, and the failure if any."""
    ok = [r["secs"] for r in runs if r["rc"] == 0]
    bad = [r for r in runs if r["rc"] != 0]
    failure = (f"failed after {bad[-1]['secs']:.1f} s: exit {bad[-1]['rc']}: {bad[-1]['err']}"
               if bad else "")
    return (median(ok) if ok else None), failure


def figures_for(interp_label, n, samples):
    figures = []
    for what in ("ps", "pstree"):
        if f"ours {what}" not in samples:
            continue
        ours, ours_fail = summary(samples[f"ours {what}"])
        name = f"snapshot: {interp_label} {size_label(n)} tasks, aps-bpf {what}"
        big = n >= 100000
        figures.append(Figure(name, ours, "s", "≤ 0.5 s" if big else "",
                              judge(ours, 0.5) if big else None, ours_fail))
        if f"3.14 {what}" not in samples:
            continue
        ref, ref_fail = summary(samples[f"3.14 {what}"])
        ratio = ref / ours if ref and ours else None
        want = n == 10000
        figures.append(Figure(f"snapshot: {size_label(n)} tasks, 3.14 `-m asyncio {what}` / ours",
                              ratio, "x", "≥ 15×" if want else "",
                              judge(ratio, 15, at_most=False) if want else None,
                              ref_fail or f"3.14: {ref:.3f} s"))
    return figures


def run(ctx):
    figures, raw = [], {}
    plan = [(REF_LABEL, True)] + [(label, False) for label in OTHER_LABELS]
    for label, with_reference in plan:
        interp = ctx.interp(label)
        if interp is None:
            figures.append(Figure(f"snapshot: {label}", note="interpreter not in the test bed"))
            continue
        with ProcMount(interp.root) if with_reference else contextlib.nullcontext():
            for n in SIZES:
                ctx.log(f"snapshot: {label}, {n} tasks")
                samples = measure(ctx, interp, n, with_reference)
                figures += figures_for(label, n, samples)
                raw[f"{label} {size_label(n)}"] = samples
    return figures, raw
