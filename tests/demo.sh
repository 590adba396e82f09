#!/usr/bin/env bash
# `make demo`: trace the bundled demo program (examples/demo.py) for 8 s.
# Needs only the apt packages, not the whole test bed. The demo is told to
# run 9 s (instead of its default 20 s): aps-bpf waits for the program it
# started, so this keeps `make demo` about as long as the trace.
set -euo pipefail
cd "$(dirname "$0")/.."

tests/testbed.sh --packages-only

py=
for c in /root/.pyenv/versions/3.12.1/bin/python3.12 /usr/bin/python3.11; do
	if [ -x "$c" ]; then
		py=$c
		break
	fi
done
if [ -z "$py" ]; then
	py=$(command -v python3) || { echo "demo: no python3 found" >&2; exit 1; }
fi
[ -x ./aps-bpf ] || { echo "demo: ./aps-bpf is not built: run make" >&2; exit 1; }

echo "demo: ./aps-bpf trace --duration 8 -- $py examples/demo.py 9" >&2
exec ./aps-bpf trace --duration 8 -- "$py" examples/demo.py 9
