#!/usr/bin/env bash
# `make demo-cluster`: the handover demo's cluster act (root; needs etcd-server).
#
# scripts/handover-testbed.sh with HO_CLUSTER=1: a 3-member etcd in the core namespace and
# two MSMs on the same veths, msm-a owning the shard and msm-b its hot standby
# (docs/cluster.md). One TCP stream from the server to the terminal's home address; the
# terminal (its MCM) moves GPRS -> WLAN 108; during WLAN 108 the active MSM (msm-a) is
# SIGKILLed at a random instant; msm-b takes over (lease TTL HO_LEASE_TTL_MS, default
# 1000 ms) and the stream goes on through it; then the terminal leaves WLAN 108 (the
# operator's `mcm ctl wlan-poor`) and the rest drains through GPRS. Live progress every
# second: bytes received, throughput, each MSM's role and tunnelled downlink packets.
# Summary: every byte intact (SHA-256 of both ends), the MCM's registration requests
# between the SIGKILL and the move out of WLAN 108 (none expected: the binding was
# replicated), the downlink gap around the SIGKILL from a capture on the terminal's WLAN
# interface. Exit status 0 only if the stream survived with every byte intact and msm-b
# took over.
#
# Knobs: DEMO_PHASE_S (seconds of the GPRS phase and of WLAN 108 before and after the kill,
# default 8), DEMO_KEEP=DIR (keep logs and captures).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export HO_TB=${HO_TB:-msmdemocl}
export HO_TB_WORK HO_CLUSTER=1 HO_WLAN109_NAT=0 HO_MCM_QUALITY=0
HO_TB_WORK=$(mktemp -d /tmp/msm-demo-cluster.XXXXXX)
W=$HO_TB_WORK
P=$HO_TB
TB=$ROOT/scripts/handover-testbed.sh
MSM=${MSM_BIN:-$ROOT/target/release/msm}
MCM=${MCM_BIN:-$ROOT/target/release/mcm}
PHASE_S=${DEMO_PHASE_S:-8}
TTL_MS=${HO_LEASE_TTL_MS:-1000}
PY=/usr/bin/python3
BG=()

source "$ROOT/scripts/demo-lib.sh" demo-cluster
command -v etcd >/dev/null || { echo "demo-cluster: needs etcd (Debian etcd-server, etcd-client)" >&2; exit 1; }

