#!/usr/bin/env bash
# Replays msm-pcapgen's workloads through the real MSM (`msm run`) with DPDK's net_pcap
# vdev and checks what it transmitted (root; about 30 s once built):
#
#   downlink      -> every packet IP-in-IP encapsulated to its binding's care-of address
#   uplink        -> every reverse-tunnelled packet decapsulated toward the correspondent
#   registrations -> one authenticated Reply with code 0 per request, for each of the
#                    three paths (direct, wwan, tunnel); bindings then as expected;
#                    and a storm stamped 60 s in the past answered 133 throughout
#
# Each run: msm-pcapgen writes the pcap + subscriber/bindings files; `msm check-config`
# validates them with the MSM's own parsers; the MSM runs with both ports on net_pcap
# (rx_pcap = the workload on the port it enters, tx_pcap per tx queue), until its
# counters show every frame received (and every reply sent); `msm-pcapgen verify` then
# checks the tx pcaps frame by frame. Exit status 0 only if everything passed.
#
# Env: MSM_BIN, PCAPGEN_BIN (default target/release/*), PCAPGEN_KEEP=DIR keeps the files,
# PCAPGEN_N (subscribers, default 1000), PCAPGEN_PACKETS (data packets, default 20000).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MSM=${MSM_BIN:-$ROOT/target/release/msm}
GEN=${PCAPGEN_BIN:-$ROOT/target/release/msm-pcapgen}
N=${PCAPGEN_N:-1000}
PACKETS=${PCAPGEN_PACKETS:-20000}
WORK=$(mktemp -d /tmp/msm-pcapgen-check.XXXXXX)
PREFIX=msmpcapgen$$
MSM_PID=
PASS=0 FAIL=0
T0=$(date +%s)

