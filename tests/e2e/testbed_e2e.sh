#!/usr/bin/env bash
# End-to-end test of the MSM data plane on the namespace testbed (root).
#
# The MSM (DPDK, net_af_packet on veths) sits between a WWAN namespace (GGSN + mobile),
# an Internet namespace (router + server) and a WLAN namespace where the mobile's kernel
# stack sits behind the MCM's IP-in-IP endpoint (`mcm tunnel`). Checks, with the kernel's
# own ping/TCP at the ends and the MSM's counters as evidence:
#   ARP resolution and echo to the MSM's addresses; downlink through the tunnel and the
#   reverse tunnel back (ping + TCP with a sha256 of 2 MB); MSS clamping; the same
#   traffic by the WWAN after the care-of address is dropped; a spoofed reverse-tunnelled
#   packet dropped and counted; a 1500-byte DF packet answered with ICMP
#   fragmentation-needed (mtu 1480); a 1500-byte non-DF datagram fragmented and
#   delivered whole; TTL expiry answered with time-exceeded; the endpoint's counters on
#   SIGTERM.
# Cleans up its namespaces and processes on every exit path.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MSM=${MSM_BIN:-$ROOT/target/release/msm}
export MSM_TB=${MSM_TB:-msme2e}
P=$MSM_TB
WORK=$(mktemp -d /tmp/msm-e2e.XXXXXX)
SOCK=$WORK/msm.sock
# shellcheck source=tests/e2e/common.sh
. "$ROOT/tests/e2e/common.sh"

