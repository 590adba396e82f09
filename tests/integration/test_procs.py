#!/usr/bin/env python3
"""aps-bpf and the target's processes: exec and fork.  Run as root from the
repo root:

    python3 tests/integration/test_procs.py [-k SUBSTR]... [--bed LABEL]... [-v]

Tests (names; -k selects by substring):
  exec@BED     proc_exec.py runs three tasks, then os.execv()s the same
               interpreter from inside a step: `trace --json PID` ends at
               the exec (summary reason target_execed, stderr says so, exit
               0 while the new program still runs); no event names a task
               of the new program; no step of the old program outlives the
               exec; the old program's tasks have the steps it made (6);
               `blocked --mode step --threshold 50ms PID`, run alongside,
               ends at the exec (exit 0, stderr says so) with no report
               (no step of the old program was long)
  fork@BED     `trace --json -o F -- PYTHON proc_fork.py`: forks are followed
               (the default with -- CMD): every line has the pid of its
               process; each child's tasks childK-0/1 are in that child's
               pid (as it printed it) with the steps it made (4), their
               gather future named (_GatheringFuture); the parent's tasks in
               the parent's; one summary per process (the children's:
               target_exited)
  pidns@BED    proc_ns.py under `unshare --fork --pid --mount-proc`: ps and
               pstree JSON, trace --json, top --json all give host tids (of
               /proc/PID/task) plus ns_tid, the program's own ids
               (threading.get_native_id()), per thread; so do blocked and
               check (both modes, text "tid HOST (ns N)" and JSON) for
               thr-block's thread, which it blocks; doctor and the
               attach line name the cgroup and the PID namespace
  nofork@BED   `trace --json PID` of proc_fork.py (no -f): the forks are
               announced once on stderr ("not traced"), and no event is of
               a child's task
  prefork-record@BED  (pyenv-3.10, sid-3.14)
               `record -o F --tasks-every 200ms -- PYTHON
               proc_prefork.py` (-f is the
               default with -- CMD): the master forks workers 1 and 2 (os.fork),
               each with its own asyncio loop; F.PID is each worker's own
               recording (its pid; its wK-fetch-0..2 with all 31 steps each,
               no other worker's task); `replay F.PID ps` and `pstree` late in
               the tasks' life show wK-main over wK-fetch-0..2 (from the last
               memory read; without one, as the events tell) on the worker's
               thread and nothing else; F holds the master's master-0 only
  prefork-attach@BED  (pyenv-3.12, pyenv-3.13) `top --mode step -f
               --json` and `record` (no -f) of proc_prefork.py at once: top has a section (JSON object) per
               process, by pid, each worker's showing its own fetch tasks and
               no other's; record announces the forks once ("not traced"),
               holds no worker's task and writes no F.PID
  gunicorn@debian-3.11  a real prefork server: `record -o F -- python3 -m
               gunicorn -w 2 -k aiohttp.GunicornWebWorker ... gunicorn_app:app`
               (Debian's python3-gunicorn, python3-aiohttp), 12 requests (6
               at once), then SIGINT to gunicorn: each request's task
               req-<worker pid>-N is in F.<that pid> and in no other
               recording; one F.PID per worker

Output: one `PASS name` / `FAIL name: reason` line per test, then
`N passed, N failed`; exit status 1 if any failed.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checks  # noqa: E402
import run  # noqa: E402
from run import APS, ATTACH_TIMEOUT, REPO, Fail, Proc, tail  # noqa: E402

EXIT_TIMEOUT = 20


def json_lines(text, what):
    events, problems = checks.parse_lines(text)
    if problems:
        raise Fail(f"{what} is not JSON lines: {problems[0]}", "\n".join(problems))
    return events


def t_exec(ctx, bed):
    run.need_aps()
    bed.probe()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    tg = Proc(bed.argv + [bed.scenario_path("proc_exec")], stdout=subprocess.PIPE,
              stdin=subprocess.PIPE, env=env)
    out_path = os.path.join(ctx.workdir, f"exec-{bed.label}.jsonl")
    blk_path = os.path.join(ctx.workdir, f"exec-blocked-{bed.label}.jsonl")
    tr = blk = None
    try:
        line = tg.p.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "READY":
            raise Fail(f"proc_exec did not print READY: {line}", tail(tg.stderr))
        pid = int(line[1])
        with open(out_path, "w") as out, open(blk_path, "w") as bout:
            tr = Proc([APS, "trace", "--json", str(pid)], stdout=out, watch="aps-bpf: attached")
            blk = Proc([APS, "blocked", "--mode", "step", "--json", "--threshold", "50ms",
                        str(pid)], stdout=bout, watch="aps-bpf: attached")
            for p, what in ((tr, "trace"), (blk, "blocked")):
                if not p.wait_for_line(ATTACH_TIMEOUT):
                    raise Fail(f"{what} did not attach: {tail(p.stderr, 3)}")
            tg.p.stdin.write(b"go\n")
            tg.p.stdin.flush()
            rc = tr.wait(EXIT_TIMEOUT)
            still = tg.p.poll() is None
            brc = blk.wait(EXIT_TIMEOUT)
        if rc is None:
            raise Fail("trace did not end at the exec", tail(tr.stderr))
        if rc != 0:
            raise Fail(f"trace exited {rc}: {tail(tr.stderr, 3)}", tr.stderr)
        if not still:
            raise Fail("trace ran on until the new program exited: it did not end at the exec")
        if brc != 0:
            raise Fail(f"blocked exited {brc}: {tail(blk.stderr, 3)}", blk.stderr)
    finally:
        for p in (tr, blk):
            if p:
                p.stop()
        tg.stop()
    # every step of the old program is short: blocked reports none (the
    # step that execs is the old program's end, not a block); it ended at
    # the exec (its teardown may outlast the new program's 1 s)
    with open(blk_path) as f:
        blocks = json_lines(f.read(), "blocked --json")
    if blocks or "executed a new program" not in blk.stderr:
        raise Fail(f"blocked across the exec: {len(blocks)} reports "
                   f"{[(b.get('name'), b.get('duration_ns')) for b in blocks[:3]]}; "
                   f"stderr {tail(blk.stderr, 2)!r}")
    with open(out_path) as f:
        events = json_lines(f.read(), "trace --json")
    summary = [e for e in events if e.get("event") == "summary"]
    if not summary or summary[-1].get("reason") != "target_execed":
        raise Fail(f"summary {summary[-1:] or None}, expected reason target_execed")
    if "executed a new program" not in tr.stderr:
        raise Fail(f"stderr does not say the target executed a new program: "
                   f"{tail(tr.stderr, 3)}")
    names = {}
    for e in events:
        if e.get("event") in ("created", "seen") and "name" in e:
            names[e["task"]] = e["name"]
    after = sorted(n for n in names.values() if n.startswith("after-"))
    if after:
        raise Fail(f"events of the new program's tasks {after}")
    steps = {}
    for e in events:
        if e.get("event") == "step_end":
            n = names.get(e["task"], e["task"])
            steps[n] = steps.get(n, 0) + 1
            if e.get("duration_ns", 0) > 500_000_000:
                raise Fail(f"a step of {n} lasted {e['duration_ns'] / 1e6:.0f} ms")
    want = {f"before-{i}": 6 for i in range(3)}
    got = {n: steps.get(n) for n in want}
    if got != want:
        raise Fail(f"steps {got}, the program made {want}")
    ctx.note(f"exec@{bed.label}: {len(events)} events, ended at the exec")


FORK_WANT_STEPS = 4     # a first step, then 3 sleeps


def task_steps(events):
    """{name: (pid, steps)} from the created/seen and step_end events of each pid."""
    names, out = {}, {}
    for e in events:
        key = (e.get("pid"), e.get("task"))
        if e.get("event") in ("created", "seen") and "name" in e:
            names[key] = e["name"]
        elif e.get("event") == "step_end" and key in names:
            pid, n = out.get(names[key], (e.get("pid"), 0))
            out[names[key]] = (pid, n + 1)
    return out


def t_fork(ctx, bed):
    run.need_aps()
    bed.probe()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    out_path = os.path.join(ctx.workdir, f"fork-{bed.label}.jsonl")
    tr = Proc([APS, "trace", "--json", "-o", out_path, "--"] + bed.argv
              + [bed.scenario_path("proc_fork")], stdout=subprocess.PIPE, env=env)
    try:
        rc = tr.wait(EXIT_TIMEOUT + 20)
        if rc is None:
            raise Fail("trace -- CMD did not exit", tail(tr.stderr))
        if rc != 0:
            raise Fail(f"trace exited {rc}: {tail(tr.stderr, 3)}", tr.stderr)
        prog_out = tr.p.stdout.read().decode()
    finally:
        tr.stop()
    kids = {}
    for line in prog_out.splitlines():
        w = line.split()
        if len(w) == 3 and w[0] == "CHILD":
            kids[f"child{w[1]}"] = int(w[2])
    if len(kids) != 2 or "DONE" not in prog_out:
        raise Fail(f"proc_fork did not run to its end: {prog_out!r}")
    with open(out_path) as f:
        events = json_lines(f.read(), "trace --json")
    nopid = [e for e in events if "pid" not in e and e.get("event") != "lost"]
    if nopid:
        raise Fail(f"{len(nopid)} lines without a pid, e.g. {nopid[0]}")
    parent = tr.p.pid    # aps-bpf's child: the program itself
    steps = task_steps(events)
    want = {f"{t}-{i}": (pid, FORK_WANT_STEPS) for t, pid in
            list(kids.items()) + [("parent", None)] for i in range(2)}
    pids = {e["pid"] for e in events}
    want = {n: (pid if pid else steps.get(n, (None,))[0], s) for n, (pid, s) in want.items()}
    got = {n: steps.get(n) for n in want}
    if got != want:
        raise Fail(f"tasks (pid, steps) {got}; the program: {want}")
    if steps["parent-0"][0] in kids.values():
        raise Fail("the parent's tasks are shown in a child")
    types = {e.get("awaiting_type") for e in events
             if e.get("event") == "step_end" and e.get("pid") in kids.values()}
    summaries = {e["pid"]: e["reason"] for e in events if e.get("event") == "summary"}
    if set(summaries) != pids or len(summaries) != 3:
        raise Fail(f"summaries {summaries} for processes {sorted(pids)}")
    if any(summaries[p] != "target_exited" for p in kids.values()):
        raise Fail(f"children's summaries {summaries}")
    if "following fork" not in tr.stderr:
        raise Fail(f"stderr does not say the forks are followed: {tail(tr.stderr, 3)}")
    ctx.note(f"fork@{bed.label}: {len(events)} events, processes {sorted(pids)}, "
             f"awaited types in children {sorted(t for t in types if t)}")
    del parent


def t_nofork(ctx, bed):
    run.need_aps()
    bed.probe()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    tg = Proc(bed.argv + [bed.scenario_path("proc_fork"), "wait"], stdout=subprocess.PIPE,
              stdin=subprocess.PIPE, env=env)
    out_path = os.path.join(ctx.workdir, f"nofork-{bed.label}.jsonl")
    tr = None
    try:
        line = tg.p.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "READY":
            raise Fail(f"proc_fork did not print READY: {line}", tail(tg.stderr))
        pid = int(line[1])
        tr = Proc([APS, "trace", "--json", "-o", out_path, str(pid)],
                  watch="aps-bpf: attached")
        if not tr.wait_for_line(ATTACH_TIMEOUT):
            raise Fail(f"trace did not attach: {tail(tr.stderr, 3)}")
        tg.p.stdin.write(b"go\n")
        tg.p.stdin.flush()
        if tg.wait(EXIT_TIMEOUT) is None:
            raise Fail("proc_fork did not exit")
        rc = tr.wait(EXIT_TIMEOUT)
        if rc != 0:
            raise Fail(f"trace exited {rc}: {tail(tr.stderr, 3)}", tr.stderr)
    finally:
        if tr:
            tr.stop()
        tg.stop()
    told = [l for l in tr.stderr.splitlines() if "forked process" in l]
    if len(told) != 1 or "not traced" not in told[0]:
        raise Fail(f"fork announcements {told}, expected one 'not traced' line")
    with open(out_path) as f:
        events = json_lines(f.read(), "trace --json")
    kid_tasks = sorted(n for n in task_steps(events) if n.startswith("child"))
    if kid_tasks:
        raise Fail(f"events of children's tasks {kid_tasks} without -f")
    if task_steps(events).get("parent-0", (0, 0))[1] != FORK_WANT_STEPS:
        raise Fail(f"parent-0 steps {task_steps(events).get('parent-0')}")
    ctx.note(f"nofork@{bed.label}: {told[0]}")


PREFORK_SLEEPS = 30     # 1.5 s: a read of all tasks (at most one a second,
PREFORK_STEPS = PREFORK_SLEEPS + 1      # as reads take) sees them; a first step, then the sleeps
PREFORK_FETCH = {f"w{k}-fetch-{i}" for k in (1, 2) for i in range(3)}


def replay(path, *args):
    out, _ = aps_run("replay", path, *args)
    return out


def prefork_workers(prog_out):
    """{K: pid} from the WORKER lines."""
    ws = {}
    for line in prog_out.splitlines():
        w = line.split()
        if len(w) == 3 and w[0] == "WORKER":
            ws[int(w[1])] = int(w[2])
    if len(ws) != 2 or "DONE" not in prog_out:
        raise Fail(f"proc_prefork did not run to its end: {prog_out!r}")
    return ws


def worker_recording(path, k, pid):
    """Problems with worker K's recording: its pid, its own tasks only (each
    fetch with all its steps), and `replay ps`/`pstree` late in their life showing
    wK-main over wK-fetch-0..2 on the worker's thread, nothing else."""
    errs = []
    info = json.loads(replay(path, "info", "--json"))
    if info.get("pid") != pid:
        errs.append(f"{path}: pid {info.get('pid')}, the worker is {pid}")
    events = json_lines(replay(path, "trace", "--json"), f"replay {path} trace --json")
    steps = {n: s for n, (_, s) in task_steps(events).items()}
    mine = {n for n in PREFORK_FETCH if n.startswith(f"w{k}-")}
    want = {n: PREFORK_STEPS for n in mine}
    if {n: steps.get(n) for n in mine} != want or set(steps) & (PREFORK_FETCH - mine):
        errs.append(f"{path}: task steps {steps}, worker {k} made {want}")
    created = [e["ts_ns"] for e in events if e.get("event") == "created" and e.get("name") in mine]
    done = [e["ts_ns"] for e in events if e.get("event") == "done" and e.get("name") in mine]
    if len(created) != 3 or not done:
        return errs + [f"{path}: fetch tasks created {len(created)}, done {len(done)}"]
    # late in the tasks' 1.5 s: a read of all tasks has most likely seen
    # them; without one, ps and pstree show
    # the tasks the events tell of, the main task by its first name
    at = f"{(min(done) - 50_000_000 - info['start_ns']) / 1e9:.3f}"
    ps = json.loads(replay(path, "ps", "--format", "json", "--at", at))["tasks"]
    rows = sorted((t["task_name"], t["tid"]) for t in ps)
    main = [n for n, _ in rows if n not in mine]
    if len(main) != 1 or not re.fullmatch(rf"w{k}-main|Task-\d+", main[0]) or \
            rows != sorted((n, pid) for n in mine | set(main)):
        errs.append(f"{path}: ps --at {at}: (task, tid) {rows}")
    nodes = json.loads(replay(path, "pstree", "--format", "json", "--at", at))["nodes"]
    under = {}
    for n in nodes:
        if n["kind"] != "task":
            continue
        up = n["parent"]
        while up is not None and nodes[up]["kind"] != "task":
            up = nodes[up]["parent"]
        under[n["name"]] = nodes[up]["name"] if up is not None else None
    want = {**{n: f"w{k}-main" for n in mine}, f"w{k}-main": None} if main == [f"w{k}-main"] \
        else {n: None for n in mine | set(main)}
    if under != want:
        errs.append(f"{path}: pstree --at {at}: task -> parent task {under}")
    return errs


