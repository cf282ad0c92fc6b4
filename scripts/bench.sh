#!/bin/sh
# Runs every benchmark binary in BUILD/bench (named bench_*), each on one
# core where taskset exists, and prints their results. Usage: bench.sh BUILD
set -eu
build=${1:-build}
found=0
for b in "$build"/bench/bench_*; do
	[ -x "$b" ] || continue
	found=1
	echo "== $(basename "$b")"
	if command -v taskset >/dev/null 2>&1; then
		taskset -c 0 "$b"
	else
		"$b"
	fi
done
[ "$found" = 1 ] || echo "bench: no benchmarks built yet"
