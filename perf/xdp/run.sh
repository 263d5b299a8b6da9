#!/usr/bin/env bash
# The XDP peer baseline (perf/README.md "XDP peer"): builds perf/xdp/*.bpf.c and the driver
# xdp_peer.c, creates a network namespace with one veth pair, and runs
#
#   xdp_peer bench msm_xdp.o --bindings B --frames F --gen xdp_gen.o --veth xa,xb ...
#
# pinned to CPU 1 (the MSM worker's CPU in msm-bench). Writes one JSON document to --out
# ({"status": "ok"|"unavailable", "reason": ..., "runs": [...]}).
#
#   perf/xdp/run.sh --out FILE.json [--bindings 1000,10000000] [--frames 100000]
#                   [--veth-frames 1000000] [--rounds 3] [--cpu 1]
#
# Needs root, clang and libbpf-dev. The namespace msmxdp-<pid> is removed on every exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="" BINDINGS=1000,10000000 FRAMES=100000 VETH_FRAMES=1000000 ROUNDS=3 CPU=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --bindings) BINDINGS=$2; shift 2 ;;
    --frames) FRAMES=$2; shift 2 ;;
    --veth-frames) VETH_FRAMES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --cpu) CPU=$2; shift 2 ;;
    *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
[ -n "$OUT" ] || { echo "xdp-peer: --out FILE.json required" >&2; exit 2; }
NS=msmxdp-$$
TMP=$(mktemp -d /tmp/msmxdp.XXXXXX)
cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
unavailable() {
  jq -n --arg r "$1" '{status: "unavailable", reason: $r, runs: []}' >"$OUT"
  echo "xdp-peer: unavailable: $1" >&2
  exit 0
}
[ "$(id -u)" = 0 ] || unavailable "needs root (BPF, network namespace)"
command -v clang >/dev/null || unavailable "clang not installed"
[ -f /usr/include/bpf/libbpf.h ] || unavailable "libbpf headers missing (apt-get install libbpf-dev)"
[ "$(nproc)" -gt "$CPU" ] || unavailable "CPU $CPU missing (have $(nproc))"
BPF_CFLAGS=(-O2 -g -Wall -target bpf -I/usr/include/x86_64-linux-gnu)
clang "${BPF_CFLAGS[@]}" -c perf/xdp/msm_xdp.bpf.c -o "$TMP/msm_xdp.o"
clang "${BPF_CFLAGS[@]}" -c perf/xdp/xdp_gen.bpf.c -o "$TMP/xdp_gen.o"
clang -O2 -Wall -o "$TMP/xdp_peer" perf/xdp/xdp_peer.c -lbpf
ip netns add "$NS"
ip -n "$NS" link add xa type veth peer name xb
ip -n "$NS" link set xa up
ip -n "$NS" link set xb up
cmd=(ip netns exec "$NS" "$TMP/xdp_peer" bench "$TMP/msm_xdp.o" --bindings "$BINDINGS"
     --frames "$FRAMES" --gen "$TMP/xdp_gen.o" --veth xa,xb --veth-frames "$VETH_FRAMES"
     --rounds "$ROUNDS" --cpu "$CPU" --out "$TMP/out.json")
echo "xdp-peer: ${cmd[*]}" >&2
rc=0
"${cmd[@]}" || rc=$?
if [ "$rc" != 0 ] || ! jq -e . "$TMP/out.json" >/dev/null 2>&1; then
  unavailable "xdp_peer exited $rc"
fi
jq --arg c "perf/xdp/run.sh --out $OUT --bindings $BINDINGS --frames $FRAMES --veth-frames $VETH_FRAMES --rounds $ROUNDS --cpu $CPU" \
   --arg d "${cmd[*]}" '. + {command: $c, driver_command: $d}' "$TMP/out.json" >"$OUT"
