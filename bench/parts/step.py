"""Per-step overhead: bench/sleep0_workload.py (200k `await asyncio.sleep(0)`
steps over 100 tasks) untraced, with the floor's empty uprobe program on
aps-bpf's own step hook (the floor in place: one uprobe hit per step, in
the real interpreter), and under `aps-bpf record -o FILE PID`,
interleaved; ns added per step, that over the floor (one uprobe hit) and
over the floor in place, and the recording's bytes per event. Then one
`trace --json` run with kernel.bpf_stats_enabled, apart from the timed
ones, to tell what the added time is made of: BPF program runs per step
and their run time.
"""
import os

from benchlib import SLEEP0, BenchError, BpfStats, EmptyProbe, Figure, interleave, judge, median, \
    recording_info, run_sleep0, start_target, step_hook, trace_summary

LABELS = ("pyenv-3.12", "sid-3.14")
MODES = ("untraced", "empty_probe", "record")


def run_empty_probe(ctx, interp, hook):
    """ns per step with the floor's empty program on the step hook; checks
    that it was hit at least once per step."""
    target, ready = start_target(interp.cmd(SLEEP0))
    try:
        with EmptyProbe(ctx.floor_bin, ready[1], hook) as probe:
            target.send("go\n")
            _, elapsed, steps = target.line("ELAPSED", 120)
            target.wait(120)
    finally:
        target.kill()
    if probe.hits < int(steps):
        raise BenchError(f"empty probe on {interp.label}'s step hook: {probe.hits} hits for {steps} steps")
    return {"ns_per_step": float(elapsed) * 1e9 / int(steps), "hits_per_step": probe.hits / int(steps)}


def run_once(ctx, interp, mode, hook):
    if mode == "untraced":
        return {"ns_per_step": run_sleep0(interp)[0]}
    if mode == "empty_probe":
        return run_empty_probe(ctx, interp, hook)
    out = ctx.scratch(f"step-{interp.label}.rec")
    ns, steps = run_sleep0(interp, ["record", "-o", out])
    info = recording_info(out)
    os.unlink(out)
    return {"ns_per_step": ns, "events": info["events"], "lost": info["lost"],
            "file_bytes": info["file_bytes"], "events_per_step": info["events"] / steps}


def probe_profile(ctx, interp):
    """{program: {"runs_per_step", "ns_per_run"}} of one traced run."""
    out = ctx.scratch(f"step-{interp.label}.jsonl")
    with BpfStats():
        _, steps = run_sleep0(interp, ["trace", "--json", "-o", out])
    runs = trace_summary(out).get("probe_runs") or {}
    os.unlink(out)
    return {prog: {"runs_per_step": r["runs"] / steps, "ns_per_run": r["ns"] / r["runs"]}
            for prog, r in runs.items() if r["runs"]}


def profile_figure(label, profile):
    per_step = sum(p["runs_per_step"] * p["ns_per_run"] for p in profile.values())
    shown = sorted(((prog, p) for prog, p in profile.items() if p["runs_per_step"] >= 0.01),
                   key=lambda kv: -kv[1]["runs_per_step"] * kv[1]["ns_per_run"])
    return Figure(f"step: {label} BPF run time per step", per_step, "ns",
                  note="; ".join(f"{prog} {p['runs_per_step']:.2f}/step × {p['ns_per_run']:,.0f} ns"
                                 for prog, p in shown)
                  + " (bpf_stats, a separate trace run; without the uprobe trap)")


def figures_for(ctx, label, samples):
    med = {m: median(r["ns_per_step"] for r in samples[m]) for m in MODES}
    recs = samples["record"]
    added = med["record"] - med["untraced"]
    in_place = med["empty_probe"] - med["untraced"]
    over_floor = added / ctx.floor_ns if ctx.floor_ns else None
    bpe = median(r["file_bytes"] / r["events"] for r in recs if r["events"])
    return [
        Figure(f"step: {label} untraced", med["untraced"], "ns",
               note="per `await asyncio.sleep(0)` step"),
        Figure(f"step: {label} added by record", added, "ns",
               note=f"{median(r['events_per_step'] for r in recs):.2f} events/step"),
        Figure(f"step: {label} added / floor", over_floor, "x", "≤ 1.3× floor",
               judge(over_floor, 1.3), "" if ctx.floor_ns else "floor not measured in this run"),
        Figure(f"step: {label} added by an empty uprobe on the step hook", in_place, "ns",
               note=f"the floor in place: {median(r['hits_per_step'] for r in samples['empty_probe']):.2f} "
                    "hits/step, nothing else"),
        Figure(f"step: {label} added by record / by the empty uprobe", added / in_place if in_place > 0
               else None, "x", note="what aps-bpf adds beyond the trap in the real interpreter"),
        Figure(f"size: {label} sleep(0) recording", bpe, "B/event", "≤ 24 B/event",
               judge(bpe, 24), f"{recs[-1]['events']} events, {recs[-1]['file_bytes']} bytes"),
    ]


def run(ctx):
    figures, raw = [], {}
    for label in LABELS:
        interp = ctx.interp(label)
        if interp is None:
            figures.append(Figure(f"step: {label}", note="interpreter not in the test bed"))
            continue
        hook = step_hook(interp)
        ctx.log(f"step: {label}: step hook {hook[0]} at file offsets {[hex(o) for o in hook[1]]}")
        samples = interleave(MODES, ctx.reps, lambda m: run_once(ctx, interp, m, hook), ctx.log)
        lost = sum(r["lost"] for r in samples["record"])
        if lost:
            ctx.log(f"step: {label}: {lost} events lost in the recordings")
        profile = probe_profile(ctx, interp)
        figures += figures_for(ctx, label, samples) + [profile_figure(label, profile)]
        raw[label] = {"samples": samples, "lost_events": lost, "probe_profile": profile}
    if not raw:
        raise BenchError("no interpreter to measure")
    return figures, raw
