#!/usr/bin/env bash
# The handover testbed: root, network namespaces, documentation address ranges.
#
#   handover-testbed.sh up            namespaces, links, GPRS emulator, then the MSM and the MCM
#   handover-testbed.sh down          remove everything (idempotent; kills what runs inside)
#   handover-testbed.sh status        what exists, MSM and MCM status
#   handover-testbed.sh wlan 108|109|none   move the terminal's WLAN interface
#   handover-testbed.sh wwan up|down  GPRS coverage on/off (carrier of the terminal's wwan0)
#   handover-testbed.sh mcm-restart [LOG]  stop the MCM and start it again (same config)
#   handover-testbed.sh nat-remap     (HO_WLAN109_NAT=1) WLAN 109's NAT maps to a new public
#                                     address and port range and forgets its mappings
#   handover-testbed.sh wlan-loss 108|109 PCT   drop PCT % of what crosses that WLAN's access
#                                     point (nft numgen; 0 removes the rule; no netem here)
#
# Topology (namespaces prefixed with $HO_TB, default "msmho"):
#
#  [mobile] lo 192.0.2.10 (home)        [radio] GPRS emulator          [ggsn] gn0 192.0.2.126/25
#     wwan0 (no address) ----------- r-mob <-> r-ggsn ------------------- (home pool on-link)
#     wlan0 (CoA by "DHCP")            384/96 kbit/s, 150 ms             eth0 192.0.2.130/29
#     mip0 TUN (MCM tunnel)                                                  |
#       |                                                            wwan0 [core: MSM, DPDK af_packet]
#       +-- wlan0 <-> ap0 of [wlan108] 203.0.113.1/26   up0 10.108.0.2 -+    IPmsm-gprs 192.0.2.129
#                     or of [wlan109] 203.0.113.65/26   up0 10.109.0.2 -+    IPmsm-wlan 198.51.100.1
#                                                                       |  inet0
#  [srv] 203.0.113.130/26 ------ srv0 .129 [inet] router 198.51.100.2 --+--'
#
# The MSM runs dpdk-config/testbed.toml (no preloaded bindings), the MCM
# dpdk-config/mcm-testbed.toml. Work files (configs, logs, sockets, journal) go to
# $HO_TB_WORK (default /tmp/$HO_TB). `up` returns when both answer on their sockets.
# HO_MCM_LIFETIME sets the MCM's requested lifetime (default 60 s); GPRS_DOWN_KBIT,
# GPRS_UP_KBIT and GPRS_DELAY_MS shape the GPRS link.
#
# HO_WLAN109_NAT=1 puts WLAN 109 behind a NAT (RFC 3519 testbed): its access network is
# private (ap0 192.168.109.1/24, the terminal gets 192.168.109.74, which the MCM's
# default private_prefixes take as "behind a NAT"), and the wlan109 namespace translates
# it (nftables snat, table ip honat) to 203.0.113.66 ports 10000-19999; `nat-remap`
# switches to 203.0.113.67 ports 20000-29999 and flushes the conntrack table (netlink,
# no conntrack tool needed), so the terminal's next packet gets a new public mapping.
# HO_CLUSTER=1 runs two MSMs in hot standby (docs/cluster.md): a 3-member etcd in the core
# namespace (tests/e2e/etcd3.sh, client ports HO_ETCD_PORT.., default 32679), the MSM above
# as member msm-a (it wins the shard) and msm-b (socket $W/msm-b.sock) on the same veths;
# HO_LEASE_TTL_MS (default 1000). `down` kills them with everything in the namespaces.
# HO_MCM_QUALITY=1 turns on the MCM's own judgement of WLAN quality (probes every 0.5 s,
# a window of 8, leave at 60 % lost, hold-down 60 s).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
P=${HO_TB:-msmho}
W=${HO_TB_WORK:-/tmp/$P}
MSM=${MSM_BIN:-$ROOT/target/release/msm}
MCM=${MCM_BIN:-$ROOT/target/release/mcm}
NSS="core ggsn radio mobile inet srv wlan108 wlan109"
GPRS_DOWN_KBIT=${GPRS_DOWN_KBIT:-384}
GPRS_UP_KBIT=${GPRS_UP_KBIT:-96}
GPRS_DELAY_MS=${GPRS_DELAY_MS:-150}
NAT109=${HO_WLAN109_NAT:-0}

nsx() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }

quiet_ns() { # no IPv6 chatter, no reverse-path filtering (tunnels are asymmetric)
  nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
  nsx "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  nsx "$1" ip link set lo up
}