def t_prefork_record(ctx, bed):
    run.need_aps()
    bed.probe()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    rec = os.path.join(ctx.workdir, f"prefork-{bed.label}.rec")
    tr = Proc([APS, "record", "-o", rec, "--tasks-every", "200ms", "--"] + bed.argv
              + [bed.scenario_path("proc_prefork"), str(PREFORK_SLEEPS)],
              stdout=subprocess.PIPE, env=env)
    try:
        rc = tr.wait(EXIT_TIMEOUT + 20)
        if rc is None:
            raise Fail("record -- CMD did not exit", tail(tr.stderr))
        if rc != 0:
            raise Fail(f"record exited {rc}: {tail(tr.stderr, 3)}", tr.stderr)
        workers = prefork_workers(tr.p.stdout.read().decode())
    finally:
        tr.stop()
    files = sorted(f for f in os.listdir(ctx.workdir) if f.startswith(os.path.basename(rec)))
    want = sorted([os.path.basename(rec)] + [f"{os.path.basename(rec)}.{p}" for p in workers.values()])
    if files != want:
        raise Fail(f"recordings {files}, expected {want}")
    errs = []
    for k, pid in workers.items():
        errs += worker_recording(f"{rec}.{pid}", k, pid)
    master = task_steps(json_lines(replay(rec, "trace", "--json"), "replay trace --json"))
    if set(master) != {"master-0"} and set(master) - {"master-0"} & PREFORK_FETCH:
        errs.append(f"{rec}: tasks {sorted(master)}, the master ran master-0 only")
    if master.get("master-0", (0, 0))[1] != 4:
        errs.append(f"{rec}: master-0 steps {master.get('master-0')}, the master made 4")
    for pid in workers.values():
        if f"recording to {rec}.{pid}" not in tr.stderr:
            errs.append(f"stderr does not name {rec}.{pid}")
    if errs:
        raise Fail(" | ".join(errs[:4]), "\n".join(errs))
    ctx.note(f"prefork-record@{bed.label}: workers {workers}, files {files}")


