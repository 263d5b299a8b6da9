#!/usr/bin/env bash
# A 3-member etcd on 127.0.0.1 for the cluster tests and benchmark (source it).
#   etcd3_up DIR [BASE_PORT]  starts members m0..m2 (client BASE+10*i, peer BASE+10*i+1),
#                             data in DIR/m<i>, logs in DIR/m<i>.log; waits for health;
#                             sets ETCD_ENDPOINTS (comma list) and ETCD_PIDS.
#   etcd3_down                stops them (SIGKILL after 2 s).
# Tuned for a 1-2 s lease: --heartbeat-interval 50 --election-timeout 500.
# ETCD_NETNS=NAME runs the members (and the health check) in that network namespace.
ETCD_PIDS=()
ETCD_ENDPOINTS=
etcd3_up() {
  local dir=$1 base=${2:-32379} i cluster="" urls=()
  command -v etcd >/dev/null && command -v etcdctl >/dev/null || {
    echo "etcd3: etcd/etcdctl not installed (Debian etcd-server, etcd-client)" >&2; return 1; }
  for i in 0 1 2; do
    cluster+="${cluster:+,}m$i=http://127.0.0.1:$((base + 10 * i + 1))"
    urls+=("http://127.0.0.1:$((base + 10 * i))")
  done
  for i in 0 1 2; do
    mkdir -p "$dir/m$i" && chmod 700 "$dir/m$i"
    ${ETCD_NETNS:+ip netns exec "$ETCD_NETNS"} etcd --name "m$i" --data-dir "$dir/m$i" \
      --listen-client-urls "${urls[$i]}" --advertise-client-urls "${urls[$i]}" \
      --listen-peer-urls "http://127.0.0.1:$((base + 10 * i + 1))" \
      --initial-advertise-peer-urls "http://127.0.0.1:$((base + 10 * i + 1))" \
      --initial-cluster "$cluster" --initial-cluster-token "msm-e2e-$$" \
      --initial-cluster-state new --heartbeat-interval 50 --election-timeout 500 \
      --logger zap --log-level warn >"$dir/m$i.log" 2>&1 &
    ETCD_PIDS+=($!)
  done
  ETCD_ENDPOINTS=$(IFS=,; echo "${urls[*]}")
  for _ in $(seq 100); do
    ETCDCTL_API=3 ${ETCD_NETNS:+ip netns exec "$ETCD_NETNS"} etcdctl --endpoints "$ETCD_ENDPOINTS" endpoint health >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "etcd3: not healthy after 10 s" >&2; tail -5 "$dir"/m*.log >&2; return 1
}
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
