#!/usr/bin/env bash
# End-to-end test of the MSM data plane on the namespace testbed (root).
#
# The MSM (DPDK, net_af_packet on veths) sits between a WWAN namespace (GGSN + mobile),
# an Internet namespace (router + server) and a WLAN namespace where the mobile's kernel
# stack sits behind the IP-in-IP endpoint. Checks, with the kernel's own ping/TCP at the
# ends and the MSM's counters as evidence:
#   ARP resolution and echo to the MSM's addresses; downlink through the tunnel and the
#   reverse tunnel back (ping + TCP with a sha256 of 2 MB); MSS clamping; the same
#   traffic by the WWAN after the care-of address is dropped; a spoofed reverse-tunnelled
#   packet dropped and counted; a 1500-byte DF packet answered with ICMP
#   fragmentation-needed (mtu 1480); a 1500-byte non-DF datagram fragmented and
#   delivered whole; TTL expiry answered with time-exceeded.
# Cleans up its namespaces and processes on every exit path.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MSM=${MSM_BIN:-$ROOT/target/release/msm}
export MSM_TB=${MSM_TB:-msme2e}
P=$MSM_TB
WORK=$(mktemp -d /tmp/msm-e2e.XXXXXX)
SOCK=$WORK/msm.sock
MSM_PID=
PASS=0 FAIL=0