def t_prefork_attach(ctx, bed):
    """top -f and record (no -f) of the same prefork program, at once."""
    run.need_aps()
    bed.probe()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    tg = Proc(bed.argv + [bed.scenario_path("proc_prefork"), "wait", "16"], stdout=subprocess.PIPE,
              stdin=subprocess.PIPE, env=env)
    rec = os.path.join(ctx.workdir, f"prefork-nof-{bed.label}.rec")
    top_path = os.path.join(ctx.workdir, f"prefork-top-{bed.label}.jsonl")
    top = r = None
    try:
        line = tg.p.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "READY":
            raise Fail(f"proc_prefork did not print READY: {line}", tail(tg.stderr))
        pid = int(line[1])
        with open(top_path, "w") as out:
            top = Proc([APS, "top", "--mode", "step", "-f", "--json", "--delay", "0.4",
                        str(pid)], stdout=out, watch="aps-bpf: attached")
            r = Proc([APS, "record", "-o", rec, str(pid)], watch="aps-bpf: attached")
            for p, what in ((top, "top"), (r, "record")):
                if not p.wait_for_line(ATTACH_TIMEOUT):
                    raise Fail(f"{what} did not attach: {tail(p.stderr, 3)}")
            tg.p.stdin.write(b"go\n")
            tg.p.stdin.flush()
            if tg.wait(EXIT_TIMEOUT) is None:
                raise Fail("proc_prefork did not exit")
            rcs = (top.wait(EXIT_TIMEOUT), r.wait(EXIT_TIMEOUT))
        workers = prefork_workers(tg.p.stdout.read().decode())
        if rcs != (0, 0):
            raise Fail(f"top, record exited {rcs}: {tail(top.stderr, 2)} {tail(r.stderr, 2)}")
    finally:
        for p in (top, r, tg):
            if p:
                p.stop()
    errs = []
    # top -f: a section (JSON object) per process and snapshot, each with its own tasks
    with open(top_path) as f:
        snaps = json_lines(f.read(), "top --json")
    seen = {}
    for o in snaps:
        names = {t["name"] for t in o.get("tasks", [])}
        seen.setdefault(o.get("pid"), set()).update(names & (PREFORK_FETCH | {"master-0"}))
        k = next((k for k, p in workers.items() if p == o.get("pid")), None)
        other = {n for n in names & PREFORK_FETCH if not n.startswith(f"w{k}-")}
        if other:
            errs.append(f"top section of pid {o.get('pid')} shows {sorted(other)}")
    for k, p in workers.items():
        want = {n for n in PREFORK_FETCH if n.startswith(f"w{k}-")}
        if seen.get(p) != want:
            errs.append(f"top sections of worker {k} (pid {p}) showed {sorted(seen.get(p, []))}")
    if set(seen) != {pid, *workers.values()}:
        errs.append(f"top sections for pids {sorted(seen, key=str)}, processes {pid} {workers}")
    # record without -f: one announcement, no worker's task, no FILE.PID
    told = [l for l in r.stderr.splitlines() if "forked process" in l]
    if len(told) != 1 or "not traced" not in told[0]:
        errs.append(f"record's fork announcements {told}, expected one 'not traced' line")
    names = set(task_steps(json_lines(replay(rec, "trace", "--json"), "replay trace --json")))
    if names & PREFORK_FETCH or "master-0" not in names:
        errs.append(f"record without -f: tasks {sorted(names)}")
    extra = [f for f in os.listdir(ctx.workdir) if f.startswith(os.path.basename(rec) + ".")]
    if extra:
        errs.append(f"record without -f wrote {extra}")
    if errs:
        raise Fail(" | ".join(errs[:4]), "\n".join(errs))
    ctx.note(f"prefork-attach@{bed.label}: {len(snaps)} top sections, pids {sorted(seen)}")


