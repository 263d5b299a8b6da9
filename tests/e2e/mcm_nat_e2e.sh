#!/usr/bin/env bash
# End-to-end test of the MCM's NAT traversal (RFC 3519, PROTOCOL.md section 3) on the
# handover testbed with WLAN 109 behind a NAT (scripts/handover-testbed.sh, root).
#
#   [mobile] wlan0 192.168.109.74 --- ap0 [wlan109: nft snat 203.0.113.66:10000-19999] up0
#            mip0 (MCM, TUN)                                               |
#            lo 192.0.2.10 (home)                [inet] --- MSM 198.51.100.1, srv 203.0.113.130
#
# The real `mcm` daemon (default config: udp_tunnel = "auto", 192.168.0.0/16 taken as
# private) enters WLAN 109 and must register from its care-of address (path 3) with the
# UDP Tunnel Request extension; the MSM binds the NAT's address and port. Then two TCP
# streams run through the UDP tunnel, downlink (srv -> home:5001) and uplink (home ->
# srv:5002). Mid-stream the NAT is remapped (`handover-testbed.sh nat-remap`: a new public
# address and port range, conntrack flushed): the MCM's keepalives go unanswered, it
# re-registers from the same socket, the MSM binds the new mapping, and both streams go on
# with every byte intact (SHA-256 at both ends). Checks the MCM's and the MSM's counters,
# and decodes captures on the NAT's public side with tshark (Request/Reply extensions,
# tunnel data both ways, before and after the remap).
# Cleans up its namespaces and processes on every exit path (the testbed's `down`). Run
# it, as the other e2e scripts, under `flock /tmp/msm-e2e.lock`.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MSM=${MSM_BIN:-$ROOT/target/release/msm}
MCM=${MCM_BIN:-$ROOT/target/release/mcm}
export MSM_BIN=$MSM MCM_BIN=$MCM
export HO_TB=${HO_TB:-msmnatho} HO_WLAN109_NAT=1
HO_TB_WORK=$(mktemp -d /tmp/msm-mcmnat-e2e.XXXXXX)
export HO_TB_WORK
P=$HO_TB W=$HO_TB_WORK WORK=$HO_TB_WORK SOCK=$HO_TB_WORK/msm.sock
PY=/usr/bin/python3
TB=$ROOT/scripts/handover-testbed.sh
# shellcheck source=tests/e2e/common.sh
. "$ROOT/tests/e2e/common.sh"
PASS=0 FAIL=0 BG=()

