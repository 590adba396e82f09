#!/usr/bin/env bash
# Run unit-test binaries (built from tests/unit/<folder>/test_<module>.c with unit.h), sum
# their `N passed, N failed` lines and print the total as the last line.
# A binary that exits non-zero without such a line (a crash, a sanitizer
# report) counts as 1 failed test. Exits 1 if any test failed.
#   usage: tests/unit/run.sh BINARY...
set -euo pipefail

passed=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for bin in "$@"; do
	echo "== $bin"
	set +e
	"$bin" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
	if [ -n "$line" ]; then
		read -r p _ f _ <<<"$line"
		passed=$((passed + p))
		failed=$((failed + f))
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "$bin: exited $rc although no test failed"
			failed=$((failed + 1))
		fi
	elif [ "$rc" -ne 0 ]; then
		echo "$bin: exited $rc without a result line: counted as 1 failed"
		failed=$((failed + 1))
	else
		echo "$bin: no result line (no tests?)"
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
