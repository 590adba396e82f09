#!/usr/bin/env python3
"""The kernel matrix: boot Debian's kernels under qemu (TCG) and run
tests/kernels/guest_check.py in each, and on the host kernel. Run as root
from the repo root (by `make test-kernels` and tests/run_all.py):

    python3 tests/kernels/run.py [--arch ARCH]... [-k SUBSTR]... [--no-host] [-j N]

The kernels are the rows of tests/kernels/kernels.tsv, the architectures
those of arches.tsv (how to boot them, which Pythons). Kernel packages are
fetched with a private apt configuration (fetch.sh) and, like the
initramfs of each architecture's Pythons (initramfs.sh base), cached in
$APS_KERNEL_CACHE (default /var/cache/aps-bpf/kernels); aps-bpf and tests/
go in a small second archive rebuilt every run. Each guest is one TCG
thread: -j of them (default 2) boot at once, the slowest (arm64) first, and
the host kernel's checks take the next free slot.

Output: `PASS kernels:KERNEL:PYTHON:CASE` / `FAIL ...: why` per case, a
`kernels: KERNEL booted ...` line with each boot's wall time, then
`N passed, N failed`. A guest that panics or times out fails every case it
did not report. Exit 1 if any failed.
"""
import argparse
import concurrent.futures
import fcntl
import functools
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("APS_KERNEL_CACHE", "/var/cache/aps-bpf/kernels")
MAKE_ARCH = {"amd64": "x86", "arm64": "arm64"}
KCHECK = re.compile(r"KCHECK (\S+) (\S+) (\S+) (PASS|FAIL)\s*(.*)")
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())

sys.path.insert(0, HERE)
from guest_check import CASES, Interp  # noqa: E402


def table(name):
    """The rows of a tab-separated table, as dicts by its `# a<TAB>b` header."""
    rows, header = [], None
    with open(os.path.join(HERE, name)) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# ") and "\t" in line:
                header = line[2:].split("\t")
            elif line and not line.startswith("#"):
                rows.append(dict(zip(header, line.split("\t"))))
    return rows


class Results:
    def __init__(self):
        self.passed = self.failed = 0
        self.lock = threading.Lock()

    def add(self, name, ok, why=""):
        with self.lock:
            self._add(name, ok, why)

    def _add(self, name, ok, why):
        if ok:
            self.passed += 1
            print(f"PASS kernels:{name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL kernels:{name}: {why}", flush=True)

    def parse(self, kernel, pythons, lines, why_missing):
        """Count KCHECK lines; a case never reported is a failure."""
        seen = set()
        for line in lines:
            m = KCHECK.search(line)
            if not m or m.group(1) != kernel:
                continue
            seen.add((m.group(2), m.group(3)))
            self.add(f"{kernel}:{m.group(2)}:{m.group(3)}", m.group(4) == "PASS", m.group(5))
        for py in pythons:
            for case in CASES:
                if (Interp(py).label, case) not in seen:
                    self.add(f"{kernel}:{Interp(py).label}:{case}", False, why_missing)


