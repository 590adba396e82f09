"""Loop mode on two services (issue 12): the asyncio streams server of the
server part and aiohttp + uvloop, on pyenv 3.12, Debian's python3.11 and
sid's python3.14 where each runs (aiohttp + uvloop: Debian's and sid's
python3-aiohttp / python3-uvloop, tests/testbed.sh), each under
`wrk -t1 -c32 -d5s`: untraced, loop mode (`record --mode loop --hz 99`: every
busy span, the stall watcher, the 99 Hz stack sampler and task reads, to a
file; no uprobe) and step mode (`record`: a uprobe per step), interleaved,
7+ rounds. Per round the loss against that round's untraced run; the median
and the spread (min..max) of those. "met" only when the worst round is
within the target too. Also the sampler's BPF ns per sample (`-v`) and the
loop-mode recording's bytes/s (its size over its length).
"""
import os
import re
import statistics
import subprocess

from benchlib import BENCH, BenchError, Figure, Tool, interleave, judge, start_target
from parts.server import SERVER, calibrate, cpu_ns, parse_wrk

AIOHTTP = os.path.join(BENCH, "aiohttp_server.py")
DEBIAN_PY = "/usr/bin/python3.11"
INTERPS = ("pyenv-3.12", "debian-3.11", "sid-3.14")
MODES = ("untraced", "loop", "step")
CONNECTIONS = 32
SECONDS = 5
TARGET_LOSS = 2.0


def run_wrk(port, seconds):
    r = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
                        f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
                       timeout=seconds + 60)
    if r.returncode:
        raise BenchError(f"wrk exited {r.returncode}: {r.stderr.strip()}")
    return parse_wrk(r.stdout)


def run_once(ctx, argv, mode, seconds):
    server, ready = start_target(argv)
    pid, port = ready[1], ready[2]
    rec = ctx.scratch("loop-step.rec")
    tool = None
    try:
        if mode == "loop":
            tool = Tool(["record", "--mode", "loop", "--hz", "99", "-v", "-o", rec, pid])
        elif mode == "step":
            tool = Tool(["record", "-o", rec, pid])
        cpu0 = cpu_ns(pid)
        res = run_wrk(port, seconds)
        res["cpu_us_per_request"] = (cpu_ns(pid) - cpu0) / 1e3 / max(res["requests"], 1)
        if tool:
            tool.stop()
            if mode == "loop":
                err = "\n".join(tool.err_lines)
                res.update(loop_costs(err))
    finally:
        if tool:
            tool.kill()
        server.kill()
        if os.path.exists(rec):
            os.unlink(rec)
    return res


def loop_costs(err):
    out = {}
    m = re.search(r"recorded [\d.]+ s to .*?: \d+ bytes \(([\d.]+) bytes/s\), (\d+) busy spans, "
                  r"(\d+) samples", err)
    if m:
        out["bytes_per_s"], out["spans"], out["samples"] = float(m.group(1)), int(m.group(2)), int(m.group(3))
    m = re.search(r"bpf sample\s+(\d+) runs, (\d+) ns per run", err)
    if m:
        out["sample_runs"], out["sample_ns_per_run"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"poll by ([^;\n]+);", err)
    if m:
        out["poll_hook"] = m.group(1)
    return out


def paired_loss(samples, mode, key="rps"):
    return [(1 - t[key] / u[key]) * 100 for u, t in zip(samples["untraced"], samples[mode])]


def paired_cpu(samples, mode):
    return [(t["cpu_us_per_request"] / u["cpu_us_per_request"] - 1) * 100
            for u, t in zip(samples["untraced"], samples[mode])]