cleanup() {
  for pid in "${BG[@]}"; do kill "$pid" 2>/dev/null; done
  if [ -n "${MSM_E2E_KEEP:-}" ]; then mkdir -p "$MSM_E2E_KEEP"; cp "$W"/*.pcap "$W"/*.log "$W"/*.json "$MSM_E2E_KEEP"/ 2>/dev/null; fi
  "$TB" down >/dev/null 2>&1
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "e2e: needs root" >&2; exit 1; }
[ -x "$MSM" ] && [ -x "$MCM" ] || { echo "e2e: build first: cargo build --release -p msm -p mcm" >&2; exit 1; }

"$TB" up || exit 1

mcmst() { "$MCM" ctl --socket "$W/mcm.sock" status; }
mq() { # python expression over d = `mcm ctl status`
  mcmst | $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"
}
wait_until() { # seconds command...
  local t=$1; shift
  for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  "$@"
}
udp_bound() { [ "$(mq "d['machine']['state'] == 'tunnel' and (d['machine']['bound'] or {}).get('udp_keepalive_s') is not None")" = True ]; }
msm_nat() { # address port-range-low port-range-high: the MSM's binding of the home address
  ctl show 192.0.2.10 | $PY -c "
import json,sys; b=json.load(sys.stdin); print(b)
sys.exit(not (b.get('care_of') == '$1' and $2 <= int(b.get('udp_port') or 0) <= $3))"
}
bytes_now() { tail -1 "$W/$1.progress" 2>/dev/null | cut -d' ' -f2; }
grew_since() { # stream bytes-before
  local n; n=$(bytes_now "$1"); echo "$1: $2 -> $n"; [ -n "$n" ] && [ "$n" -gt "$2" ]
}

# Captures on the NAT's public side: every registration message (small), and the first
# tunnel data messages (type 4) before and after the remap (bounded).
nsx wlan109 tcpdump -i up0 -w "$W/reg.pcap" -U 'udp port 434 and udp[8] != 4' >/dev/null 2>&1 &
BG+=($!)
nsx wlan109 tcpdump -i up0 -w "$W/data1.pcap" -U -s 200 -c 3000 'udp port 434 and udp[8] = 4' >/dev/null 2>&1 &
BG+=($!)
sleep 1

# --- registration through the NAT ----------------------------------------------------
"$TB" wlan 109
check "the MCM registers through the NAT with the UDP tunnel (state tunnel, udp_keepalive_s)" \
  wait_until 15 udp_bound
mcmst >"$W/mcm-registered.json"
check "the MCM asked by path 3 (UDP Tunnel Request) and got the UDP Tunnel Reply" \
  test "$(mq "d['machine']['stats']['udp_tunnel_accepted'] >= 1")" = True
check "the MSM binds the home address to the NAT's address and port (203.0.113.66:10000-19999)" \
  msm_nat 203.0.113.66 10000 19999

# --- TCP streams both ways through the UDP tunnel --------------------------------------
d0=$(stat downlink_nat) u0=$(stat uplink_nat)
nsx mobile $PY "$ROOT/scripts/tcpstream.py" recv 192.0.2.10 5001 --progress "$W/down.progress" \
  --idle-timeout 30 >"$W/down-recv.json" 2>"$W/down-recv.err" &
DRECV=$!; BG+=($DRECV)
nsx srv $PY "$ROOT/scripts/tcpstream.py" recv 203.0.113.130 5002 --progress "$W/up.progress" \
  --idle-timeout 30 >"$W/up-recv.json" 2>"$W/up-recv.err" &
URECV=$!; BG+=($URECV)
for _ in $(seq 50); do
  nsx mobile ss -ltn 2>/dev/null | grep -q ':5001' && nsx srv ss -ltn 2>/dev/null | grep -q ':5002' && break
  sleep 0.1
done
nsx srv $PY "$ROOT/scripts/tcpstream.py" send 192.0.2.10 5001 --stop-file "$W/stop" \
  >"$W/down-send.json" 2>"$W/down-send.err" &
DSEND=$!; BG+=($DSEND)
nsx mobile $PY "$ROOT/scripts/tcpstream.py" send 203.0.113.130 5002 --stop-file "$W/stop" \
  >"$W/up-send.json" 2>"$W/up-send.err" &
USEND=$!; BG+=($USEND)
sleep 4
check "downlink stream flows through the NAT (bytes received)" grew_since down 0
check "uplink stream flows through the NAT (bytes received)" grew_since up 0
check "the MSM's downlink went through the UDP tunnel (downlink_nat)" grew downlink_nat "$d0"
check "the MSM's uplink came through the UDP tunnel (uplink_nat)" grew uplink_nat "$u0"
check "the MCM relayed tunnel data both ways and got keepalive answers" \
  test "$(mq "d['relay']['nat_uplink_packets'] > 100 and d['relay']['nat_downlink_packets'] > 100 and d['relay']['probe_replies'] >= 1")" = True

# --- the NAT mapping changes mid-stream ------------------------------------------------
nsx wlan109 tcpdump -i up0 -w "$W/data2.pcap" -U -s 200 -c 3000 'udp port 434 and udp[8] = 4 and host 203.0.113.67' >/dev/null 2>&1 &
BG+=($!)
sleep 0.5
s0=$(stat drop_nat_uplink_spoofed)
r0=$(mq "d['machine']['stats']['nat_reregistrations']")
check "the NAT is remapped (203.0.113.67:20000-29999, conntrack flushed)" "$TB" nat-remap
t0=$(date +%s.%N)
rereg() { [ "$(mq "d['machine']['stats']['nat_reregistrations'] > $r0 and d['machine']['state'] == 'tunnel'")" = True ]; }
check "unanswered keepalives: the MCM re-registers by itself" wait_until 20 rereg
echo "    (re-registered $($PY -c "import time; print(round(time.time() - $t0, 1))") s after the remap)"
check "the MSM binds the new mapping (203.0.113.67:20000-29999)" msm_nat 203.0.113.67 20000 29999
check "meanwhile the MSM dropped uplink from the new mapping as spoofed (nat_uplink_spoofed)" \
  grew drop_nat_uplink_spoofed "$s0"
# (TCP backed its retransmission timer off during the outage: allow a few seconds.)
db=$(bytes_now down) ub=$(bytes_now up)
check "downlink stream goes on after the re-registration" wait_until 15 grew_since down "$db"
check "uplink stream goes on after the re-registration" wait_until 15 grew_since up "$ub"
sleep 2
mcmst >"$W/mcm.json"

# --- end: every byte intact ----------------------------------------------------------
touch "$W/stop"
for pid in $DSEND $USEND $DRECV $URECV; do
  for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
done
intact() { # stream
  $PY - "$W/$1-send.json" "$W/$1-recv.json" <<'PY'
import json, sys
s, r = (json.loads(open(f).read().strip().splitlines()[-1]) for f in sys.argv[1:3])
print("sent", s, "received", r)
sys.exit(not (s.get("bytes", 0) > 0 and s["bytes"] == r.get("bytes") and s["sha256"] == r["sha256"]
              and "error" not in s and "error" not in r))
PY
}
check "downlink stream: every byte intact across the remap (SHA-256)" intact down
check "uplink stream: every byte intact across the remap (SHA-256)" intact up

# --- tshark: what crossed the NAT's public side ----------------------------------------
for pid in "${BG[@]}"; do kill "$pid" 2>/dev/null; done
sleep 0.5
fields() { # pcap
  tshark -r "$W/$1" -Y mip -T fields -E separator='|' -E occurrence=f -e mip.type \
    -e mip.ext.utrq.encaptype -e mip.ext.utrp.code -e mip.ext.utrp.keepalive \
    -e mip.nattt.nexthdr -e ip.src -e ip.dst -e udp.srcport -e udp.dstport 2>/dev/null
}
fields reg.pcap >"$W/reg.txt"; fields data1.pcap >"$W/data1.txt"; fields data2.pcap >"$W/data2.txt"
has() { # file regex
  grep -E "$2" "$W/$1" | head -3; grep -qE "$2" "$W/$1"
}
check "tshark: Request with the UDP Tunnel Request extension from 203.0.113.66" \
  has reg.txt '^1\|4\|\|\|\|203\.0\.113\.66\|198\.51\.100\.1\|1[0-9]{4}\|434$'
check "tshark: Reply with the UDP Tunnel Reply extension (code 0, keepalive) to 203.0.113.66" \
  has reg.txt '^3\|\|0\|[1-9][0-9]*\|\|198\.51\.100\.1\|203\.0\.113\.66\|434\|1[0-9]{4}$'
check "tshark: the re-registration from the new mapping 203.0.113.67" \
  has reg.txt '^1\|4\|\|\|\|203\.0\.113\.67\|198\.51\.100\.1\|2[0-9]{4}\|434$'
check "tshark: ... and its Reply with the UDP Tunnel Reply extension" \
  has reg.txt '^3\|\|0\|[1-9][0-9]*\|\|198\.51\.100\.1\|203\.0\.113\.67\|434\|2[0-9]{4}$'
check "tshark: tunnel data (type 4, next header 4) downlink MSM:434 -> 203.0.113.66" \
  has data1.txt '^4\|\|\|\|4\|198\.51\.100\.1\|203\.0\.113\.66\|434\|1[0-9]{4}$'
check "tshark: tunnel data uplink 203.0.113.66 -> MSM:434" \
  has data1.txt '^4\|\|\|\|4\|203\.0\.113\.66\|198\.51\.100\.1\|1[0-9]{4}\|434$'
check "tshark: tunnel data both ways with the new mapping 203.0.113.67" \
  sh -c "grep -qE '^4\|\|\|\|4\|198\.51\.100\.1\|203\.0\.113\.67\|434\|2[0-9]{4}$' '$W/data2.txt' &&
         grep -qE '^4\|\|\|\|4\|203\.0\.113\.67\|198\.51\.100\.1\|2[0-9]{4}\|434$' '$W/data2.txt'"
notmalformed() { ! tshark -r "$W/reg.pcap" -Y '_ws.malformed' 2>/dev/null | grep -q .; }
check "tshark: no malformed registration message" notmalformed
echo "MCM counters: $($PY -c "import json; d=json.load(open('$W/mcm.json')); print(json.dumps(d['machine']['stats']), json.dumps(d['relay']))")"
e2e_summary mcm_nat_e2e
