#!/usr/bin/env bash
# The operator surface's data-plane cost in instructions per packet (issue 13: "no
# measurable data-plane cost with all of it on"). Wall-clock A/B runs on a shared VM vary
# by +-15 % from run to run, far more than what is being looked for; the instruction count
# of the worker loop does not.
#
# For downlink and uplink, with the top-N sampling off and on (what the operator surface
# adds to a worker; the packet trace is compiled in and unarmed in both, as on the
# appliance; Prometheus, telemetry, the audit log and dumpcap's server run on the main
# lcore or other threads, not on the worker), runs
#
#   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*dataplane::worker::run' \
#       target/release/msm-bench ... --operator-cost-probe TRAFFIC:on|off
#
# (the real worker loop, `msm::dataplane::worker::run`, on net_null at 1K bindings, 64-byte
# frames, the harness' packet source and output check included, which are the same per
# packet in both) and divides the instructions collected in the worker by the packets it
# received over its whole life. Also reports the instructions of `take_sample` (the cold
# function that copies one sampled packet's summary) in the `on` runs.
#
# Usage: perf/operator-cost.sh [--out FILE.json] [--window-ms MS]
# Needs root (DPDK EAL), valgrind (callgrind, callgrind_annotate) and a release build of
# msm-bench (cargo build --release -p msm-bench). About a minute (valgrind --fair-sched=yes, so
# that the main lcore gets its turn to end the window and drain the samples).
set -euo pipefail
cd "$(dirname "$0")/.."
out=
window=3000
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --window-ms) window=$2; shift 2 ;;
    *) echo "operator-cost.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "operator-cost.sh: valgrind not installed" >&2; exit 3; }
command -v callgrind_annotate >/dev/null || { echo "operator-cost.sh: callgrind_annotate not installed" >&2; exit 3; }
bin=target/release/msm-bench
[ -x "$bin" ] || { echo "operator-cost.sh: $bin missing (cargo build --release -p msm-bench)" >&2; exit 3; }

work=$(mktemp -d /tmp/msm-operator-cost.XXXXXX)
trap 'rm -rf "$work"' EXIT

probe=("$bin" --sizes 1000 --frame-sizes 64 --no-mix --latency-loads 50 --no-storm
       --churn-rounds 0 --nat-share 0 --wait-quiet 0 --warmup-ms 200 --eal-mem 128
       --window-ms "$window" --sample-ms 500)
vg=(valgrind --tool=callgrind --fair-sched=yes --collect-atstart=no "--toggle-collect=*dataplane::worker::run")

rows=()
for traffic in downlink uplink; do
  for mode in off on; do
    cg=$work/cg.$traffic.$mode
    echo "operator-cost: $traffic, operator surface $mode" >&2
    if ! "${vg[@]}" --callgrind-out-file="$cg" "${probe[@]}" --operator-cost-probe "$traffic:$mode" \
        >"$work/out.$traffic.$mode" 2>"$work/err.$traffic.$mode"; then
      echo "operator-cost.sh: the $traffic:$mode probe failed:" >&2
      tail -5 "$work/err.$traffic.$mode" >&2
      exit 1
    fi
    ir=$(awk '/^summary:/ {print $2}' "$cg")
    rx=$(sed -n 's/.*rx_total=\([0-9]*\).*/\1/p' "$work/out.$traffic.$mode")
    samples=$(sed -n 's/.*samples=\([0-9]*\).*/\1/p' "$work/out.$traffic.$mode")
    # take_sample's inclusive instructions (0 when it never ran).
    ts=$(callgrind_annotate --inclusive=yes --threshold=100 "$cg" 2>/dev/null \
         | awk '/worker\.rs:msm::dataplane::worker::take_sample / && !n++ {gsub(",", "", $1); print $1}' || true)
    if [ -z "$ir" ] || [ -z "$rx" ] || [ "$rx" -eq 0 ]; then
      echo "operator-cost.sh: no count from the $traffic:$mode probe (Ir '$ir', packets '$rx')" >&2
      exit 1
    fi
    rows+=("$traffic $mode $ir $rx ${samples:-0} ${ts:-0}")
  done
done

printf '%s\n' "${rows[@]}" | python3 -c '
import json, sys
rev = sys.argv[1]
cmd = sys.argv[2]
runs = {}
for line in sys.stdin:
    t, m, ir, rx, samples, ts = line.split()
    runs.setdefault(t, {})[m] = {"instructions": int(ir), "packets": int(rx),
        "per_packet": int(ir) / int(rx), "samples": int(samples),
        "take_sample_instructions": int(ts)}
out = {"git": rev, "command": cmd, "runs": []}
for t, r in runs.items():
    off, on = r["off"]["per_packet"], r["on"]["per_packet"]
    out["runs"].append({"traffic": t, "off": r["off"], "on": r["on"],
        "delta_per_packet": on - off, "delta_share": (on - off) / off,
        "take_sample_per_packet": r["on"]["take_sample_instructions"] / r["on"]["packets"]})
    o = r["on"]
    print("operator-cost: %s: %.2f -> %.2f instructions/packet (%+.3f, %+.4f %%); "
          "take_sample %.3f/packet over %d samples"
          % (t, off, on, on - off, 100 * (on - off) / off,
             o["take_sample_instructions"] / o["packets"], o["samples"]), file=sys.stderr)
print(json.dumps(out, indent=1))
' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  "${vg[*]} ${probe[*]} --operator-cost-probe TRAFFIC:off|on" >"$work/result.json"

if [ -n "$out" ]; then
  cp "$work/result.json" "$out"
else
  cat "$work/result.json"
fi
