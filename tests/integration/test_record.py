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
  record-late:READS@BED  `record -o F --duration 5 -- PYTHON late_asyncio.py`,
                         the program imports asyncio after the attach and
                         parks 8 tasks: `replay F ps --at T` lists the 8 by
                         name; READS=memory (--tasks-every 200ms, T the end:
                         their stacks come from a read, down to sleep) or
                         READS=events (--tasks-every 1h, T=3: the one read
                         before T is the empty one at attach; the tasks come
                         from the creation events)
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
  replay-at@BED          park_phases.py parks three task trees in turn;
                         `record --tasks-every 200ms` runs throughout, and
                         at each phase a live `pstree` and `ps --format json`
                         are taken: `replay F pstree --at T` and `replay F ps
                         --at T` for those instants equal them (the timing
                         annotations aside), and hold the program's own
                         tasks and edges
  replay-events@BED      the same with one memory read (at attach): at the
                         later phases the tasks and direct task awaits come
                         from events: names, renames, ended and new tasks,
                         and who awaits whom where a task awaits a task
  replay-blocked@BED     `record --blocked 100ms` of timing_blocking.py:
                         `replay F blocked` reports the 3 blocking steps with
                         the stack and source line `blocked` shows live
  replay-top@BED         `replay F top --json` over a recording equals the
                         steps and busy time the replayed trace holds, and
                         each task's mean, max and histogram are its steps'
                         (p50, p99 > 0)
  badinput:...           usage errors, a file that is not a recording

Output: one `PASS name` / `FAIL name: reason` line per test, then
`N passed, N failed`; exit status 1 if any failed.  Helpers (the bed,
scenarios, processes, checks) come from run.py and checks.py.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checks  # noqa: E402
import command_checks  # noqa: E402
import run  # noqa: E402
from run import APS, ATTACH_TIMEOUT, REPO, SCENARIO_TIMEOUT, Fail, Proc, tail  # noqa: E402

TS_TOL = 2_000_000          # ns: the same event seen by two sets of probes
# Each tool's handler of a shared probe reads its own clock, and the target can be
# preempted between the two handlers (seen: 2.9 ms on a loaded CI machine). A few events
# may therefore differ by more than TS_TOL, but by no more than PREEMPT_TOL.
PREEMPT_TOL = 100_000_000
PREEMPT_OUTLIERS = 8        # per thread, or 2% of its events if more
RECORD_EXIT_TIMEOUT = 20
FLIGHT_WINDOW = 1.0
WORKLOAD = os.path.join(REPO, "bench", "sleep0_workload.py")
FLIGHT_WORKLOAD = os.path.join(HERE, "flight_workload.py")
PHASES = os.path.join(REPO, "tests", "scenarios", "park_phases.py")
BLOCKING = os.path.join(REPO, "tests", "scenarios", "timing_blocking.py")
PARK_COMMON = os.path.join(REPO, "tests", "scenarios", "park_common.py")


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


def time_gap(a, b):
    """The largest difference between the times of two like events (ns)."""
    gaps = [abs((a.get(k) or 0) - (b.get(k) or 0)) for k in ("cancel_ts_ns",)]
    if a.get("boundary") != "exit":   # an exit close happens at each tool's own end
        gaps += [abs(a["ts_ns"] - b["ts_ns"]),
                 abs(a.get("duration_ns", 0) - b.get("duration_ns", 0))]
    return max(gaps)


