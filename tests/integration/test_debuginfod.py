#!/usr/bin/env python3
"""aps-bpf with debug files from a real debuginfod server.  Run as root from
the repo root:

    python3 tests/integration/test_debuginfod.py [-k SUBSTR]... [-v]

A `debuginfod` (Debian package debuginfod) on a free port, reached as
http://127.0.0.1:PORT, indexes the sid root's /usr/lib/debug.  The targets
run in a private mount namespace with a tmpfs over their root's
/usr/lib/debug (no local debug file), and aps-bpf gets DEBUGINFOD_URLS and
a private DEBUGINFOD_CACHE_PATH.

Tests (names; -k selects by substring):
  debuginfod-fetch@sid-3.14       aps-bpf fetches the _asyncio debug file by
                                  build-id, says which server answered, stores
                                  it in the cache, every hook comes from it,
                                  and the trace passes every check
  debuginfod-cache@sid-3.14       again: the cached file is used (no server
                                  needed: the server is not asked)
  debuginfod-no-flag@sid-3.14     --no-debuginfod: the server is not asked,
                                  symbol-free mode traces
  debuginfod-not-there@debian-3.11  the server lacks that build-id: a clear
                                  message, then symbol-free mode traces
  debuginfod-down@sid-3.14        the server stopped, empty cache: a clear
                                  "could not reach any debuginfod server: URL
                                  (unreachable: Connection refused)", then
                                  symbol-free mode traces correctly
  debuginfod-doctor@sid-3.14      `aps-bpf doctor` names the server and the
                                  hooks' source "debuginfod"

Output: `PASS name` / `FAIL name: reason` lines, then `N passed, N failed`;
exit status 1 if any failed.  Reuses tests/integration/run.py.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402
from run import APS, Fail, Proc, Scenario, tail  # noqa: E402

HOOKS = ["task_step_impl", "_asyncio_Task___init__", "TaskObj_dealloc", "swap_current_task"]
SERVER_START_TIMEOUT = 180


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A debuginfod serving the files under debug_dir, in its own temp dir."""

    def __init__(self, debug_dir, tmp):
        self.debug_dir = debug_dir
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(tmp, "debuginfod.log")
        self.p = None

    def start(self, wait_build_id):
        if not shutil.which("debuginfod"):
            raise Fail("no debuginfod binary (apt-get install debuginfod; tests/testbed.sh)")
        self.log = open(self.log_path, "ab")
        self.p = subprocess.Popen(
            ["debuginfod", "-F", "-p", str(self.port), "-d", os.path.join(self.tmp, "db.sqlite"),
             "-t", "0", "-g", "0", "-v", self.debug_dir],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # ready once the scan has indexed the file we need
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        url = f"{self.url}/buildid/{wait_build_id}/debuginfo"
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise Fail(f"debuginfod exited {self.p.returncode}", self.logtail())
            try:
                # debuginfod answers GET only
                with urllib.request.urlopen(url, timeout=10) as r:
                    if r.status == 200 and r.read(4) == b"\x7fELF":
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise Fail(f"debuginfod did not serve {wait_build_id} within {SERVER_START_TIMEOUT}s",
                   self.logtail())

    def requests_for(self, build_id):
        """How many requests for build_id the server logged (ours: the
        readiness probe counts too, so compare before/after)."""
        with open(self.log_path, "rb") as f:
            text = f.read().decode(errors="replace")
        return len(re.findall(r"/buildid/%s/debuginfo" % build_id, text))

    def logtail(self):
        try:
            with open(self.log_path, "rb") as f:
                return tail(f.read().decode(errors="replace"), 20)
        except OSError:
            return ""

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p = None


def hide_debug(bed):
    d = bed.host_path("/usr/lib/debug")
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'd="$1"; shift; mount -t tmpfs aps-nodebug "$d" && exec "$@"', "sh", d]


def module_build_id(bed):
    return run.build_id(bed.host_path(bed.asyncio_module()))


