#!/usr/bin/env bash
# `make demo`: the live handover story on the namespace testbed (root).
#
# Brings up scripts/handover-testbed.sh (MSM on DPDK af_packet, the terminal with its
# MCM, a GPRS link at 384/96 kbit/s with 150 ms one-way delay, two WLANs, a server),
# starts one long TCP transfer from the server to the terminal's home address, then moves
# the terminal GPRS -> WLAN 108 -> WLAN 109 -> GPRS with live progress (throughput, the
# MSM's path counters, the MCM's registration events), and ends with a summary
# (scripts/handover_report.py). Exit status 0 only if the connection survived with every
# byte intact.
#
# WLAN 109 sits behind a NAT (HO_WLAN109_NAT=1, the default here): the MCM registers it
# with the UDP tunnel of RFC 3519. The last move is nobody's command: WLAN 109 is made
# lossy (an nft rule drops DEMO_LOSS_PCT % of what crosses its access point, default 80)
# and the MCM, whose probes measure the tunnel (HO_MCM_QUALITY=1, the default here), leaves
# it by itself, make-before-break. HO_WLAN109_NAT=0 HO_MCM_QUALITY=0 give the older act:
# a public WLAN 109 and the operator's `mcm ctl wlan-poor`.
#
# Knobs (environment): DEMO_PHASE_S (seconds per phase, default 12),
# DEMO_DROP_FIRST_REPLY=1 (an nft rule on the terminal drops the first Registration Reply
# of the WLAN 108 registration: the MCM must retransmit), DEMO_SUMMARY=FILE (copy the
# JSON summary there), DEMO_EXTRA=FILE (a bash file sourced after the scenario, testbed
# still up: the end-to-end test's extra checks), DEMO_KEEP=DIR (keep logs and captures).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export HO_TB=${HO_TB:-msmdemo}
export HO_TB_WORK
HO_TB_WORK=$(mktemp -d /tmp/msm-demo.XXXXXX)
W=$HO_TB_WORK
P=$HO_TB
TB=$ROOT/scripts/handover-testbed.sh
MSM=${MSM_BIN:-$ROOT/target/release/msm}
MCM=${MCM_BIN:-$ROOT/target/release/mcm}
PHASE_S=${DEMO_PHASE_S:-12}
export HO_WLAN109_NAT=${HO_WLAN109_NAT:-1} HO_MCM_QUALITY=${HO_MCM_QUALITY:-1}
LOSS_PCT=${DEMO_LOSS_PCT:-80}
PY=/usr/bin/python3
BG=()

source "$ROOT/scripts/demo-lib.sh" demo

msm_counters() {
  "$MSM" ctl --socket "$W/msm.sock" stats | $PY -c "
import json,sys; t=json.load(sys.stdin)['total']
print(json.dumps({k: t.get(k, 0) for k in ('downlink_tunnel','downlink_wwan','uplink_tunnel','uplink_wwan','downlink_nat','uplink_nat')}))"
}

# One phase: live progress every second, then its record in phases.jsonl.
phase() { # name path key seconds start-time
  local name=$1 path=$2 key=$3 secs=$4 start=$5 m0 m1 prev now b kb c mstart
  mstart=$(stamp)
  m0=$(msm_counters)
  echo
  echo "== phase $name: downlink expected via $path (${secs} s)"
  prev=$(tail -n1 "$W/progress" 2>/dev/null | cut -d' ' -f2); prev=${prev:-0}
  for i in $(seq "$secs"); do
    sleep 1
    b=$(tail -n1 "$W/progress" 2>/dev/null | cut -d' ' -f2); b=${b:-0}
    kb=$(( (b - prev) * 8 / 1000 )); prev=$b
    c=$(msm_counters | $PY -c "import json,sys; d=json.load(sys.stdin); print(f\"tunnel {d['downlink_tunnel']:>7}  udp {d['downlink_nat']:>7}  wwan {d['downlink_wwan']:>6}\")")
    printf '  %-8s %3ss  received %12s bytes  %7s kbit/s   MSM downlink: %s\n' "$name" "$i" "$b" "$kb" "$c"
  done
  now=$($PY -c 'import time; print(f"{time.time():.3f}")')
  m1=$(msm_counters)
  echo "{\"name\":\"$name\",\"path\":\"$path\",\"key\":\"$key\",\"start\":$start,\"measure_start\":$mstart,\"end\":$now,\"msm_start\":$m0,\"msm_end\":$m1}" >>"$W/phases.jsonl"
}

