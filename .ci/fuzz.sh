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
for t in $targets; do
	echo "--- fuzz $t ($fuzztime)"
	go test ./fuzz -run='^$' -fuzz="^${t}\$" -fuzztime="$fuzztime" -fuzzminimizetime="$minimize"
done
