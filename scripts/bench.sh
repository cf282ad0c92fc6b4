#!/bin/sh
# Runs every benchmark binary in BUILD/bench (named bench_*) and the
# components' own (BUILD/cloud-sync/bench_*), and prints their results.
# Single-thread benchmarks run pinned to one core where taskset exists, so
# they and their baselines see the same CPU; bench_sync measures a whole
# system (two brokers, the gateway and cloud processes) and runs unpinned.
# Usage: bench.sh BUILD. See docs/benchmarks.md.
set -eu
build=${1:-build}
found=0
for b in "$build"/bench/bench_* "$build"/cloud-sync/bench_*; do
	[ -x "$b" ] || continue
	found=1
	name=$(basename "$b")
	echo "== $name"
	if [ "$name" != bench_sync ] && command -v taskset >/dev/null 2>&1; then
		taskset -c 0 "$b"
	else
		"$b"
	fi
done
[ "$found" = 1 ] || echo "bench: no benchmarks built yet"
