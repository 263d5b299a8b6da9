#!/usr/bin/env bash
# Produce the pcaps and provisioning files for replaying against an MSM on a real testbed
# (pktgen-dpdk or TRex on the tester), and print what to do with them.
#
#   perf/pcapgen/testbed-inputs.sh OUT_DIR
#
# Settings (environment), with the defaults of dpdk-config/testbed.toml:
#   MSM_INET_MAC  MAC of the MSM's internet port (required: `msm run` logs it, "mac ...")
#   MSM_WWAN_MAC  MAC of the MSM's wwan port (required for the wwan-path storm)
#   TESTER_MAC    MAC of the tester port cabled to the MSM's internet port (required)
#   TESTER_WWAN_MAC  tester port on the wwan side (default TESTER_MAC)
#   MSM_WLAN=198.51.100.1 MSM_GPRS=192.0.2.129     the [[port]] addresses
#   INET_GW=198.51.100.2  WWAN_GW=192.0.2.130      the [[port]] gateways (the tester plays them)
#   HOME_POOL=100.64.0.0/16 COA_POOL=198.18.0.0/15 CORRESPONDENT=203.0.113.10
#   N=10000 (subscribers) PACKETS=65536 SIZE=64 (64|512|1400|mix) SEED=1
#   REG_DELAY=30  the storm's Identification timestamps start this many seconds from now:
#                 replay it then (within +-replay_window_s), once
#   REG_RATE=10000 requests per second (pcap timestamps and Identification seconds)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GEN=${PCAPGEN_BIN:-$ROOT/target/release/msm-pcapgen}
OUT=${1:?usage: $0 OUT_DIR}
: "${MSM_INET_MAC:?set MSM_INET_MAC (the MSM logs the MAC of each port at start)}"
: "${TESTER_MAC:?set TESTER_MAC (the tester port facing the MSM internet port)}"
MSM_WWAN_MAC=${MSM_WWAN_MAC:-}
TESTER_WWAN_MAC=${TESTER_WWAN_MAC:-$TESTER_MAC}
MSM_WLAN=${MSM_WLAN:-198.51.100.1} MSM_GPRS=${MSM_GPRS:-192.0.2.129}
INET_GW=${INET_GW:-198.51.100.2} WWAN_GW=${WWAN_GW:-192.0.2.130}
HOME_POOL=${HOME_POOL:-100.64.0.0/16} COA_POOL=${COA_POOL:-198.18.0.0/15}
CORRESPONDENT=${CORRESPONDENT:-203.0.113.10}
N=${N:-10000} PACKETS=${PACKETS:-65536} SIZE=${SIZE:-64} SEED=${SEED:-1}
REG_DELAY=${REG_DELAY:-30} REG_RATE=${REG_RATE:-10000}
[ -x "$GEN" ] || cargo build --release -q -p msm-pcapgen --manifest-path "$ROOT/Cargo.toml"

# Same seed and subscriber count everywhere: one subscribers.txt / bindings.txt serves all
# three workloads (a storm with --rounds 1 binds exactly bindings.txt).
common=(--subscribers "$N" --seed "$SEED" --home-pool "$HOME_POOL" --coa-pool "$COA_POOL"
        --msm-gprs "$MSM_GPRS" --msm-wlan "$MSM_WLAN" --correspondent "$CORRESPONDENT")
inet=(--msm-mac "$MSM_INET_MAC" --peer-mac "$TESTER_MAC" --gateway "$INET_GW")

"$GEN" downlink --out "$OUT/downlink" "${common[@]}" "${inet[@]}" --packets "$PACKETS" --size "$SIZE"
"$GEN" uplink --out "$OUT/uplink" "${common[@]}" "${inet[@]}" --packets "$PACKETS" --size "$SIZE"
"$GEN" registrations --out "$OUT/registrations" "${common[@]}" "${inet[@]}" \
  --path direct --time-offset "$REG_DELAY" --rate "$REG_RATE"
if [ -n "$MSM_WWAN_MAC" ]; then
  "$GEN" registrations --out "$OUT/registrations-wwan" "${common[@]}" --msm-mac "$MSM_WWAN_MAC" \
    --peer-mac "$TESTER_WWAN_MAC" --gateway "$WWAN_GW" --path wwan --time-offset "$REG_DELAY" --rate "$REG_RATE"
fi
cmp -s "$OUT/downlink/subscribers.txt" "$OUT/registrations/subscribers.txt"
cp "$OUT/downlink/subscribers.txt" "$OUT/downlink/bindings.txt" "$OUT/"

frames() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['frames'])" "$1"; }
cat <<EOF

Provisioning (the same for all workloads, seed $SEED, $N subscribers):
  [control] subscribers = "$OUT/subscribers.txt"     (running MSM: msm ctl reload)
  [table]   preload     = "$OUT/bindings.txt"        (data workloads; or run the storm first:
                                                      it binds the same homes to the same care-of addresses)
  [home]    pools must contain $HOME_POOL; [table] capacity >= $N
  check: msm check-config YOUR.toml

pktgen-dpdk (tester port 0 cabled to the MSM's internet port):
  pktgen ... -- -P -T -m "[1:2].0" -s 0:$OUT/downlink/downlink.pcap -f $ROOT/perf/pktgen/msm-replay.lua
  MSM_FRAMES=$(frames "$OUT/registrations/manifest-registrations.json") pktgen ... -s 0:$OUT/registrations/registrations.pcap -f $ROOT/perf/pktgen/registrations.lua

TRex (STL):
  start -f $ROOT/perf/trex/msm_streams.py --port 0 -m 10mpps -t "--pcap $OUT/downlink/downlink.pcap"
  start -f $ROOT/perf/trex/msm_pcap.py --port 0 -t "--pcap $OUT/registrations/registrations.pcap"
  $ROOT/perf/trex/msm_push.py --port 0 --pcap $OUT/uplink/uplink.pcap --count 100 --ipg-usec 1

The registration storm is valid only if replayed once, starting ${REG_DELAY}s after this
script ran (+-replay_window_s); see $OUT/registrations/manifest-registrations.json
("valid_unix"). Otherwise rerun this script (same seed: no re-provisioning needed).
Check what the MSM sent (capture of its egress, e.g. on the tester port):
  $GEN verify --dir $OUT/downlink --kind downlink CAPTURE.pcap
EOF