veth() { # nsA devA nsB devB
  ip link add "$2" netns "$P-$1" type veth peer name "$4" netns "$P-$3"
  for x in "$1 $2" "$3 $4"; do
    set -- $x
    nsx "$1" sysctl -qw "net.ipv4.conf.$2.rp_filter=0" 2>/dev/null || true
    nsx "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
    nsx "$1" ip link set "$2" up
  done
}

wait_for() { # seconds command...: poll until the command succeeds
  local t=$1; shift
  for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

net_up() {
  for ns in $NSS; do ip netns add "$P-$ns"; quiet_ns "$ns"; done
  for ns in ggsn inet wlan108 wlan109; do nsx $ns sysctl -qw net.ipv4.ip_forward=1; done

  veth core wwan0 ggsn eth0
  veth core inet0 inet eth0
  veth ggsn gn0 radio r-ggsn
  veth radio r-mob mobile wwan0
  veth inet srv0 srv eth0
  veth inet w108 wlan108 up0
  veth inet w109 wlan109 up0
  veth mobile wlan0 wlan108 ap0
  nsx core ip link set wwan0 address 02:00:00:00:01:01
  nsx core ip link set inet0 address 02:00:00:00:01:02

  # GGSN: the home pool on its mobile side, the MSM behind it.
  nsx ggsn ip addr add 192.0.2.130/29 dev eth0
  nsx ggsn ip addr add 192.0.2.126/25 dev gn0
  nsx ggsn ip route add default via 192.0.2.129
  # Radio: a userspace GPRS link (no netem in this kernel): rate, delay, drop-tail queue.
  nsx radio /usr/bin/python3 -u "$ROOT/scripts/gprs_link.py" r-ggsn r-mob --down-kbit "$GPRS_DOWN_KBIT" \
    --up-kbit "$GPRS_UP_KBIT" --delay-ms "$GPRS_DELAY_MS" --stats "$W/gprs.json" >"$W/gprs.log" 2>&1 &
  wait_for 5 grep -q ready "$W/gprs.log" || { echo "GPRS emulator did not start: $(cat "$W/gprs.log")" >&2; return 1; }

  # The terminal: home address on lo (stays across moves), WWAN default route.
  nsx mobile ip addr add 192.0.2.10/32 dev lo
  nsx mobile ip route add default via 192.0.2.126 dev wwan0 onlink src 192.0.2.10

  # Internet: router, application server, two WLAN access networks.
  nsx inet ip addr add 198.51.100.2/24 dev eth0
  nsx inet ip addr add 203.0.113.129/26 dev srv0
  nsx inet ip addr add 10.108.0.1/30 dev w108
  nsx inet ip addr add 10.109.0.1/30 dev w109
  nsx inet ip route add 192.0.2.0/25 via 198.51.100.1
  nsx inet ip route add 203.0.113.0/26 via 10.108.0.2
  nsx inet ip route add 203.0.113.64/26 via 10.109.0.2
  nsx srv ip addr add 203.0.113.130/26 dev eth0
  nsx srv ip route add default via 203.0.113.129
  nsx wlan108 ip addr add 10.108.0.2/30 dev up0
  nsx wlan108 ip route add default via 10.108.0.1
  nsx wlan109 ip addr add 10.109.0.2/30 dev up0
  nsx wlan109 ip route add default via 10.109.0.1
  nsx wlan108 ip link set ap0 down   # no WLAN yet (the terminal's wlan0 has no carrier): `wlan 108` attaches it
  if [ "$NAT109" = 1 ]; then
    # The NAT's public addresses (local, so stale mappings end here, answered by ICMP).
    nsx wlan109 ip addr add 203.0.113.66/32 dev up0
    nsx wlan109 ip addr add 203.0.113.67/32 dev up0
    nat_rule 203.0.113.66 10000-19999
  fi
}

nat_rule() { # ADDR PORTS: WLAN 109's source NAT of its private access network
  nsx wlan109 nft delete table ip honat 2>/dev/null || true
  nsx wlan109 nft -f - <<EOF
table ip honat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "up0" ip saddr 192.168.109.0/24 meta l4proto { tcp, udp } counter snat to $1:$2
    oifname "up0" ip saddr 192.168.109.0/24 counter snat to $1
  }
}
EOF
}

