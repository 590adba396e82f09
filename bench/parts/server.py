"""Server overhead: bench/http_server.py (asyncio streams, HTTP/1.1
keep-alive, ~50 µs of CPU per request) on 127.0.0.1, loaded by
`wrk -t1 -c64 -dD --latency` for a fixed duration; requests/s and p99
latency untraced, under `aps-bpf record PID -o FILE`, and under record with
its blocking detector (`record --blocked T`: stacks of steps over T, taken
while they run). Rounds interleaved; a fresh server each run, the work per request
calibrated once per interpreter.
"""
import os
import re
import subprocess

from benchlib import BENCH, BenchError, Figure, Tool, interleave, judge, median, recording_info, \
    start_target

SERVER = os.path.join(BENCH, "http_server.py")
LABELS = ("pyenv-3.12", "sid-3.14")
MODES = ("untraced", "record", "record+blocked")
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
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(rps.group(1)), "p99_ms": float(p99.group(1)) * UNITS[p99.group(2)],
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


def run_once(ctx, interp, mode, seconds, iterations):
    server, ready = start_target(interp.cmd(SERVER, iterations))
    pid, port = ready[1], ready[2]
    rec = ctx.scratch(f"server-{interp.label}.rec")
    tools = []
    try:
        if mode == "record":
            tools.append(Tool(["record", "-o", rec, pid]))
        elif mode == "record+blocked":
            tools.append(Tool(["record", "--blocked", BLOCKED_THRESHOLD, "-o", rec, pid]))
        res = run_wrk(port, seconds)
        for t in tools:
            t.stop()
    finally:
        for t in tools:
            t.kill()
        server.kill()
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
    med = {m: {k: median(r[k] for r in samples[m]) for k in ("rps", "p99_ms")} for m in MODES}
    rec_loss, blk_loss = loss_pct(med, "record"), loss_pct(med, "record+blocked")
    return [
        Figure(f"server: {label} untraced", med["untraced"]["rps"], "req/s",
               note=f"p99 {med['untraced']['p99_ms']:.2f} ms" + failed_requests(samples, "untraced")),
        Figure(f"server: {label} throughput lost, record", rec_loss, "%", "≤ 2 %",
               judge(rec_loss, 2), f"p99 {med['record']['p99_ms']:.2f} ms"
               + failed_requests(samples, "record")),
        Figure(f"server: {label} throughput lost, record + blocked", blk_loss, "%", "≤ 3 %",
               judge(blk_loss, 3), f"p99 {med['record+blocked']['p99_ms']:.2f} ms; "
               f"`record --blocked {BLOCKED_THRESHOLD}`"
               + failed_requests(samples, "record+blocked")),
    ]


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
        samples = interleave(MODES, ctx.reps, lambda m: run_once(ctx, interp, m, seconds, iterations),
                             ctx.log)
        figures += figures_for(label, samples)
        raw[label] = {"samples": samples, "wrk_seconds": seconds, "connections": CONNECTIONS,
                      "work_us": WORK_US, "loop_iterations": iterations,
                      "blocked_threshold": BLOCKED_THRESHOLD}
    return figures, raw
