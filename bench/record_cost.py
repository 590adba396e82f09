#!/usr/bin/env python3
"""Recording cost and size, measured side by side (a sibling of step_cost.py).

For each interpreter: runs the sleep(0) workload (200k steps over 100 tasks)
untraced, under `aps-bpf trace --json` (to a file), under `aps-bpf record`
and under `aps-bpf record --flight 60s`, interleaved, REPS times each, and
reports the median ns per step of each mode, what each adds, and the
recording's size: bytes per event (file size / BPF records written).
Results go to bench/record_cost.json.

    sudo python3 bench/record_cost.py [--reps 5] [--bed pyenv-3.12]...
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from step_cost import APS, BED, ROOT, workload_path  # noqa: E402

MODES = ("untraced", "trace", "record", "flight")


def start_tool(mode, pid, out_dir):
    """(process, output path) of the tool for a mode, once attached."""
    out = os.path.join(out_dir, f"{mode}.out")
    if mode == "trace":
        argv = [APS, "trace", "--json", "-o", out, str(pid)]
    elif mode == "record":
        argv = [APS, "record", "-o", out, str(pid)]
    else:
        argv = [APS, "record", "--flight", "60s", "-o", out, str(pid)]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        line = p.stderr.readline()
        if not line or line.startswith("aps-bpf: attached"):
            break
    return p, out


def run_once(argv, mode, out_dir):
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line and line[0] == "READY", line
    pid = int(line[1])
    tool, out = (None, None) if mode == "untraced" else start_tool(mode, pid, out_dir)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    res = proc.stdout.readline().split()
    proc.wait()
    size = events = None
    if tool:
        tool.wait(timeout=60)
        if tool.returncode:
            raise SystemExit(f"aps-bpf {mode} failed: {tool.stderr.read()}")
        if mode in ("record", "flight"):
            info = json.loads(subprocess.run([APS, "replay", out, "info", "--json"],
                                             capture_output=True, text=True, check=True).stdout)
            size, events = info["bytes"], info["events"]
            if info["lost"]:
                print(f"  ({mode}: lost {info['lost']} events)", flush=True)
        os.unlink(out)
    elapsed, steps = float(res[1]), int(res[2])
    return elapsed * 1e9 / steps, size, events


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--bed", action="append", help="labels (default: all)")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="aps-record-cost-") as out_dir:
        for label in args.bed or BED:
            argv = BED[label] + [workload_path(label)]
            ns = {m: [] for m in MODES}
            sizes = []
            for _ in range(args.reps):
                for m in MODES:
                    v, size, events = run_once(argv, m, out_dir)
                    ns[m].append(v)
                    if m == "record":
                        sizes.append((size, events))
            med = {m: statistics.median(v) for m, v in ns.items()}
            size, events = sizes[-1]
            r = {f"{m}_ns_per_step": round(med[m]) for m in MODES}
            for m in MODES[1:]:
                r[f"{m}_added_ns_per_step"] = round(med[m] - med["untraced"])
                r[f"{m}_ratio"] = round(med[m] / med["untraced"], 3)
            r.update(record_bytes=size, record_events=events,
                     bytes_per_event=round(size / events, 2) if events else None)
            results[label] = r
            print(f"{label:12s} untraced {r['untraced_ns_per_step']:5d} ns/step | "
                  + " | ".join(f"{m} +{r[f'{m}_added_ns_per_step']} ns (x{r[f'{m}_ratio']:.2f})"
                               for m in MODES[1:])
                  + f" | {r['bytes_per_event']} bytes/event ({events} events, {size} bytes)",
                  flush=True)
    with open(os.path.join(ROOT, "bench", "record_cost.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
