#!/usr/bin/env python3
"""`aps-bpf agent`: the host agent, against what its target programs know.
Run as root from the repo root:

    python3 tests/integration/test_agent.py [-k SUBSTR]... [-v]

One agent runs for the whole file (--match on a token only this run's
programs carry, so other Python processes on the host do not count), with
five programs (tests/scenarios/agent_prog.py): four asyncio ones on three
interpreters (one with a hostile comm, one keeping its loop busy) and one
Python that never imports asyncio; more start and end during the run. A real Prometheus (Debian's
`prometheus`, on 127.0.0.1 with a generated config and a scratch storage
dir) scrapes the agent.

Tests (names; -k selects by substring):
  discover          `agent status` lists exactly the asyncio programs,
                    not the plain Python one
  discover-late     a program that imports asyncio 2 s after its exec is
                    found (exec tracepoint, retries, rescan)
  history           `agent tasks PID`: tasks made after the agent
                    started have an exact age (within 1 s of what the
                    program logged), older ones a lower bound
  ps                `ps --format json` through the agent: runtimes within
                    1 s of the program's own for tasks made after the
                    agent started, a lower bound (marked) for older ones
  pstree            [sleeping X s] on the heartbeat within 0.1 s of the
                    time left on its timer (as the program logged it),
                    [4 tasks] on the TaskGroup's owner, --stuck marks the
                    parked leaves; without an agent: one stderr line,
                    unknown runtimes, [sleeping] still shown
  check             `check --max-waiting 2s --for 1s`: the parked tasks
                    (waiting since before the check, seen by the agent)
                    are offenders; without the agent they are not
  dump-request      `agent dump PID` writes one recording; `replay FILE ps`
                    lists the program's task names
  dump-sigusr1      SIGUSR1: one dump per watched program
  dump-exit         a program exiting with status 3: one dump (reason
                    exit); one ended by SIGTERM: none
  dump-rotate       --dump-keep: the oldest dumps go, the newest stay
  stall             loop mode: a callback sleeping 0.8 s in a program that
                    also keeps its loop 30% busy: exactly one dump (reason
                    stall), and `replay blocked` on it shows the stall's
                    stack (stall_now, its time.sleep line)
  socket-root       a non-root client (setpriv --reuid=nobody) is
                    refused: by the socket's mode, and by SO_PEERCRED
                    when the mode lets it connect
  metrics-escape    /metrics parses as the text format; the hostile comm
                    and task name come back unchanged from Prometheus
  prometheus        through Prometheus's HTTP API: tasks by state equal
                    to the program's, the process count, and
                    increase() of task creations against the program's
                    own count (a task every 0.5 s); rate() of loop busy
                    against the busy time the program logged, the stall
                    count (1) and the stall in the busy-span histogram
  exec-fork         a program execs the same interpreter into a new
                    asyncio program: watched anew (only the new program's
                    tasks and ids, ages since the exec, creations not
                    carried over); one execs a Python without asyncio:
                    dropped with its series; one forks a child that runs
                    its own loop: the child found and its tasks read; all
                    killed: dropped, no series left, watched - forgotten
                    = processes
  churn             1000 short-lived asyncio processes (forked from one
                    Python in batches of 100, each running a loop for
                    1 s): the agent lives, its table returns to the
                    baseline, and its RSS after them is within 4 MiB of
                    its RSS after the first 100
  lost              a second agent with an 8 KiB ring buffer, stopped 2 s
                    while a program spins under a 499 Hz sampler: that
                    program's aps_lost_events_total{kind="samples"} > 0,
                    its samples + lost = its CPU time x Hz (20%), and the
                    per-process counts add up to the host's
  dump-full         the dump dir a full 1 MiB tmpfs: `agent dump` fails
                    (ENOSPC) three times, counted 3 in
                    aps_agent_dump_errors_total, logged once, no partial
                    file left; space freed: the next dump works and
                    replays
  restart           SIGKILL: the programs, links and maps the agent held
                    (its fds' fdinfo) are gone from the kernel (bpftool),
                    the programs run on; a new agent (stale socket left)
                    watches them again, loop busy time growing

Output: `PASS name` / `FAIL name: why` lines, and as the very last line
`N passed, N failed`; exit status 1 if any failed.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
APS = os.environ.get("APS_BIN") or os.path.join(REPO, "aps-bpf")
PROG = os.path.join(REPO, "tests", "scenarios", "agent_prog.py")
BED_FILE = os.environ.get("APS_BED_FILE", "/var/cache/aps-bpf/bed.json")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
HOSTILE_TASK = 'evil"name\\with\nnewline{}='
HOSTILE_COMM = 'p"y\\q\nz'
# as aps-bpf shows a task name: backslashes doubled, control characters \xNN
HOSTILE_SHOWN = 'evil"name\\\\with\\x0anewline{}='
EVERY = 0.25          # the agent's --tasks-every

VERBOSE = False


class Fail(Exception):
    pass


def vlog(s):
    if VERBOSE:
        print("  " + s, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bed():
    with open(BED_FILE) as f:
        entries = json.load(f)
    by = {e["label"]: e for e in entries if e.get("root", "/") == "/"}
    want = ["pyenv-3.10", "pyenv-3.12", "pyenv-3.13", "debian-3.11", "pyenv-3.11"]
    got = [by[w]["argv"] for w in want if w in by]
    if len(got) < 3:
        raise SystemExit("test_agent: the bed has fewer than 3 host interpreters")
    return got


def read_log(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                if line.endswith("\n"):
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


class Run:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="aps-agent-test.")
        os.chmod(self.dir, 0o755)
        self.token = "apsagenttok%d" % os.getpid()
        self.sock = os.path.join(self.dir, "run", "agent.sock")
        self.dumps = os.path.join(self.dir, "dumps")
        self.port = free_port()
        self.procs = []
        self.agent = None
        self.prom = None
        self.agent_log = os.path.join(self.dir, "agent.log")
        self.extra_pids = []       # programs' children, killed at the end
        self.mounts = []
        self.others = []           # agents other than the main one

    def start_prog(self, argv, mode, name, comm=None, token=None):
        log = os.path.join(self.dir, name + ".log")
        args = argv + [PROG, mode, token or self.token, log] + ([comm] if comm else [])
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.dir, name + ".err"), "w"))
        self.procs.append(p)
        return p, log

    def wait_ready(self, log, p, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if any(e["ev"] == "ready" for e in read_log(log)):
                return
            if p.poll() is not None:
                raise SystemExit("test_agent: a program exited early: %s" % log)
            time.sleep(0.05)
        raise SystemExit("test_agent: a program never got ready: %s" % log)

    def start_agent(self):
        argv = [APS, "agent", "--match", "cmd:" + self.token, "--tasks-every", str(EVERY),
                "--rescan", "1s", "--max-cpu", "100", "--dump-dir", self.dumps,
                "--dump-keep", "6", "--dump-on-stall", "500ms", "--socket", self.sock,
                "--listen", "127.0.0.1:%d" % self.port, "--top-tasks", "10"]
        self.agent = self.spawn_agent(argv, self.sock, self.agent_log, "a")

    def spawn_agent(self, argv, sock, log, mode="w"):
        vlog(" ".join(argv))
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(log, mode))
        end = time.time() + 15
        while time.time() < end:
            if os.path.exists(sock) and self.aps("agent", "--socket", sock, "status").returncode == 0:
                return p
            if p.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit("test_agent: the agent did not start:\n" + open(log).read())

    def start_prometheus(self):
        self.prom_port = free_port()
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: aps\n    scrape_interval: 1s\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % self.port)
        self.prom = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + cfg,
             "--storage.tsdb.path=" + os.path.join(self.dir, "prom"),
             "--web.listen-address=127.0.0.1:%d" % self.prom_port],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "prometheus.log"), "w"))

    def promql(self, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            self.prom_port, urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=5) as r:
            d = json.load(r)
        if d.get("status") != "success":
            raise Fail("promql %s: %s" % (q, d))
        return d["data"]["result"]

    def aps(self, *args, timeout=30, user=None):
        argv = [APS] + list(args)
        if user:
            argv = ["setpriv", "--reuid=" + user, "--regid=nogroup", "--clear-groups"] + argv
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        vlog("$ %s -> %d\n%s%s" % (" ".join(args), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
        return r

    def agent_cmd(self, *args, **kw):
        return self.aps("agent", "--socket", self.sock, *args, **kw)

    def status_pids(self):
        r = self.agent_cmd("status")
        if r.returncode:
            raise Fail("agent status: %s" % r.stderr.strip())
        return {int(line.split()[0]) for line in r.stdout.splitlines()[1:] if line.strip()}

    def dump_files(self):
        try:
            return sorted(f for f in os.listdir(self.dumps) if f.endswith(".apsrec"))
        except FileNotFoundError:
            return []

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for pid in self.extra_pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for m in self.mounts:
            subprocess.run(["umount", "-l", m])
        for p in [self.agent, self.prom] + self.others:
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def wait_for(fn, timeout, what):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except Fail as e:
            last = e
        time.sleep(0.2)
    raise Fail("%s (waited %.0f s)%s" % (what, timeout, ": %s" % last if last else ""))


# ---- tests -------------------------------------------------------------------

def t_discover(run, env):
    want = {env["pids"][k] for k in ("a", "b", "c", "d")}
    got = wait_for(lambda: (lambda s: s if want <= s else None)(run.status_pids()), 10,
                   "the asyncio programs watched")
    if got != want:
        raise Fail("watched %s, want exactly %s (plain Python: %d)"
                   % (sorted(got), sorted(want), env["pids"]["plain"]))


def t_discover_late(run, env):
    p, log = run.start_prog(env["argv"][0], "late", "late")
    run.wait_ready(log, p)
    wait_for(lambda: p.pid in run.status_pids(), 8, "the late program watched")
    p.kill()
    p.wait()
    wait_for(lambda: p.pid not in run.status_pids(), 5, "the killed program forgotten")


def history(run, pid):
    r = run.agent_cmd("tasks", str(pid))
    if r.returncode:
        raise Fail("agent tasks: %s" % r.stderr.strip())
    now = time.monotonic()
    out = {}
    for line in r.stdout.split("\n"):
        if not line:
            continue
        addr, age, wait = line.split()
        out[addr] = (age.startswith(">="), float(age.lstrip(">=")), now)
    return out


def t_history(run, env):
    pid = env["pids"]["a"]
    time.sleep(2.5)            # a few gen-N tasks made since the agent started
    hist = history(run, pid)
    # the last task made at each address (a finished gen-N's may be reused)
    tasks = {e["id"]: e for e in read_log(env["logs"]["a"]) if e["ev"] == "task"}
    exact = lower = 0
    for e in tasks.values():
        h = hist.get(e["id"])
        if not h:
            continue
        bound, age, now = h
        true_age = now - e["created"]
        if e["created"] > env["watched_t0"] + 0.5:
            if bound:
                raise Fail("%s made after the agent started: a lower bound only" % e["name"])
            if abs(age - true_age) > 1.0:
                raise Fail("%s: age %.2f s, the program says %.2f s" % (e["name"], age, true_age))
            exact += 1
        elif e["created"] < env["agent_t0"] - 0.5:
            if not bound:
                raise Fail("%s is older than the agent: exact age %.2f claimed" % (e["name"], age))
            if age > true_age + 0.05:
                raise Fail("%s: lower bound %.2f s above its age %.2f s" % (e["name"], age, true_age))
            lower += 1
    if exact < 3 or lower < 5:
        raise Fail("checked %d exact and %d lower-bound ages (want >= 3 and >= 5)" % (exact, lower))
    vlog("history: %d exact, %d lower bounds" % (exact, lower))


def t_ps(run, env):
    pid = env["pids"]["a"]
    r = run.aps("ps", "--format", "json", "--agent-socket", run.sock, str(pid))
    now = time.monotonic()
    if r.returncode:
        raise Fail("ps: %s" % r.stderr.strip())
    rows = {t["task_id"]: t for t in json.loads(r.stdout)["tasks"]}
    tasks = {e["id"]: e for e in read_log(env["logs"]["a"]) if e["ev"] == "task"}
    exact = lower = 0
    for tid, e in tasks.items():
        row = rows.get(tid)
        if not row or row["task_name"] != e["name"] or row["age_ns"] is None:
            continue
        age, true_age = row["age_ns"] / 1e9, now - e["created"]
        if e["created"] > env["watched_t0"] + 0.5:
            if row["age_lower_bound"] or abs(age - true_age) > 1.0:
                raise Fail("%s: runtime %.2f s%s, the program says %.2f s" % (
                    e["name"], age, " (lower bound)" if row["age_lower_bound"] else "", true_age))
            exact += 1
        elif e["created"] < env["agent_t0"] - 0.5:
            if not row["age_lower_bound"] or age > true_age + 0.05:
                raise Fail("%s: runtime %.2f s (bound %s), older than the agent: %.2f s" % (
                    e["name"], age, row["age_lower_bound"], true_age))
            lower += 1
    if exact < 3 or lower < 5:
        raise Fail("checked %d exact and %d lower-bound runtimes (want >= 3 and >= 5)" % (exact, lower))
    r = run.aps("ps", "--agent-socket", run.sock, str(pid))
    if "runtime" not in r.stdout.split("\n")[0] or "\u2265" not in r.stdout:
        raise Fail("the ps table has no runtime column or no lower bound:\n" + r.stdout[:600])


def t_pstree(run, env):
    pid = env["pids"]["a"]
    r = run.aps("pstree", "--agent-socket", run.sock, "--stuck", "1", str(pid))
    now = time.monotonic()
    if r.returncode:
        raise Fail("pstree: %s" % r.stderr.strip())
    beat = [e for e in read_log(env["logs"]["a"]) if e["ev"] == "sleep"][-1]
    m = re.search(r"\(T\) heartbeat \[sleeping ([0-9.]+) s\]", r.stdout)
    if not m:
        raise Fail("no [sleeping ...] on the heartbeat:\n" + r.stdout[:800])
    if abs(float(m.group(1)) - (beat["when"] - now)) > 0.1 + 0.05:
        raise Fail("heartbeat [sleeping %s s], its timer fires in %.2f s" % (m.group(1), beat["when"] - now))
    if not re.search(r"\(T\) group \[4 tasks\]", r.stdout):
        raise Fail("no [4 tasks] on the group:\n" + r.stdout[:800])
    if not re.search(r"\(T\) member-0 \[(\u2265)?[0-9.]+ s\] \u26a0 stuck", r.stdout):
        raise Fail("member-0 (parked) not marked stuck:\n" + r.stdout[:1200])
    if "stuck > 1s" not in r.stderr:
        raise Fail("no stuck warning on stderr: %r" % r.stderr)
    # without an agent: one line on stderr, the timer still read
    r = run.aps("pstree", "--agent-socket", os.path.join(run.dir, "none.sock"), str(pid))
    lines = [x for x in r.stderr.split("\n") if "agent" in x]
    if r.returncode or len(lines) != 1 or "no agent" not in lines[0]:
        raise Fail("pstree without an agent: exit %d, stderr %r" % (r.returncode, r.stderr))
    if "[sleeping" not in r.stdout:
        raise Fail("no [sleeping ...] without an agent")


def t_check(run, env):
    pid = env["pids"]["a"]
    r = run.aps("check", "--mode", "step", "--for", "1s", "--max-waiting", "2s", "--json",
                "--agent-socket", run.sock, str(pid), timeout=60)
    if r.returncode != 1:
        raise Fail("check through the agent: exit %d (want 1)\n%s%s" % (r.returncode, r.stdout, r.stderr))
    names = {o["name"] for o in json.loads(r.stdout)["offenders"] if o["kind"] == "waiting"}
    want = {"old-0", "old-1", "old-2", "member-0", "member-3"}
    if not want <= names:
        raise Fail("waiting offenders %s lack %s" % (sorted(names), sorted(want - names)))
    r = run.aps("check", "--mode", "step", "--for", "1s", "--max-waiting", "2s", "--json",
                "--agent-socket", os.path.join(run.dir, "none.sock"), str(pid), timeout=60)
    names = {o["name"] for o in json.loads(r.stdout)["offenders"]} if r.stdout.strip() else set()
    if names & want:
        raise Fail("without the agent, check saw waits older than --for: %s" % sorted(names & want))


def t_dump_request(run, env):
    before = set(run.dump_files())
    pid = env["pids"]["b"]
    r = run.agent_cmd("dump", str(pid))
    if r.returncode:
        raise Fail("agent dump: %s" % r.stderr.strip())
    new = set(run.dump_files()) - before
    if len(new) != 1:
        raise Fail("%d new dump files, want 1" % len(new))
    path = os.path.join(run.dumps, new.pop())
    if r.stdout.strip() != path or "-%d-" % pid not in path or "request" not in path:
        raise Fail("dump path %r (printed %r)" % (path, r.stdout.strip()))
    rr = run.aps("replay", path, "ps", "--format", "json")
    if rr.returncode:
        raise Fail("replay ps: %s" % rr.stderr.strip())
    names = {t.get("task_name") or t.get("name") for t in json.loads(rr.stdout).get("tasks", [])} \
        if rr.stdout.strip().startswith("{") else set(re.findall(r"\b(old-\d|member-\d|heartbeat)\b", rr.stdout))
    want = {"old-0", "old-1", "old-2", "heartbeat", "member-0", "member-3"}
    if not want <= names:
        raise Fail("replay ps of the dump lacks %s" % sorted(want - names))


def t_dump_sigusr1(run, env):
    before = set(run.dump_files())
    run.agent.send_signal(signal.SIGUSR1)
    want = {env["pids"][k] for k in ("a", "b", "c", "d")}

    def got():
        new = [f for f in set(run.dump_files()) - before if "sigusr1" in f]
        return new if len(new) >= len(want) else None
    new = wait_for(got, 5, "a sigusr1 dump per program")
    pids = {int(re.search(r"-(\d+)-\d{8}T", f).group(1)) for f in new}
    if len(new) != len(want) or pids != want:
        raise Fail("sigusr1 dumps %s, want one per %s" % (new, sorted(want)))


def t_dump_exit(run, env):
    argv = env["argv"][1]
    p3, log3 = run.start_prog(argv, "exit", "exit3")
    run.wait_ready(log3, p3)
    wait_for(lambda: p3.pid in run.status_pids(), 8, "the exit program watched")
    time.sleep(2 * EVERY)
    open(log3 + ".go", "w").close()
    p3.wait(10)
    if p3.returncode != 3:
        raise Fail("the program exited %s, want 3" % p3.returncode)
    f = wait_for(lambda: [x for x in run.dump_files() if "-%d-" % p3.pid in x], 5,
                 "a dump of the program that exited 3")
    if len(f) != 1 or "exit" not in f[0]:
        raise Fail("dumps of pid %d: %s" % (p3.pid, f))
    # an orderly end (SIGTERM) writes none
    pt, logt = run.start_prog(argv, "serve", "term")
    run.wait_ready(logt, pt)
    wait_for(lambda: pt.pid in run.status_pids(), 8, "the SIGTERM program watched")
    pt.terminate()
    pt.wait(10)
    wait_for(lambda: pt.pid not in run.status_pids(), 5, "the SIGTERM program forgotten")
    time.sleep(0.3)
    if [x for x in run.dump_files() if "-%d-" % pt.pid in x]:
        raise Fail("a dump was written for a process ended by SIGTERM")


def t_dump_rotate(run, env):
    pid = env["pids"]["c"]
    for _ in range(8):
        r = run.agent_cmd("dump", str(pid))
        if r.returncode:
            raise Fail("agent dump: %s" % r.stderr.strip())
        time.sleep(0.02)
    files = run.dump_files()
    if len(files) != 6:
        raise Fail("%d dumps kept, want 6 (--dump-keep 6)" % len(files))
    newest = os.path.basename(r.stdout.strip())
    if newest not in files:
        raise Fail("the newest dump %s was removed" % newest)


def t_stall(run, env):
    pid, log = env["pids"]["d"], env["logs"]["d"]
    wait_for(lambda: pid in run.status_pids(), 8, "the busy program watched")
    time.sleep(1)
    stall_dumps = lambda: [x for x in run.dump_files() if "-%d-" % pid in x and "-stall." in x]
    if stall_dumps():
        raise Fail("a stall dump of the busy program before its stall: %s" % stall_dumps())
    open(log + ".go", "w").close()
    wait_for(lambda: [e for e in read_log(log) if e["ev"] == "stall"], 10, "the program's stall")
    wait_for(stall_dumps, 5, "a stall dump")
    time.sleep(1.5)
    f = stall_dumps()
    if len(f) != 1:
        raise Fail("dumps of the stalled program: %s, want exactly one stall dump" % f)
    env["stall_dump"] = f[0]
    r = run.aps("replay", os.path.join(run.dumps, f[0]), "blocked")
    if r.returncode or "stall_now" not in r.stdout or "AGENT-STALL" not in r.stdout:
        raise Fail("replay blocked on the stall dump: exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))


def t_socket_root(run, env):
    r = run.agent_cmd("status", user="nobody")
    if r.returncode == 0 or "permission denied" not in r.stderr.lower():
        raise Fail("nobody through the 0600 socket: exit %d, %r" % (r.returncode, r.stderr))
    # let nobody connect: the agent itself must refuse
    os.chmod(os.path.dirname(run.sock), 0o755)
    os.chmod(run.sock, 0o666)
    try:
        r = run.agent_cmd("status", user="nobody")
        r2 = run.agent_cmd("tasks", str(env["pids"]["a"]), user="nobody")
    finally:
        os.chmod(run.sock, 0o600)
        os.chmod(os.path.dirname(run.sock), 0o700)
    for x in (r, r2):
        if x.returncode == 0 or "root only" not in x.stderr and "ermission" not in x.stderr:
            raise Fail("nobody on an open socket: exit %d, %r" % (x.returncode, x.stderr))
    if str(env["pids"]["a"]) in r.stdout + r2.stdout:
        raise Fail("nobody got an answer: %r" % (r.stdout + r2.stdout))


LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+]+|NaN|\+Inf)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')


def parse_labels(s):
    out, pos = {}, 0
    while pos < len(s):
        m = LABEL.match(s, pos)
        if not m:
            raise Fail("bad labels %r" % s)
        v = m.group(2)
        out[m.group(1)] = re.sub(r'\\(.)', lambda x: {"n": "\n"}.get(x.group(1), x.group(1)), v)
        pos = m.end()
    return out


def t_metrics_escape(run, env):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % run.port, timeout=5) as r:
        text = r.read().decode()
        ctype = r.headers.get("Content-Type", "")
    if "version=0.0.4" not in ctype:
        raise Fail("Content-Type %r" % ctype)
    comms, tasks = set(), set()
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            raise Fail("not a sample line: %r" % line)
        lab = parse_labels(m.group(3) or "")
        if "comm" in lab:
            comms.add(lab["comm"])
        if "task" in lab:
            tasks.add(lab["task"])
    if HOSTILE_COMM not in comms:
        raise Fail("comm %r not in /metrics (%s)" % (HOSTILE_COMM, sorted(comms)))
    if HOSTILE_SHOWN not in tasks:
        raise Fail("task %r not in /metrics (%s)" % (HOSTILE_TASK, sorted(tasks)))
    # and Prometheus reads the same values back
    res = wait_for(lambda: run.promql('aps_process_info{comm=%s}' % json.dumps(HOSTILE_COMM)),
                   20, "the hostile comm in Prometheus")
    if res[0]["metric"]["comm"] != HOSTILE_COMM:
        raise Fail("Prometheus has comm %r" % res[0]["metric"]["comm"])
    res = wait_for(lambda: [x for x in run.promql("aps_task_waiting_seconds")
                            if "evil" in x["metric"].get("task", "")], 10,
                   "the hostile task name in Prometheus")
    name = res[0]["metric"]["task"]
    if name != HOSTILE_SHOWN:
        raise Fail("Prometheus has task %r" % name)


def t_prometheus(run, env):
    pid = env["pids"]["b"]
    sel = 'pid="%d"' % pid
    wait_for(lambda: run.promql("aps_agent_processes"), 20, "a scrape in Prometheus")
    n = run.promql("count(aps_process_info)")
    if not n or float(n[0]["value"][1]) < 3:
        raise Fail("count(aps_process_info) = %s, want >= 3" % n)
    # tasks by state: the program's parked tasks plus the gen-N alive now
    res = run.promql('aps_tasks{%s,state="pending"}' % sel)
    if not res:
        raise Fail("no aps_tasks for pid %d" % pid)
    got = float(res[0]["value"][1])
    # b runs `serve`: 3 old + heartbeat + group + 4 members + hostile + main = 11, + ~12 gen
    if not 11 + 9 <= got <= 11 + 14:
        raise Fail("aps_tasks pending = %g, want 11 + about 12 gen-N" % got)
    # creations: one every 0.5 s, each alive 6 s (every one is seen); once
    # Prometheus holds 10 s of them
    wait_for(lambda: [x for x in run.promql('count_over_time(aps_task_creations_total{%s}[10s])' % sel)
                      if float(x["value"][1]) >= 9], 20, "10 s of scrapes")
    res = run.promql('rate(aps_task_creations_total{%s}[10s])' % sel)
    if not res:
        raise Fail("no rate() of aps_task_creations_total")
    rate = float(res[0]["value"][1])
    if not 1.5 <= rate <= 2.5:
        raise Fail("rate(aps_task_creations_total[10s]) = %g/s, the program makes 2/s" % rate)
    vlog("promql: pending %g, rate(creations[10s]) %.2f/s" % (got, rate))
    # loop mode: the busy program (its loop busy ~30% of the time, one stall)
    pid, log = env["pids"]["d"], env["logs"]["d"]
    sel = 'pid="%d"' % pid
    q_busy = 'sum(rate(aps_loop_busy_seconds_total{%s}[10s]))' % sel
    res = busy_res = run.promql(q_busy)
    t_now = time.monotonic()
    busy = [e for e in read_log(log) if e["ev"] == "busy"]
    old = [e for e in busy if e["t"] <= t_now - 10]
    if not res or not old:
        raise Fail("no loop busy rate (%s) or under 10 s of the program's log" % res)
    prog = (busy[-1]["spun"] - old[-1]["spun"]) / (busy[-1]["t"] - old[-1]["t"])
    stall = [e for e in read_log(log) if e["ev"] == "stall"]
    if stall and stall[0]["begin"] > t_now - 11:
        prog += (stall[0]["end"] - stall[0]["begin"]) / 10
    got = float(res[0]["value"][1])
    if abs(got - prog) > 0.1:
        raise Fail("rate(aps_loop_busy_seconds_total[10s]) = %.3f, the program spun %.3f" % (got, prog))
    res = run.promql('aps_loop_stalls_total{%s}' % sel)
    if not res or float(res[0]["value"][1]) != 1:
        raise Fail("aps_loop_stalls_total = %s, want 1" % res)
    res = run.promql('aps_loop_busy_span_seconds_bucket{%s,le="1"} - ignoring(le) '
                     'aps_loop_busy_span_seconds_bucket{%s,le="0.5"}' % (sel, sel))
    if not res or float(res[0]["value"][1]) != 1:
        raise Fail("busy spans in (0.5, 1] s: %s, want the one stall" % res)
    vlog("promql: loop busy %.3f (program %.3f)" % (got, prog))
    vlog("promql: %s -> %s" % (q_busy, json.dumps(busy_res)))


# ---- robustness ----------------------------------------------------------------

def scrape(port):
    """/metrics as (name, labels, value) triples."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = []
    for line in text.split("\n"):
        if line and not line.startswith("#"):
            m = LINE.match(line)
            if not m:
                raise Fail("not a sample line: %r" % line)
            out.append((m.group(1), parse_labels(m.group(3) or ""), float(m.group(4))))
    return out