def figures_for(name, samples, seconds):
    figs = []
    rps = [r["rps"] for r in samples["untraced"]]
    figs.append(Figure(f"loop: {name} untraced", statistics.median(rps), "req/s",
                       note=f"spread {min(rps):.0f}..{max(rps):.0f}"))
    for mode in ("loop", "step"):
        loss = paired_loss(samples, mode)
        cpu = paired_cpu(samples, mode)
        med, worst = statistics.median(loss), max(loss)
        target = f"≤ {TARGET_LOSS:g} %" if mode == "loop" else None
        met = (judge(med, TARGET_LOSS) and judge(worst, TARGET_LOSS)) if mode == "loop" else None
        figs.append(Figure(f"loop: {name} throughput lost, {mode} mode", med, "%", target, met,
                           f"per-round spread {min(loss):.1f}..{worst:.1f} %"))
        figs.append(Figure(f"loop: {name} CPU per request added, {mode} mode",
                           statistics.median(cpu), "%", target,
                           (judge(statistics.median(cpu), TARGET_LOSS) and
                            judge(max(cpu), TARGET_LOSS)) if mode == "loop" else None,
                           f"per-round spread {min(cpu):.1f}..{max(cpu):.1f} %"))
    costs = [r for r in samples["loop"] if r.get("samples")]
    if costs:
        ns = [r["sample_ns_per_run"] * r["sample_runs"] / r["samples"] for r in costs]
        figs.append(Figure(f"loop: {name} sampler BPF time per target sample",
                           statistics.median(ns), "ns",
                           note="bpf_stats run time of the perf-event program over the samples "
                                "it sent (runs on other processes' ticks included)"))
        figs.append(Figure(f"loop: {name} loop-mode record bytes/s at 99 Hz",
                           statistics.median(r["bytes_per_s"] for r in costs), "B/s",
                           note=f"poll by {costs[0].get('poll_hook', '?')}; `record --mode loop`'s "
                                f"file: every busy span (median {statistics.median(r['spans'] for r in costs) / seconds:.0f}/s), "
                                "samples, stalls, task reads"))
    return figs


SYSCALL_LOOP = ("import os, time\nn = 1000000\nt = time.perf_counter_ns()\n"
                "for _ in range(n):\n    os.getppid()\nprint((time.perf_counter_ns() - t) / n)")


def syscall_cost(ctx, reps):
    """ns per getppid() (a Python loop) of a process aps-bpf does not trace,
    with and without loop mode attached to another one: the syscall
    tracepoints put every thread of the host on the syscall slow path."""
    target, ready = start_target([DEBIAN_PY, "-c", "import asyncio, os\n"
                                  "print('READY', os.getpid(), flush=True)\n"
                                  "asyncio.run(asyncio.sleep(3600))"])
    out = {"off": [], "loop": []}
    hook = "?"
    try:
        for _ in range(reps):
            for mode in ("off", "loop"):
                tool = Tool(["blocked", "--mode", "loop", "-v", ready[1]]) if mode == "loop" else None
                try:
                    r = subprocess.run([DEBIAN_PY, "-c", SYSCALL_LOOP], capture_output=True,
                                       text=True, timeout=120)
                    out[mode].append(float(r.stdout))
                finally:
                    if tool:
                        tool.stop()
                        m = re.search(r"poll by ([^;\n]+);", "\n".join(tool.err_lines))
                        hook = m.group(1) if m else hook
                        tool.kill()
    finally:
        target.kill()
    added = [b - a for a, b in zip(out["off"], out["loop"])]
    return [Figure("loop: syscall cost added on an untraced process, loop mode attached",
                   statistics.median(added), "ns",
                   note=f"per getppid(), median of {reps} paired rounds, spread "
                        f"{min(added):.0f}..{max(added):.0f} ns; {statistics.median(out['off']):.0f} ns "
                        f"without; poll by {hook}")], out


def run(ctx):
    seconds = 2 if ctx.quick else SECONDS
    reps = ctx.args.reps or (2 if ctx.quick else 7)   # --reps 1: a smoke run
    services, missing = [], []
    for label in INTERPS:
        interp = ctx.interp(label)
        if interp is None:
            missing.append(f"{label}: not in the bed")
            continue
        services.append((f"asyncio streams, {label}", interp.cmd(SERVER, calibrate(interp))))
        if subprocess.run(interp.argv + ["-c", "import aiohttp, uvloop"],
                          capture_output=True).returncode == 0:
            services.append((f"aiohttp+uvloop, {label}", interp.cmd(AIOHTTP)))
        else:
            missing.append(f"aiohttp+uvloop on {label}: not installed")
    figures, raw = [], {}
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
    for name, argv in services:
        samples = interleave(MODES, reps, lambda m: run_once(ctx, argv, m, seconds), ctx.log)
        figures += figures_for(name, samples, seconds)
        raw[name] = {"samples": samples, "wrk_seconds": seconds, "connections": CONNECTIONS}
    figs, raw["syscall_ns"] = syscall_cost(ctx, reps)
    figures += figs
    for m in missing:
        figures.append(Figure(f"loop: {m.split(':')[0]}", note=m.split(": ", 1)[1]))
    return figures, raw
