#!/usr/bin/env bash
# Run a libFuzzer target a bounded number of times over the seed corpus.
# New inputs go to a scratch directory, never into the committed corpus.
# Last line: `1 passed, 0 failed` or `0 passed, 1 failed` (tests/run_all.py).
#   usage: tests/fuzz/run.sh BINARY RUNS CORPUS_DIR ARTIFACT_DIR
set -uo pipefail

bin=$1 runs=$2 corpus=$3 artifacts=$4
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"

echo "== $bin: $runs runs over $corpus"
"$bin" -runs="$runs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$artifacts/" "$scratch" "$corpus" 2>&1 | tail -n 25
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ]; then
	echo "PASS fuzz:$(basename "$bin")"
	echo "1 passed, 0 failed"
else
	echo "FAIL fuzz:$(basename "$bin"): exit $rc; the input is in $artifacts/"
	echo "0 passed, 1 failed"
	exit 1
fi
