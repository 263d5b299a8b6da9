#!/usr/bin/env bash
# A 3-member etcd on 127.0.0.1 for the cluster tests and benchmark (source it).
#   etcd3_up DIR [BASE_PORT]  starts members m0..m2 (client BASE+10*i, peer BASE+10*i+1),
#                             data in DIR/m<i>, logs in DIR/m<i>.log; waits for health;
#                             sets ETCD_ENDPOINTS (comma list) and ETCD_PIDS.
#   etcd3_down                stops them (SIGKILL after 2 s).
#   etcd3_leader              prints the index (0..2) of the current Raft leader.
#   etcd3_kill I / etcd3_start I  SIGKILLs member I / starts it again on its data dir.
# Tuned for a 1-2 s lease: --heartbeat-interval 50 --election-timeout 500.
# ETCD_NETNS=NAME runs the members (and the health check) in that network namespace.
# ETCD_QUOTA_BYTES=N sets --quota-backend-bytes (unset: etcd's default, 2 GiB).
ETCD_PIDS=()
ETCD_ENDPOINTS=
ETCD_DIR= ETCD_BASE= ETCD_CLUSTER=
etcd3_start() { # i: starts member i (a new one, or again on its data dir)
  local i=$1 url="http://127.0.0.1:$((ETCD_BASE + 10 * $1))"
  mkdir -p "$ETCD_DIR/m$i" && chmod 700 "$ETCD_DIR/m$i"
  ${ETCD_NETNS:+ip netns exec "$ETCD_NETNS"} etcd --name "m$i" --data-dir "$ETCD_DIR/m$i" \
    --listen-client-urls "$url" --advertise-client-urls "$url" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_BASE + 10 * i + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_BASE + 10 * i + 1))" \
    --initial-cluster "$ETCD_CLUSTER" --initial-cluster-token "msm-e2e-$$" \
    --initial-cluster-state new --heartbeat-interval 50 --election-timeout 500 \
    ${ETCD_QUOTA_BYTES:+--quota-backend-bytes "$ETCD_QUOTA_BYTES"} \
    --logger zap --log-level warn >>"$ETCD_DIR/m$i.log" 2>&1 &
  ETCD_PIDS[$i]=$!
}
etcd3_healthy() {
  ETCDCTL_API=3 ${ETCD_NETNS:+ip netns exec "$ETCD_NETNS"} etcdctl --endpoints "$ETCD_ENDPOINTS" endpoint health >/dev/null 2>&1
}
etcd3_up() {
  local i urls=()
  ETCD_DIR=$1 ETCD_BASE=${2:-32379} ETCD_CLUSTER= ETCD_PIDS=()
  command -v etcd >/dev/null && command -v etcdctl >/dev/null || {
    echo "etcd3: etcd/etcdctl not installed (Debian etcd-server, etcd-client)" >&2; return 1; }
  for i in 0 1 2; do
    ETCD_CLUSTER+="${ETCD_CLUSTER:+,}m$i=http://127.0.0.1:$((ETCD_BASE + 10 * i + 1))"
    urls+=("http://127.0.0.1:$((ETCD_BASE + 10 * i))")
  done
  for i in 0 1 2; do etcd3_start "$i"; done
  ETCD_ENDPOINTS=$(IFS=,; echo "${urls[*]}")
  for _ in $(seq 100); do
    etcd3_healthy && return 0
    sleep 0.1
  done
  echo "etcd3: not healthy after 10 s" >&2; tail -5 "$ETCD_DIR"/m*.log >&2; return 1
}
etcd3_leader() {
  ETCDCTL_API=3 ${ETCD_NETNS:+ip netns exec "$ETCD_NETNS"} etcdctl --endpoints "$ETCD_ENDPOINTS" endpoint status -w json 2>/dev/null |
    /usr/bin/python3 -c "
import json, sys
for e in json.load(sys.stdin):
    if e['Status']['header']['member_id'] == e['Status']['leader']:
        print((int(e['Endpoint'].rsplit(':', 1)[1]) - $ETCD_BASE) // 10); break"
}
etcd3_kill() { kill -KILL "${ETCD_PIDS[$1]}" 2>/dev/null; wait "${ETCD_PIDS[$1]}" 2>/dev/null; true; }
etcd3_down() {
  local p
  for p in "${ETCD_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 20); do
    local alive=0
    for p in "${ETCD_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${ETCD_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  ETCD_PIDS=()
}
