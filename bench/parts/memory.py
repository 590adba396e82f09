"""Memory and size: aps-bpf's peak RSS (VmHWM in /proc/PID/status) at 100k
live tasks (tests/scenarios/park_many.py): recording from the start (all
100k tasks are created while traced), recording attached once they exist,
and tracing (--json to /dev/null) from the start; and the bytes per event
of the recording made from the start (file size / events).
"""
import os
import signal
import subprocess
import time

from benchlib import Figure, Tool, interleave, judge, median, recording_info, start_target
from parts.snapshot import PARK_COMMON, PARK_MANY, PARK_TIMEOUT

TASKS = 100000
LABELS = ("pyenv-3.12", "sid-3.14")
MODES = ("record from start", "record attached", "trace from start")
SETTLE = 2.0        # seconds after READY: a few polls of the ring buffer


def park_cmd(interp):
    return interp.cmd(PARK_MANY, TASKS, extra_files=(PARK_COMMON,))


def tool_args(mode, out):
    if mode.startswith("record"):
        return ["record", "-o", out]
    return ["trace", "--json", "-o", "/dev/null"]


def run_once(ctx, interp, mode):
    out = ctx.scratch(f"memory-{interp.label}.rec")
    target = tool = None
    try:
        if mode == "record attached":
            target, ready = start_target(park_cmd(interp), PARK_TIMEOUT)
            pid = int(ready[1])
            tool = Tool(tool_args(mode, out) + [pid])
        else:
            tool = Tool(tool_args(mode, out) + ["--"] + park_cmd(interp), stdout=subprocess.PIPE)
            pid = int(tool.line("READY", PARK_TIMEOUT)[1])
        time.sleep(SETTLE)
        hwm_kb = tool.vm_hwm_kb()
        os.kill(pid, signal.SIGKILL)
        tool.finish()
    finally:
        for p in (tool, target):
            if p:
                p.kill()
    res = {"vm_hwm_mb": hwm_kb / 1024}
    if mode.startswith("record"):
        info = recording_info(out)
        res.update(events=info["events"], file_bytes=info["file_bytes"], lost=info["lost"])
        os.unlink(out)
    return res


def figures_for(label, samples):
    figures = []
    for m in MODES:
        mb = median(r["vm_hwm_mb"] for r in samples[m])
        events = samples[m][-1].get("events")
        figures.append(Figure(f"memory: {label} 100k tasks, {m}", mb, "MB", "≤ 100 MB",
                              judge(mb, 100), "aps-bpf VmHWM"
                              + (f"; {events} events recorded" if events is not None else "")))
    recs = samples["record from start"]
    bpe = median(r["file_bytes"] / r["events"] for r in recs if r["events"])
    figures.append(Figure(f"size: {label} recording of 100k tasks made", bpe, "B/event",
                          "≤ 24 B/event", judge(bpe, 24),
                          f"{recs[-1]['events']} events, {recs[-1]['file_bytes']} bytes"))
    return figures


def run(ctx):
    reps = 1 if ctx.quick else min(ctx.reps, 3)
    labels = LABELS[:1] if ctx.quick else LABELS
    figures, raw = [], {}
    for label in labels:
        interp = ctx.interp(label)
        if interp is None:
            figures.append(Figure(f"memory: {label}", note="interpreter not in the test bed"))
            continue
        samples = interleave(MODES, reps, lambda m: run_once(ctx, interp, m), ctx.log)
        figures += figures_for(label, samples)
        raw[label] = {"tasks": TASKS, "samples": samples}
    return figures, raw
