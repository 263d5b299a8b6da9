#!/usr/bin/env bash
# Correctness of the XDP peer (perf/xdp/msm_xdp.bpf.c): builds it and runs known frames
# through it with BPF_PROG_TEST_RUN (xdp_peer run), checking the output frames with scapy
# (perf/xdp/check.py). Part of `make test` (e2e). Needs root, clang, libbpf-dev, python3-scapy.
set -euo pipefail
cd "$(dirname "$0")/../.."
TMP=$(mktemp -d /tmp/msmxdpcheck.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
clang -O2 -g -Wall -Werror -target bpf -I/usr/include/x86_64-linux-gnu -c perf/xdp/msm_xdp.bpf.c -o "$TMP/msm_xdp.o"
clang -O2 -g -Wall -Werror -target bpf -I/usr/include/x86_64-linux-gnu -c perf/xdp/xdp_gen.bpf.c -o "$TMP/xdp_gen.o"
clang -O2 -Wall -Werror -o "$TMP/xdp_peer" perf/xdp/xdp_peer.c -lbpf
/usr/bin/python3 perf/xdp/check.py "$TMP/xdp_peer" "$TMP/msm_xdp.o"
# The benchmark's own checks on a small run (verdicts, outputs, counters).
"$TMP/xdp_peer" bench "$TMP/msm_xdp.o" --bindings 1000 --frames 2000 --cpu -1 >/dev/null 2>"$TMP/bench.log" \
  || { cat "$TMP/bench.log" >&2; exit 1; }
echo "xdp peer: ok"
