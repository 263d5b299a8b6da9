#!/usr/bin/env bash
# Live demo on the namespace testbed: the MSM forwards traffic for mobile 192.0.2.10
# through the IP-in-IP tunnel to its care-of address in the WLAN, then (binding changed to
# "no care-of address") by the WWAN, showing the MSM's live counters each second.
# (The full handover story with the MCM comes with the handover issue.)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MSM=$ROOT/target/release/msm
export MSM_TB=${MSM_TB:-msmdemo}
P=$MSM_TB
WORK=$(mktemp -d /tmp/msm-demo.XXXXXX)
SOCK=$WORK/msm.sock
MSM_PID=

cleanup() {
  [ -n "$MSM_PID" ] && { kill -TERM "$MSM_PID" 2>/dev/null; sleep 1; kill -KILL "$MSM_PID" 2>/dev/null; }
  MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" down >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces)" >&2; exit 1; }

nsx() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }
ctl() { "$MSM" ctl --socket "$SOCK" "$@"; }
show() { # one line of live counters
  ctl stats | /usr/bin/python3 -c "
import json,sys; t=json.load(sys.stdin)['total']
keys=['rx_packets','tx_packets','downlink_tunnel','uplink_tunnel','downlink_wwan','uplink_wwan','mss_clamped']
drops=sum(v for k,v in t.items() if k.startswith('drop_'))
print('  '+'  '.join(f'{k}={t[k]}' for k in keys)+f'  drops={drops}')"
}
phase() { # title seconds
  echo; echo "== $1"
  nsx inet ping -i 0.2 -c $(($2 * 5)) -q 192.0.2.10 >"$WORK/ping.log" 2>&1 &
  local pp=$!
  nsx "$3" /usr/bin/python3 "$ROOT/tests/e2e/tcpcheck.py" serve 192.0.2.10 5001 >"$WORK/srv.log" 2>&1 &
  local sp=$!
  for _ in $(seq 30); do grep -q listening "$WORK/srv.log" && break; sleep 0.1; done
  nsx inet /usr/bin/python3 "$ROOT/tests/e2e/tcpcheck.py" send 192.0.2.10 5001 4000000 >"$WORK/cli.log" 2>&1 &
  local cp=$!
  for _ in $(seq "$2"); do sleep 1; show; done
  wait $pp $sp $cp
  echo "  ping: $(grep -E 'packets transmitted' "$WORK/ping.log")"
  echo "  tcp:  $(cat "$WORK/cli.log")"
}

echo "== testbed: wwan (GGSN, mobile) | core (MSM) | inet (router, server) | wlan (mobile's care-of 203.0.113.10)"
MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" up || exit 1
sed -e "s|/run/msm-testbed.sock|$SOCK|" -e "s|\"msmtb\"|\"$P\"|" \
    -e "s|preload = \"testbed-bindings.txt\"|preload = \"$ROOT/dpdk-config/testbed-bindings.txt\"|" \
    -e "s|subscribers = \"testbed-subscribers.txt\"|subscribers = \"$ROOT/dpdk-config/testbed-subscribers.txt\"|" \
    -e "s|state_dir = \"/var/lib/msm-testbed\"|state_dir = \"$WORK/state\"|" \
    "$ROOT/dpdk-config/testbed.toml" >"$WORK/msm.toml"
nsx core "$MSM" run --config "$WORK/msm.toml" >"$WORK/msm.log" 2>&1 &
MSM_PID=$!
for _ in $(seq 100); do ctl ping >/dev/null 2>&1 && break; sleep 0.2; done
ctl ping >/dev/null || { echo "msm did not start:"; cat "$WORK/msm.log"; exit 1; }
sleep 1
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
mip() { # ns src dst coa lifetime: authenticated Registration Request (scapy + hmac client)
  nsx "$1" /usr/bin/python3 "$ROOT/tests/e2e/mipclient.py" register --src "$2" --dst "$3" \
    --home 192.0.2.10 --ha 192.0.2.129 --coa "$4" --lifetime "$5" --msisdn 491700000010 --spi 256 --key $KEY
}
echo "== mobile 192.0.2.10 enters WLAN 203.0.113.0/24: registration from its care-of address"
echo "   reply: $(mip wlan 203.0.113.10 198.51.100.1 203.0.113.10 300)"
echo "== binding: $(ctl show 192.0.2.10)"
phase "phase 1: mobile in the WLAN: downlink tunnelled to 203.0.113.10, uplink reverse-tunnelled" 5 wlan
echo; echo "== mobile leaves the WLAN: canceling registration (lifetime 0) through the WWAN"
echo "   reply: $(mip wwan 192.0.2.10 192.0.2.129 0.0.0.0 0)"
echo "== binding: $(ctl show 192.0.2.10)"
phase "phase 2: mobile on the WWAN: same traffic, no tunnel" 5 wwan
echo; echo "== final counters (non-zero):"
ctl stats | /usr/bin/python3 -c "
import json,sys; d=json.load(sys.stdin)
for k,v in d['total'].items():
    if v: print(f'  {k:28} {v}')"
grep -q match "$WORK/cli.log"