def build_base(arch):
    """The cached initramfs of an architecture's system and Pythons."""
    out = os.path.join(CACHE, f"base-{arch['arch']}.cpio")
    key = arch["base"] + " " + " ".join(
        f"{p}@{os.path.getmtime(p) if os.path.exists(p) else 0:.0f}" for p in arch["pythons"].split(","))
    script = os.path.join(REPO, arch["base"].split()[0])
    try:
        with open(out + ".key") as f:
            fresh = f.read() == key and os.path.getmtime(out) > os.path.getmtime(script)
    except OSError:
        fresh = False
    if not fresh:
        t0 = time.monotonic()
        subprocess.run(arch["base"].split() + [out] + arch["pythons"].split(","),
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        with open(out + ".key", "w") as f:
            f.write(key)
        print(f"kernels: built {out} in {time.monotonic() - t0:.0f}s", flush=True)
    return out


def boot(arch, k, root, res):
    vmlinuz = subprocess.run(["tests/kernels/fetch.sh", CACHE, k["arch"], k["mirror"], k["suite"],
                              k["package"], k["name"]], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout.split()[-1]
    pythons = arch["pythons"].split(",")
    mem = 1024 + 2 * os.path.getsize(root) // (1 << 20)
    argv = arch["qemu"].split() + [
        "-smp", "2", "-m", str(mem), "-nodefaults", "-display", "none", "-no-reboot",
        "-serial", "stdio", "-kernel", vmlinuz, "-initrd", root,
        "-append", f"console={arch['console']} panic=-1 quiet aps.kernel={k['name']} "
                   f"aps.pythons={arch['pythons']}"]
    t0 = time.monotonic()
    log = os.path.join(CACHE, f"console-{k['name']}.log")
    try:
        with open(log, "w") as f:
            rc = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                timeout=int(arch["timeout"])).returncode
        why = f"no result from the guest (qemu exit {rc}; console in {log})"
    except subprocess.TimeoutExpired:
        why = f"the guest did not finish within {arch['timeout']}s (console in {log})"
    secs = time.monotonic() - t0
    with open(log, errors="replace") as f:
        lines = f.read().splitlines()
    release = next((l.split()[2] for l in lines if l.startswith("KBOOT ")), "?")
    if any("Kernel panic" in l for l in lines):
        why = f"the guest panicked (console in {log})"
    res.parse(k["name"], pythons, lines, why)
    print(f"kernels: {k['name']} ({release}, {k['arch']}) booted and checked in {secs:.0f}s",
          flush=True)


def check_host(arches, res):
    t0 = time.monotonic()
    kname = "host-" + platform.release()
    pythons = arches[HOST_ARCH]["pythons"].split(",")
    out = subprocess.run([sys.executable, "tests/kernels/guest_check.py", "--kernel", kname]
                         + pythons, cwd=REPO, capture_output=True, text=True)
    res.parse(kname, pythons, out.stdout.splitlines(),
              f"guest_check.py exited {out.returncode}: {out.stderr[-300:]}")
    print(f"kernels: {kname} checked in {time.monotonic() - t0:.0f}s", flush=True)


def guest_jobs(args, arches, res):
    """Prepare each wanted architecture's root; the boots to run, slowest first."""
    jobs = []
    for name in args.arch or list(arches):
        arch = arches[name]
        kernels = [k for k in table("kernels.tsv") if k["arch"] == name
                   and (not args.k or any(s in k["name"] for s in args.k))]
        if not kernels:
            continue
        qemu = arch["qemu"].split()[0]
        if not shutil.which(qemu):
            for k in kernels:
                res.parse(k["name"], arch["pythons"].split(","), [],
                          f"{qemu} is not installed (tests/testbed.sh installs it)")
            continue
        if name != HOST_ARCH:   # a cross-built aps-bpf (make ARCH=arm64)
            subprocess.run(["make", "--no-print-directory", "-s", f"ARCH={MAKE_ARCH[name]}"],
                           cwd=REPO, check=True)
        base = build_base(arch)
        overlay, root = os.path.join(CACHE, f"overlay-{name}.cpio"), os.path.join(CACHE, f"root-{name}.cpio")
        subprocess.run(["tests/kernels/initramfs.sh", "overlay", overlay, arch["aps"]],
                       cwd=REPO, check=True)
        with open(root, "wb") as out:
            for part in (base, overlay):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        # emulated arm64 is the slowest: start it first
        jobs += [(name == HOST_ARCH, arch, k, root) for k in kernels]
    return [(arch, k, root) for _, arch, k, root in sorted(jobs, key=lambda j: j[0])]


def run_guest(arch, k, root, res):
    try:
        boot(arch, k, root, res)
    except subprocess.CalledProcessError as e:
        res.parse(k["name"], arch["pythons"].split(","), [],
                  f"cannot fetch the kernel: {(e.stderr or '').strip()[-300:]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", action="append", default=[])
    ap.add_argument("-k", action="append", default=[], help="kernel names containing SUBSTR")
    ap.add_argument("--no-host", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="guests booted at once (default: 2, or 1 on one CPU)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("kernels: needs root (BPF, and the cache in /var/cache)", file=sys.stderr)
        return 2
    os.makedirs(CACHE, exist_ok=True)
    # one matrix at a time: runs share the cache's files (and 2 cores)
    lock = open(os.path.join(CACHE, ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("kernels: waiting for another matrix run to finish", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    arches = {a["arch"]: a for a in table("arches.tsv")}
    res = Results()
    t_all = time.monotonic()
    jobs = [functools.partial(run_guest, arch, k, root, res)
            for arch, k, root in guest_jobs(args, arches, res)]
    if not args.no_host and HOST_ARCH in (args.arch or arches) and not args.k:
        jobs.append(functools.partial(check_host, arches, res))
    # each guest is one TCG thread: as many at once as there are cores
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for f in [pool.submit(job) for job in jobs]:
            f.result()
    print(f"kernels: the matrix took {time.monotonic() - t_all:.0f}s", flush=True)
    print(f"{res.passed} passed, {res.failed} failed", flush=True)
    return 1 if res.failed or not res.passed else 0


if __name__ == "__main__":
    sys.exit(main())
