"""Server overhead: bench/http_server.py (asyncio streams, HTTP/1.1
keep-alive, ~50 µs of CPU per request) on 127.0.0.1, loaded by
`wrk -t1 -c64 -dD --latency` for a fixed duration; requests/s and p99
latency untraced, under `aps-bpf record PID -o FILE`, and under record with
its blocking detector (`record --blocked T`: stacks of steps over T, taken
while they run), and with the floor's empty uprobe on aps-bpf's step hook
(the trap alone). Rounds interleaved; a fresh server each run, the work per
request calibrated once per interpreter. Besides requests/s, the server's
own CPU time per request (its threads' schedstat run time over wrk's
requests): less exposed to what else the shared machine runs.
"""
import contextlib
import os
import re
import subprocess

from benchlib import BENCH, BenchError, EmptyProbe, Figure, Tool, interleave, judge, median, \
    recording_info, start_target, step_hook

SERVER = os.path.join(BENCH, "http_server.py")
LABELS = ("pyenv-3.12", "sid-3.14")
MODES = ("untraced", "empty_probe", "record", "record+blocked")
WORK_US = 50
CONNECTIONS = 64
BLOCKED_THRESHOLD = "100ms"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_wrk(out):
    """requests/s, p99 latency (ms), non-2xx responses and socket errors."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", out, re.M)
    if not rps or not p99:
        raise BenchError(f"cannot read wrk's output: {out[-300:]!r}")
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(rps.group(1)), "p99_ms": float(p99.group(1)) * UNITS[p99.group(2)],
            "requests": int(total.group(1)) if total else 0,
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


def run_wrk(port, seconds):
    r = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
                        f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
                       timeout=seconds + 60)
    if r.returncode:
        raise BenchError(f"wrk exited {r.returncode}: {r.stderr.strip()}")
    return parse_wrk(r.stdout)


def calibrate(interp):
    """Iterations of the server's loop that take WORK_US on interp."""
    r = subprocess.run(interp.cmd(SERVER, "--calibrate", WORK_US), capture_output=True,
                       text=True, timeout=120)
    if r.returncode:
        raise BenchError(f"http_server.py --calibrate: {r.stderr.strip()[-300:]}")
    return int(r.stdout)


def cpu_ns(pid):
    """Time on CPU of all threads of pid so far (schedstat, ns)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def run_once(ctx, interp, mode, seconds, iterations, hook):
    server, ready = start_target(interp.cmd(SERVER, iterations))
    pid, port = ready[1], ready[2]
    rec = ctx.scratch(f"server-{interp.label}.rec")
    tools, probe = [], None
    try:
        with contextlib.ExitStack() as stack:
            if mode == "record":
                tools.append(Tool(["record", "-o", rec, pid]))
            elif mode == "record+blocked":
                tools.append(Tool(["record", "--blocked", BLOCKED_THRESHOLD, "-o", rec, pid]))
            elif mode == "empty_probe":
                probe = stack.enter_context(EmptyProbe(ctx.floor_bin, pid, hook))
            cpu0 = cpu_ns(pid)
            res = run_wrk(port, seconds)
            cpu = cpu_ns(pid) - cpu0
            for t in tools:
                t.stop()
        if probe:
            res["probe_hits"] = probe.hits
    finally:
        for t in tools:
            t.kill()
        server.kill()
    res["cpu_us_per_request"] = cpu / 1e3 / res["requests"] if res["requests"] else None
    if tools:
        info = recording_info(rec)
        res.update(events=info["events"], lost=info["lost"])
        os.unlink(rec)
    return res


def loss_pct(med, mode):
    return (1 - med[mode]["rps"] / med["untraced"]["rps"]) * 100


def failed_requests(samples, mode):
    n = sum(r["non_2xx"] + r["socket_errors"] for r in samples[mode])
    return f"; {n} failed requests" if n else ""


def figures_for(label, samples):
    med = {m: {k: median(r[k] for r in samples[m]) for k in ("rps", "p99_ms", "cpu_us_per_request")}
           for m in MODES}
    rec_loss, blk_loss = loss_pct(med, "record"), loss_pct(med, "record+blocked")
    probe_loss = loss_pct(med, "empty_probe")
    cpu = {m: med[m]["cpu_us_per_request"] for m in MODES}
    steps = median(r["events"] / r["requests"] / 2 for r in samples["record"] if r["requests"])
    return [
        Figure(f"server: {label} untraced", med["untraced"]["rps"], "req/s",
               note=f"p99 {med['untraced']['p99_ms']:.2f} ms" + failed_requests(samples, "untraced")),
        Figure(f"server: {label} throughput lost, empty uprobe on the step hook", probe_loss, "%",
               note=f"the trap alone; p99 {med['empty_probe']['p99_ms']:.2f} ms"
               + failed_requests(samples, "empty_probe")),
        Figure(f"server: {label} throughput lost, record", rec_loss, "%", "≤ 2 %",
               judge(rec_loss, 2), f"p99 {med['record']['p99_ms']:.2f} ms"
               + failed_requests(samples, "record")),
        Figure(f"server: {label} throughput lost, record + blocked", blk_loss, "%", "≤ 3 %",
               judge(blk_loss, 3), f"p99 {med['record+blocked']['p99_ms']:.2f} ms; "
               f"`record --blocked {BLOCKED_THRESHOLD}`"
               + failed_requests(samples, "record+blocked")),
        Figure(f"server: {label} server CPU per request, untraced", cpu["untraced"], "µs",
               note=f"~{steps:.1f} task steps per request"),
    ] + [Figure(f"server: {label} server CPU per request added, {what}",
                (cpu[m] - cpu["untraced"]) / cpu["untraced"] * 100, "%",
                note=f"{cpu[m]:.1f} µs per request")
         for m, what in (("empty_probe", "empty uprobe on the step hook"), ("record", "record"),
                         ("record+blocked", "record + blocked"))]


def run(ctx):
    seconds = 3 if ctx.quick else 10
    labels = LABELS[:1] if ctx.quick else LABELS
    figures, raw = [], {}
    for label in labels:
        interp = ctx.interp(label)
        if interp is None:
            figures.append(Figure(f"server: {label}", note="interpreter not in the test bed"))
            continue
        iterations = calibrate(interp)
        hook = step_hook(interp)
        samples = interleave(MODES, ctx.reps,
                             lambda m: run_once(ctx, interp, m, seconds, iterations, hook), ctx.log)
        figures += figures_for(label, samples)
        raw[label] = {"samples": samples, "wrk_seconds": seconds, "connections": CONNECTIONS,
                      "work_us": WORK_US, "loop_iterations": iterations,
                      "blocked_threshold": BLOCKED_THRESHOLD}
    return figures, raw