ct_flush() { # the conntrack table of a namespace (IPCTNL_MSG_CT_DELETE without a tuple)
  nsx "$1" /usr/bin/python3 - <<'PY'
import socket, struct
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
body = struct.pack("=BBH", socket.AF_INET, 0, 0)           # nfgenmsg: family, version 0, res_id
s.send(struct.pack("=LHHLL", 16 + len(body), (1 << 8) | 2, 1 | 4, 1, 0) + body)
err = struct.unpack("=i", s.recv(4096)[16:20])[0]          # NLMSG_ERROR: 0 is the ack
raise SystemExit(f"conntrack flush: errno {-err}" if err else 0)
PY
}

wlan_loss() { # 108|109 PCT
  nsx "wlan$1" nft delete table ip hoshape 2>/dev/null || true
  [ "$2" = 0 ] && return 0
  nsx "wlan$1" nft -f - <<EOF
table ip hoshape {
  chain shape {
    type filter hook forward priority 0; policy accept;
    iifname "ap0" numgen random mod 100 < $2 counter drop
    oifname "ap0" numgen random mod 100 < $2 counter drop
  }
}
EOF
}

nat_remap() {
  [ "$NAT109" = 1 ] || { echo "nat-remap: the testbed runs without HO_WLAN109_NAT=1" >&2; return 2; }
  nat_rule 203.0.113.67 20000-29999
  ct_flush wlan109
}

msm_config() { # name (msm, msm-b) file-prefix state-dir
  sed -e "s|/run/msm-testbed.sock|$W/$1.sock|" -e "s|\"msmtb\"|\"$2\"|" \
      -e "s|^preload = .*|# no preload: the MCM registers|" \
      -e "s|subscribers = \"testbed-subscribers.txt\"|subscribers = \"$ROOT/dpdk-config/testbed-subscribers.txt\"|" \
      -e "s|state_dir = \"/var/lib/msm-testbed\"|state_dir = \"$3\"|" \
      "$ROOT/dpdk-config/testbed.toml" >"$W/$1.toml"
}

msm_start() { # name
  ip netns exec "$P-core" "$MSM" run --config "$W/$1.toml" >"$W/$1.log" 2>&1 &
  echo $! >"$W/$1.pid"
  wait_for 60 "$MSM" ctl --socket "$W/$1.sock" ping || { echo "MSM $1 did not start:" >&2; tail -20 "$W/$1.log" >&2; return 1; }
}

apps_up() {
  # The MSM: the testbed config with this testbed's socket, state and no preload.
  msm_config msm "$P" "$W/state"
  if [ "${HO_CLUSTER:-0}" = 1 ]; then
    # Hot standby (docs/cluster.md): a 3-member etcd in the core namespace, msm (member
    # msm-a) and msm-b on the same veths, msm-a started first so that it owns the shard.
    # shellcheck source=../tests/e2e/etcd3.sh
    source "$ROOT/tests/e2e/etcd3.sh"
    ETCD_NETNS=$P-core etcd3_up "$W/etcd" "${HO_ETCD_PORT:-32679}" || return 1
    local eps; eps=$(echo "$ETCD_ENDPOINTS" | sed 's/[^,]*/"&"/g')
    msm_config msm-b "${P}b" "$W/state-b"
    sed -i '/^metrics_listen/d' "$W/msm-b.toml"  # the port is msm-a's
    printf '\n[cluster]\nendpoints = [%s]\nmember = "msm-a"\nlease_ttl_ms = %s\n' "$eps" "${HO_LEASE_TTL_MS:-1000}" >>"$W/msm.toml"
    printf '\n[cluster]\nendpoints = [%s]\nmember = "msm-b"\nlease_ttl_ms = %s\n' "$eps" "${HO_LEASE_TTL_MS:-1000}" >>"$W/msm-b.toml"
    msm_start msm || return 1
    wait_for 15 sh -c "'$MSM' ctl --socket '$W/msm.sock' stats | grep -q '\"role\": *\"active\"'" ||
      { echo "msm-a did not win the shard" >&2; return 1; }
    msm_start msm-b || return 1
  else
    msm_start msm || return 1
  fi
  sed -e "s|/run/mcm-testbed.sock|$W/mcm.sock|" -e "s|^lifetime_s = .*|lifetime_s = ${HO_MCM_LIFETIME:-60}|" \
    "$ROOT/dpdk-config/mcm-testbed.toml" >"$W/mcm.toml"
  if [ "${HO_MCM_QUALITY:-0}" = 1 ]; then
    sed -i 's/^probe_interval_ms = .*/probe_interval_ms = 500/' "$W/mcm.toml"
    printf '%s\n' "quality = true" "quality_window = 8" "quality_poor_loss_pct = 60" \
      "quality_good_loss_pct = 10" "quality_hold_ms = 60000" >>"$W/mcm.toml"
  fi
  mcm_start "$W/mcm.log"
}