def metric(samples, name, **labels):
    """The one sample of name with these labels (None: none)."""
    got = [v for n, lab, v in samples if n == name
           and all(lab.get(k) == str(x) for k, x in labels.items())]
    if len(got) > 1:
        raise Fail("%d samples of %s%s" % (len(got), name, labels))
    return got[0] if got else None


def pid_series(samples, pid):
    return [(n, lab) for n, lab, _ in samples if lab.get("pid") == str(pid)]


def shown(name):
    """A task name as aps-bpf shows it (backslashes doubled, control characters \\xNN)."""
    return "".join("\\\\" if c == "\\" else "\\x%02x" % ord(c) if ord(c) < 32 else c for c in name)


def ps_json(run, pid, sock=None):
    r = run.aps("ps", "--format", "json", "--agent-socket", sock or run.sock, str(pid))
    if r.returncode:
        raise Fail("ps %d: %s" % (pid, r.stderr.strip()))
    return json.loads(r.stdout)["tasks"]


def agent_bpf_ids(pid):
    """The BPF programs, links and maps the agent holds (its fds' fdinfo)."""
    ids = {"prog": set(), "link": set(), "map": set()}
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                info = f.read()
        except OSError:
            continue
        # a link's fdinfo also names its program: the link id says which it is
        m = re.search(r"^link_id:\s+(\d+)", info, re.M)
        if m:
            ids["link"].add(int(m.group(1)))
            continue
        for kind in ("prog", "map"):
            m = re.search(r"^%s_id:\s+(\d+)" % kind, info, re.M)
            if m:
                ids[kind].add(int(m.group(1)))
    return ids


