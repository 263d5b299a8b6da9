#!/usr/bin/env bash
# The MSM's first data-plane benchmark (issue 2); `make bench` runs it.
#
# Builds msm-bench (release) and runs it: testpmd macswap baselines, then the
# MSM worker for downlink and uplink at 1K, 1M and 10M bindings (see
# perf/README.md). Writes perf/results/issue2-dataplane-<UTC date>.md and .json
# (the command that produced them is recorded inside). Extra arguments go to
# msm-bench (e.g. --sizes 1000,1000000 --window-ms 2000). Needs root (DPDK EAL),
# dpdk-testpmd; perf(1) optional (profiles of downlink at the smallest and
# largest size).
# Takes about two minutes on an idle 2-core machine; it waits for the CPUs to
# be idle first (other processes would share the worker's core).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}

$CARGO build --release -p msm-bench

out=perf/results
mkdir -p "$out/tmp"
stem="$out/issue2-dataplane-$(date -u +%F)"
args=(--out-md "$stem.md" --out-json "$stem.json")
if command -v perf >/dev/null 2>&1; then
  args+=(--profile "$out/tmp")
fi
target/release/msm-bench --invocation "perf/bench.sh${*:+ $*}" "${args[@]}" "$@"
echo "results: $stem.md $stem.json"