# One MSM's role and tunnelled downlink packets ("dead" once killed).
msm_line() { # sock
  "$MSM" ctl --socket "$1" stats 2>/dev/null | $PY -c "
import json,sys; d=json.load(sys.stdin)
print(f\"{d['cluster']['shards'][0]['role']:>8} tunnel {d['total'].get('downlink_tunnel', 0):>7}\")" 2>/dev/null || echo "    dead"
}
progress() { # label seconds
  local prev b kb
  prev=$(tail -n1 "$W/progress" 2>/dev/null | cut -d' ' -f2); prev=${prev:-0}
  for i in $(seq "$2"); do
    sleep 1
    b=$(tail -n1 "$W/progress" 2>/dev/null | cut -d' ' -f2); b=${b:-0}
    kb=$(( (b - prev) * 8 / 1000 )); prev=$b
    printf '  %-9s %3ss  received %11s bytes %7s kbit/s   msm-a %s   msm-b %s\n' "$1" "$i" "$b" "$kb" \
      "$(msm_line "$W/msm.sock")" "$(msm_line "$W/msm-b.sock")"
  done
}

echo "== setting up the testbed: 3 etcd members, msm-a (active) and msm-b (standby) on DPDK af_packet, MCM, GPRS, WLANs, server"
"$TB" up || exit 1
echo "   msm-a: $(msm_line "$W/msm.sock")   msm-b: $(msm_line "$W/msm-b.sock")"

nsx mobile tcpdump -i wlan0 -s 96 -U -w "$W/wlan.pcap" 'ip proto 4 or udp port 434' >/dev/null 2>&1 & BG+=($!)
follow_mcm_log "request sent|retransmitting|accepted|refused|traffic (into|back)|WLAN (address|lost)|WWAN"
sleep 1

start_stream
echo; echo "== phase GPRS (${PHASE_S} s)"
progress GPRS "$PHASE_S"

echo; echo "== move: the terminal enters WLAN 108 (the MCM registers with msm-a, the owner; msm-b follows through etcd)"
"$TB" wlan 108
wait_state tunnel 15 || echo "   (the MCM did not register WLAN 108 within 15 s)"
progress WLAN108 "$PHASE_S"
sleep "$($PY -c 'import random; print(round(random.random() * 2, 2))')"
T_KILL=$(stamp)
kill -KILL "$(cat "$W/msm.pid")"
echo; echo "== SIGKILL of msm-a, the active MSM (lease TTL $TTL_MS ms): msm-b must take over, the stream must go on"
progress WLAN108 "$PHASE_S"
T_LEAVE=$(stamp)
echo; echo "== move: WLAN 108 judged too poor (mcm ctl wlan-poor): the MCM cancels through msm-b, leaves after it accepts"
mcmctl wlan-poor wlan0 >/dev/null
wait_state wwan 20 || echo "   (the cancel was not accepted within 20 s)"
"$TB" wlan none
mcmctl wlan-ok wlan0 >/dev/null
progress GPRS2 4

echo; echo "== stopping the sender; the rest drains through GPRS"
touch "$W/stop"
for _ in $(seq 600); do kill -0 "$RECV" 2>/dev/null || break; sleep 0.1; done
wait "$SEND" 2>/dev/null; wait "$RECV" 2>/dev/null
"$MSM" ctl --socket "$W/msm-b.sock" stats >"$W/msm-b.json" 2>/dev/null
for p in "${BG[@]}"; do kill -INT "$p" 2>/dev/null; done
sleep 0.5
tcpdump -r "$W/wlan.pcap" -n -tt 2>/dev/null >"$W/wlan.txt"

echo; echo "== summary"
$PY - "$W" "$T_KILL" "$T_LEAVE" "$TTL_MS" <<'PY'
import datetime, json, re, sys
w, t_kill, t_leave, ttl = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]) / 1000
def load(f):
    try:
        return json.load(open(f"{w}/{f}"))
    except (OSError, ValueError):
        return {}
s, r, b = load("send.json"), load("recv.json"), load("msm-b.json")
intact = "error" not in s and "error" not in r and s.get("bytes", 0) == r.get("bytes", -1) > 0 and s.get("sha256") == r.get("sha256")
print(f"  stream: {s.get('bytes')} bytes sent, {r.get('bytes')} received, SHA-256 {'equal' if s.get('sha256') == r.get('sha256') else 'DIFFERENT'}"
      f" -> {'survived, every byte intact' if intact else 'BROKEN'}")
shard = b.get("cluster", {}).get("shards", [{}])[0]
took = shard.get("role") == "active" and shard.get("takeovers", 0) >= 1
print(f"  msm-b: role {shard.get('role')}, takeovers {shard.get('takeovers')}, downlink tunnelled {b.get('total', {}).get('downlink_tunnel')}")
regs = []
for l in open(f"{w}/mcm.log"):
    l = re.sub(r"\x1b\[[0-9;]*m", "", l)
    if "request sent" not in l:
        continue
    try:
        t = datetime.datetime.fromisoformat(l.split()[0].replace("Z", "+00:00")).timestamp()
    except ValueError:
        continue
    if t_kill <= t < t_leave:
        regs.append(l.strip())
print(f"  the MCM's registration requests between the SIGKILL and leaving WLAN 108: {len(regs)}")
for l in regs[:3]:
    print("    " + l)
down = []
for l in open(f"{w}/wlan.txt"):
    f = l.split()
    if len(f) > 4 and f[1] == "IP" and f[2] == "198.51.100.1" and f[4] == "203.0.113.10:":
        down.append(float(f[0]))
around = [t for t in down if t_kill - 2 <= t <= t_leave]
gaps = [(y - x, x) for x, y in zip(around, around[1:])]
if gaps:
    g, at = max(gaps)
    print(f"  downlink gap at the SIGKILL: {g:.2f} s (largest between tunnelled downlink packets on the terminal's WLAN "
          f"interface, from {at - t_kill:+.2f} s; lease TTL {ttl:.1f} s; TCP's retransmission backoff adds to what the MSMs cause)")
else:
    print("  no tunnelled downlink packets captured around the SIGKILL")
sys.exit(0 if intact and took else 1)
PY
