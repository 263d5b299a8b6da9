#!/usr/bin/env bash
# Replicated durability benchmark (issue 11): records/s durable on the local journal AND a
# 3-member etcd on 127.0.0.1, and latency from a group's begin to durable (p50/p99), for a
# few group sizes and groups in flight; the baseline (local journal alone) in the same run.
# Uses examples/clusterbench.rs (the MSM's ReplicatedLog and etcd thread, no DPDK, no
# registrar: the decision cost is regbench's). Prints a markdown table on stdout.
#   perf/cluster.sh [SECONDS_PER_RUN]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/target/release/examples/clusterbench
S=${1:-5}
WORK=$(mktemp -d /tmp/msm-clusterbench.XXXXXX)
source "$ROOT/tests/e2e/etcd3.sh"
trap 'etcd3_down; rm -rf "$WORK"' EXIT
[ -x "$BENCH" ] || (cd "$ROOT" && cargo build --release --example clusterbench) || exit 1
etcd3_up "$WORK/etcd" "${CLUSTER_ETCD_PORT:-32479}" || exit 1
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "etcd: $(etcd --version | head -1); 3 members, --heartbeat-interval 50 --election-timeout 500, data in $WORK (filesystem: $(df --output=fstype "$WORK" | tail -1))"
echo
echo "| mode | group | in flight | records/s | groups/s | p50 ms | p99 ms | etcd txns | failed |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
run() { # mode group inflight
  local n="r$RANDOM" extra=()
  [ "$1" = local ] && extra=(--local-only)
  "$BENCH" --endpoints "$ETCD_ENDPOINTS" --member "$n" --shard "$n" --state "$WORK/$n" \
    --seconds "$S" --group "$2" --inflight "$3" --homes 1000000 "${extra[@]}" >"$WORK/$n.json" 2>/dev/null
  /usr/bin/python3 - "$1" "$WORK/$n.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[2]))
s = d["serving_s"] or 1
print(f"| {sys.argv[1]} | {d['group']} | {d['inflight']} | {d['records_per_s']:.0f} | {d['groups_durable']/s:.0f} | "
      f"{d['latency_ms_p50']:.1f} | {d['latency_ms_p99']:.1f} | {d['etcd_txns'] if sys.argv[1] != 'local' else '-'} | {d['groups_failed']} |")
PY
}
for cfg in "256 8" "1024 8" "4096 4" "4096 8"; do
  set -- $cfg
  run local "$1" "$2"
  run etcd "$1" "$2"
done
echo
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
