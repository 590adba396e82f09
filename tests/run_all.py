#!/usr/bin/env python3
"""Run the whole aps-bpf test suite: `make unit`, then the integration tests.

Run by `make test` (after the bed is provisioned) as `python3 tests/run_all.py`.
Each sub-run's output is passed through; each ends with a line
`N passed, N failed`, which are summed. A sub-run that exits non-zero
without such a line counts as 1 failed test. The last line printed is the
total, in the same form. Exits 1 if any test failed or if no test ran.
Stdlib only.
"""
import os
import re
import subprocess
import sys

RESULT = re.compile(r"^(\d+) passed, (\d+) failed$")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(title, argv):
    """Run argv, pass its output through, return (passed, failed)."""
    print("==== %s: %s" % (title, " ".join(argv)), flush=True)
    result = None
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    for raw in proc.stdout:
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        m = RESULT.match(raw.decode("utf-8", "replace").strip())
        if m:
            result = (int(m.group(1)), int(m.group(2)))
    rc = proc.wait()
    if result is None:
        if rc != 0:
            print("==== %s: exited %d without a result line: counted as 1 failed"
                  % (title, rc), flush=True)
            return 0, 1
        print("==== %s: no result line: no tests ran" % title, flush=True)
        return 0, 0
    passed, failed = result
    if rc != 0 and failed == 0:
        print("==== %s: exited %d although no test failed: counted as 1 failed"
              % (title, rc), flush=True)
        failed = 1
    print("==== %s: %d passed, %d failed" % (title, passed, failed), flush=True)
    return passed, failed


def main():
    runs = [
        ("unit", ["make", "--no-print-directory", "unit"]),
        ("integration", [sys.executable, "tests/integration/run.py"]),
        ("symbol-free", [sys.executable, "tests/integration/test_symfree.py"]),
        ("debuginfod", [sys.executable, "tests/integration/test_debuginfod.py"]),
        ("views", [sys.executable, "tests/integration/test_views.py"]),
        ("timing", [sys.executable, "tests/integration/test_timing.py"]),
        ("record", [sys.executable, "tests/integration/test_record.py"]),
        ("loop", [sys.executable, "tests/integration/test_loop.py"]),
        ("agent", [sys.executable, "tests/integration/test_agent.py"]),
        ("profile", [sys.executable, "tests/integration/test_profile.py"]),
        ("cli", [sys.executable, "tests/integration/test_cli.py"]),
        ("procs", [sys.executable, "tests/integration/test_procs.py"]),
        ("fuzz", ["make", "--no-print-directory", "fuzz"]),
        ("kernels", [sys.executable, "tests/kernels/run.py"]),
    ]
    passed = failed = 0
    for title, argv in runs:
        p, f = run(title, argv)
        passed += p
        failed += f
    if passed + failed == 0:
        print("run_all: no tests ran", file=sys.stderr, flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed or passed + failed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
