#!/usr/bin/env bash
# End-to-end test of NAT traversal (RFC 3519, PROTOCOL.md section 3) on the namespace
# testbed (root).
#
# A mobile (home 192.0.2.11, subscriber 491700000011) sits in its own namespace behind a
# NAT namespace (nftables masquerade) that hangs off the testbed's Internet router:
#
#   [mob] eth0 192.0.2.197/29 --- lan0 192.0.2.193/29 [nat: masquerade] pub0 203.0.113.50
#                                                                            |
#                                                  [inet] nat0 (route 203.0.113.50/32)
#
# (192.0.2.192/29 stands for the private network: outside the home pool, documentation
# range.) Checks, with the MSM's counters, user-space senders/receivers at the ends
# (mipclient.py) and captures decoded by tshark as evidence:
#   a path-3 request from behind the NAT without the UDP Tunnel Request extension: 134;
#   with it: code 0 and the UDP Tunnel Reply extension (code 0, a keepalive); the binding
#   names the NAT's address and port; downlink (ping from the Internet) arrives at the
#   mobile UDP-encapsulated from MSM:434 (type 4, next header 4, inner echo request),
#   translated back by the NAT; uplink tunnel data from the registered port reaches the
#   correspondent as the inner packet; tunnel data from another port is dropped and
#   counted (nat_uplink_spoofed) and does not reach it; next header 47 is counted;
#   tshark decodes the Request/Reply extensions and the tunnel data.
# Cleans up its namespaces, nft table and processes on every exit path. Run it, as the
# other e2e scripts, under `flock /tmp/msm-e2e.lock`.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MSM=${MSM_BIN:-$ROOT/target/release/msm}
export MSM_TB=${MSM_TB:-msmnat}
P=$MSM_TB
WORK=$(mktemp -d /tmp/msm-nat-e2e.XXXXXX)
SOCK=$WORK/msm.sock
# shellcheck source=tests/e2e/common.sh
. "$ROOT/tests/e2e/common.sh"

NAT_PUB=203.0.113.50 MOB=192.0.2.197 NAT_LAN=192.0.2.193
HOME11=192.0.2.11 KEY11=1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100
MSM_WLAN=198.51.100.1 CORR=198.51.100.2 SPORT=43434 BADPORT=43435