cleanup() {
  if [ -n "$MSM_PID" ] && kill -0 "$MSM_PID" 2>/dev/null; then
    kill -TERM "$MSM_PID" 2>/dev/null; sleep 1; kill -KILL "$MSM_PID" 2>/dev/null
  fi
  if [ -n "${PCAPGEN_KEEP:-}" ]; then mkdir -p "$PCAPGEN_KEEP" && cp -r "$WORK"/. "$PCAPGEN_KEEP"/; fi
  rm -rf "$WORK" /var/run/dpdk/"$PREFIX"* /dev/shm/*"$PREFIX"* 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "check: needs root (DPDK EAL)" >&2; exit 1; }
for b in "$MSM" "$GEN"; do
  [ -x "$b" ] || { echo "check: $b not built (cargo build --release -p msm -p msm-pcapgen)" >&2; exit 1; }
done

# A pcap with no packets (classic header, little-endian, Ethernet) for the idle port.
empty_pcap() { printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' >"$1"; }

stats() { "$MSM" ctl --socket "$1/msm.sock" stats; }
# Prints "rx_packets replies_sent registrations_received".
counts() { stats "$1" | /usr/bin/python3 -c "
import json,sys; d=json.load(sys.stdin); c=d['control']
print(d['total'].get('rx_packets',0), c.get('replies_sent',0), c.get('registrations_received',0))"; }

# run NAME KIND PORT(wwan|internet) GEN_ARGS...: one workload through one MSM run.
run() {
  local name=$1 kind=$2 port=$3; shift 3
  local d=$WORK/$name
  mkdir -p "$d/state"
  echo "--- $name: msm-pcapgen $kind $*"
  if ! "$GEN" "$kind" --out "$d" --subscribers "$N" "$@" >"$d/gen.log" 2>&1; then
    cat "$d/gen.log"; FAIL=$((FAIL + 1)); echo "FAIL $name (generate)"; return
  fi
  sed 's/^/    /' "$d/gen.log"
  local frames
  frames=$(/usr/bin/python3 -c "import json; print(json.load(open('$d/manifest-$kind.json'))['frames'])")
  empty_pcap "$d/empty.pcap"
  local wwan_rx=$d/empty.pcap inet_rx=$d/empty.pcap preload=""
  if [ "$port" = wwan ]; then wwan_rx=$d/$kind.pcap; else inet_rx=$d/$kind.pcap; fi
  [ "$kind" != registrations ] && preload="preload = \"$d/bindings.txt\""
  # net_pcap delivers the whole file as fast as the worker polls, and the MSM keeps each
  # request's mbuf until its binding is durable (the Reply is written into it): size the
  # control ring for the whole storm and the pool for the ring plus the data path, or
  # net_pcap drops frames for want of mbufs (rx_nombuf) as a NIC would.
  local ring=4096 mbufs=8191
  if [ "$kind" = registrations ]; then
    while [ "$ring" -le "$frames" ]; do ring=$((ring * 2)); done
    mbufs=$((ring * 2 + 8191))
  fi
  cat >"$d/msm.toml" <<EOF
# net_pcap: port 0 (wwan) and port 1 (internet) get MACs 02:70:63:61:70:00 / :01.
# One rx queue each (the worker's), two tx queues each (worker, control): one tx_pcap per queue.
[eal]
args = [
  "-l", "0,1", "--no-huge", "-m", "$(( (mbufs * 5 / 2048) + 256 ))", "--no-pci", "--file-prefix", "$PREFIX",
  "--vdev=net_pcap0,rx_pcap=$wwan_rx,tx_pcap=$d/wwan-tx0.pcap,tx_pcap=$d/wwan-tx1.pcap",
  "--vdev=net_pcap1,rx_pcap=$inet_rx,tx_pcap=$d/inet-tx0.pcap,tx_pcap=$d/inet-tx1.pcap",
  "--log-level=pmd.net.pcap:warning",
]
[control]
socket = "$d/msm.sock"
subscribers = "$d/subscribers.txt"
state_dir = "$d/state"
max_lifetime_s = 600
replay_window_s = 7
ring_size = $ring
[[port]]
name = "wwan"
device = "net_pcap0"
role = "wwan"
address = "192.0.2.129"
prefix_len = 29
gateway = "192.0.2.130"
[[port]]
name = "internet"
device = "net_pcap1"
role = "internet"
address = "198.51.100.1"
prefix_len = 24
gateway = "198.51.100.2"
[[worker]]
lcore = 1
queues = [ { port = "wwan", queue = 0 }, { port = "internet", queue = 0 } ]
[home]
pools = ["100.64.0.0/16"]
[table]
capacity = 65536
$preload
[mempool]
mbufs = $mbufs
EOF
  if ! "$MSM" check-config "$d/msm.toml" >"$d/check-config.log" 2>&1; then
    cat "$d/check-config.log"; FAIL=$((FAIL + 1)); echo "FAIL $name (msm check-config refused the provisioning files)"; return
  fi
  echo "    msm check-config: $(cat "$d/check-config.log")"
  MSM_LOG=warn "$MSM" run --config "$d/msm.toml" >"$d/msm.log" 2>&1 &
  MSM_PID=$!
  local ok=0 c=(0 0 0) i
  for i in $(seq 150); do # up to 30 s
    sleep 0.2
    kill -0 "$MSM_PID" 2>/dev/null || break
    local got=()
    read -r -a got < <(counts "$d" 2>/dev/null) || continue
    [ "${#got[@]}" = 3 ] || continue
    c=("${got[@]}")
    if [ "${c[0]}" -ge "$frames" ] && { [ "$kind" != registrations ] || [ "${c[1]}" -ge $((frames - 1)) ]; }; then
      ok=1; break
    fi
  done
  sleep 0.3 # let the last tx burst reach the pcap
  stats "$d" >"$d/stats.json" 2>/dev/null
  if [ "$kind" = registrations ] && [ "$ok" = 1 ] && [ "${EXPECT_FAIL:-}" != 1 ]; then
    # Spot-check the binding table through the control socket: the first and last
    # subscriber are bound to the care-of address bindings-after.txt names.
    local line home coa
    for line in "$(grep -v '^#' "$d/bindings-after.txt" | head -1)" "$(grep -v '^#' "$d/bindings-after.txt" | tail -1)"; do
      read -r home coa _ <<<"$line"
      if ! "$MSM" ctl --socket "$d/msm.sock" show "$home" | grep -q "\"care_of\":\"$coa\""; then
        echo "    binding of $home is not $coa: $("$MSM" ctl --socket "$d/msm.sock" show "$home")"; ok=0
      fi
    done
  fi
  kill -TERM "$MSM_PID" 2>/dev/null
  for i in $(seq 50); do kill -0 "$MSM_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$MSM_PID" 2>/dev/null; wait "$MSM_PID" 2>/dev/null; MSM_PID=
  echo "    msm: rx_packets ${c[0]} of $frames frames, replies_sent ${c[1]}, registrations_received ${c[2]}"
  if [ "$ok" != 1 ]; then
    FAIL=$((FAIL + 1)); echo "FAIL $name (MSM did not take every frame / answer every request in 30 s)"
    tail -20 "$d/msm.log" | sed 's/^/    /'; return
  fi
  local outs=()
  for f in "$d"/wwan-tx0.pcap "$d"/wwan-tx1.pcap "$d"/inet-tx0.pcap "$d"/inet-tx1.pcap; do [ -s "$f" ] && outs+=("$f"); done
  "$GEN" verify --dir "$d" --kind "$kind" "${outs[@]}" >"$d/verify.log" 2>&1
  local rc=$?
  if [ "$kind" = registrations ] && command -v tshark >/dev/null && command -v mergecap >/dev/null; then
    # Independent decoder: the Replies as Mobile IP, no malformed frames, checksums good.
    local replies bad
    mergecap -F pcap -w "$d/all-tx.pcap" "${outs[@]}"
    replies=$(tshark -r "$d/all-tx.pcap" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
      -Y 'mip.type == 3 && mip.code == 0 && udp.checksum.status == 1' 2>/dev/null | wc -l)
    bad=$(tshark -r "$d/all-tx.pcap" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
      -Y '_ws.malformed || _ws.expert.severity >= warning' 2>/dev/null | wc -l)
    echo "    tshark: $replies Registration Replies with code 0 and a good UDP checksum, $bad malformed/warning frames"
    [ "$bad" = 0 ] && [ "$replies" = $((frames - 1)) ] || rc=1
  fi
  if [ "${EXPECT_FAIL:-}" = 1 ]; then
    # A negative run: verify must fail, for the reason given in EXPECT_GREP.
    if [ "$rc" != 0 ] && grep -q "$EXPECT_GREP" "$d/verify.log"; then
      PASS=$((PASS + 1)); echo "PASS $name (refused as expected): $(head -1 "$d/verify.log")"
    else
      FAIL=$((FAIL + 1)); echo "FAIL $name (expected a failure matching '$EXPECT_GREP')"; sed 's/^/    /' "$d/verify.log"
    fi
  elif [ "$rc" = 0 ]; then
    PASS=$((PASS + 1)); echo "PASS $name: $(head -1 "$d/verify.log")"
  else
    FAIL=$((FAIL + 1)); echo "FAIL $name"; sed 's/^/    /' "$d/verify.log"
  fi
}

run downlink downlink internet --packets "$PACKETS" --size mix --seed 1
run uplink uplink internet --packets "$PACKETS" --size mix --seed 2
run reg-direct registrations internet --path direct --seed 3
run reg-wwan registrations wwan --path wwan --seed 4
# Two rounds (a handover each): the Identification seconds of the 2N requests span 1 s.
run reg-tunnel registrations internet --path tunnel --seed 5 --rounds 2 --rate $((2 * N))
# The default --rate 10000 spans N/10000 s: net_pcap replays it at once, fine up to the
# 7 s window. Staleness: a storm stamped 60 s ago is answered 133 (identification mismatch), all of it.
EXPECT_FAIL=1 EXPECT_GREP="matched 0 duplicates 0 wrong $N unexpected 0 .*reply_codes {133: $N}" run reg-stale registrations internet --seed 6 --time-offset -60

echo "pcapgen check: $PASS passed, $FAIL failed ($(($(date +%s) - T0)) s)"
[ "$FAIL" = 0 ]