def t_gunicorn(ctx, bed):
    """A real prefork server: gunicorn (Debian's python3-gunicorn) with 2
    aiohttp workers, recorded from its start; each request's task lands in
    the recording of the worker that served it, and only there."""
    run.need_aps()
    bed.probe()
    import socket
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = os.path.join(ctx.workdir, f"gunicorn-{bed.label}.rec")
    tr = Proc([APS, "record", "-o", rec, "--"] + bed.argv
              + ["-m", "gunicorn", "-w", "2", "-k", "aiohttp.GunicornWebWorker",
                 "--graceful-timeout", "1", "-b",
                 f"127.0.0.1:{port}", "--chdir", os.path.dirname(bed.scenario_path("gunicorn_app")),
                 "gunicorn_app:app"], stdout=subprocess.DEVNULL, env=dict(os.environ))
    served, master = [], []
    try:
        deadline = time.monotonic() + ATTACH_TIMEOUT + 10
        while sum("following fork" in l for l in tr.lines) < 2:
            if time.monotonic() > deadline or tr.p.poll() is not None:
                raise Fail(f"record did not follow 2 workers: {tail(tr.stderr, 4)}")
            time.sleep(0.05)
        master = subprocess.run(["pgrep", "-P", str(tr.p.pid)], capture_output=True,
                                text=True).stdout.split()
        if len(master) != 1:
            raise Fail(f"record's children: {master}")

        def get(_):
            for _ in range(100):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/work", timeout=5) as r:
                        return r.read().decode().split()
                except OSError:
                    time.sleep(0.1)
            raise Fail("gunicorn did not answer")
        with ThreadPoolExecutor(6) as ex:
            served = list(ex.map(get, range(12)))
        os.kill(int(master[0]), signal.SIGINT)      # a quick stop (TERM waits for keep-alives)
        rc = tr.wait(EXIT_TIMEOUT)
        if rc != 0:
            raise Fail(f"record exited {rc}: {tail(tr.stderr, 3)}", tr.stderr)
    finally:
        if not master and tr.p.poll() is None:
            master = subprocess.run(["pgrep", "-P", str(tr.p.pid)], capture_output=True,
                                    text=True).stdout.split()
        for m in master:    # gunicorn outlives a failed test: stop it and its workers
            for w in subprocess.run(["pgrep", "-P", m], capture_output=True,
                                    text=True).stdout.split() + [m]:
                try:
                    os.kill(int(w), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        tr.stop()
    workers = {int(pid) for pid, _ in served}
    files = {f for f in os.listdir(ctx.workdir) if f.startswith(os.path.basename(rec) + ".")}
    want = {f"{os.path.basename(rec)}.{p}" for p in workers}
    if not want <= files or len(files) != 2:
        raise Fail(f"recordings {sorted(files)}; the requests were served by {sorted(workers)}")
    tasks = {}
    for f in sorted(files) + [os.path.basename(rec)]:
        evs = json_lines(replay(os.path.join(ctx.workdir, f), "trace", "--json"), f)
        tasks[f] = {e["name"] for e in evs if e.get("event") == "created"}
    errs = []
    for pid, name in served:
        where = sorted(f for f, names in tasks.items() if name in names)
        if where != [f"{os.path.basename(rec)}.{pid}"]:
            errs.append(f"{name} (served by {pid}) is in {where}")
    if errs:
        raise Fail(" | ".join(errs[:4]), "\n".join(errs))
    ctx.note(f"gunicorn@{bed.label}: {len(served)} requests, workers {sorted(workers)}")


def host_threads(pid):
    """{ns tid: host tid} of a process, from NSpid."""
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    out[int(line.split()[-1])] = int(t)
    return out


def aps_run(*args, timeout=60):
    r = subprocess.run([APS] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, cwd=REPO)
    if r.returncode:
        raise Fail(f"aps-bpf {' '.join(map(str, args))} exited {r.returncode}: "
                   f"{tail(r.stderr, 3)}")
    return r.stdout, r.stderr


# blocked and check, both modes, text and JSON, run at once (thr-block blocks
# its loop 120 ms every 300 ms): {name: (exit status, stdout, stderr)}
PIDNS_BLOCKED = {
    "blocked-step-json": (0, ["blocked", "--mode", "step", "--json"]),
    "blocked-loop-text": (0, ["blocked"]),
    "check-step-text": (1, ["check", "--mode", "step", "--max-step", "60ms", "--for", "0.9"]),
    "check-loop-json": (1, ["check", "--json", "--max-step", "60ms", "--for", "0.9"]),
}


def blocked_and_check(pid):
    procs = {}
    for name, (_, args) in PIDNS_BLOCKED.items():
        if args[0] == "blocked":
            args = args + ["--threshold", "60ms", "--duration", "0.9"]
        procs[name] = subprocess.Popen([APS] + args + [str(pid)], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, cwd=REPO)
    out = {}
    for name, p in procs.items():
        try:
            o, e = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            o, e = p.communicate()
        out[name] = (p.returncode, o, e)
    return out


def blocked_ids(out, want):
    """Problems: every thread blocked and check name must be (host tid, ns tid)
    of one of the program's threads (want: {tag: (host, ns)}), and
    thr-block's thread must be among them."""
    pairs = set(want.values())
    errs = []
    for name, (rc, o, e) in out.items():
        if rc != PIDNS_BLOCKED[name][0]:
            errs.append(f"{name} exited {rc}: {tail(e, 2)}")
            continue
        if name.endswith("json"):
            objs = [json.loads(l) for l in o.splitlines() if l.strip()]
            got = [(r.get("tid"), r.get("ns_tid")) for j in objs for r in j.get("offenders", [j])]
        else:
            got = [(int(m[0]), int(m[1]) if m[1] else None)
                   for m in re.findall(r"(?:tid|loop thread) (\d+)(?: \(ns (\d+)\))?", o)]
        bad = [g for g in got if g not in pairs]
        if bad or want["thr"] not in got:
            errs.append(f"{name}: threads {sorted(set(got), key=str)}, expected {want}")
    return errs


def t_pidns(ctx, bed):
    run.need_aps()
    bed.probe()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    tg = Proc(["unshare", "--fork", "--pid", "--mount-proc"] + bed.argv
              + [bed.scenario_path("proc_ns")], stdout=subprocess.PIPE, stdin=subprocess.PIPE,
              env=env)
    try:
        line = tg.p.stdout.readline().decode()
        if not line.startswith("READY "):
            raise Fail(f"proc_ns did not print READY: {line!r}", tail(tg.stderr))
        ids = json.loads(line[6:])
        kids = subprocess.run(["pgrep", "-P", str(tg.p.pid)], capture_output=True,
                              text=True).stdout.split()
        if len(kids) != 1:
            raise Fail(f"unshare's children: {kids}")
        pid = int(kids[0])
        hosts = host_threads(pid)
        want = {tag: (hosts[ns], ns) for tag, ns in ids.items()}   # host, ns
        if ids["main"] != 1 or any(h == n for h, n in want.values()):
            raise Fail(f"not in a PID namespace: {want}")
        ps, _ = aps_run("ps", "--format", "json", pid)
        tree, _ = aps_run("pstree", "--format", "json", pid)
        trace, terr = aps_run("trace", "--json", "--duration", "1", pid)
        top, _ = aps_run("top", "--mode", "step", "--json", "--delay", "1", "--iterations", "1", pid)
        doctor, derr = aps_run("doctor", pid)
        blk = blocked_and_check(pid)
    finally:
        tg.stop()
    errs = blocked_ids(blk, want)
    for t in json.loads(ps)["tasks"]:
        tag = t["task_name"].split("-")[0]
        if tag in want and (t["tid"], t.get("ns_tid")) != want[tag]:
            errs.append(f"ps {t['task_name']}: tid {t['tid']} ns_tid {t.get('ns_tid')}, "
                        f"expected {want[tag]}")
    json.loads(tree)
    by_host = {h: n for h, n in want.values()}
    for e in (json.loads(l) for l in trace.splitlines() if l.strip()):
        if e.get("tid") and (e["tid"] not in by_host or e.get("ns_tid") != by_host[e["tid"]]):
            errs.append(f"trace {e['event']}: tid {e['tid']} ns_tid {e.get('ns_tid')}, "
                        f"threads {want}")
            break
    top_lines = [json.loads(l) for l in top.splitlines() if l.strip()]
    for th in top_lines[-1]["threads"] if top_lines else []:
        if th["tid"] not in by_host or th.get("ns_tid") != by_host[th["tid"]]:
            errs.append(f"top thread {th}, threads {want}")
    if "cgroup:" not in doctor or "pid namespace" not in doctor:
        errs.append(f"doctor does not name the cgroup and namespace: {doctor[:300]!r}")
    if "pid namespace: pid 1 inside" not in terr:
        errs.append(f"the attach line does not name the namespace: {tail(terr, 3)}")
    if errs:
        raise Fail(" | ".join(errs[:4]))
    ctx.note(f"pidns@{bed.label}: threads {want}")


def all_tests(beds):
    tests = [(f"exec@{bed.label}", t_exec, (bed,)) for bed in beds]
    tests += [(f"fork@{bed.label}", t_fork, (bed,)) for bed in beds]
    tests += [(f"nofork@{bed.label}", t_nofork, (bed,)) for bed in beds]
    tests += [(f"pidns@{bed.label}", t_pidns, (bed,)) for bed in beds if not bed.chrooted]
    # the stage's time budget: following a fork is the same on every version
    # (fork@ runs on all); these spread over them, gunicorn@ on debian-3.11
    tests += [(f"prefork-record@{bed.label}", t_prefork_record, (bed,)) for bed in beds
              if bed.label in ("pyenv-3.10", "sid-3.14")]
    tests += [(f"prefork-attach@{bed.label}", t_prefork_attach, (bed,)) for bed in beds
              if bed.label in ("pyenv-3.12", "pyenv-3.13")]
    # Debian's python3 with its python3-gunicorn and python3-aiohttp
    tests += [(f"gunicorn@{bed.label}", t_gunicorn, (bed,)) for bed in beds
              if bed.label == "debian-3.11"]
    return tests


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTR")
    ap.add_argument("--bed", action="append", default=[], metavar="LABEL")
    ap.add_argument("-v", action="store_true", help="details of failures, notes")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("test_procs.py: must run as root", file=sys.stderr)
    beds = run.load_bed(args.bed, ap)
    ctx = run.Ctx(args.v)
    tests = [t for t in all_tests(beds) if not args.k or any(k in t[0] for k in args.k)]
    passed, failed = run.run_tests(ctx, tests, args.v)
    return run.finish(ctx, beds, passed, failed, args.v)


if __name__ == "__main__":
    sys.exit(main())
