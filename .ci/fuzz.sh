#!/usr/bin/env bash
# Runs every native fuzz target in ./fuzz for a short while (FUZZTIME,
# default 10s each), one after the other, and exits non-zero as soon as one
# fails. A failing input is written to fuzz/testdata/fuzz/<Target>/ by go
# test; commit it once fixed, so that it stays a regression seed.
#
# Minimising each new interesting input is capped (FUZZMINIMIZE, default
# 200 executions): Go's default of 60 seconds per input would spend a short
# run minimising rather than fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-10s}"
minimize="${FUZZMINIMIZE:-200x}"
targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' fuzz/*_test.go | sed 's/^func //' | sort)
if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz targets found in ./fuzz" >&2
	exit 1
fi
# Go's fuzzing engine can end a run with "context deadline exceeded" when
# its time is up while a worker is still busy with a new input (no input
# failed: nothing is written to testdata). Such a run is retried once; a
# run that writes a failing input fails at once.
for t in $targets; do
	for try in 1 2; do
		echo "--- fuzz $t ($fuzztime)"
		out=$(mktemp)
		if go test ./fuzz -run='^$' -fuzz="^${t}\$" -fuzztime="$fuzztime" -fuzzminimizetime="$minimize" 2>&1 | tee "$out"; then
			rm -f "$out"
			break
		fi
		if [ "$try" = 1 ] && grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
			rm -f "$out"
			echo "fuzz.sh: $t: the engine's deadline, not a failing input; running it again"
			continue
		fi
		rm -f "$out"
		exit 1
	done
done