def compare_live(live, replayed, prefix=False):
    """The replayed events are the live trace's, thread by thread (a prefix
    of them if prefix): the same events in the same order, at the same times
    but for a few a preemption delayed in one tool; problems."""
    lt, rt = per_thread(live), per_thread(replayed)
    out = []
    if not prefix and set(lt) != set(rt):
        out.append(f"threads differ: live {sorted(lt)}, replay {sorted(rt)}")
    for tid, revs in rt.items():
        levs = lt.get(tid, [])
        if not prefix and len(levs) != len(revs):
            out.append(f"tid {tid}: {len(levs)} live events, {len(revs)} replayed")
        late = []
        for i, r in enumerate(revs):
            if i >= len(levs):
                out.append(f"tid {tid}: replayed event {i} not in the live trace: {checks.fmt(r)}")
                break
            a = levs[i]
            same = untimed(a) == untimed(r) and \
                (a.get("cancel_ts_ns") is None) == (r.get("cancel_ts_ns") is None)
            gap = time_gap(a, r) if same else None
            if gap is not None and gap > TS_TOL:
                late.append(i)
            if gap is None or gap > PREEMPT_TOL:
                out.append(f"tid {tid}: event {i} differs:\n  live   {checks.fmt(a)}\n"
                           f"  replay {checks.fmt(r)}")
                break
        allowed = max(PREEMPT_OUTLIERS, len(revs) // 50)
        if len(late) > allowed:
            out.append(f"tid {tid}: {len(late)} events (first {late[:5]}) more than "
                       f"{TS_TOL} ns apart; at most {allowed} may be")
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

    def __init__(self, bed, script, helpers=()):
        path = script
        if bed.chrooted:
            inside = f"{run.ROOT_SCENARIO_DIR}/{os.path.basename(script)}"
            os.makedirs(bed.host_path(run.ROOT_SCENARIO_DIR), exist_ok=True)
            for f in (script,) + tuple(helpers):
                shutil.copy(f, bed.host_path(f"{run.ROOT_SCENARIO_DIR}/{os.path.basename(f)}"))
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


LATE = os.path.join(REPO, "tests", "scenarios", "late_asyncio.py")


def t_record_late(ctx, bed, reads):
    """record -- CMD where CMD imports asyncio after the attach."""
    run.need_aps()
    bed.probe()
    rec_path = os.path.join(ctx.workdir, f"late-{reads}-{bed.label}.rec")
    extra = ["--duration", "5", "--tasks-every", "1h" if reads == "events" else "200ms"]
    rec = recorder(bed.argv + [bed.scenario_path("late_asyncio"), "6"], rec_path, extra,
                   env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    try:
        wait_exit(rec, "aps-bpf record -- CMD", SCENARIO_TIMEOUT)
    finally:
        rec.stop()
    ctx.keep(rec_path)
    want = [f"late-{i}" for i in range(8)]
    i = info(rec_path)
    # events: before any read but the empty one at attach; memory: at the end,
    # after the reads that follow the tasks' creation (a read's period grows
    # to 20x its duration)
    at = "3" if reads == "events" else f"{(i['end_ns'] - i['start_ns']) / 1e9 - 0.05:.3f}"
    out, err = aps("replay", rec_path, "ps", "--at", at, "--format", "json")
    rows = json.loads(out)["tasks"]
    names = sorted(r["task_name"] for r in rows if r["task_name"].startswith("late-"))
    if names != want:
        raise Fail(f"replay ps --at {at} has tasks {names}; the program parks {want}",
                   out + err)
    if reads == "memory":
        bare = [r["task_name"] for r in rows if r["task_name"].startswith("late-")
                and "sleep" not in [f["func"] for f in r["coroutine_stack"]]]
        if bare:
            raise Fail(f"tasks {bare} have no sleep frame: not read from memory", out + err)
    ctx.note(f"record-late:{reads}@{bed.label}: 8 tasks at {at}")


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
    # the replay is the start of the live trace (but the steps it closes at its end), until
    # shortly before the kill: as the killed recorder's probes go, the kernel re-inserts the
    # shared breakpoints and the live tracer can miss a hit (its step then ends later)
    settled = killed_at - 200_000_000

    def before(e, t):   # a step's end belongs to its beginning
        return e.get("ts_ns", 0) - e.get("duration_ns", 0) < t

    cut = [e for e in replayed if not (e.get("event") in ("step_end", "summary")
                                       and e.get("boundary") == "exit") and before(e, settled)]
    problems = compare_live([e for e in live if before(e, settled + TS_TOL)], cut, prefix=True)
    if problems:
        raise Fail(f"replay is not the start of the live trace (kill at {killed_at}): {problems[0]}",
                   "\n".join(problems))
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
            rec = recorder(w.pid, rec_path, ["--mode", "step", "--flight", f"{FLIGHT_WINDOW}s"])
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
    problems = command_checks.perfetto_problems(doc, replay_json(rec_path), info(rec_path)["pid"])
    if problems:
        raise Fail(problems[0])


def read_phase(w, n, timeout=30):
    """The program's PHASE n line: its pending tasks and edges."""
    import select
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([w.p.stdout], [], [], 0.2)
        if not r:
            continue
        line = w.p.stdout.readline().decode(errors="replace").split(" ", 2)
        if len(line) == 3 and line[0] == "PHASE" and line[1] == str(n):
            return json.loads(line[2])
        if not line or not line[0]:
            break
    raise Fail(f"park_phases did not reach phase {n} within {timeout}s")


def untimed_ps(text, what):
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise Fail(f"{what} is not JSON: {e}")
    return command_checks.untimed_ps_rows(obj)


tree_lines = command_checks.tree_lines


def check_truth(rows, truth, what):
    """The program's own pending tasks and edges are in the ps rows."""
    names = {r["task_name"] for r in rows}
    missing = set(truth["tasks"]) - names
    if missing:
        raise Fail(f"{what}: tasks {sorted(missing)} missing (has {sorted(names)})")
    by_name = {r["task_name"]: r for r in rows}
    for child, awaiters in truth["edges"].items():
        got = sorted(a["name"] for a in by_name[child]["awaiters"] if a["is_task"])
        if got != awaiters:
            raise Fail(f"{what}: {child} awaited by {got}, the program says {awaiters}")


def record_phases(ctx, bed, tag, extra):
    """Record park_phases; at each phase a live pstree and ps. [(T, truth, tree, ps)], path."""
    run.need_aps()
    bed.probe()
    rec_path = os.path.join(ctx.workdir, f"{tag}-{bed.label}.rec")
    w = Workload(bed, PHASES, helpers=(PARK_COMMON,))
    rec = None
    instants = []
    try:
        truth = read_phase(w, 1)
        rec = recorder(w.pid, rec_path, extra)
        wait_attached(rec, "aps-bpf record")
        for n in (1, 2, 3):
            if n > 1:
                w.say("next")
                truth = read_phase(w, n)
            time.sleep(0.8)     # a memory read after the tree settled (--tasks-every 200ms)
            t0 = time.monotonic_ns()
            tree, _ = aps("pstree", str(w.pid))
            ps, _ = aps("ps", "--format", "json", str(w.pid))
            t1 = time.monotonic_ns()
            instants.append(((t0 + t1) // 2, truth, tree, ps))
            time.sleep(0.3)
        rec.p.send_signal(signal.SIGINT)
        wait_exit(rec, "aps-bpf record")
    finally:
        w.kill()
        if rec:
            rec.stop()
    ctx.keep(rec_path)
    return instants, rec_path


def replay_at(rec_path, start_ns, t, view, *extra):
    at = f"{(t - start_ns) / 1e9:.3f}"
    return aps("replay", rec_path, view, "--at", at, *extra)


def t_replay_at(ctx, bed):
    """replay ps/pstree --at three instants equal the live views then."""
    instants, rec_path = record_phases(ctx, bed, "replay-at", ["--tasks-every", "200ms"])
    start = info(rec_path)["start_ns"]
    for n, (t, truth, live_tree, live_ps) in enumerate(instants, 1):
        rtree, rerr = replay_at(rec_path, start, t, "pstree")
        if tree_lines(rtree) != tree_lines(live_tree):
            raise Fail(f"phase {n}: replay pstree --at differs from the live pstree",
                       f"live:\n{live_tree}\nreplay:\n{rtree}\n{rerr}")
        rps, _ = replay_at(rec_path, start, t, "ps", "--format", "json")
        live_rows, rows = untimed_ps(live_ps, "live ps"), untimed_ps(rps, "replay ps")
        if rows != live_rows:
            raise Fail(f"phase {n}: replay ps --at differs from the live ps",
                       f"live:\n{live_rows}\nreplay:\n{rows}\n")
        check_truth(rows, truth, f"phase {n}")
        if "stepped since" in rerr:
            raise Fail(f"phase {n}: tasks shown from events though the tree was read after "
                       f"it settled: {rerr.strip()}")
    ctx.note(f"replay-at@{bed.label}: 3 instants, {info(rec_path)['bytes']} bytes")


def t_replay_events(ctx, bed):
    """One memory read at attach; later phases from events."""
    instants, rec_path = record_phases(ctx, bed, "replay-events", ["--tasks-every", "1h"])
    start = info(rec_path)["start_ns"]
    for n, (t, truth, live_tree, live_ps) in enumerate(instants, 1):
        rps, rerr = replay_at(rec_path, start, t, "ps", "--format", "json")
        rows, live_rows = untimed_ps(rps, "replay ps"), untimed_ps(live_ps, "live ps")
        names = sorted(r["task_name"] for r in rows)
        live_names = sorted(r["task_name"] for r in live_rows)
        if names != live_names:
            raise Fail(f"phase {n}: replay has tasks {names}, live {live_names}")
        if n == 1:
            if rows != live_rows:
                raise Fail("phase 1 (the attach read): replay ps differs from live")
            continue
        if "stepped since" not in rerr:
            raise Fail(f"phase {n}: stderr does not say tasks come from events: {rerr.strip()}")
        by_name = {r["task_name"]: r for r in rows}
        direct = {"gamma": ["beta"], "epsilon": ["delta"]} if n == 2 else {"gamma-renamed": ["beta"]}
        for child, awaiters in direct.items():
            got = sorted(a["name"] for a in by_name[child]["awaiters"])
            if got != awaiters:
                raise Fail(f"phase {n}: {child} awaited by {got}, the program says {awaiters}")
        tid = {r["task_name"]: r["tid"] for r in live_rows}
        wrong = [r["task_name"] for r in rows if r["tid"] != tid[r["task_name"]]]
        if wrong:
            raise Fail(f"phase {n}: wrong tids for {wrong}")
    ctx.note(f"replay-events@{bed.label}: ok")


def record_blocking(ctx, bed, tag, extra):
    """A recording of timing_blocking.py, attached before it starts; its path."""
    run.need_aps()
    bed.probe()
    rec_path = os.path.join(ctx.workdir, f"{tag}-{bed.label}.rec")
    s = Workload(bed, BLOCKING)
    rec = None
    try:
        rec = recorder(s.pid, rec_path, extra)
        wait_attached(rec, "aps-bpf record")
        s.say("go")
        s.finish()
        wait_exit(rec, "aps-bpf record")
    finally:
        s.kill()
        if rec:
            rec.stop()
    ctx.keep(rec_path)
    return rec_path


def t_replay_blocked(ctx, bed):
    """record --blocked keeps the stacks; replay blocked shows them."""
    rec_path = record_blocking(ctx, bed, "blocked", ["--blocked", "100ms"])
    out, err = aps("replay", rec_path, "blocked", "--threshold", "200ms", "--json")
    reports = json_lines(out, "replay blocked")
    if len(reports) != 3:
        raise Fail(f"{len(reports)} blocking steps replayed, the program blocks 3 times", out)
    for r in reports:
        if not 0.24e9 <= r["duration_ns"] <= 0.36e9 * 1.5:
            raise Fail(f"a blocking step of {r['duration_ns'] / 1e6:.1f} ms, expected ~300 ms")
        funcs = [f["func"] for f in r["stack"] or []]
        if funcs[:2] != ["slow_sync_call", "bad_handler"]:
            raise Fail(f"stack {funcs}, expected slow_sync_call <- bad_handler", out)
        if "time.sleep" not in r["stack"][0]["source"]:
            raise Fail(f"source line {r['stack'][0]['source']!r} is not the time.sleep call")
    if r["name"] == "ticker":
        raise Fail("the ticker was reported")
    ctx.note(f"replay-blocked@{bed.label}: 3 steps with stacks")


def t_replay_top(ctx, bed):
    """replay top --json: steps and busy time per task as the trace holds them."""
    rec_path = record_blocking(ctx, bed, "top", [])
    events = replay_json(rec_path)
    coro_of, steps, busy = {}, {}, {}
    for e in events:     # in order: an address is reused by later tasks
        if e.get("event") in ("created", "seen"):
            coro_of[e["task"]] = e["coro"]
        elif e.get("event") == "step_end":
            c = coro_of.get(e["task"], "?")
            steps[c] = steps.get(c, 0) + 1
            busy[c] = busy.get(c, 0) + e["duration_ns"]
    out, _ = aps("replay", rec_path, "top", "--json")
    try:
        top = json.loads(out)
    except ValueError as e:
        raise Fail(f"replay top --json is not JSON: {e}", out)
    rows = {c["coro"]: c for c in top["coros"]}
    got = {c: (r["steps"], r["busy_ns"]) for c, r in rows.items()}
    want = {c: (steps[c], busy[c]) for c in steps}
    if got != want:
        raise Fail(f"replay top per coroutine {got}; the replayed trace {want}", out)
    if want.get("bad_handler", (0,))[0] != 4:
        raise Fail(f"bad_handler steps {want.get('bad_handler')}: timing_blocking steps it 4 times")
    # per task: the step-time distribution is the trace's (not 0ns), at the
    # middle of the recording (tasks alive)
    i = info(rec_path)
    mid = f"{((i['first_event_ns'] + i['last_event_ns']) / 2 - i['start_ns']) / 1e9:.3f}"
    events = replay_json(rec_path, "--to", mid)
    out, _ = aps("replay", rec_path, "top", "--json", "--to", mid)
    top = json.loads(out)
    durs, name_of = {}, {}
    for e in events:
        if e.get("event") in ("created", "seen"):
            name_of[e["task"]] = e.get("name")
        elif e.get("event") == "step_end":
            durs.setdefault((e["task"], name_of.get(e["task"])), []).append(e["duration_ns"])
    bad, checked = [], 0
    for t in top["tasks"]:
        d = durs.get((t["task"], t["name"]))
        if not t["steps"] or not d or len(d) != t["steps"]:
            continue
        checked += 1
        nhist = sum(c for _, c in t["hist"])
        if t["max_ns"] != max(d) or nhist != len(d) or not 0 < t["p50_ns"] <= t["p99_ns"] \
                or t["mean_ns"] != sum(d) // len(d):
            bad.append(f"{t['name']}: mean {t['mean_ns']} p50 {t['p50_ns']} p99 {t['p99_ns']} "
                       f"max {t['max_ns']} hist {nhist}; trace: {len(d)} steps, max {max(d)}, "
                       f"mean {sum(d) // len(d)}")
    if bad:
        raise Fail(f"replay top per-task step times: {bad[:3]}", out)
    if not checked:
        raise Fail(f"replay top --to {mid}: no task with steps to check", out)
    ctx.note(f"replay-top@{bed.label}: {checked} tasks' step times checked at {mid}s")
    ctx.note(f"replay-top@{bed.label}: {len(rows)} coroutines")


def t_badinput(ctx):
    run.need_aps()
    run.expect_failure([APS, "record", "1"], r"-o FILE", code=2)
    run.expect_failure([APS, "record", "-o", "/tmp/x.rec"], r"PID|CMD", code=2)
    run.expect_failure([APS, "record", "-o", "/tmp/x.rec", "--on-blocked", "1ms", "1"],
                       r"--flight", code=2)
    run.expect_failure([APS, "replay"], r"FILE", code=2)
    run.expect_failure([APS, "replay", "/nonexistent.rec"], r"cannot open", code=1)
    run.expect_failure([APS, "replay", "/nonexistent.rec", "nosuchview"], r"unknown view", code=2)
    run.expect_failure([APS, "replay", "/nonexistent.rec", "top", "--at", "1"], r"--at goes", code=2)
    run.expect_failure([APS, "record", "-o", "/tmp/x.rec", "--no-tasks", "--tasks-every", "1s",
                        "1"], r"do not go together", code=2)
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
            (f"replay-top@{main_bed.label}", t_replay_top, (main_bed,)),
        ]
    for bed in beds:
        for reads in ("memory", "events"):
            tests.append((f"record-late:{reads}@{bed.label}", t_record_late, (bed, reads)))
    for bed in beds:
        tests.append((f"replay-at@{bed.label}", t_replay_at, (bed,)))
        tests.append((f"replay-blocked@{bed.label}", t_replay_blocked, (bed,)))
    if main_bed:
        tests.append((f"replay-events@{main_bed.label}", t_replay_events, (main_bed,)))
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
