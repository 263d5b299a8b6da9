#!/usr/bin/env bash
# Namespace testbed for the MSM data plane (root; documentation address ranges only).
#
#   testbed.sh up      create namespaces, veths, addresses, the mobile's IP-in-IP endpoint
#   testbed.sh down    remove everything this script created (idempotent)
#   testbed.sh status  list what exists
#
# Topology (namespace names are prefixed with $MSM_TB, default "msmtb"):
#
#   [wwan] eth0 192.0.2.130/29 ----- wwan0 [core: MSM, DPDK af_packet] inet0 ----- eth0 198.51.100.2/24 [inet]
#   GGSN; mobile 192.0.2.10 on lo       IPmsm-gprs 192.0.2.129                     router + server
#                                       IPmsm-wlan 198.51.100.1                    wl0 203.0.113.1/24
#                                                                                     |
#                                                            [wlan] eth0 203.0.113.10/24 (care-of address)
#                                                            mobile 192.0.2.10 behind TUN "mip0" served by
#                                                            `mcm tunnel` (remote 198.51.100.1),
#                                                            reverse-tunnelled by policy route
#                                                            "from 192.0.2.10 dev mip0"
#
# Home pool 192.0.2.0/25. The MSM's interfaces have no kernel addresses: DPDK owns them.
# Needs the MCM built (cargo build --release -p mcm; MCM_BIN overrides the path). The
# endpoint's log (readiness line, counters on exit) goes to $MSM_TB_LOG.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MCM=${MCM_BIN:-$ROOT/target/release/mcm}
P=${MSM_TB:-msmtb}
CORE=$P-core WWAN=$P-wwan INET=$P-inet WLAN=$P-wlan
HOME_ADDR=${MSM_TB_HOME:-192.0.2.10}
COA=203.0.113.10

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

offloads_off() { # ns dev
  nsx "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
}

quiet_ns() { # ns: no IPv6 chatter, no reverse-path filtering (tunnels are asymmetric)
  nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
  nsx "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  nsx "$1" ip link set lo up
}

veth() { # nsA devA nsB devB
  ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
  quiet_ns_dev "$1" "$2"
  quiet_ns_dev "$3" "$4"
}

quiet_ns_dev() {
  nsx "$1" sysctl -qw "net.ipv4.conf.$2.rp_filter=0" 2>/dev/null || true
  nsx "$1" ip link set "$2" up
  offloads_off "$1" "$2"
}

up() {
  [ -x "$MCM" ] || { echo "testbed: $MCM not built (cargo build --release -p mcm)" >&2; exit 1; }
  down quiet
  for ns in $CORE $WWAN $INET $WLAN; do
    ip netns add "$ns"
    quiet_ns "$ns"
  done
  veth "$CORE" wwan0 "$WWAN" eth0
  veth "$CORE" inet0 "$INET" eth0
  veth "$INET" wl0 "$WLAN" eth0
  # Fixed MACs make captures readable.
  nsx "$CORE" ip link set wwan0 address 02:00:00:00:01:01
  nsx "$CORE" ip link set inet0 address 02:00:00:00:01:02

  # WWAN side: the GGSN with the mobile behind it (home address on lo).
  nsx "$WWAN" ip addr add 192.0.2.130/29 dev eth0
  nsx "$WWAN" ip addr add "$HOME_ADDR/32" dev lo
  nsx "$WWAN" ip route add default via 192.0.2.129

  # Internet: router and application server.
  nsx "$INET" ip addr add 198.51.100.2/24 dev eth0
  nsx "$INET" ip addr add 203.0.113.1/24 dev wl0
  nsx "$INET" sysctl -qw net.ipv4.ip_forward=1
  nsx "$INET" ip route add 192.0.2.0/25 via 198.51.100.1

  # WLAN: the mobile with its care-of address and an IP-in-IP tunnel to the MSM.
  nsx "$WLAN" ip addr add "$COA/24" dev eth0
  nsx "$WLAN" ip route add default via 203.0.113.1
  nsx "$WLAN" ip addr add "$HOME_ADDR/32" dev lo
  # No CONFIG_NET_IPIP in this kernel: the tunnel device is a TUN served by the MCM's
  # endpoint alone (`mcm tunnel`: it creates mip0 with mtu 1480 and brings it up; raw
  # IPPROTO_IPIP socket, the kernel writes the outer header).
  local log=${MSM_TB_LOG:-/tmp/$P-ipip.log}
  nsx "$WLAN" "$MCM" tunnel --dev mip0 --mtu 1480 --local "$COA" --interface eth0 \
    --remote 198.51.100.1 --home "$HOME_ADDR" >"$log" 2>&1 &
  for _ in $(seq 50); do grep -q ready "$log" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$log" || { echo "ipip endpoint did not start: $(cat "$log")" >&2; exit 1; }
  nsx "$WLAN" sysctl -qw net.ipv4.conf.mip0.rp_filter=0
  nsx "$WLAN" ip rule add from "$HOME_ADDR" lookup 100 pref 100
  nsx "$WLAN" ip route add default dev mip0 src "$HOME_ADDR" table 100
}

down() {
  for ns in $CORE $WWAN $INET $WLAN; do
    if ip netns pids "$ns" >/dev/null 2>&1; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  [ "${1:-}" = quiet ] || echo "testbed $P down"
}

status() {
  ip netns list | grep "^$P-" || echo "testbed $P: no namespaces"
}

case "${1:-}" in
  up) up; echo "testbed $P up" ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
