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
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BENCH, interleave, load_bed, median, recording_info, \
    run_sleep0  # noqa: E402

MODES = ("untraced", "trace", "record", "flight")
ARGS = {"trace": ["trace", "--json", "-o"], "record": ["record", "-o"],
        "flight": ["record", "--mode", "step", "--flight", "60s", "-o"]}


def run_once(interp, mode, out_dir):
    """(ns per step, recording info or None)."""
    if mode == "untraced":
        return run_sleep0(interp)[0], None
    out = os.path.join(out_dir, f"{mode}.out")
    ns, _ = run_sleep0(interp, ARGS[mode] + [out])
    info = recording_info(out) if mode != "trace" else None
    if info and info["lost"]:
        print(f"  ({mode}: lost {info['lost']} events)", flush=True)
    os.unlink(out)
    return ns, info


def measure(interp, reps, out_dir):
    samples = interleave(MODES, reps, lambda m: run_once(interp, m, out_dir))
    med = {m: median(s[0] for s in samples[m]) for m in MODES}
    info = samples["record"][-1][1]
    size, events = info["file_bytes"], info["events"]
    r = {f"{m}_ns_per_step": round(med[m]) for m in MODES}
    for m in MODES[1:]:
        r[f"{m}_added_ns_per_step"] = round(med[m] - med["untraced"])
        r[f"{m}_ratio"] = round(med[m] / med["untraced"], 3)
    r.update(record_bytes=size, record_events=events,
             bytes_per_event=round(size / events, 2) if events else None)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--bed", action="append", help="labels (default: all)")
    args = ap.parse_args()
    bed = load_bed()
    results = {}
    with tempfile.TemporaryDirectory(prefix="aps-record-cost-") as out_dir:
        for label in args.bed or bed:
            r = results[label] = measure(bed[label], args.reps, out_dir)
            print(f"{label:12s} untraced {r['untraced_ns_per_step']:5d} ns/step | "
                  + " | ".join(f"{m} +{r[f'{m}_added_ns_per_step']} ns (x{r[f'{m}_ratio']:.2f})"
                               for m in MODES[1:])
                  + f" | {r['bytes_per_event']} bytes/event ({r['record_events']} events, "
                  f"{r['record_bytes']} bytes)", flush=True)
    with open(os.path.join(BENCH, "record_cost.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
