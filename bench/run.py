#!/usr/bin/env python3
"""aps-bpf benchmarks: `make bench` (root; not part of `make test`).

    python3 bench/run.py --floor-bin .output/bench/floor [--quick] [--only PARTS] [--reps N]

Parts (--only takes a comma-separated list; default all, in this order):
  floor     ns per uprobe hit on our own C program (emulated uprobe,
            uretprobe, single-stepped reference)
  step      ns added per `await asyncio.sleep(0)` step by `record`, and that
            over the floor (pyenv 3.12, sid 3.14)
  server    requests/s and p99 of an asyncio streams HTTP server under wrk:
            untraced, `record`, `record --blocked`
  loop      loop mode vs step mode vs untraced on the asyncio streams server
            and aiohttp + uvloop (wrk -t1 -c32), 7+ rounds, median and spread;
            the sampler's BPF ns per sample, loop mode's record bytes/s
  snapshot  ps/pstree vs `python3.14 -m asyncio ps/pstree` at 1k/10k/100k tasks
  ingest    the highest step rate recorded with no lost event, the loss at
            twice that rate, and what the recorder's side can take
  memory    aps-bpf's peak RSS at 100k live tasks; bytes per event

Every figure comes from runs made side by side in this invocation,
interleaved (A B A B ...), the median of the repetitions. Prints a table
(figure, value, target, met?) and writes bench/results.json (every sample,
medians, machine, date, commit) and bench/results.md (the table).
--quick: fewer repetitions and shorter runs, for a smoke test.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import APS, BENCH, ROOT, BenchError, Figure, load_bed  # noqa: E402
from parts import floor, ingest, loop, memory, server, snapshot, step  # noqa: E402

PARTS = {"floor": floor, "step": step, "server": server, "loop": loop, "snapshot": snapshot,
         "ingest": ingest, "memory": memory}


class Context:
    """What the parts share: options, the test bed, scratch files, and the
    floor (ns per emulated uprobe hit) once the floor part has run."""

    def __init__(self, args, workdir):
        self.args = args
        self.quick = args.quick
        self.reps = args.reps or (2 if args.quick else 5)
        self.floor_bin = args.floor_bin
        self.floor_ns = None
        self.workdir = workdir
        self.bed = load_bed()
        self._usable = {}

    def interp(self, label):
        """The bed's interpreter of that label if it runs here, else None."""
        if label not in self._usable:
            i = self.bed.get(label)
            self._usable[label] = i if i is not None and i.runs() else None
        return self._usable[label]

    def scratch(self, name):
        return os.path.join(self.workdir, name)

    @staticmethod
    def log(msg):
        print(msg, flush=True)

    def cleanup(self):
        for i in self.bed.values():
            i.cleanup()


# ---- machine and output -----------------------------------------------------------

def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def git_commit():
    r = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty", "--abbrev=40"],
                       capture_output=True, text=True)
    return r.stdout.strip() or None


def machine():
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu_model": cpu_model(),
            "loadavg_at_start": os.getloadavg()}


def table_rows(figures):
    return [(f.name, f.value_text(), f.target or "", f.met_text(), f.note) for f in figures]


def print_table(figures):
    head = ("figure", "value", "target", "met?", "note")
    rows = table_rows(figures)
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    line = "  ".join("{:%d}" % w for w in widths) + "  {}"
    print()
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths), "----"))
    for r in rows:
        print(line.format(*r))


def markdown(figures, meta):
    m = meta["machine"]
    out = ["# aps-bpf benchmark results", "",
           f"{meta['date']}, commit `{meta['git_commit']}`, `bench/run.py {' '.join(meta['argv'])}`",
           f"on {m['nproc']} × {m['cpu_model']}, Linux {m['kernel']} "
           f"(load average {m['loadavg_at_start'][0]:.2f} at start, "
           f"{m['loadavg_at_end'][0]:.2f} at end).", "",
           "| figure | value | target | met? | note |", "|---|---|---|---|---|"]
    for r in table_rows(figures):
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    return "\n".join(out) + "\n"


def write_results(figures, parts, meta, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    doc = dict(meta, figures=[vars(f) for f in figures], parts=parts)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(doc, f, indent=1, default=str)
        f.write("\n")
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(markdown(figures, meta))


# ---- main ---------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description="aps-bpf benchmarks (root)")
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--only", default=",".join(PARTS),
                    help="comma-separated parts: " + ",".join(PARTS))
    ap.add_argument("--reps", type=int, help="repetitions per mode (default 5; --quick 2)")
    ap.add_argument("--floor-bin", default=os.path.join(ROOT, ".output", "bench", "floor"),
                    help="the floor program (make bench builds it)")
    ap.add_argument("--out-dir", default=BENCH, help="where results.json/.md go")
    args = ap.parse_args()
    args.parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown part(s) {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
    return args


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/run.py: run as root (uprobes, chroot, mounts)")
    for path in (APS, args.floor_bin):
        if not os.access(path, os.X_OK):
            sys.exit(f"bench/run.py: {path} is not built (make bench builds it)")
    meta = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "git_commit": git_commit(), "argv": sys.argv[1:], "machine": machine()}
    figures, parts, failed = [], {}, False
    with tempfile.TemporaryDirectory(prefix="aps-bench-") as workdir:
        ctx = Context(args, workdir)
        try:
            for name in args.parts:
                ctx.log(f"== {name}")
                t0 = time.monotonic()
                try:
                    figs, raw = PARTS[name].run(ctx)
                except BenchError as e:
                    ctx.log(f"{name}: FAILED: {e}")
                    figs, raw, failed = [Figure(f"{name}: failed", note=str(e))], {"error": str(e)}, True
                figures += figs
                parts[name] = dict(raw, seconds=round(time.monotonic() - t0, 1))
        finally:
            ctx.cleanup()
    meta["machine"]["loadavg_at_end"] = os.getloadavg()
    meta["reps"] = ctx.reps
    print_table(figures)
    write_results(figures, parts, meta, args.out_dir)
    print(f"\nwrote {os.path.join(args.out_dir, 'results.json')} and results.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
