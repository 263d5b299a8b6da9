#!/usr/bin/env bash
# Hot standby on etcd, end to end against a real 3-member etcd on 127.0.0.1 (no DPDK):
# two members (examples/clusterbench.rs: the MSM's ReplicatedLog, local journal and etcd
# thread, with a map as the table) on one shard.
# 1. Failover: A wins the shard and writes groups of binding changes (several in
#    flight), B follows as a standby; SIGKILL A at a random instant. B must take over,
#    and every change A got acknowledged (durable locally AND in etcd) must be in B's
#    view at the takeover (the same or a later care-of address for its home).
# 2. Zombie: B (now active) is SIGSTOPped past its lease; C (a new standby) takes over;
#    B gets SIGCONT: it must not get any later change acknowledged that C lacks, and it
#    must exit 75 (deposed, restart as a standby).
# etcd: tests/e2e/etcd3.sh (data in a temp dir, removed on exit, with every process).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${CLUSTERBENCH_BIN:-$ROOT/target/release/examples/clusterbench}
TTL_MS=${CLUSTER_TTL_MS:-1000}
WORK=$(mktemp -d /tmp/msm-cluster.XXXXXX)
PIDS=()
PASS=0 FAIL=0
source "$ROOT/tests/e2e/etcd3.sh"
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  etcd3_down
  [ -n "${MSM_E2E_KEEP:-}" ] && { mkdir -p "$MSM_E2E_KEEP"; cp -r "$WORK"/*.log "$WORK"/*.acked "$WORK"/*.dump "$MSM_E2E_KEEP"/ 2>/dev/null; }
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
check() { # name command...
  local name=$1; shift
  if "$@" >"$WORK/out" 2>&1; then
    PASS=$((PASS + 1)); echo "PASS $name"; sed 's/^/    /' "$WORK/out" | tail -4
  else
    FAIL=$((FAIL + 1)); echo "FAIL $name"; sed 's/^/    /' "$WORK/out" | tail -20
  fi
}
[ -x "$BENCH" ] || { echo "cluster e2e: $BENCH not built (cargo build --release --example clusterbench)" >&2; exit 1; }
etcd3_up "$WORK/etcd" "${CLUSTER_ETCD_PORT:-32379}" || exit 1

member() { # name seconds-of-serving extra-args...
  local n=$1 s=$2; shift 2
  "$BENCH" --endpoints "$ETCD_ENDPOINTS" --member "$n" --state "$WORK/$n.state" --ttl-ms "$TTL_MS" \
    --seconds "$s" --group 128 --inflight 8 --homes 5000 \
    --acked "$WORK/$n.acked" --dump "$WORK/$n.dump" "$@" >"$WORK/$n.out" 2>"$WORK/$n.log" &
  PIDS+=($!)
  echo $! >"$WORK/$n.pid"
}
wait_serving() { # name timeout_s
  for _ in $(seq $(($2 * 20))); do grep -q "serving after" "$WORK/$1.log" 2>/dev/null && return 0; sleep 0.05; done
  echo "$1 never served"; tail -5 "$WORK/$1.log"; return 1
}
# Every acknowledged change of $1 is in $2's view at its takeover (same or later care-of).
covered() {
  /usr/bin/python3 - "$WORK/$1.acked" "$WORK/$2.dump" <<'PY'
import sys
acked, view = {}, {}
for l in open(sys.argv[1]):
    h, c = map(int, l.split()); acked[h] = max(acked.get(h, 0), c)
for l in open(sys.argv[2]):
    h, c = map(int, l.split()); view[h] = c
missing = [(h, c, view.get(h)) for h, c in acked.items() if view.get(h, 0) < c]
print(f"{sum(1 for _ in open(sys.argv[1]))} acknowledged changes on {len(acked)} homes; the standby's view: {len(view)} homes")
if not acked:
    print("nothing was acknowledged: no test"); sys.exit(1)
if missing:
    print(f"{len(missing)} acknowledged changes missing, e.g. {missing[:5]}"); sys.exit(1)
PY
}

failover() {
  member a 60 && wait_serving a 10 || return 1
  member b 3 || return 1
  # Let B catch up and A write for a random 2-4 s, then SIGKILL A.
  sleep "$(/usr/bin/python3 -c 'import random; print(2 + 2 * random.random())')"
  local t_kill; t_kill=$(date +%s.%N)
  kill -KILL "$(cat "$WORK/a.pid")"
  wait_serving b $((TTL_MS / 1000 + 10)) || return 1
  local t_serv; t_serv=$(date +%s.%N)
  echo "B serving within $(/usr/bin/python3 -c "print(round($t_serv - $t_kill, 2))") s of the SIGKILL (lease TTL ${TTL_MS} ms; upper bound, polled)"
  covered a b
}
check "failover: SIGKILL of the active, every acknowledged change is in the standby's view" failover

zombie() {
  # B serves (after the failover) for 3 s more; C is a new standby.
  local bpid; bpid=$(cat "$WORK/b.pid")
  kill -0 "$bpid" 2>/dev/null || { echo "B is not running"; return 1; }
  member c 2 || return 1
  sleep 1
  kill -STOP "$bpid"
  local stopped_lines; stopped_lines=$(wc -l <"$WORK/b.acked")
  wait_serving c $((TTL_MS / 1000 + 10)) || { kill -CONT "$bpid"; return 1; }
  kill -CONT "$bpid"
  local rc=0
  for _ in $(seq 100); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.05; done
  wait "$bpid"; rc=$?
  echo "B after SIGCONT: exit $rc (75 = deposed); acked lines at SIGSTOP $stopped_lines, at exit $(wc -l <"$WORK/b.acked")"
  grep -h "deposed\|group failed" "$WORK/b.log" | head -3
  [ "$rc" = 75 ] || return 1
  covered b c
}
check "zombie: SIGSTOP of the active past its lease, SIGCONT after the takeover: deposed, no split brain" zombie

echo "--- C's summary"; cat "$WORK/c.out" 2>/dev/null
echo "cluster e2e: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
