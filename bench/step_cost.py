#!/usr/bin/env python3
"""Per-step cost of each aps-bpf command, measured side by side.

For each interpreter of the test bed: runs the sleep(0) workload untraced
and under `aps-bpf trace --json` (or --tool top / blocked), interleaved,
REPS times each, and reports the median ns per step of each and the
difference. With trace, kernel.bpf_stats_enabled gives each BPF program's
run count, hence the probe hits per step. Results go to
bench/step_cost_TOOL.json. (`make bench` measures `record`: bench/run.py.)

    sudo python3 bench/step_cost.py [--reps 5] [--bed pyenv-3.12]... [--tool trace]
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BENCH, BpfStats, interleave, load_bed, median, run_sleep0, \
    trace_summary  # noqa: E402

TOOLS = {
    "trace": ["trace", "--json", "-o"],     # + output file
    "top": ["top", "--mode", "step", "-b", "--json", "--delay", "1"],
    "blocked": ["blocked", "--mode", "step", "--threshold", "100ms"],
}
COUNTED = ("step_begin", "task_init", "task_dealloc", "swap_task", "loop_poll")


def run_once(interp, tool, traced, out):
    if not traced:
        return run_sleep0(interp)[0], None
    args = TOOLS[tool] + [out] if tool == "trace" else TOOLS[tool]
    ns, steps = run_sleep0(interp, args)
    if tool != "trace":
        return ns, None
    summary = trace_summary(out)
    if summary["lost_events"]:
        print(f"  (lost {summary['lost_events']} events)", flush=True)
    runs = summary.get("probe_runs", {})
    return ns, {k: v["runs"] / steps for k, v in runs.items() if k in COUNTED}


def measure(interp, tool, reps, out):
    samples = interleave((False, True), reps, lambda traced: run_once(interp, tool, traced, out))
    mb, mt = median(s[0] for s in samples[False]), median(s[0] for s in samples[True])
    return {"untraced_ns_per_step": round(mb), "traced_ns_per_step": round(mt),
            "added_ns_per_step": round(mt - mb), "ratio": round(mt / mb, 3),
            "probe_runs_per_step": samples[True][-1][1]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--bed", action="append", help="labels (default: all)")
    ap.add_argument("--tool", choices=sorted(TOOLS), default="trace",
                    help="what runs on the target while traced (default trace)")
    args = ap.parse_args()
    bed = load_bed()
    results = {}
    with BpfStats(), tempfile.TemporaryDirectory(prefix="aps-step-cost-") as tmp:
        for label in args.bed or bed:
            r = results[label] = measure(bed[label], args.tool, args.reps,
                                         os.path.join(tmp, "trace.jsonl"))
            runs = r["probe_runs_per_step"]
            print(f"{args.tool:7s} {label:12s} untraced {r['untraced_ns_per_step']:6d} ns/step"
                  f"  traced {r['traced_ns_per_step']:6d}  added {r['added_ns_per_step']:5d} ns"
                  f"  x{r['ratio']:.2f}  runs/step "
                  + (", ".join(f"{k}={v:.3f}" for k, v in sorted(runs.items())) if runs else "?"),
                  flush=True)
    with open(os.path.join(BENCH, f"step_cost_{args.tool}.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