cleanup() {
  if [ -n "${MSM_E2E_KEEP:-}" ]; then mkdir -p "$MSM_E2E_KEEP"; cp "$WORK"/*.pcap "$WORK"/*.log "$MSM_E2E_KEEP"/ 2>/dev/null; fi
  e2e_cleanup
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "e2e: needs root" >&2; exit 1; }
[ -x "$MSM" ] || { echo "e2e: $MSM not built" >&2; exit 1; }

MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" up || exit 1
# Subscribers: the testbed's two, plus 3000 for the registration storm (100.64.0.0/16).
e2e_subscribers "$WORK/subs.txt" 3000
e2e_config "$WORK/subs.txt" "$WORK/state"
# Captures on the MSM's two links, taken at the peers' ends (af_packet transmits with
# PACKET_QDISC_BYPASS, invisible to taps on the MSM's side): evidence of what crossed the
# wire (kept with MSM_E2E_KEEP=DIR).
for ns in wwan inet; do
  nsx "$ns" tcpdump -i eth0 -w "$WORK/$ns.pcap" -U -s 256 >/dev/null 2>&1 &
done
start_msm
check "msm starts and answers on its control socket" ctl ping
if [ "$FAIL" != 0 ]; then
  echo "--- msm log"; cat "$WORK/msm.log"; echo "e2e: $PASS passed, $FAIL failed"; exit 1
fi

check "next hops resolved by ARP" wait_resolved
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


# === control plane: authenticated registration (PROTOCOL.md section 1) ==================
KEY10=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
reg() { # ns src dst coa lifetime [extra...]: register 192.0.2.10
  local ns=$1 src=$2 dst=$3 coa=$4 life=$5; shift 5
  mip "$ns" register --src "$src" --dst "$dst" --home 192.0.2.10 --ha 192.0.2.129 \
    --coa "$coa" --lifetime "$life" --msisdn 491700000010 --spi 256 --key $KEY10 "$@"
}
coa_is() { ctl show 192.0.2.10 | grep -q "\"care_of\":$1"; }

check "path 1 (WWAN): cancel accepted, care-of dropped" reg wwan 192.0.2.10 192.0.2.129 0.0.0.0 0
check "binding has no care-of after the cancel" coa_is null
w0=$(stat downlink_wwan)
check "ping by the WWAN after the cancel" nsx inet ping -c 2 -W 2 -i 0.2 192.0.2.10
check "downlink went by the WWAN" grew downlink_wwan "$w0"

check "path 1 (WWAN): WLAN registration accepted, signed reply" reg wwan 192.0.2.10 192.0.2.129 203.0.113.10 300
check "binding now has care-of 203.0.113.10" coa_is '"203.0.113.10"'
t0=$(stat downlink_tunnel)
check "ping through the tunnel after the registration" nsx inet ping -c 2 -W 2 -i 0.2 192.0.2.10
check "downlink went through the tunnel" grew downlink_tunnel "$t0"

check "path 2 (reverse-tunnelled through the WLAN): accepted" reg wlan 192.0.2.10 192.0.2.129 203.0.113.10 300
check "path 3 (direct from the care-of address): accepted" reg wlan 203.0.113.10 198.51.100.1 203.0.113.10 300
check "path 3 with a care-of address other than the source: 134" reg wlan 203.0.113.10 198.51.100.1 203.0.113.77 300 --expect 134
check "bad authenticator: 131" reg wwan 192.0.2.10 192.0.2.129 203.0.113.10 300 --bad-auth --expect 131
check "clock 100 s ahead: 133 with the MSM's time" reg wwan 192.0.2.10 192.0.2.129 203.0.113.10 300 --skew 100 --expect 133
check "binding unchanged by the refused requests" coa_is '"203.0.113.10"'

# a path is bound to its side: path 3 from the WWAN side, path 1 from the Internet side
# are dropped and counted, never answered
ws0=$(stat control.registrations_wrong_side)
check "path 3 sent from the WWAN side: dropped, no reply" mip wwan register --src 192.0.2.130 \
  --dst 198.51.100.1 --home 192.0.2.10 --ha 192.0.2.129 --coa 192.0.2.130 --lifetime 300 \
  --msisdn 491700000010 --spi 256 --key $KEY10 --tries 1 --no-reply
nsx inet ip route add 192.0.2.129/32 via 198.51.100.1
check "path 1 sent from the Internet side: dropped, no reply" mip inet register --src 198.51.100.2 \
  --dst 192.0.2.129 --home 192.0.2.10 --ha 192.0.2.129 --coa 198.51.100.2 --lifetime 300 \
  --msisdn 491700000010 --spi 256 --key $KEY10 --tries 1 --no-reply
nsx inet ip route del 192.0.2.129/32 via 198.51.100.1
wrong_side_counted() { local now; now=$(stat control.registrations_wrong_side) || return 1
  echo "registrations_wrong_side: $ws0 -> $now"; [ "$now" -ge $((ws0 + 2)) ]; }
check "wrong-side requests counted (control.registrations_wrong_side)" wrong_side_counted
check "binding unchanged by the wrong-side requests" coa_is '"203.0.113.10"'

# a flood of invalid requests leaves valid registration and data traffic working
flood() { mip inet flood --src 198.51.100.2 --dst 198.51.100.1 --n 3000; }
check "flood of 3000 invalid requests (garbage, bad keys, unknown subscribers)" flood
check "valid registration after the flood" reg wwan 192.0.2.10 192.0.2.129 203.0.113.10 300
check "ping through the tunnel after the flood" nsx inet ping -c 2 -W 2 -i 0.2 192.0.2.10

# subscriber reload without restart: a new subscriber is refused (129), then accepted
KEY12=$(printf '%064x' 12)
reg12() { mip wwan register --src 192.0.2.130 --dst 192.0.2.129 --home 192.0.2.12 --ha 192.0.2.129 \
  --coa 203.0.113.12 --lifetime 300 --msisdn 491700000012 --spi 256 --key "$KEY12" "$@"; }
reload_status() { ctl stats | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['control']['subscribers_reload'])"; }
wait_reload() { # expected prefix
  local st; for _ in $(seq 50); do st=$(reload_status); [ "$st" != running ] && [ "$st" != None ] && break; sleep 0.1; done
  echo "reload: $st"; [[ "$st" == "$1"* ]]
}
check "unprovisioned subscriber refused: 129" reg12 --expect 129
cp "$WORK/subs.txt" "$WORK/subs.good"
echo "491700000012 192.0.2.12 256 $KEY12" >>"$WORK/subs.txt"
echo "491700000013 192.0.2.10 256 $KEY12" >>"$WORK/subs.txt"   # duplicate home: the file is invalid
check "reload of an invalid file is refused" bash -c "$MSM ctl --socket $SOCK reload >/dev/null"
check "... with the line named, old store kept" wait_reload "error: "
check "still refused after the failed reload: 129" reg12 --expect 129
sed -i '$d' "$WORK/subs.txt"
check "reload of the corrected file" bash -c "$MSM ctl --socket $SOCK reload >/dev/null"
check "... takes effect" wait_reload "ok: 3003 subscribers"
check "new subscriber accepted after the reload, no restart" reg12

# independent decode: tshark reads the replies as Mobile IP Registration Replies
tshark_codes() {
  sleep 1
  local codes
  codes=$(tshark -r "$WORK/wwan.pcap" -Y 'mip.type == 3' -T fields -e mip.code 2>/dev/null | sort -u | tr '\n' ' ')
  codes="$codes $(tshark -r "$WORK/inet.pcap" -Y 'mip.type == 3' -T fields -e mip.code 2>/dev/null | sort -u | tr '\n' ' ')"
  echo "reply codes seen by tshark: $codes"
  for c in 0 131 133 134; do grep -qw "$c" <<<"$codes" || { echo "code $c missing"; return 1; }; done
  local v; v=$(tshark -r "$WORK/wwan.pcap" -Y 'mip.type == 3 && mip.code == 0' -V 2>/dev/null)
  grep -E 'Registration Reply|Mobile-Home Authentication|NAI:|SPI:' <<<"$v" | sort -u
  grep -q 'Mobile-Home Authentication Extension (32)' <<<"$v"
}
check "tshark decodes the replies (codes 0, 131, 133, 134, MN-HA extension)" tshark_codes

# === crash test: registration storm, SIGKILL in the middle, restart ======================
# Last registration before the crash carries an Identification 5 s ahead (inside the
# 7 s window): after the restart a request stamped "now" is only refused (133) if the
# replay state came back from the journal.
check "registration with an Identification 5 s ahead" reg wwan 192.0.2.10 192.0.2.129 203.0.113.10 300 --skew 5
: >"$WORK/acked"
storm() {
  mip wwan storm --src 192.0.2.130 --dst 192.0.2.129 --ha 192.0.2.129 --coa-base 198.18.0.1 \
    --subscribers "$WORK/subs.txt" --skip 2 --n 3000 --rate 2000 --acked "$WORK/acked" >"$WORK/storm.out" 2>&1 &
  local sp=$!
  sleep 0.7
  kill -KILL "$MSM_PID"; wait "$MSM_PID" 2>/dev/null
  ! kill -0 "$MSM_PID" 2>/dev/null || { echo "MSM survived SIGKILL?"; return 1; }
  MSM_PID=
  # The MSM is dead: no more replies can come. Stop the client (the acked file is
  # line-buffered: every reply it received is already there).
  kill -TERM "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
  if ctl ping >/dev/null 2>&1; then echo "something still answers on the control socket"; return 1; fi
  echo "acked before the kill: $(wc -l <"$WORK/acked")"
  [ -s "$WORK/acked" ]
}
check "registration storm, MSM killed with SIGKILL mid-storm" storm
check "MSM restarts on its journal" start_msm
check "replay state survived: an Identification older than the last accepted gets 133" \
  reg wwan 192.0.2.10 192.0.2.129 203.0.113.10 300 --expect 133
survived() {
  /usr/bin/python3 - "$SOCK" "$WORK/acked" <<'PY'
import json, socket, sys
sock, acked = sys.argv[1], sys.argv[2]
lost = n = 0
for line in open(acked):
    home, coa = line.split()
    s = socket.socket(socket.AF_UNIX); s.connect(sock); s.sendall(f"show {home}\n".encode())
    r = b""
    while chunk := s.recv(4096): r += chunk
    n += 1
    if json.loads(r).get("care_of") != coa:
        lost += 1; print("LOST", home, coa, r)
print(f"{n} acknowledged bindings checked, {lost} lost")
sys.exit(1 if lost or n == 0 else 0)
PY
}
check "every acknowledged registration survived the crash" survived
check "next hops resolved after the restart" wait_resolved
check "192.0.2.10 still bound to its care-of after the restart" coa_is '"203.0.113.10"'
t0=$(stat downlink_tunnel)
check "and forwarding through the tunnel" nsx inet ping -c 2 -W 2 -i 0.2 192.0.2.10
check "downlink went through the tunnel after the restart" grew downlink_tunnel "$t0"

# --- the MCM's endpoint: stops on SIGTERM with what it relayed --------------------------
endpoint_stops() {
  local pid; pid=$(for p in $(ip netns pids "$P-wlan"); do
    [ "$(cat /proc/"$p"/comm 2>/dev/null)" = mcm ] && echo "$p"; done)
  [ -n "$pid" ] || { echo "no mcm process in $P-wlan"; return 1; }
  kill -TERM $pid
  for _ in $(seq 30); do grep -q stopped "$WORK/ipip.log" && break; sleep 0.1; done
  cat "$WORK/ipip.log"
  grep stopped "$WORK/ipip.log" | sed 's/^[^{]*//' | /usr/bin/python3 -c "
import json,sys; r=json.load(sys.stdin)
assert r['uplink_packets'] > 0 and r['downlink_packets'] > 0, r"
}
check "mcm tunnel stops on SIGTERM with its counts (relayed both ways)" endpoint_stops

echo "--- msm stats at the end"; ctl stats | /usr/bin/python3 -c "
import json,sys; d=json.load(sys.stdin); print({k:v for k,v in d['total'].items() if v})"
echo "--- msm log (tail)"; tail -5 "$WORK/msm.log"
echo "e2e: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