def host_bpf_ids():
    out = {}
    for kind in ("prog", "link", "map"):
        r = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True)
        if r.returncode:
            raise Fail("bpftool %s show: %s" % (kind, r.stderr.strip()))
        out[kind] = {x["id"] for x in json.loads(r.stdout or "[]")}
    return out


def t_exec_fork(run, env):
    argv = env["argv"][2]
    pe, loge = run.start_prog(argv, "exec-serve", "exec")
    pp, logp = run.start_prog(argv, "exec-plain", "execplain")
    pf, logf = run.start_prog(argv, "fork", "fork")
    try:
        exec_fork(run, pe, loge, pp, logp, pf, logf)
    finally:
        for e in read_log(logf):
            if e["ev"] == "child":
                try:
                    os.kill(e["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in (pe, pp, pf):
            if p.poll() is None:
                p.kill()
                p.wait()


def exec_fork(run, pe, loge, pp, logp, pf, logf):
    for p, log in ((pe, loge), (pp, logp), (pf, logf)):
        run.wait_ready(log, p)
    wait_for(lambda: {pe.pid, pp.pid, pf.pid} <= run.status_pids(), 8, "the three programs watched")
    # gen-N tasks seen: creations counted before the exec
    old_creations = wait_for(lambda: (lambda v: v if v and v >= 3 else None)(
        metric(scrape(run.port), "aps_task_creations_total", pid=pe.pid)), 5,
        "3 creations in the first program")
    for log in (loge, logp, logf):
        open(log + ".go", "w").close()
    t_exec = time.monotonic()
    # exec into an asyncio program: watched anew, with only the new program's tasks
    run.wait_ready(loge + ".next", pe)

    def new_tasks_seen():
        rows = ps_json(run, pe.pid)
        # the agent's history of them: every row has an age
        return rows if {"old-0", "group", "member-0"} <= {r["task_name"] for r in rows} and \
            all(r["age_ns"] is not None for r in rows) else None
    wait_for(lambda: pe.pid in run.status_pids(), 10, "the exec'd program watched")
    rows = wait_for(new_tasks_seen, 8, "the exec'd program's tasks through the agent")
    new = {e["id"]: e["name"] for e in read_log(loge + ".next") if e["ev"] == "task"}
    for r in rows:
        if shown(new.get(r["task_id"], "")) != r["task_name"]:
            raise Fail("task %s %r after the exec: not one the new program made (%s)"
                       % (r["task_id"], r["task_name"], sorted(new.values())))
        if r["age_ns"] / 1e9 > time.monotonic() - t_exec + 0.2:
            raise Fail("task %r is %.2f s old: older than the exec %.2f s ago (history kept)"
                       % (r["task_name"], r["age_ns"] / 1e9, time.monotonic() - t_exec))
    if "pid %d executed a new program" % pe.pid not in open(run.agent_log).read():
        raise Fail("the agent did not notice pid %d's exec" % pe.pid)
    m = scrape(run.port)
    made = len(read_log(loge + ".next"))
    creations = metric(m, "aps_task_creations_total", pid=pe.pid)
    if creations is None or creations > made:
        raise Fail("creations after the exec %s: the new program made only %d tasks (the old "
                   "program's %g carried over?)" % (creations, made, old_creations))
    if len([x for x in m if x[0] == "aps_process_info" and x[1]["pid"] == str(pe.pid)]) != 1:
        raise Fail("not exactly one aps_process_info for pid %d" % pe.pid)
    # exec into a Python without asyncio: dropped, no series left
    run.wait_ready(logp + ".next", pp)
    wait_for(lambda: pp.pid not in run.status_pids(), 5, "the pid that exec'd a plain Python dropped")
    if pid_series(scrape(run.port), pp.pid):
        raise Fail("series of dropped pid %d remain" % pp.pid)
    # fork: the child runs its own loop; found by the rescan
    child = wait_for(lambda: [e["pid"] for e in read_log(logf) if e["ev"] == "child"], 5,
                     "the fork")[0]
    run.extra_pids.append(child)
    run.wait_ready(logf + ".child", pf)
    wait_for(lambda: child in run.status_pids(), 5, "the fork child watched (rescan)")
    kids = {e["id"]: e["name"] for e in read_log(logf + ".child") if e["ev"] == "task"}
    rows = wait_for(lambda: [r for r in ps_json(run, child) if r["task_id"] in kids], 5,
                    "the child's tasks through the agent")
    if {r["task_name"] for r in rows} != set(kids.values()):
        raise Fail("the child's tasks: %s, it made %s" % (sorted(r["task_name"] for r in rows),
                                                             sorted(kids.values())))
    if pf.pid not in run.status_pids():
        raise Fail("the fork's parent is no longer watched")
    # exits: each dropped, its series gone
    os.kill(child, signal.SIGKILL)
    pe.kill()
    pf.kill()
    for p in (pe, pf):
        p.wait()
    wait_for(lambda: not ({child, pe.pid, pf.pid} & run.status_pids()), 5, "the exited pids dropped")
    m = scrape(run.port)
    left = [x for pid in (child, pe.pid, pf.pid) for x in pid_series(m, pid)]
    if left:
        raise Fail("series of exited processes remain: %s" % left[:3])
    n = metric(m, "aps_agent_processes")
    if metric(m, "aps_agent_watched_total") - metric(m, "aps_agent_forgotten_total") != n:
        raise Fail("watched_total - forgotten_total != aps_agent_processes (%g)" % n)


CHURN_DRIVER = r"""
import asyncio, gc, os, sys
life, n = float(sys.argv[1]), int(sys.argv[2])
gc.disable()
gc.freeze()                     # fewer copy-on-write faults in the children
async def child():
    await asyncio.sleep(life)
for line in sys.stdin:
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            try:
                asyncio.new_event_loop().run_until_complete(child())
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    print("done", flush=True)
"""
CHURN_BATCH = 100
CHURN_LIFE = 1.0
RSS_GROWTH_MAX = 4 << 20       # after 1000 short-lived processes vs after the first 100


def agent_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def t_churn(run, env):
    """1000 short-lived asyncio processes (forked in batches of 100 from one
    Python, each running its own loop for 1 s; the rescan finds them)."""
    # the watched processes still alive (an earlier test's may be ending)
    base = {p for p in run.status_pids() if os.path.exists("/proc/%d" % p)}
    m0 = scrape(run.port)
    w0 = metric(m0, "aps_agent_watched_total")
    # the token first: the agent reads only the start of a long command line
    drv = subprocess.Popen(env["argv"][1] + ["-c", "# %s%s" % (run.token, CHURN_DRIVER),
                                             str(CHURN_LIFE), str(CHURN_BATCH)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    run.procs.append(drv)

    def batches(k):
        for _ in range(k):
            drv.stdin.write("go\n")
            drv.stdin.flush()
            if drv.stdout.readline().strip() != "done":
                raise Fail("the churn driver died")

    def settled():
        try:
            wait_for(lambda: run.status_pids() - {drv.pid} == base, 10,
                     "the agent's table back to its %d processes" % len(base))
            time.sleep(1.5)    # a rescan (--rescan 1s) after the exits: freed memory trimmed
            return True
        except Fail as e:
            extra = run.status_pids() - base - {drv.pid}
            raise Fail("%s: %d more: %s" % (e, len(extra), [
                open("/proc/%d/stat" % p).read()[:80] if os.path.exists("/proc/%d" % p) else "%d gone" % p
                for p in sorted(extra)[:5]]))
    t0 = time.monotonic()
    batches(1)
    settled()
    rss100 = agent_rss(run.agent.pid)
    batches(9)
    drv.stdin.close()
    drv.wait(10)
    settled()
    rss1000 = agent_rss(run.agent.pid)
    m = scrape(run.port)
    watched = metric(m, "aps_agent_watched_total") - w0
    vlog("churn: %d of 1001 watched in %.1f s; RSS %.1f MiB after 100, %.1f MiB after 1000"
         % (watched, time.monotonic() - t0, rss100 / 2**20, rss1000 / 2**20))
    # each lives 1 s, about one rescan: a loaded machine delays some past their end
    if watched < 300:
        raise Fail("only %d of the 1000 short-lived processes were watched" % watched)
    if run.agent.poll() is not None:
        raise Fail("the agent died")
    if rss1000 > rss100 + RSS_GROWTH_MAX:
        raise Fail("RSS %.1f MiB after 1000 processes, %.1f MiB after 100: grew more than %d MiB"
                   % (rss1000 / 2**20, rss100 / 2**20, RSS_GROWTH_MAX >> 20))
    n = metric(m, "aps_agent_processes")
    if n != len(base) or metric(m, "aps_agent_watched_total") - metric(m, "aps_agent_forgotten_total") != n:
        raise Fail("after the churn: aps_agent_processes %g, watched - forgotten %g, want %d"
                   % (n, metric(m, "aps_agent_watched_total") - metric(m, "aps_agent_forgotten_total"),
                      len(base)))
    env["churn"] = (watched, rss100, rss1000)


LOST_HZ = 499


def t_lost(run, env):
    """Per-process lost events: a second agent with a 8 KiB ring buffer is
    stopped (SIGSTOP) for 2 s while a program spins."""
    tok = run.token + "lost"
    sock = os.path.join(run.dir, "run2", "agent.sock")
    port = free_port()
    ps_, logs_ = run.start_prog(env["argv"][1], "spin", "spin", token=tok)
    pi, logi = run.start_prog(env["argv"][1], "exit", "idle", token=tok)
    run.wait_ready(logs_, ps_)
    run.wait_ready(logi, pi)
    log = os.path.join(run.dir, "agent2.log")
    ag = run.spawn_agent([APS, "agent", "--match", "cmd:" + tok, "--hz", str(LOST_HZ),
                          "--ringbuf-kb", "8", "--dump-on-stall", "off", "--rescan", "1s",
                          "--socket", sock, "--listen", "127.0.0.1:%d" % port,
                          "--dump-dir", os.path.join(run.dir, "dumps2")], sock, log)
    run.others.append(ag)
    wait_for(lambda: {ps_.pid, pi.pid} <= {int(x.split()[0]) for x in
                                           run.aps("agent", "--socket", sock, "status").stdout.splitlines()[1:]},
             8, "both programs watched by the second agent")
    wait_for(lambda: (metric(scrape(port), "aps_samples_total", pid=ps_.pid) or 0) > 50, 5,
             "samples of the spinning program")

    def counts():
        m = scrape(port)
        return (metric(m, "aps_samples_total", pid=ps_.pid),
                metric(m, "aps_lost_events_total", pid=ps_.pid, kind="samples"),
                cpu_seconds(ps_.pid), m)
    s0, l0, c0, _ = counts()
    ag.send_signal(signal.SIGSTOP)
    time.sleep(2)
    ag.send_signal(signal.SIGCONT)
    time.sleep(0.5)
    s1, l1, c1, m = counts()
    lost = l1 - l0
    expect = (c1 - c0) * LOST_HZ
    vlog("lost: %d samples sent, %d lost; %.2f CPU s x %d Hz = %.0f"
         % (s1 - s0, lost, c1 - c0, LOST_HZ, expect))
    if lost <= 0:
        raise Fail("no samples of the spinning program lost while the agent was stopped")
    if abs((s1 - s0) + lost - expect) > 0.2 * expect + 20:
        raise Fail("samples %d + lost %d, but its %.2f CPU s at %d Hz make %.0f"
                   % (s1 - s0, lost, c1 - c0, LOST_HZ, expect))
    total = metric(m, "aps_agent_loop_lost_total", kind="samples")
    per = sum(v for n, lab, v in m if n == "aps_lost_events_total" and lab.get("kind") == "samples")
    if total != per:
        raise Fail("aps_agent_loop_lost_total %g != the sum of the per-process counts %g" % (total, per))
    if metric(m, "aps_lost_events_total", pid=pi.pid, kind="spans") is None:
        raise Fail("no lost-events series for the idle program")
    env["lost"] = (s1 - s0, lost, expect)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def t_dump_full(run, env):
    """The dump dir full (a 1 MiB tmpfs filled): dumps fail, counted and
    logged once; the agent runs on; they work again when space returns."""
    pid = env["pids"]["b"]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", run.dumps], check=True)
    run.mounts.insert(0, run.dumps)
    try:
        filler = os.path.join(run.dumps, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        e0 = metric(scrape(run.port), "aps_agent_dump_errors_total")
        log0 = len(open(run.agent_log).read())
        for _ in range(3):
            r = run.agent_cmd("dump", str(pid))
            if r.returncode == 0 or "No space left" not in r.stderr:
                raise Fail("a dump into a full dir: exit %d, %r" % (r.returncode, r.stderr))
        if metric(scrape(run.port), "aps_agent_dump_errors_total") - e0 != 3:
            raise Fail("aps_agent_dump_errors_total rose by %g, want 3"
                       % (metric(scrape(run.port), "aps_agent_dump_errors_total") - e0))
        said = open(run.agent_log).read()[log0:]
        if said.count("No space left") != 1:
            raise Fail("the agent logged the full disk %d times, want once:\n%s"
                       % (said.count("No space left"), said[-1500:]))
        if [f for f in os.listdir(run.dumps) if f != "filler"]:
            raise Fail("files left in the full dump dir: %s" % os.listdir(run.dumps))
        if pid not in run.status_pids():
            raise Fail("the agent stopped watching after the failed dumps")
        os.unlink(filler)
        r = run.agent_cmd("dump", str(pid))
        if r.returncode:
            raise Fail("a dump once space returned: %s" % r.stderr.strip())
        rr = run.aps("replay", r.stdout.strip(), "ps")
        if rr.returncode or "heartbeat" not in rr.stdout:
            raise Fail("replay of the dump made after the full disk: %s" % rr.stderr.strip())
        if "dumps are written again" not in open(run.agent_log).read()[log0:]:
            raise Fail("the agent did not say dumps work again")
    finally:
        subprocess.run(["umount", run.dumps])
        run.mounts.remove(run.dumps)


def t_restart(run, env):
    """SIGKILL: nothing of the agent stays in the kernel; a new agent
    watches the programs again."""
    want = {env["pids"][k] for k in ("a", "b", "c", "d")}
    ids = agent_bpf_ids(run.agent.pid)
    if not ids["prog"] or not ids["link"]:
        raise Fail("the agent holds no BPF program or link: %s" % ids)
    busy_log = env["logs"]["d"]
    run.agent.kill()
    run.agent.wait()
    t_kill = time.monotonic()

    def gone():
        host = host_bpf_ids()
        left = {k: ids[k] & host[k] for k in ids}
        return None if any(left.values()) else True
    wait_for(gone, 5, "the killed agent's programs, links and maps released")
    time.sleep(1)
    # the programs run on: the busy one keeps its 10 spins a second
    spins = [e for e in read_log(busy_log) if e["ev"] == "busy" and e["t"] > t_kill]
    if len(spins) < 5:
        raise Fail("the busy program logged %d spins in the second after the kill" % len(spins))
    for pid in want:
        if not os.path.exists("/proc/%d" % pid):
            raise Fail("pid %d died with the agent" % pid)
    run.start_agent()          # the stale socket is still there
    wait_for(lambda: want <= run.status_pids(), 10, "the programs watched by the new agent")
    sel = {"pid": env["pids"]["d"]}
    b0 = sum(v for n, lab, v in scrape(run.port) if n == "aps_loop_busy_seconds_total"
             and lab.get("pid") == str(sel["pid"]))
    time.sleep(1.5)
    b1 = sum(v for n, lab, v in scrape(run.port) if n == "aps_loop_busy_seconds_total"
             and lab.get("pid") == str(sel["pid"]))
    if not b1 > b0:
        raise Fail("the new agent's loop busy time of the busy program: %g then %g" % (b0, b1))


TESTS = [
    ("discover", t_discover),
    ("discover-late", t_discover_late),
    ("history", t_history),
    ("ps", t_ps),
    ("pstree", t_pstree),
    ("check", t_check),
    ("dump-request", t_dump_request),
    ("dump-sigusr1", t_dump_sigusr1),
    ("dump-exit", t_dump_exit),
    ("stall", t_stall),
    ("dump-rotate", t_dump_rotate),
    ("socket-root", t_socket_root),
    ("metrics-escape", t_metrics_escape),
    ("prometheus", t_prometheus),
    ("exec-fork", t_exec_fork),
    ("churn", t_churn),
    ("lost", t_lost),
    ("dump-full", t_dump_full),
    ("restart", t_restart),
]


def main():
    global VERBOSE
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", action="append", default=[])
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.v
    if os.geteuid() != 0:
        print("test_agent: run as root", file=sys.stderr)
        return 2
    selected = [(n, f) for n, f in TESTS if not args.k or any(k in n for k in args.k)]
    argvs = bed()
    run = Run()
    env = {"argv": argvs, "pids": {}, "logs": {}}
    passed = failed = 0
    t_start = time.time()
    try:
        # two programs before the agent (old tasks), one after it
        for key, argv, comm in (("a", argvs[1], None), ("b", argvs[0], HOSTILE_COMM)):
            p, log = run.start_prog(argv, "serve", key, comm)
            env["pids"][key], env["logs"][key] = p.pid, log
            run.wait_ready(log, p)
        p, log = run.start_prog(argvs[1], "plain", "plain")
        env["pids"]["plain"], env["logs"]["plain"] = p.pid, log
        run.wait_ready(log, p)
        time.sleep(0.5)
        env["agent_t0"] = time.monotonic()
        run.start_agent()
        run.start_prometheus()
        wait_for(lambda: {env["pids"]["a"], env["pids"]["b"]} <= run.status_pids(), 10,
                 "the agent watching the first two programs")
        env["watched_t0"] = time.monotonic()
        p, log = run.start_prog(argvs[2], "serve", "c")
        env["pids"]["c"], env["logs"]["c"] = p.pid, log
        run.wait_ready(log, p)
        p, log = run.start_prog(argvs[1], "busy", "d")
        env["pids"]["d"], env["logs"]["d"] = p.pid, log
        run.wait_ready(log, p)
        for name, fn in selected:
            t0 = time.time()
            try:
                fn(run, env)
                print("PASS %s (%.1f s)" % (name, time.time() - t0), flush=True)
                passed += 1
            except Fail as e:
                print("FAIL %s: %s" % (name, e), flush=True)
                failed += 1
    finally:
        run.stop()
        if failed or VERBOSE:
            print("agent log:\n" + open(run.agent_log).read()[-3000:], flush=True)
        if not failed:
            shutil.rmtree(run.dir, ignore_errors=True)
        else:
            print("kept %s" % run.dir)
    print("wall time %.1f s" % (time.time() - t_start))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