cleanup() {
  if [ -n "${MSM_E2E_KEEP:-}" ]; then mkdir -p "$MSM_E2E_KEEP"; cp "$WORK"/*.pcap "$WORK"/*.log "$MSM_E2E_KEEP"/ 2>/dev/null; fi
  [ -n "$MSM_PID" ] && kill -TERM "$MSM_PID" 2>/dev/null && sleep 1
  [ -n "$MSM_PID" ] && kill -KILL "$MSM_PID" 2>/dev/null
  MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" down >/dev/null 2>&1
  rm -rf "$WORK" /dev/shm/*"$P"* 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }
ctl() { "$MSM" ctl --socket "$SOCK" "$@"; }
# Sum of a counter over workers (or a dotted path into the stats JSON).
stat() { ctl stats | /usr/bin/python3 -c "
import json,sys; d=json.load(sys.stdin); k='$1'
v=d['total'].get(k) if '.' not in k else None
if v is None:
    v=d
    for p in k.split('.'): v=v[int(p)] if isinstance(v,list) else v[p]
print(v)"; }
check() { # name command...
  local name=$1; shift
  if "$@" >"$WORK/out" 2>&1; then
    PASS=$((PASS + 1)); echo "PASS $name"
  else
    FAIL=$((FAIL + 1)); echo "FAIL $name"; sed 's/^/    /' "$WORK/out" | tail -20
  fi
}
grew() { # counter before: the counter grew
  local now; now=$(stat "$1") || return 1; echo "$1: $2 -> $now"; [ -n "$2" ] && [ "$now" -gt "$2" ]
}

[ "$(id -u)" = 0 ] || { echo "e2e: needs root" >&2; exit 1; }
[ -x "$MSM" ] || { echo "e2e: $MSM not built" >&2; exit 1; }

MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" up || exit 1
sed -e "s|/run/msm-testbed.sock|$SOCK|" -e "s|\"msmtb\"|\"$P\"|" \
    -e "s|preload = \"testbed-bindings.txt\"|preload = \"$ROOT/dpdk-config/testbed-bindings.txt\"|" \
    "$ROOT/dpdk-config/testbed.toml" >"$WORK/msm.toml"
# Captures on the MSM's two links: evidence of what crossed the wire (kept with MSM_E2E_KEEP=DIR).
for dev in wwan0 inet0; do
  nsx core tcpdump -i "$dev" -w "$WORK/$dev.pcap" -U -s 128 >/dev/null 2>&1 &
done
nsx core "$MSM" run --config "$WORK/msm.toml" >"$WORK/msm.log" 2>&1 &
MSM_PID=$!
for _ in $(seq 100); do ctl ping >/dev/null 2>&1 && break; sleep 0.2; done
check "msm starts and answers on its control socket" ctl ping
if [ "$FAIL" != 0 ]; then
  echo "--- msm log"; cat "$WORK/msm.log"; echo "e2e: $PASS passed, $FAIL failed"; exit 1
fi

resolved() { [ "$(stat neighbours_resolved)" = "$(stat neighbours_total)" ]; }
for _ in $(seq 50); do resolved 2>/dev/null && break; sleep 0.2; done
check "next hops resolved by ARP" resolved
check "echo to IPmsm-gprs from the GGSN" nsx wwan ping -c 2 -W 2 -i 0.2 192.0.2.129
check "echo to IPmsm-wlan from the Internet" nsx inet ping -c 2 -W 2 -i 0.2 198.51.100.1

# --- tunnel: binding 192.0.2.10 -> 203.0.113.10 preloaded -----------------------------
check "preloaded binding visible" bash -c "$MSM ctl --socket $SOCK show 192.0.2.10 | grep -q 203.0.113.10"
t0=$(stat downlink_tunnel) u0=$(stat uplink_tunnel)
check "ping home address through the tunnel" nsx inet ping -c 3 -W 2 -i 0.2 192.0.2.10
check "downlink went through the tunnel" grew downlink_tunnel "$t0"
check "uplink came back through the reverse tunnel" grew uplink_tunnel "$u0"

tcp() { # ns-of-server: 2 MB from the Internet to the home address, sha256 compared
  nsx "$1" /usr/bin/python3 "$ROOT/tests/e2e/tcpcheck.py" serve 192.0.2.10 5001 >"$WORK/srv.log" 2>&1 &
  local srv=$!
  for _ in $(seq 50); do grep -q listening "$WORK/srv.log" && break; sleep 0.1; done
  nsx inet timeout 90 /usr/bin/python3 "$ROOT/tests/e2e/tcpcheck.py" send 192.0.2.10 5001 2000000
  local rc=$?
  wait "$srv"
  return $rc
}
m0=$(stat mss_clamped) t0=$(stat downlink_tunnel)
check "TCP through the tunnel, 2 MB intact" tcp wlan
check "TCP went through the tunnel" grew downlink_tunnel "$t0"
check "SYN MSS clamped" grew mss_clamped "$m0"

# --- DF too big for the tunnel: ICMP fragmentation needed, mtu 1480 --------------------
f0=$(stat icmp_frag_needed_sent)
df_probe() { # ping exits 1 (no echo reply): judge by what it printed
  local out; out=$(nsx inet ping -M do -s 1472 -c 1 -W 2 192.0.2.10 2>&1); echo "$out"
  grep -q 'From 198.51.100.1 .*Frag needed and DF set (mtu = 1480)' <<<"$out"
}
check "1500-byte DF packet gets fragmentation-needed (mtu 1480)" df_probe
check "frag-needed counted" grew icmp_frag_needed_sent "$f0"

# --- not DF: fragmented, delivered whole ------------------------------------------------
fr0=$(stat fragmented)
bigudp() {
  nsx wlan timeout 10 /usr/bin/python3 -c "
import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('192.0.2.10', 6000)); s.settimeout(8)
d,_=s.recvfrom(65535); print(len(d)); assert d==bytes(range(256))*5+bytes(range(192)), 'payload differs'" >"$WORK/udp.out" 2>&1 &
  local rx=$!; sleep 0.5
  nsx inet /usr/bin/python3 -c "
import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT: no DF
s.sendto(bytes(range(256))*5+bytes(range(192)), ('192.0.2.10', 6000))"
  wait $rx; local rc=$?; cat "$WORK/udp.out"; return $rc
}
check "1500-byte non-DF datagram fragmented and delivered whole" bigudp
check "fragmentation counted" grew fragmented "$fr0"

# --- TTL expiry ---------------------------------------------------------------------------
ttl_probe() {
  local out; out=$(nsx inet ping -t 1 -c 1 -W 2 192.0.2.10 2>&1); echo "$out"
  grep -q 'From 198.51.100.1 .*Time to live exceeded' <<<"$out"
}
check "TTL 1 answered with time exceeded" ttl_probe

# --- spoofed reverse tunnel: dropped and counted ----------------------------------------
s0=$(stat drop_spoofed_tunnel)
spoof() {
  nsx wlan /usr/bin/python3 -c "
from scapy.all import IP, ICMP, send, conf
conf.verb = 0
# outer source 203.0.113.99 is not the care-of address bound to 192.0.2.10
send(IP(src='203.0.113.99', dst='198.51.100.1')/IP(src='192.0.2.10', dst='198.51.100.2')/ICMP(), count=3)"
  sleep 0.5
}
check "send spoofed reverse-tunnelled packets (scapy)" spoof
check "spoofed packets dropped and counted" grew drop_spoofed_tunnel "$s0"

# --- no care-of address: the same traffic by the WWAN ------------------------------------
check "drop the care-of address (admin)" ctl bind 192.0.2.10 - 491700000010
w0=$(stat downlink_wwan) uw0=$(stat uplink_wwan) t0=$(stat downlink_tunnel)
check "ping home address by the WWAN" nsx inet ping -c 3 -W 2 -i 0.2 192.0.2.10
check "TCP by the WWAN, 2 MB intact" tcp wwan
check "downlink went by the WWAN" grew downlink_wwan "$w0"
check "uplink came by the WWAN" grew uplink_wwan "$uw0"
notunnel() { local now; now=$(stat downlink_tunnel) || return 1; echo "downlink_tunnel: $t0 -> $now"; [ -n "$now" ] && [ "$now" -eq "$t0" ]; }
check "nothing went through the tunnel" notunnel

echo "--- msm stats at the end"; ctl stats | /usr/bin/python3 -c "
import json,sys; d=json.load(sys.stdin); print({k:v for k,v in d['total'].items() if v})"
echo "--- msm log (tail)"; tail -5 "$WORK/msm.log"
echo "e2e: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
