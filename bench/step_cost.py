#!/usr/bin/env python3
"""Per-step cost of tracing, measured side by side.

For each interpreter: runs the sleep(0) workload untraced and under
`aps-bpf trace --json` (output to a file), interleaved, REPS times each,
and reports the median ns per step of each and the difference. With
kernel.bpf_stats_enabled, also reads each BPF program's run count to give
the probe hits per step.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APS = os.path.join(ROOT, "aps-bpf")
WORKLOAD = os.path.join(ROOT, "bench", "sleep0_workload.py")
SID = os.environ.get("APS_SID_ROOT", "/var/cache/aps-bpf/sid-root")

BED = {
    "pyenv-3.10": ["/root/.pyenv/versions/3.10.13/bin/python3.10"],
    "pyenv-3.11": ["/root/.pyenv/versions/3.11.7/bin/python3.11"],
    "pyenv-3.12": ["/root/.pyenv/versions/3.12.1/bin/python3.12"],
    "pyenv-3.13": ["/root/.pyenv/versions/3.13.0/bin/python3.13"],
    "debian-3.11": ["/usr/bin/python3.11"],
    "sid-3.14": ["chroot", SID, "python3.14"],
}


def workload_path(label):
    if label.startswith("sid"):
        dst = os.path.join(SID, "tmp", "aps-bench")
        os.makedirs(dst, exist_ok=True)
        subprocess.run(["cp", WORKLOAD, dst], check=True)
        return "/tmp/aps-bench/sleep0_workload.py"
    return WORKLOAD


TOOLS = {
    "trace": ["trace", "--json"],
    "top": ["top", "-b", "--json", "--delay", "1"],
    "blocked": ["blocked", "--threshold", "100ms"],
}


def run_once(argv, traced, tool="trace"):
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line and line[0] == "READY", line
    pid = int(line[1])
    tracer, out, counts = None, None, None
    if traced:
        out = tempfile.NamedTemporaryFile(prefix="aps-bench-", suffix=".jsonl")
        tracer = subprocess.Popen([APS] + TOOLS[tool] + [str(pid)], stdout=out,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            l = tracer.stderr.readline()
            if l.startswith("aps-bpf: attached") or not l:
                break
    proc.stdin.write("go\n")
    proc.stdin.flush()
    res = proc.stdout.readline().split()
    proc.wait()
    if traced:
        tracer.wait(timeout=60)
        if tracer.returncode:
            raise SystemExit(f"aps-bpf failed: {tracer.stderr.read()}")
        out.seek(0)
        if tool == "trace":
            summary = json.loads(out.read().splitlines()[-1])
            counts = {k: v["runs"] for k, v in summary.get("probe_runs", {}).items()}
            if summary["lost_events"]:
                print(f"  (lost {summary['lost_events']} events)", flush=True)
    elapsed, steps = float(res[1]), int(res[2])
    return elapsed * 1e9 / steps, steps, counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--bed", action="append", help="labels (default: all)")
    ap.add_argument("--tool", choices=sorted(TOOLS), default="trace",
                    help="what runs on the target while traced (default trace)")
    args = ap.parse_args()
    subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=1"], check=False)
    results = {}
    for label in args.bed or BED:
        argv = BED[label] + [workload_path(label)]
        base, traced, hits = [], [], []
        for _ in range(args.reps):
            b, _, _ = run_once(argv, False)
            t, steps, counts = run_once(argv, True, args.tool)
            base.append(b)
            traced.append(t)
            if counts:
                hits.append({k: v / steps for k, v in counts.items()
                             if k in ("step_begin", "task_init", "task_dealloc", "swap_task", "loop_poll")})
        mb, mt = statistics.median(base), statistics.median(traced)
        results[label] = {
            "untraced_ns_per_step": round(mb), "traced_ns_per_step": round(mt),
            "added_ns_per_step": round(mt - mb), "ratio": round(mt / mb, 3),
            "probe_runs_per_step": hits[-1] if hits else None,
        }
        r = results[label]
        print(f"{args.tool:7s} {label:12s} untraced {r['untraced_ns_per_step']:6d} ns/step  traced {r['traced_ns_per_step']:6d}"
              f"  added {r['added_ns_per_step']:5d} ns  x{r['ratio']:.2f}  runs/step "
              + (", ".join(f"{k}={v:.3f}" for k, v in sorted(r['probe_runs_per_step'].items()))
                 if r['probe_runs_per_step'] else "?"), flush=True)
    with open(os.path.join(ROOT, "bench", f"step_cost_{args.tool}.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
