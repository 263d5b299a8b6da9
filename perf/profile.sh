#!/usr/bin/env bash
# Profile the MSM worker under load and draw a flamegraph.
#
#   perf/profile.sh [--size N] [--workload downlink|uplink] [--stages] [--out DIR] [-- extra msm-bench args]
#
# Runs msm-bench (release, default features: the production worker code) for one
# workload, downlink (or --workload uplink) at N bindings (default 1000000), with `--profile`: msm-bench
# samples its own process with `perf record -e cpu-clock --call-graph dwarf` for 3 s
# of the measurement window (its only busy thread is the worker on lcore 1; this VM
# has no PMU, so timer sampling). Then:
#   perf script | inferno-collapse-perf  -> DIR/flamegraph-downlink-<size>-<date>.folded
#   inferno-flamegraph                   -> DIR/flamegraph-downlink-<size>-<date>.svg
#   a summary of where the worker's samples go (innermost matching function group)
#                                        -> DIR/flamegraph-downlink-<size>-<date>.txt
# With --stages it also builds msm-bench with `--features stage-cycles` (same target
# dir: cargo rebuilds msm and msm-bench, about 40 s, and again for the next default
# build) and runs the same workload once more, appending the worker's per-stage TSC
# tick table to the .txt.
#
# DIR defaults to perf/results. inferno is installed with `cargo install inferno
# --root $INFERNO_ROOT` (default ~/.local/share/msm-tools) if it is not on PATH.
# Needs root (DPDK EAL) and perf. About 1 min (2 with --stages),
# plus up to WAIT_QUIET (default 20) s waiting for idle CPUs. How to read the output:
# perf/README.md, "Profiling: flamegraphs and stage counters".
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
INFERNO_ROOT=${INFERNO_ROOT:-$HOME/.local/share/msm-tools}
WAIT_QUIET=${WAIT_QUIET:-20}

size=1000000
traffic=downlink
stages=0
out=perf/results
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --stages) stages=1; shift ;;
    --workload) traffic=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n "2,24p" "$0" | sed "s/^# \{0,1\}//"; exit 0 ;;
    *) echo "profile.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$size" in ''|*[!0-9]*|0) echo "profile.sh: --size needs a positive integer" >&2; exit 2 ;; esac
case "$traffic" in downlink|uplink) ;; *) echo "profile.sh: --workload is downlink or uplink" >&2; exit 2 ;; esac

command -v perf >/dev/null || { echo "profile.sh: perf not found (apt-get install linux-perf)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "profile.sh: needs root (DPDK EAL, perf -p)" >&2; exit 1; }

export PATH="$INFERNO_ROOT/bin:$PATH"
if ! command -v inferno-flamegraph >/dev/null || ! command -v inferno-collapse-perf >/dev/null; then
  echo "profile.sh: installing inferno into $INFERNO_ROOT"
  $CARGO install --locked inferno --root "$INFERNO_ROOT"
fi

# msm-bench's label of a table size (report::size_label).
if [ $((size % 1000000)) = 0 ]; then label="$((size / 1000000))M"
elif [ $((size % 1000)) = 0 ]; then label="$((size / 1000))K"
else label="$size"; fi
workload="$traffic-$label"
stem="$out/flamegraph-$workload-$(date -u +%F)"
tmp="perf/results/tmp/profile-$workload"
mkdir -p "$out" "$tmp"
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || rev="$rev+dirty"

bench_args=(--no-testpmd --sizes "$size" --warmup-ms 500 --window-ms 3000 --sample-ms 500
            --wait-quiet "$WAIT_QUIET")

$CARGO build --release -p msm-bench
# Later msm-bench versions run more by default (frame sizes, mix, latency, storm,
# scaling, churn): keep to the one workload, with whichever of these flags it has.
# (--sizes 0 makes the probe stop at argument validation, before EAL.)
probe() {
  local out
  out=$(target/release/msm-bench "$@" --sizes 0 --wait-quiet 0 2>&1 || true)
  ! grep -q '^error:' <<<"$out"
}
help=$(target/release/msm-bench --help)
for f in --no-mix --no-storm; do grep -q -- "$f" <<<"$help" && bench_args+=("$f"); done
grep -q -- --frame-sizes <<<"$help" && bench_args+=(--frame-sizes 64)
grep -q -- --churn-rounds <<<"$help" && bench_args+=(--churn-rounds 0)
grep -q -- --max-workers <<<"$help" && bench_args+=(--max-workers 1)
if grep -q -- --latency-loads <<<"$help" && probe --latency-loads=; then
  bench_args+=(--latency-loads=)
fi
echo "profile.sh: msm-bench, $workload, perf record (3 s of the window)"
target/release/msm-bench "${bench_args[@]}" --profile "$tmp" --profile-traffic "$traffic" \
  --out-md "$tmp/bench.md" --invocation "perf/profile.sh" "${extra[@]}" 2>&1 | tee "$tmp/bench.log"
data="$tmp/profile-$workload.perf.data"
[ -s "$data" ] || { echo "profile.sh: no $data (perf record failed?)" >&2; exit 1; }

echo "profile.sh: perf script | inferno-collapse-perf"
# Inline frames are resolved (perf's default here) so that the pipeline's inlined
# functions (lookup, encapsulate, checksum) appear as frames of their own.
perf script -i "$data" 2>/dev/null | inferno-collapse-perf > "$stem.folded"
[ -s "$stem.folded" ] || { echo "profile.sh: no stacks in $data" >&2; exit 1; }

title="MSM worker: $workload (msm-bench on net_null, perf cpu-clock, dwarf)"
inferno-flamegraph --title "$title" \
  --subtitle "$(date -u +'%F %H:%M UTC') rev $rev; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
  --countname samples < "$stem.folded" > "$stem.svg"

# Where the worker thread's samples go: each stack is charged to the innermost frame
# that matches a group (so groups add up to 100 %).
{
  echo "# $title"
  echo "# $(date -u +'%F %H:%M:%S UTC'), rev $rev, perf/profile.sh --size $size"
  echo "# msm-bench line of the profiled run (the last attempt: each attempt overwrites perf.data):"
  grep -E "profile-$workload " "$tmp/bench.log" | tail -1 | sed "s/^/#   /" || true
  /usr/bin/env python3 perf/flamegroups.py "$stem.folded"
} > "$stem.txt"

if [ "$stages" = 1 ]; then
  echo "profile.sh: stage counters (msm-bench --features stage-cycles)"
  $CARGO build --release -p msm-bench --features stage-cycles
  target/release/msm-bench "${bench_args[@]}" --out-md "$tmp/bench-stages.md" \
    --invocation "perf/profile.sh --stages" "${extra[@]}" 2>&1 | tee "$tmp/bench-stages.log"
  {
    echo
    echo "# Stage counters (same workload, build with --features stage-cycles):"
    echo "# (one table per attempt; each is followed by its msm-bench line: trust those whose"
    echo "# 'cpu lost' is small and whose 'interrupted' row is near zero)"
    sed -E -n "/: $workload: worker stage cycles/,/^msm-bench: $workload +[0-9]/p" "$tmp/bench-stages.log" \
      | sed 's/^msm-bench: //'
  } >> "$stem.txt"
fi

cat "$stem.txt"
echo "profile.sh: wrote $stem.svg $stem.folded $stem.txt (perf.data in $tmp)"
