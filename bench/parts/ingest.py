"""Ingest and loss. One CPython process can only make so many steps a
second (one thread runs Python at a time, and each traced step costs a
probe hit of several µs), so this is measured two ways:

(a) end to end: bench/paced_workload.py at rising target step rates, each
    run recorded by `aps-bpf record PID` with the default ring buffer and
    with a small one (--ringbuf-kb); lost events as the recording counts
    them. The highest rate with no loss (at every rate up to it), then a
    run at twice that rate. Rates above what the target reaches while
    traced come out at its CPU limit (the achieved rate is reported).
(b) the recorder's own capacity: its CPU time per event while recording
    (CPU after attaching, from its rusage; 1 / that is a lower bound of the
    events/s it can take), and `aps-bpf replay FILE`'s events per second
    over the biggest recording.
"""
import os

from benchlib import APS, BENCH, Figure, Tool, judge, recording_info, start_target, timed_run

WORKLOAD = os.path.join(BENCH, "paced_workload.py")
LABEL = "pyenv-3.12"
SMALL_RINGBUF_KB = 16
TARGET_RATE = 200000
CPU_LIMITED = 0.95      # achieved below this fraction of the target rate


def run_once(ctx, interp, rate, seconds, ringbuf_kb):
    """One recorded run at a target rate."""
    out = ctx.scratch(f"ingest-{int(rate)}-{ringbuf_kb}.rec")
    target, ready = start_target(interp.cmd(WORKLOAD, rate, seconds))
    args = ["record", "-o", out] + (["--ringbuf-kb", ringbuf_kb] if ringbuf_kb else [])
    tool = None
    try:
        tool = Tool(args + [ready[1]])
        target.send("go\n")
        _, steps, elapsed = target.line("DONE", seconds + 60)
        target.wait(60)
        tool.finish()
    finally:
        target.kill()
        if tool:
            tool.kill()
    info = recording_info(out)
    achieved = int(steps) / float(elapsed)
    (user, system), (user0, system0) = tool.cpu_seconds(), tool.cpu_at_attach
    return {"target_rate": rate, "ring": ring_name(ringbuf_kb), "steps": int(steps),
            "seconds": float(elapsed), "achieved_rate": achieved,
            "cpu_limited": achieved < CPU_LIMITED * rate, "events": info["events"],
            "lost": info["lost"], "recorder_user_s": user - user0,
            "recorder_system_s": system - system0, "file": out}


def ring_name(ringbuf_kb):
    return f"{ringbuf_kb} KB ring buffer" if ringbuf_kb else "default ring buffer"


def zero_loss_rate(runs):
    """The run of highest achieved rate among those without loss up to the
    first target rate that lost events."""
    clean = []
    for r in sorted(runs, key=lambda r: r["target_rate"]):
        if r["lost"]:
            break
        clean.append(r)
    return max(clean, key=lambda r: r["achieved_rate"], default=None)


def ladder(ctx, interp, rates, seconds, ringbuf_kb):
    runs = []
    for rate in rates:
        r = run_once(ctx, interp, rate, seconds, ringbuf_kb)
        ctx.log(f"  {r['ring']}, target {rate:,.0f}/s: {r['achieved_rate']:,.0f} "
                f"steps/s, {r['events']} events, {r['lost']} lost")
        runs.append(r)
    best = zero_loss_rate(runs)
    double = None
    if best is not None:
        double = run_once(ctx, interp, 2 * best["achieved_rate"], seconds, ringbuf_kb)
        ctx.log(f"  {double['ring']}, twice {best['achieved_rate']:,.0f}/s: "
                f"{double['achieved_rate']:,.0f} steps/s, {double['lost']} lost")
    return {"runs": runs, "zero_loss": best, "double": double}


def losses(runs):
    return "lost by rate: " + ", ".join(f"{r['achieved_rate'] / 1000:,.0f}k/s {r['lost']}"
                                        for r in runs)


def ladder_figures(res, judged):
    best, double, name = res["zero_loss"], res["double"], res["runs"][0]["ring"]
    target = "0 lost at 200k steps/s" if judged else ""
    if best is None:
        return [Figure(f"ingest: {name}, zero-loss step rate", None, "steps/s", target,
                       False if judged else None,
                       "events lost from the lowest rate on; " + losses(res["runs"]))]
    rate = best["achieved_rate"]
    saw_loss = double["lost"] or any(r["lost"] for r in res["runs"])
    met = judge(rate, TARGET_RATE, at_most=False) if judged else None
    note = losses(res["runs"])
    if judged and not met and not saw_loss:
        met = None
        note = (f"no loss seen, but one traced process reaches only {rate:,.0f} steps/s "
                f"(its CPU limit): see the recorder's capacity; {note}")
    figures = [Figure(f"ingest: {name}, zero-loss step rate", rate, "steps/s", target, met, note)]
    figures.append(Figure(f"ingest: {name}, lost at twice that rate", double["lost"], "events",
                          note=f"{double['achieved_rate']:,.0f} steps/s achieved of "
                               f"{double['target_rate']:,.0f}"
                               + (" (the target's CPU limit)" if double["cpu_limited"] else "")))
    return figures


def capacity_figures(runs, replay):
    """The recorder's CPU per event, and replay's events/s. The recorder's
    CPU per event falls as its batches grow (it wakes up less often per
    event when busier), so 1 / CPU per event is a lower bound of what it
    can take."""
    busiest = max(runs, key=lambda r: r["events"])
    user, system = busiest["recorder_user_s"], busiest["recorder_system_s"]
    per_event = (user + system) / busiest["events"]
    events_per_step = busiest["events"] / busiest["steps"]
    steps_capacity = 1 / per_event / events_per_step if per_event else None
    return [
        Figure("ingest: recorder CPU per event", per_event * 1e9, "ns",
               note=f"while recording {busiest['achieved_rate']:,.0f} steps/s "
                    f"({events_per_step:.2f} events/step); user {user:.3f} s, "
                    f"system {system:.3f} s"),
        Figure("ingest: recorder capacity, lower bound (1 / CPU per event)", steps_capacity,
               "steps/s", "≥ 200k steps/s", judge(steps_capacity, TARGET_RATE, at_most=False),
               f"{1 / per_event:,.0f} events/s" if per_event else ""),
        Figure("ingest: replay", replay["events_per_s"], "events/s",
               note=f"`aps-bpf replay FILE -o /dev/null`, {replay['events']} events"),
    ]


def time_replay(run):
    r = timed_run([APS, "replay", run["file"], "-o", "/dev/null"], 600)
    return dict(r, events=run["events"], events_per_s=run["events"] / r["secs"])


def run(ctx):
    interp = ctx.interp(LABEL)
    if interp is None:
        return [Figure(f"ingest: {LABEL}", note="interpreter not in the test bed")], {}
    rates = (10000, 50000, 200000) if ctx.quick else (10000, 25000, 50000, 100000, 200000, 400000)
    seconds = 2 if ctx.quick else 5
    default = ladder(ctx, interp, rates, seconds, None)
    small = ladder(ctx, interp, rates, seconds, SMALL_RINGBUF_KB)
    all_runs = default["runs"] + small["runs"]
    replay = time_replay(max(all_runs, key=lambda r: r["events"]))
    figures = (ladder_figures(default, True) + ladder_figures(small, False)
               + capacity_figures(default["runs"], replay))
    return figures, {"interpreter": LABEL, "seconds_per_run": seconds, "default_ring": default,
                     "small_ring": small, "replay": replay}
