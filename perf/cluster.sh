#!/usr/bin/env bash
# Replicated durability benchmark (issue 11): records/s durable on the local journal AND a
# 3-member etcd on 127.0.0.1, and latency from a group's begin to durable (p50/p99), for a
# few group sizes and groups in flight; the baseline (local journal alone) in the same run.
# Uses examples/clusterbench.rs (the MSM's ReplicatedLog and etcd thread, no DPDK, no
# registrar: the decision cost is regbench's). Prints a markdown table on stdout.
#   perf/cluster.sh [SECONDS_PER_RUN]
#   perf/cluster.sh --catchup N[,N..]   catch-up of a new member instead: for each N, an
#       owner writes N bindings' worth of log (groups of 4096, the service's largest
#       batch, 8 in flight, through the MSM's ReplicatedLog), then a new member with a
#       fresh state directory reads the shard's whole log (no snapshot: not built) and
#       applies it to its local journal and RCU table; time to caught-up, records/s, RSS.
#       CATCHUP_COMPACT_BYTES=N: the new member's journal compaction threshold (default
#       the MSM's 64 MiB). etcd runs with --quota-backend-bytes 8 GiB (etcd's documented maximum; the 2 GiB
#       default would hold ~10M bindings with little to spare).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/target/release/examples/clusterbench
CATCHUP=
if [ "${1:-}" = --catchup ]; then
  CATCHUP=${2:?--catchup N[,N..]}
  export ETCD_QUOTA_BYTES=$((8 << 30))
  set --
fi
S=${1:-5}
WORK=$(mktemp -d /tmp/msm-clusterbench.XXXXXX)
source "$ROOT/tests/e2e/etcd3.sh"
trap 'etcd3_down; rm -rf "$WORK"' EXIT
[ -x "$BENCH" ] || (cd "$ROOT" && cargo build --release --example clusterbench) || exit 1
etcd3_up "$WORK/etcd" "${CLUSTER_ETCD_PORT:-32479}" || exit 1
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "etcd: $(etcd --version | head -1); 3 members, --heartbeat-interval 50 --election-timeout 500, data in $WORK (filesystem: $(df --output=fstype "$WORK" | tail -1))"
etcd_db() { # total backend size of the three members, MiB
  ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINTS" endpoint status -w json 2>/dev/null |
    /usr/bin/python3 -c "import json,sys; print(round(sum(e['Status']['dbSize'] for e in json.load(sys.stdin))/3/2**20))"
}
if [ -n "$CATCHUP" ]; then
  echo "etcd quota: --quota-backend-bytes $ETCD_QUOTA_BYTES"
  echo
  echo "| bindings | owner write s | owner records/s | log entries | etcd db MiB (per member) | catch-up s | first batch s | catch-up records/s | table bindings | table MiB | RSS peak MiB | local journal MiB | etcd errors |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for n in ${CATCHUP//,/ }; do
    sh="c$n-$RANDOM"
    t0=$(date +%s.%N)
    "$BENCH" --endpoints "$ETCD_ENDPOINTS" --member owner --shard "$sh" --state "$WORK/owner$n" \
      --group 4096 --inflight 8 --homes "$n" --records "$n" >"$WORK/owner$n.json" 2>"$WORK/owner$n.err" || {
      echo "owner for $n failed:"; tail -5 "$WORK/owner$n.err"; exit 1; }
    t1=$(date +%s.%N)
    rm -rf "$WORK/owner$n"
    last=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['last_seq'])" "$WORK/owner$n.json")
    db=$(etcd_db)
    "$BENCH" --catchup "$last" --endpoints "$ETCD_ENDPOINTS" --member new --shard "$sh" --state "$WORK/new$n" \
      --homes "$n" ${CATCHUP_COMPACT_BYTES:+--compact-bytes "$CATCHUP_COMPACT_BYTES"} >"$WORK/new$n.json" 2>"$WORK/new$n.err" || {
      echo "catch-up for $n failed:"; tail -5 "$WORK/new$n.err"; exit 1; }
    rm -rf "$WORK/new$n"
    grep -m5 -E "WARN|ERROR" "$WORK/new$n.err" | sed "s/^/catch-up $n: /" >&2
    /usr/bin/python3 - "$n" "$WORK/owner$n.json" "$WORK/new$n.json" "$t0" "$t1" "$db" <<'PY'
import json, sys
n, o, c = int(sys.argv[1]), json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
w = float(sys.argv[5]) - float(sys.argv[4])
M = 2**20
print(f"| {n} | {w:.1f} | {o['records_durable']/w:.0f} | {o['last_seq']} | {sys.argv[6]} | {c['caught_up_s']:.1f} | "
      f"{c['first_batch_s']:.2f} | {c['records_per_s']:.0f} | {c['table_bindings']} | {c['table_memory_bytes']/M:.0f} | "
      f"{c['rss_peak_kib']/1024:.0f} | {c['journal_bytes']/M:.0f} | {c['etcd_errors']} |")
print(json.dumps(c), file=sys.stderr)
PY
  done
  echo
  echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi
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