echo "== setting up the testbed (MSM on DPDK af_packet, MCM, GPRS emulator, 2 WLANs, server)"
"$TB" up || exit 1

# Captures on the terminal's two interfaces (evidence of the path each segment took).
nsx mobile tcpdump -i wwan0 -s 96 -U -w "$W/wwan.pcap" 'tcp port 5001' >/dev/null 2>&1 & BG+=($!)
nsx mobile tcpdump -i wlan0 -s 128 -U -w "$W/wlan.pcap" 'ip proto 4 or udp port 434' >/dev/null 2>&1 & BG+=($!)
# The MCM's registration events, live.
follow_mcm_log "request sent|retransmitting|accepted|refused|traffic (into|back)|WLAN (address|lost|judged|quality|proven)|WWAN|resync|UDP tunnel|keepalives"
sleep 1

start_stream

phase GPRS wwan wwan "$PHASE_S" "$(stamp)"

if [ "${DEMO_DROP_FIRST_REPLY:-}" = 1 ]; then
  # Registration Replies are 100-byte IP packets: "quota until 150 bytes" matches the first only.
  nsx mobile nft add table inet demo
  nsx mobile nft add chain inet demo in '{ type filter hook input priority 0; }'
  nsx mobile nft add rule inet demo in udp sport 434 quota until 150 bytes counter drop
  echo "== nft on the terminal drops the next Registration Reply (the MCM must retransmit)"
fi
t=$(stamp); echo; echo "== move: the terminal enters WLAN 108 (GPRS stays up: make-before-break)"
"$TB" wlan 108
phase WLAN108 "tunnel to 203.0.113.10" 203.0.113.10 "$PHASE_S" "$t"

if [ "$HO_WLAN109_NAT" = 1 ]; then
  t=$(stamp); echo; echo "== move: the terminal leaves WLAN 108 and enters WLAN 109, behind a NAT (one radio: break-before-make)"
  "$TB" wlan 109
  phase WLAN109 "UDP tunnel to 192.168.109.74" 192.168.109.74 "$PHASE_S" "$t"
else
  t=$(stamp); echo; echo "== move: the terminal leaves WLAN 108 and enters WLAN 109 (one radio: break-before-make)"
  "$TB" wlan 109
  phase WLAN109 "tunnel to 203.0.113.74" 203.0.113.74 "$PHASE_S" "$t"
fi

if [ "$HO_MCM_QUALITY" = 1 ]; then
  t=$(stamp); echo; echo "== move: WLAN 109 turns bad ($LOSS_PCT % loss at its access point); no command: the MCM's probes must notice"
  "$TB" wlan-loss 109 "$LOSS_PCT"
  wait_state wwan 30 || echo "   (the MCM did not leave WLAN 109 within 30 s)"
  echo "   left WLAN 109 $($PY -c "import time; print(round(time.time() - $t, 1))") s after the loss began"
  "$TB" wlan none
  "$TB" wlan-loss 109 0
else
  t=$(stamp); echo; echo "== move: WLAN 109 judged too poor (mcm ctl wlan-poor): cancel first, leave after the MSM accepts"
  mcmctl wlan-poor wlan0 >/dev/null
  wait_state wwan 20 || echo "   (the cancel was not accepted within 20 s)"
  "$TB" wlan none
  mcmctl wlan-ok wlan0 >/dev/null
fi
phase GPRS2 wwan wwan "$PHASE_S" "$t"

echo; echo "== stopping the sender; the rest drains through GPRS"
touch "$W/stop"
for _ in $(seq 600); do kill -0 "$RECV" 2>/dev/null || break; sleep 0.1; done
wait "$SEND" 2>/dev/null; wait "$RECV" 2>/dev/null
mcmctl status >"$W/mcm.json" 2>/dev/null
if [ "${DEMO_DROP_FIRST_REPLY:-}" = 1 ]; then nsx mobile nft -j list ruleset >"$W/nft.json"; fi
for p in "${BG[@]}"; do kill -INT "$p" 2>/dev/null; done
sleep 0.5

$PY "$ROOT/scripts/handover_report.py" "$W" --json "$W/summary.json"
RC=$?
[ -n "${DEMO_SUMMARY:-}" ] && cp "$W/summary.json" "$DEMO_SUMMARY"
if [ -n "${DEMO_EXTRA:-}" ]; then
  # shellcheck disable=SC1090
  source "$DEMO_EXTRA" || RC=1
fi
exit $RC