class Ctx(run.Ctx):
    def __init__(self, verbose):
        super().__init__(verbose)
        self.server = None
        self.cache = os.path.join(self.workdir, "cache")

    def env(self, urls=None, cache=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEBUGINFOD_")}
        if urls:
            env["DEBUGINFOD_URLS"] = urls
        env["DEBUGINFOD_CACHE_PATH"] = cache or self.cache
        env["DEBUGINFOD_TIMEOUT"] = "10"
        return env


def trace(ctx, bed, tag, env, extra=()):
    """Trace basic.py on bed (debug files hidden) with env; (stderr, events path)."""
    bed.probe()
    gt_inside, gt_host = bed.gt_path(ctx.workdir, tag)
    out_path = os.path.join(ctx.workdir, tag + ".jsonl")
    sc = Scenario(bed, "basic", gt_inside, wrap=hide_debug(bed))
    tr = None
    try:
        pid = sc.read_ready()
        with open(out_path, "wb") as out:
            tr = Proc([APS, "trace", "--json"] + list(extra) + [str(pid)], stdout=out, env=env,
                      watch="aps-bpf: attached")
            if not tr.wait_for_line(run.ATTACH_TIMEOUT):
                raise Fail(f"aps-bpf did not attach (exit {tr.p.poll()}): {tail(tr.stderr, 3)}",
                           tail(tr.stderr))
            sc.go()
            sc.finish()
            run.wait_tracer_exit(tr)
    finally:
        sc.stop()
        if tr:
            tr.stop()
    ctx.keep(out_path)
    run.check_trace(out_path, run.load_gt(gt_host))
    return tr.stderr


def check_sources(err, source, hooks):
    for h in hooks:
        if not re.search(r"aps-bpf:\s+%s\s+0x[0-9a-f]+ \(%s\)" % (re.escape(h), re.escape(source)),
                         err):
            raise Fail(f"{h} not reported from {source}: {tail(err, 8)!r}", err)


def hooks_of(bed):
    """The hooks the debug file gives: the optional cancel hook too."""
    return (HOOKS if bed.version >= (3, 12) else HOOKS[:3]) + ["_asyncio_Task_cancel"]


def t_fetch(ctx, bed):
    bid = module_build_id(bed)
    err = trace(ctx, bed, "dbgd-fetch", ctx.env(ctx.server.url))
    want = r"debuginfod: fetched the debug file of build-id %s from %s \(cached at (\S+)\)" % (
        bid, re.escape(ctx.server.url))
    m = re.search(want, err)
    if not m:
        raise Fail(f"no 'fetched ... from {ctx.server.url}' line: {tail(err, 8)!r}", err)
    cached = m.group(1)
    if not cached.startswith(ctx.cache) or not os.path.isfile(cached):
        raise Fail(f"the debug file is not in the cache {ctx.cache}: {cached}", err)
    if run.build_id(cached) != bid:
        raise Fail(f"cached file {cached} has another build-id", err)
    check_sources(err, "debuginfod", hooks_of(bed))
    if ctx.server.requests_for(bid) < 1:
        raise Fail("the server logged no request for the build-id", ctx.server.logtail())


def t_cache(ctx, bed):
    bid = module_build_id(bed)
    before = ctx.server.requests_for(bid)
    err = trace(ctx, bed, "dbgd-cache", ctx.env(ctx.server.url))
    if not re.search(r"debuginfod: debug file of build-id %s found in the debuginfod cache: %s"
                     % (bid, re.escape(ctx.cache)), err):
        raise Fail(f"the cached file was not used: {tail(err, 8)!r}", err)
    check_sources(err, "debuginfod", hooks_of(bed))
    if ctx.server.requests_for(bid) != before:
        raise Fail("the server was asked again despite the cache", ctx.server.logtail())


def t_no_flag(ctx, bed):
    bid = module_build_id(bed)
    before = ctx.server.requests_for(bid)
    cache = os.path.join(ctx.workdir, "cache-noflag")
    err = trace(ctx, bed, "dbgd-noflag", ctx.env(ctx.server.url, cache), ["--no-debuginfod"])
    if "debuginfod:" in err:
        raise Fail(f"--no-debuginfod still used debuginfod: {tail(err, 8)!r}", err)
    check_sources(err, "symbol-free", hooks_of(bed))
    if ctx.server.requests_for(bid) != before or os.path.exists(os.path.join(cache, bid)):
        raise Fail("the server was asked despite --no-debuginfod", ctx.server.logtail())


def t_not_there(ctx, bed):
    bid = module_build_id(bed)
    cache = os.path.join(ctx.workdir, "cache-notthere")
    err = trace(ctx, bed, "dbgd-notthere", ctx.env(ctx.server.url, cache))
    if not re.search(r"debuginfod: no debuginfod server has build-id %s \(asked: %s \(reachable\)\)"
                     % (bid, re.escape(ctx.server.url)), err):
        raise Fail(f"no 'no server has build-id' message: {tail(err, 8)!r}", err)
    check_sources(err, "symbol-free", hooks_of(bed))


def t_down(ctx, bed):
    url = ctx.server.url
    ctx.server.stop()
    cache = os.path.join(ctx.workdir, "cache-down")
    err = trace(ctx, bed, "dbgd-down", ctx.env(url, cache))
    if not re.search(r"debuginfod: could not reach any debuginfod server: %s "
                     r"\(unreachable: Connection refused\)" % re.escape(url), err):
        raise Fail(f"no 'could not reach' message: {tail(err, 8)!r}", err)
    if not re.search(r"hook functions found symbol-free", err):
        raise Fail(f"no note about symbol-free mode: {tail(err, 8)!r}", err)
    check_sources(err, "symbol-free", hooks_of(bed))


def t_doctor(ctx, bed):
    bed.probe()
    bid = module_build_id(bed)
    gt_inside, _ = bed.gt_path(ctx.workdir, "dbgd-doctor")
    sc = Scenario(bed, "basic", gt_inside, wrap=hide_debug(bed))
    try:
        pid = sc.read_ready()
        r = subprocess.run([APS, "doctor", str(pid)], capture_output=True, text=True,
                           timeout=60, env=ctx.env(ctx.server.url), cwd=run.REPO)
    finally:
        sc.stop()
    out = r.stdout
    if r.returncode != 0:
        raise Fail(f"doctor exited {r.returncode}: {tail(out + r.stderr, 3)!r}", out + r.stderr)
    if not re.search(r"^  debuginfod: .*build-id %s" % bid, out, re.M):
        raise Fail("doctor does not report the debuginfod lookup", out)
    for h in hooks_of(bed):
        if not re.search(r"^  %s +0x[0-9a-f]+ +debuginfod " % re.escape(h), out, re.M):
            raise Fail(f"doctor does not report {h} from debuginfod", out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTR")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("test_debuginfod.py: must run as root", file=sys.stderr)
    beds = run.load_bed([], ap)
    sid = next((b for b in beds if b.chrooted and b.version >= (3, 14)), None)
    deb = run.bed_with(beds, (3, 11), system=True)
    ctx = Ctx(args.v)
    tests = []
    if sid:
        tests += [(f"debuginfod-fetch@{sid.label}", t_fetch, (sid,)),
                  (f"debuginfod-cache@{sid.label}", t_cache, (sid,)),
                  (f"debuginfod-doctor@{sid.label}", t_doctor, (sid,)),
                  (f"debuginfod-no-flag@{sid.label}", t_no_flag, (sid,))]
    if deb:
        tests.append((f"debuginfod-not-there@{deb.label}", t_not_there, (deb,)))
    if sid:
        tests.append((f"debuginfod-down@{sid.label}", t_down, (sid,)))   # stops the server: last
    tests = [t for t in tests if not args.k or any(k in t[0] for k in args.k)]
    passed = failed = 0
    if not sid:
        print("FAIL debuginfod: no sid 3.14 bed (its root's debug files are what the server serves)")
        failed += 1
    try:
        if sid and tests:
            ctx.server = Server(sid.host_path("/usr/lib/debug"), tempfile.mkdtemp(
                prefix="aps-debuginfod-"))
            try:
                ctx.server.start(module_build_id(sid))
            except Fail as f:
                for name, _, _ in tests:
                    print(f"FAIL {name}: {f}", flush=True)
                    failed += 1
                tests = []
        p, f = run.run_tests(ctx, tests, args.v)
        passed += p
        failed += f
    finally:
        if ctx.server:
            ctx.server.stop()
            shutil.rmtree(ctx.server.tmp, ignore_errors=True)
    return run.finish(ctx, beds, passed, failed, args.v)


if __name__ == "__main__":
    sys.exit(main())