mcm_start() { # log file
  ip netns exec "$P-mobile" "$MCM" run --config "$W/mcm.toml" >"$1" 2>&1 &
  echo $! >"$W/mcm.pid"
  wait_for 10 "$MCM" ctl --socket "$W/mcm.sock" status || { echo "MCM did not start:" >&2; tail -20 "$1" >&2; return 1; }
}

mcm_stop() {
  local pid; pid=$(cat "$W/mcm.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$W/mcm.pid"
}

# The terminal's WLAN interface: detach (carrier lost, lease gone), attach to
# another access network (carrier, then an address as DHCP would give it).
wlan() {
  local cur=""
  for n in 108 109; do nsx wlan$n ip link show ap0 >/dev/null 2>&1 && cur=$n; done
  [ -n "$cur" ] || { echo "wlan: ap0 not found" >&2; return 1; }
  nsx wlan$cur ip link set ap0 down
  nsx mobile ip addr flush dev wlan0
  [ "$1" = none ] && return 0
  if [ "$1" != "$cur" ]; then
    nsx wlan$cur ip link set ap0 netns "$P-wlan$1"
    nsx wlan$1 sysctl -qw net.ipv4.conf.ap0.rp_filter=0
  fi
  local gw coa len=26
  case $1 in
    108) gw=203.0.113.1 coa=203.0.113.10 ;;
    109) gw=203.0.113.65 coa=203.0.113.74 ;;
    *) echo "wlan: 108, 109 or none" >&2; return 2 ;;
  esac
  if [ "$1" = 109 ] && [ "$NAT109" = 1 ]; then gw=192.168.109.1 coa=192.168.109.74 len=24; fi
  nsx wlan$1 ip addr flush dev ap0
  nsx wlan$1 ip addr add $gw/$len dev ap0
  nsx wlan$1 ip link set ap0 up
  nsx mobile ip link set wlan0 up
  wait_for 5 sh -c "ip netns exec $P-mobile ip link show wlan0 | grep -q LOWER_UP"
  nsx mobile ip addr add $coa/$len dev wlan0
  nsx mobile ip route replace default via $gw dev wlan0 metric 600
}

wwan() { # GPRS coverage: the radio side's carrier
  case $1 in
    up) nsx radio ip link set r-mob up ;;
    down) nsx radio ip link set r-mob down ;;
    *) echo "wwan: up|down" >&2; return 2 ;;
  esac
}

down() {
  for pidf in "$W/mcm.pid" "$W/msm.pid" "$W/msm-b.pid"; do
    [ -f "$pidf" ] && kill -TERM "$(cat "$pidf")" 2>/dev/null || true
  done
  sleep 0.5
  for ns in $NSS; do
    if ip netns pids "$P-$ns" >/dev/null 2>&1; then
      for pid in $(ip netns pids "$P-$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$P-$ns" 2>/dev/null || true
    fi
  done
  rm -f "$W/mcm.pid" "$W/msm.pid" "$W/msm-b.pid" /dev/shm/*"$P"* 2>/dev/null || true
}

status() {
  ip netns list | grep "^$P-" || { echo "testbed $P: no namespaces"; return 0; }
  [ -S "$W/msm.sock" ] && "$MSM" ctl --socket "$W/msm.sock" show 192.0.2.10 || true
  [ -S "$W/mcm.sock" ] && "$MCM" ctl --socket "$W/mcm.sock" status || true
}

case "${1:-}" in
  up)
    [ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
    [ -x "$MSM" ] && [ -x "$MCM" ] || { echo "build first: cargo build --release -p msm -p mcm" >&2; exit 1; }
    down
    mkdir -p "$W"
    trap 'echo "testbed: setup failed, removing it" >&2; down' ERR
    net_up
    apps_up
    trap - ERR
    echo "testbed $P up (work files in $W)" ;;
  down) down; echo "testbed $P down" ;;
  status) status ;;
  wlan) wlan "${2:?108|109|none}" ;;
  wwan) wwan "${2:?up|down}" ;;
  mcm-restart) mcm_stop; mcm_start "${2:-$W/mcm.log}" ;;
  nat-remap) nat_remap ;;
  wlan-loss) wlan_loss "${2:?108|109}" "${3:?percent}" ;;
  *) echo "usage: $0 up|down|status|wlan 108|109|none|wwan up|down|mcm-restart|nat-remap" >&2; exit 2 ;;
esac