cleanup() {
  if [ -n "${MSM_E2E_KEEP:-}" ]; then mkdir -p "$MSM_E2E_KEEP"; cp "$WORK"/*.pcap "$WORK"/*.log "$MSM_E2E_KEEP"/ 2>/dev/null; fi
  for ns in "$P-mob" "$P-nat"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    # (the nft table lives in the NAT namespace: gone with it)
    ip netns exec "$ns" nft delete table ip "$P" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  e2e_cleanup
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "e2e: needs root" >&2; exit 1; }
[ -x "$MSM" ] || { echo "e2e: $MSM not built" >&2; exit 1; }

MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" up || exit 1

# --- the NAT and the mobile behind it ---------------------------------------------------
nat_up() {
  local ns
  for ns in nat mob; do
    ip netns add "$P-$ns" || return 1
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    nsx "$ns" ip link set lo up
  done
  ip link add nat0 netns "$P-inet" type veth peer name pub0 netns "$P-nat" || return 1
  ip link add lan0 netns "$P-nat" type veth peer name eth0 netns "$P-mob" || return 1
  nsx inet ip link set nat0 up
  nsx nat ip link set pub0 up
  nsx nat ip link set lan0 up
  nsx mob ip link set eth0 up
  for d in "inet nat0" "nat pub0" "nat lan0" "mob eth0"; do
    # shellcheck disable=SC2086
    set -- $d
    nsx "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1
  done
  nsx inet ip route add "$NAT_PUB/32" dev nat0
  nsx nat ip addr add "$NAT_PUB/32" dev pub0
  nsx nat ip route add 203.0.113.1/32 dev pub0
  nsx nat ip route add default via 203.0.113.1 dev pub0 onlink
  nsx nat ip addr add "$NAT_LAN/29" dev lan0
  nsx nat sysctl -qw net.ipv4.ip_forward=1
  nsx nat nft -f - <<EOF || return 1
table ip $P {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "pub0" masquerade
  }
}
EOF
  nsx mob ip addr add "$MOB/29" dev eth0
  nsx mob ip route add default via "$NAT_LAN"
  nsx mob ip addr add "$HOME11/32" dev lo
}
(set -e; nat_up) >"$WORK/nat.log" 2>&1
if [ $? != 0 ]; then
  echo "e2e: NAT namespace setup failed:"; cat "$WORK/nat.log"; exit 1
fi

e2e_subscribers "$WORK/subs.txt" 0
e2e_config "$WORK/subs.txt" "$WORK/state"
# Captures: in the mobile's namespace (what the NAT hands it), and at the router's end of
# the MSM's Internet link.
CAPS=
for c in "mob eth0" "inet eth0"; do
  # shellcheck disable=SC2086
  set -- $c
  ip netns exec "$P-$1" tcpdump -i "$2" -w "$WORK/$1.pcap" -U -s 512 >/dev/null 2>&1 &
  CAPS="$CAPS $!"
done
sleep 1
start_msm
check "msm starts and answers on its control socket" ctl ping
if [ "$FAIL" != 0 ]; then
  echo "--- msm log"; cat "$WORK/msm.log"; echo "e2e: $PASS passed, $FAIL failed"; exit 1
fi
check "next hops resolved by ARP" wait_resolved
check "the NAT reaches IPmsm-wlan (echo, masqueraded)" nsx mob ping -c 2 -W 2 -i 0.2 "$MSM_WLAN"

reg11() { # sport [extra...]: path 3 from behind the NAT, care-of = the private address
  local sport=$1; shift
  mip mob register --src "$MOB" --sport "$sport" --dst "$MSM_WLAN" --home "$HOME11" \
    --ha 192.0.2.129 --coa "$MOB" --lifetime 300 --msisdn 491700000011 --spi 256 --key $KEY11 "$@"
}
check "NATed path 3 without the UDP Tunnel Request: 134, no Reply extension" \
  reg11 43000 --expect 134 --expect-udp-tunnel -1
check "NATed path 3 with the UDP Tunnel Request: 0 with the UDP Tunnel Reply (code 0)" \
  reg11 $SPORT --udp-tunnel --expect 0 --expect-udp-tunnel 0
keepalive_ok() { grep -q '"keepalive": [1-9]' "$WORK/out.reg"; }
reg11 $SPORT --udp-tunnel --expect 0 --expect-udp-tunnel 0 >"$WORK/out.reg" 2>&1
check "the Reply's keepalive interval is non-zero" keepalive_ok
bound() {
  ctl show "$HOME11" >"$WORK/show.json"; cat "$WORK/show.json"
  grep -q "\"care_of\":\"$NAT_PUB\"" "$WORK/show.json" && grep -q "\"udp_port\":$SPORT" "$WORK/show.json"
}
check "binding: the NAT's address and the (preserved) source port" bound

# --- downlink: ping from the Internet arrives UDP-tunnelled through the NAT -------------
d0=$(stat downlink_nat)
nsx mob /usr/bin/python3 "$ROOT/tests/e2e/mipclient.py" tunnel-recv --src "$MOB" --sport $SPORT \
  --peer "$MSM_WLAN" --inner-dst "$HOME11" --icmp-echo --timeout 8 >"$WORK/down.log" 2>&1 &
RECV=$!
for _ in $(seq 50); do grep -q listening "$WORK/down.log" && break; sleep 0.1; done
nsx inet ping -c 3 -W 1 -i 0.3 "$HOME11" >/dev/null 2>&1 # no echo reply: the mobile has no MCM
recv_ok() { wait "$RECV"; local rc=$?; cat "$WORK/down.log"; return $rc; }
check "downlink: tunnel data from MSM:434 (type 4, next header 4, echo to $HOME11) at the mobile" recv_ok
check "downlink went through the UDP tunnel (downlink_nat)" grew downlink_nat "$d0"

# --- uplink: tunnel data from the registered port reaches the correspondent -------------
corr() { # payload: the correspondent waits for it while the mobile sends it from PORT
  local payload=$1 port=$2 next=${3:-4}
  nsx inet /usr/bin/python3 "$ROOT/tests/e2e/mipclient.py" udp-recv --bind "$CORR" --port 5099 \
    --expect-from "$HOME11" --expect-payload "$payload" --timeout 3 >"$WORK/corr.log" 2>&1 &
  local c=$!
  for _ in $(seq 50); do grep -q listening "$WORK/corr.log" && break; sleep 0.1; done
  nsx mob /usr/bin/python3 "$ROOT/tests/e2e/mipclient.py" tunnel-send --src "$MOB" --sport "$port" \
    --dst "$MSM_WLAN" --inner-src "$HOME11" --inner-dst "$CORR" --dport 5099 \
    --payload "$payload" --next-header "$next"
  wait "$c"; local rc=$?
  cat "$WORK/corr.log"
  return $rc
}
not() { ! "$@"; }
u0=$(stat uplink_nat) s0=$(stat drop_nat_uplink_spoofed)
check "uplink: the correspondent receives the inner packet from $HOME11" corr "up-through-nat" $SPORT
check "uplink went through the UDP tunnel (uplink_nat)" grew uplink_nat "$u0"
check "tunnel data from another source port does not reach the correspondent" \
  not corr "spoofed-port" $BADPORT
check "... and is counted as nat_uplink_spoofed" grew drop_nat_uplink_spoofed "$s0"
h0=$(stat drop_nat_unknown_next_header)
check "tunnel data with next header 47 does not reach the correspondent" \
  not corr "gre-inside" $SPORT 47
check "... and is counted as nat_unknown_next_header" grew drop_nat_unknown_next_header "$h0"
check "the registration still works afterwards (re-registration)" \
  reg11 $SPORT --udp-tunnel --expect 0 --expect-udp-tunnel 0

# --- tshark: the Request/Reply extensions and the tunnel data, as the mobile saw them ---
sleep 1
for pid in $CAPS; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
fields() {
  tshark -r "$WORK/mob.pcap" -Y mip -T fields -E separator='|' -e mip.type \
    -e mip.ext.utrq.encaptype -e mip.ext.utrp.code -e mip.ext.utrp.keepalive \
    -e mip.nattt.nexthdr -e udp.srcport -e udp.dstport 2>/dev/null
}
fields >"$WORK/fields.txt"
has() { cat "$WORK/fields.txt"; grep -qE "$1" "$WORK/fields.txt"; }
check "tshark: a Request with the UDP Tunnel Request extension (encapsulation 4)" has '^1\|4\|'
check "tshark: a Reply with the UDP Tunnel Reply extension (code 0, keepalive)" has '^3\|\|0\|[1-9][0-9]*\|'
check "tshark: tunnel data type 4, next header 4, from 434 to the mobile's port" \
  has "^4\|\|\|\|4\|434\|$SPORT\$"
# (ICMP port unreachables quoting tunnel data are not ours to judge: excluded)
notmalformed() { ! tshark -r "$WORK/mob.pcap" -Y '_ws.malformed && !icmp' 2>/dev/null | grep -q .; }
check "tshark: nothing malformed in the mobile's capture" notmalformed

e2e_summary nat_e2e
