#!/usr/bin/env python3
"""aps-bpf record / replay / export integration tests.  Run as root from the
repo root:

    python3 tests/integration/test_record.py [-k SUBSTR]... [--bed LABEL]... [-v]

Tests (names; -k selects by substring):
  record:SCEN@BED        `trace --json PID` and `record --trace-json -o F PID`
                         on one target at once; `replay F --json` equals what
                         record printed live (exactly, all but the summary),
                         matches the live trace (the same events thread by
                         thread, times within 2 ms: two sets of probes), and
                         passes every check of checks.py against the
                         scenario's ground truth (every scenario on 3.12;
                         basic and cancel_who on every bed)
  record-cmd:basic@BED   `record -o F -- PYTHON basic.py GT`: the replay
                         passes every check
  record-kill@BED        the recorder is SIGKILLed mid-run (200k steps): F
                         replays up to the kill: every step the live trace saw
                         until 0.5 s before the kill is in the replay
  flight@BED             `record --flight 1s` on a long-running program,
                         SIGUSR1 after 3 s: F holds about the last second,
                         replays with the tasks created before the window
                         known by name, and its steps are the live trace's;
                         the target's exit writes F.1
  perfetto@BED           `export --format perfetto` of a recording of basic:
                         valid trace-event JSON whose slices are the
                         recorded steps (count, task, duration to the ns),
                         paired flows, markers for creation, cancellation
                         (naming who requested it) and exceptions
  badinput:...           usage errors, a file that is not a recording

Output: one `PASS name` / `FAIL name: reason` line per test, then
`N passed, N failed`; exit status 1 if any failed.  Helpers (the bed,
scenarios, processes, checks) come from run.py and checks.py.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checks  # noqa: E402
import run  # noqa: E402
from run import APS, ATTACH_TIMEOUT, REPO, SCENARIO_TIMEOUT, Fail, Proc, tail  # noqa: E402

TS_TOL = 2_000_000          # ns: the same event seen by two sets of probes
RECORD_EXIT_TIMEOUT = 20
FLIGHT_WINDOW = 1.0
WORKLOAD = os.path.join(REPO, "bench", "sleep0_workload.py")
FLIGHT_WORKLOAD = os.path.join(HERE, "flight_workload.py")


# ---- helpers ---------------------------------------------------------------

def recorder(pid_or_cmd, path, extra=(), stdout=None, env=None):
    argv = [APS, "record", "-o", path] + list(extra)
    argv += [str(pid_or_cmd)] if isinstance(pid_or_cmd, int) else ["--"] + list(pid_or_cmd)
    return Proc(argv, stdout=stdout, env=env, watch="aps-bpf: attached")


def wait_attached(p, what):
    if not p.wait_for_line(ATTACH_TIMEOUT):
        raise Fail(f"{what} did not report attached within {ATTACH_TIMEOUT}s "
                   f"(exit {p.p.poll()}): {tail(p.stderr, 3)}", tail(p.stderr))


def wait_exit(p, what, timeout=RECORD_EXIT_TIMEOUT):
    rc = p.wait(timeout)
    if rc is None:
        p.stop()
        raise Fail(f"{what} did not exit within {timeout}s of the target's exit", tail(p.stderr))
    if rc != 0:
        raise Fail(f"{what} exited {rc}: {tail(p.stderr, 3)}", tail(p.stderr))


def aps(*args, timeout=120):
    """Run aps-bpf; (stdout, stderr); Fail on a non-zero exit."""
    r = subprocess.run([APS] + list(args), capture_output=True, text=True, timeout=timeout,
                       cwd=REPO)
    if r.returncode != 0:
        raise Fail(f"aps-bpf {' '.join(args)} exited {r.returncode}: {tail(r.stderr, 3)}",
                   r.stderr)
    return r.stdout, r.stderr


def json_lines(text, what):
    events, problems = checks.parse_lines(text)
    if problems:
        raise Fail(f"{what} is not JSON lines: {problems[0]}", "\n".join(problems))
    if not events:
        raise Fail(f"{what} is empty")
    return events


def replay_json(path, *extra):
    out, _ = aps("replay", path, "trace", "--json", *extra)
    return json_lines(out, f"replay of {os.path.basename(path)}")


def info(path):
    out, _ = aps("replay", path, "info", "--json")
    return json.loads(out)


def body(events):
    """The events but the summary."""
    return [e for e in events if e.get("event") != "summary"]


def per_thread(events):
    out = {}
    for e in body(events):
        if e.get("event") == "lost":
            continue
        out.setdefault(e.get("tid"), []).append(e)
    return out


TIMES = ("ts_ns", "duration_ns", "cancel_ts_ns")


def untimed(e):
    return {k: v for k, v in e.items() if k not in TIMES}


def timed_like(a, b):
    """Same event, times within TS_TOL (an exit close happens at each tool's own end)."""
    if untimed(a) != untimed(b):
        return False
    if (a.get("cancel_ts_ns") is None) != (b.get("cancel_ts_ns") is None) or \
            abs((a.get("cancel_ts_ns") or 0) - (b.get("cancel_ts_ns") or 0)) > TS_TOL:
        return False
    if a.get("boundary") == "exit":
        return True
    if abs(a["ts_ns"] - b["ts_ns"]) > TS_TOL:
        return False
    return abs(a.get("duration_ns", 0) - b.get("duration_ns", 0)) <= TS_TOL


def compare_live(live, replayed, prefix=False):
    """The replayed events are the live trace's, thread by thread (a prefix
    of them if prefix); problems."""
    lt, rt = per_thread(live), per_thread(replayed)
    out = []
    if not prefix and set(lt) != set(rt):
        out.append(f"threads differ: live {sorted(lt)}, replay {sorted(rt)}")
    for tid, revs in rt.items():
        levs = lt.get(tid, [])
        if not prefix and len(levs) != len(revs):
            out.append(f"tid {tid}: {len(levs)} live events, {len(revs)} replayed")
        for i, r in enumerate(revs):
            if i >= len(levs):
                out.append(f"tid {tid}: replayed event {i} not in the live trace: {checks.fmt(r)}")
                break
            if not timed_like(levs[i], r):
                out.append(f"tid {tid}: event {i} differs:\n  live   {checks.fmt(levs[i])}\n"
                           f"  replay {checks.fmt(r)}")
                break
    return out


def check_gt(events, gt, what):
    failed = checks.run_checks(events, gt)
    if failed:
        first_name, first = failed[0]
        names = ", ".join(n for n, _ in failed)
        raise Fail(f"{what}: {len(failed)} checks failed ({names}); {first_name}: {first[0]}",
                   "\n".join(f"{n}: {p}" for n, ps in failed for p in ps))


class Workload:
    """A READY/go program outside the scenario harness (bench, flight)."""

    def __init__(self, bed, script):
        path = script
        if bed.chrooted:
            inside = f"{run.ROOT_SCENARIO_DIR}/{os.path.basename(script)}"
            os.makedirs(bed.host_path(run.ROOT_SCENARIO_DIR), exist_ok=True)
            shutil.copy(script, bed.host_path(inside))
            path = inside
        self.p = subprocess.Popen(bed.argv + [path], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, cwd=REPO)
        line = self.p.stdout.readline().split()
        if len(line) != 2 or line[0] != b"READY":
            self.kill()
            raise Fail(f"{os.path.basename(script)} did not start: {line!r}")
        self.pid = int(line[1])

    def say(self, text):
        self.p.stdin.write(text.encode() + b"\n")
        self.p.stdin.flush()

    def finish(self, timeout=SCENARIO_TIMEOUT):
        try:
            out, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Fail(f"workload did not exit within {timeout}s")
        return out.decode(errors="replace")

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


# ---- tests -------------------------------------------------------------------

def t_record(ctx, bed, scen):
    """Live trace and recorder on one target; the replay is both."""
    run.need_aps()
    bed.probe()
    tag = f"record-{scen}-{bed.label}"
    gt_inside, gt_host = bed.gt_path(ctx.workdir, tag)
    live_path = os.path.join(ctx.workdir, tag + ".live.jsonl")
    printed_path = os.path.join(ctx.workdir, tag + ".printed.jsonl")
    rec_path = os.path.join(ctx.workdir, tag + ".rec")
    sc = run.Scenario(bed, scen, gt_inside)
    tr = rec = None
    try:
        pid = sc.read_ready()
        with open(live_path, "wb") as live, open(printed_path, "wb") as printed:
            tr = run.tracer(pid, live)
            wait_attached(tr, "aps-bpf trace")
            rec = recorder(pid, rec_path, ["--trace-json"], stdout=printed)
            wait_attached(rec, "aps-bpf record")
            sc.go()
            sc.finish()
            wait_exit(tr, "aps-bpf trace")
            wait_exit(rec, "aps-bpf record")
    finally:
        sc.stop()
        for p in (tr, rec):
            if p:
                p.stop()
    ctx.keep(rec_path)
    gt = run.load_gt(gt_host)
    with open(printed_path) as f:
        printed = json_lines(f.read(), "record --trace-json")
    with open(live_path) as f:
        live = json_lines(f.read(), "trace --json")
    replayed = replay_json(rec_path)
    if body(printed) != body(replayed):
        diff = next((i for i, (a, b) in enumerate(zip(body(printed), body(replayed))) if a != b),
                    min(len(body(printed)), len(body(replayed))))
        raise Fail(f"replay differs from what record printed live, at event {diff} "
                   f"({len(body(printed))} printed, {len(body(replayed))} replayed)",
                   f"printed {body(printed)[diff:diff + 2]}\nreplay  {body(replayed)[diff:diff + 2]}")
    problems = compare_live(live, replayed)
    if problems:
        raise Fail(f"replay differs from the live trace: {problems[0]}", "\n".join(problems))
    reason = "target_exited"
    if replayed[-1].get("reason") != reason:
        raise Fail(f"replay summary reason {replayed[-1].get('reason')!r}, expected {reason!r}")
    check_gt(replayed, gt, "replay")


def t_record_cmd(ctx, bed):
    """record -o F -- PYTHON basic.py GT: aps-bpf starts the target."""
    run.need_aps()
    bed.probe()
    tag = f"record-cmd-basic-{bed.label}"
    gt_inside, gt_host = bed.gt_path(ctx.workdir, tag)
    rec_path = os.path.join(ctx.workdir, tag + ".rec")
    env = dict(os.environ, APS_SCENARIO_NO_WAIT="1", PYTHONDONTWRITEBYTECODE="1")
    rec = recorder(bed.argv + [bed.scenario_path("basic"), gt_inside], rec_path, env=env)
    try:
        wait_exit(rec, "aps-bpf record -- CMD", SCENARIO_TIMEOUT)
    finally:
        rec.stop()
    ctx.keep(rec_path)
    check_gt(replay_json(rec_path), run.load_gt(gt_host), "replay")


def t_record_kill(ctx, bed):
    """SIGKILL the recorder mid-run: the file replays up to the kill."""
    run.need_aps()
    bed.probe()
    rec_path = os.path.join(ctx.workdir, f"kill-{bed.label}.rec")
    live_path = os.path.join(ctx.workdir, f"kill-{bed.label}.live.jsonl")
    w = Workload(bed, WORKLOAD)
    tr = rec = None
    try:
        with open(live_path, "wb") as live:
            tr = run.tracer(w.pid, live)
            wait_attached(tr, "aps-bpf trace")
            rec = recorder(w.pid, rec_path)
            wait_attached(rec, "aps-bpf record")
            w.say("go")
            time.sleep(1.0)
            killed_at = time.monotonic_ns()
            rec.p.send_signal(signal.SIGKILL)
            rec.p.wait()
            w.finish()
            wait_exit(tr, "aps-bpf trace")
    finally:
        w.kill()
        for p in (tr, rec):
            if p:
                p.stop()
    ctx.keep(rec_path)
    meta = info(rec_path)
    if meta["end_reason"] is not None:
        raise Fail(f"a killed recording has an END record ({meta['end_reason']})")
    replayed = replay_json(rec_path)
    if replayed[-1].get("reason") != "truncated":
        raise Fail(f"replay summary reason {replayed[-1].get('reason')!r}, expected 'truncated'")
    with open(live_path) as f:
        live = json_lines(f.read(), "trace --json")
    steps = [e for e in replayed if e.get("event") == "step"]
    live_steps = [e for e in live if e.get("event") == "step"]
    if not 1000 <= len(steps) < len(live_steps):
        raise Fail(f"{len(steps)} steps replayed, {len(live_steps)} live: not a mid-run kill")
    # the replay is the start of the live trace (but the steps it closes at its end)
    cut = [e for e in replayed if not (e.get("event") in ("step_end", "summary")
                                       and e.get("boundary") == "exit")]
    problems = compare_live(live, cut, prefix=True)
    if problems:
        raise Fail(f"replay is not the start of the live trace: {problems[0]}", "\n".join(problems))
    # everything until 0.5 s before the kill was on disk
    before = [e for e in live_steps if e["ts_ns"] < killed_at - 500_000_000]
    if len(steps) < len(before):
        raise Fail(f"the live trace has {len(before)} steps until 0.5 s before the kill, "
                   f"the replay only {len(steps)}")
    ctx.note(f"kill@{bed.label}: {len(steps)} of {len(live_steps)} steps replayed, "
             f"{meta['bytes_per_event']:.2f} bytes/event")


def t_flight(ctx, bed):
    """Flight recorder: SIGUSR1 writes about the last window, self-contained."""
    run.need_aps()
    bed.probe()
    rec_path = os.path.join(ctx.workdir, f"flight-{bed.label}.rec")
    live_path = os.path.join(ctx.workdir, f"flight-{bed.label}.live.jsonl")
    first_path = rec_path + ".sigusr1"
    for p in (rec_path, rec_path + ".1"):
        if os.path.exists(p):
            os.unlink(p)
    w = Workload(bed, FLIGHT_WORKLOAD)
    tr = rec = None
    try:
        with open(live_path, "wb") as live:
            tr = run.tracer(w.pid, live)
            wait_attached(tr, "aps-bpf trace")
            rec = recorder(w.pid, rec_path, ["--flight", f"{FLIGHT_WINDOW}s"])
            wait_attached(rec, "aps-bpf record --flight")
            w.say("go")
            time.sleep(3.0)
            usr1_at = time.monotonic_ns()
            rec.p.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and "flight:sigusr1" not in rec.stderr:
                time.sleep(0.05)
            if "flight:sigusr1" not in rec.stderr:
                raise Fail("no dump reported within 10 s of SIGUSR1", tail(rec.stderr))
            shutil.copy(rec_path, first_path)
            time.sleep(0.5)
            w.say("stop")
            w.finish()
            wait_exit(tr, "aps-bpf trace")
            wait_exit(rec, "aps-bpf record --flight")
    finally:
        w.kill()
        for p in (tr, rec):
            if p:
                p.stop()
    ctx.keep(first_path)
    meta = info(first_path)
    if not meta["flight"]:
        raise Fail("the dump is not marked as a flight-recorder window")
    if meta["end_reason"] != "flight:sigusr1":
        raise Fail(f"dump END reason {meta['end_reason']!r}, expected 'flight:sigusr1'")
    span = (meta["end_ns"] - meta["start_ns"]) / 1e9
    if not FLIGHT_WINDOW * 0.9 <= span <= FLIGHT_WINDOW * 1.125 + 0.35:
        raise Fail(f"the dump spans {span:.3f} s; the window is {FLIGHT_WINDOW} s")
    if not usr1_at <= meta["end_ns"] <= usr1_at + 1_000_000_000:
        raise Fail("the dump does not end at the SIGUSR1")
    replayed = replay_json(first_path)
    if replayed[-1].get("reason") != "flight:sigusr1":
        raise Fail(f"replay summary reason {replayed[-1].get('reason')!r}")
    ev = body(replayed)
    first_ts = min(e["ts_ns"] for e in ev)
    if first_ts < meta["start_ns"] - 200_000_000:
        raise Fail(f"events from {(meta['start_ns'] - first_ts) / 1e9:.3f} s before the window")
    named = {e["name"] for e in ev if e.get("event") == "step"}
    elders = {f"elder-{i}" for i in range(5)}
    if not elders <= named:
        raise Fail(f"tasks created before the window are not known by name: steps of "
                   f"{sorted(n for n in named if not n.startswith('gen-'))[:10]}")
    if any(e.get("event") == "created" and e["name"] in elders for e in ev):
        raise Fail("an elder task is `created` inside the window")
    if not any(e.get("event") == "created" and e["name"].startswith("gen-") for e in ev):
        raise Fail("no task created inside the window")
    unknown = [e for e in ev if e.get("name") in ("?", None) and e.get("event") != "lost"]
    if unknown:
        raise Fail(f"{len(unknown)} events of unknown tasks: {checks.fmt(unknown[0])}")
    # its steps are the live trace's
    with open(live_path) as f:
        live = json_lines(f.read(), "trace --json")
    live_steps = sorted((e["ts_ns"], e["task"]) for e in live if e.get("event") == "step")
    import bisect
    missing = 0
    for e in ev:
        if e.get("event") != "step":
            continue
        i = bisect.bisect_left(live_steps, (e["ts_ns"] - TS_TOL, ""))
        if not any(t == e["task"] for _, t in live_steps[i:i + 200]
                   if abs(_ - e["ts_ns"]) <= TS_TOL):
            missing += 1
    if missing:
        raise Fail(f"{missing} replayed steps are not in the live trace")
    inside = [s for s in live_steps
              if meta["start_ns"] + 50_000_000 <= s[0] <= meta["end_ns"] - 300_000_000]
    nsteps = sum(1 for e in ev if e.get("event") == "step")
    if nsteps < len(inside):
        raise Fail(f"the live trace has {len(inside)} steps inside the window, the dump {nsteps}")
    if not os.path.exists(rec_path + ".1"):
        raise Fail("no dump at the target's exit (FILE.1)")
    if info(rec_path + ".1")["end_reason"] != "flight:target_exited":
        raise Fail("the exit dump's reason is not flight:target_exited")
    ctx.note(f"flight@{bed.label}: {span:.2f} s, {nsteps} steps, {meta['bytes']} bytes")


def t_perfetto(ctx, bed):
    """export --format perfetto: trace-event JSON, slices = recorded steps."""
    run.need_aps()
    bed.probe()
    tag = f"perfetto-{bed.label}"
    gt_inside, _ = bed.gt_path(ctx.workdir, tag)
    rec_path = os.path.join(ctx.workdir, tag + ".rec")
    out_path = os.path.join(ctx.workdir, tag + ".json")
    env = dict(os.environ, APS_SCENARIO_NO_WAIT="1", PYTHONDONTWRITEBYTECODE="1")
    rec = recorder(bed.argv + [bed.scenario_path("basic"), gt_inside], rec_path, env=env)
    try:
        wait_exit(rec, "aps-bpf record -- CMD", SCENARIO_TIMEOUT)
    finally:
        rec.stop()
    aps("export", rec_path, "--format", "perfetto", "-o", out_path)
    ctx.keep(out_path)
    try:
        with open(out_path) as f:
            doc = json.load(f)
    except ValueError as e:
        raise Fail(f"the export is not JSON: {e}")
    evs = doc.get("traceEvents") if isinstance(doc, dict) else None
    if not isinstance(evs, list) or not evs:
        raise Fail("no traceEvents array")
    pid = info(rec_path)["pid"]
    for e in evs:
        if e.get("ph") not in ("X", "i", "s", "f", "M"):
            raise Fail(f"unexpected phase: {e}")
        if e.get("pid") != pid or not isinstance(e.get("name"), str):
            raise Fail(f"bad pid or name: {e}")
        if e["ph"] != "M" and not isinstance(e.get("ts"), (int, float)):
            raise Fail(f"no ts: {e}")
        needs_tid = e["ph"] in ("X", "s", "f") or (e["ph"] == "i" and e.get("s") == "t") \
            or e.get("name") == "thread_name"
        if needs_tid and not isinstance(e.get("tid"), int):
            raise Fail(f"no tid: {e}")
    slices = [e for e in evs if e["ph"] == "X"]
    replayed = replay_json(rec_path)
    ends = [e for e in replayed if e.get("event") == "step_end"]
    if len(slices) != len(ends):
        raise Fail(f"{len(slices)} slices, {len(ends)} recorded steps")
    got = sorted((s["args"]["addr"], round(s["dur"] * 1000)) for s in slices)
    want = sorted((e["task"], e["duration_ns"]) for e in ends)
    if got != want:
        bad = next(((a, b) for a, b in zip(got, want) if a != b), None)
        raise Fail(f"slices differ from the recorded steps (task, ns): {bad}")
    coros = {e["task"]: e["coro"] for e in ends}
    for s in slices:
        if s["name"] != coros[s["args"]["addr"]]:
            raise Fail(f"slice named {s['name']!r}, its coroutine is {coros[s['args']['addr']]!r}")
        if s["dur"] < 0:
            raise Fail(f"negative duration: {s}")
    names = {e["tid"]: e["args"]["name"] for e in evs
             if e["ph"] == "M" and e["name"] == "thread_name"}
    for s in slices:
        if names.get(s["tid"]) != s["args"]["task"]:
            raise Fail(f"track {s['tid']} is named {names.get(s['tid'])!r}, "
                       f"its slices are of {s['args']['task']!r}")
    starts = {}
    for e in evs:
        if e["ph"] == "s":
            starts[e["id"]] = starts.get(e["id"], 0) + 1
    ends_f = {}
    for e in evs:
        if e["ph"] == "f":
            ends_f[e["id"]] = ends_f.get(e["id"], 0) + 1
    if starts != ends_f or any(v != 1 for v in starts.values()):
        raise Fail("flow starts and ends are not paired one to one")
    kinds = {e["name"] for e in evs if e["ph"] == "s"}
    if not {"await", "wakeup"} <= kinds:
        raise Fail(f"flows: {sorted(kinds)}; basic has a task awaiting a task")
    instants = [e["name"] for e in evs if e["ph"] == "i"]
    created = sum(1 for e in replayed if e.get("event") == "created")
    if instants.count("created") != created:
        raise Fail(f"{instants.count('created')} creation markers, {created} tasks created")
    for mark in ("cancelled", "raised"):
        if mark not in instants:
            raise Fail(f"no {mark!r} marker (basic cancels a task and has one raise)")
    # the cancellation marker names who requested it, as the replay does
    reqs = [e for e in replayed if e.get("event") == "cancel_requested"]
    marks = [e for e in evs if e["ph"] == "i" and e["name"] == "cancelled"]
    if len(reqs) != 1 or len(marks) != 1:
        raise Fail(f"{len(reqs)} cancel requests, {len(marks)} cancelled markers; basic has one")
    want = {"by": reqs[0]["by_name"], "requests": 1}
    got = {k: marks[0].get("args", {}).get(k) for k in want}
    if got != want or not want["by"]:
        raise Fail(f"cancelled marker args {marks[0].get('args')}, expected {want}")


def t_badinput(ctx):
    run.need_aps()
    run.expect_failure([APS, "record", "1"], r"-o FILE", code=2)
    run.expect_failure([APS, "record", "-o", "/tmp/x.rec"], r"PID|CMD", code=2)
    run.expect_failure([APS, "record", "-o", "/tmp/x.rec", "--on-blocked", "1ms", "1"],
                       r"--flight", code=2)
    run.expect_failure([APS, "replay"], r"FILE", code=2)
    run.expect_failure([APS, "replay", "/nonexistent.rec"], r"cannot open", code=1)
    run.expect_failure([APS, "replay", os.path.join(REPO, "README.md")],
                       r"not an aps-bpf recording", code=1)
    run.expect_failure([APS, "export", os.path.join(REPO, "README.md"), "-o", "/tmp/x.json"],
                       r"--format perfetto", code=2)


# ---- the runner ----------------------------------------------------------------

def all_tests(beds):
    tests = []
    b312 = run.bed_with(beds, (3, 12))
    main_bed = b312 or (beds[0] if beds else None)
    if main_bed:
        for scen, on in run.SCENARIOS_ON.items():
            if on(main_bed) and scen != "greenlet_mix":
                tests.append((f"record:{scen}@{main_bed.label}", t_record, (main_bed, scen)))
    for bed in beds:
        if bed is not main_bed:
            tests.append((f"record:basic@{bed.label}", t_record, (bed, "basic")))
            tests.append((f"record:cancel_who@{bed.label}", t_record, (bed, "cancel_who")))
        if bed.is_system_python() and bed.version == (3, 11):
            tests.append((f"record:greenlet_mix@{bed.label}", t_record, (bed, "greenlet_mix")))
    if main_bed:
        tests += [
            (f"record-cmd:basic@{main_bed.label}", t_record_cmd, (main_bed,)),
            (f"record-kill@{main_bed.label}", t_record_kill, (main_bed,)),
            (f"flight@{main_bed.label}", t_flight, (main_bed,)),
            (f"perfetto@{main_bed.label}", t_perfetto, (main_bed,)),
        ]
    b314 = next((b for b in beds if b.version == (3, 14)), None)
    if b314:
        tests.append((f"flight@{b314.label}", t_flight, (b314,)))
    tests.append(("badinput:record-replay-export", t_badinput, ()))
    return tests


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTR")
    ap.add_argument("--bed", action="append", default=[], metavar="LABEL")
    ap.add_argument("-v", action="store_true", help="details of failures, notes")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("test_record.py: must run as root", file=sys.stderr)
    beds = run.load_bed(args.bed, ap)
    ctx = run.Ctx(args.v)
    tests = [t for t in all_tests(beds) if not args.k or any(k in t[0] for k in args.k)]
    passed = failed = 0
    p, f = run.run_tests(ctx, tests, args.v)
    passed += p
    failed += f
    return run.finish(ctx, beds, passed, failed, args.v)


if __name__ == "__main__":
    sys.exit(main())
