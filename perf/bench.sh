#!/usr/bin/env bash
# The MSM benchmark suite; `make bench` runs it.
#
# 1. perf/kernel-baseline.sh (if present and executable): the Linux kernel
#    doing the MSM's job (per-mobile lwtunnel routes), JSON into perf/results/tmp.
# 2. examples/regbench.rs, short configuration (1M subscribers instead of
#    10M, batches 64 and 1024, 2-s phases): control-plane registrations/s,
#    registration-to-visible latency, lookup-proxy dip.
# 3. msm-bench (perf/bench): testpmd macswap baselines; the MSM worker for
#    downlink / uplink / a realistic mix at 1K, 1M and 10M bindings and
#    64 / 512 / 1400-byte frames; latency at 10/50/80 % load; the worker
#    under a table-update storm; scaling over worker cores; memory under
#    churn; profiles (if perf(1) is installed); the operator surface off and
#    on in the same run (--operator-ab: interleaved rounds, top-N sampling and
#    its consumer, downlink/uplink at 1K and 10M; issue 13; judged with 1c.,
#    perf/operator-cost.sh: the worker's instructions per packet, off and on, under
#    callgrind). The MSM worker
#    runs with the top-N sampling at its default K throughout, as `msm run`
#    does. It folds 1. and 2. into its results.
#
# Writes perf/results/<UTC date>-<host>.md and .json (commands, machine, git
# revision inside). Extra arguments go to msm-bench (e.g. --sizes 1000
# --window-ms 2000). BENCH_SKIP_KERNEL=1 / BENCH_SKIP_XDP=1 / BENCH_SKIP_OPERATOR_COST=1 /
# BENCH_SKIP_CONTROL=1 skip steps 1 / 1b / 1c / 2;
# BENCH_OPERATOR_AB=N sets the operator A/B's rounds (default 3, 0: none);
# BENCH_NO_HUGE=1 keeps the EALs on --no-huge, BENCH_HUGEPAGES=N reserves N 2 MiB
# pages (default 768) for the data-plane step (given back at exit).
# Needs root (DPDK EAL) and dpdk-testpmd. About 8 minutes on an idle 2-core
# machine (it waits up to a minute for idle CPUs first).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}

$CARGO build --release -p msm-bench
$CARGO build --release --example regbench

out=perf/results
tmp=$out/tmp
mkdir -p "$tmp"
host=$(hostname -s 2>/dev/null || hostname)
host=${host//[^A-Za-z0-9._-]/_}
stem="$out/$(date -u +%F)-$host"
args=(--out-md "$stem.md" --out-json "$stem.json" --operator-ab "${BENCH_OPERATOR_AB:-3}"
      --operator-ab-window-ms 1500)

# 1. Kernel baseline.
kjson=$tmp/kernel-baseline.json
if [ -n "${BENCH_SKIP_KERNEL:-}" ]; then
  args+=(--kernel-missing "not run: skipped (BENCH_SKIP_KERNEL set)")
elif [ -x perf/kernel-baseline.sh ]; then
  rm -f "$kjson"
  echo "bench: perf/kernel-baseline.sh --out $kjson" >&2
  rc=0
  perf/kernel-baseline.sh --out "$kjson" >"$tmp/kernel-baseline.log" 2>&1 || rc=$?
  if [ -s "$kjson" ]; then
    args+=(--kernel-json "$kjson")
  else
    args+=(--kernel-missing "not run: perf/kernel-baseline.sh exited $rc without writing its JSON (log: $tmp/kernel-baseline.log)")
  fi
else
  args+=(--kernel-missing "not run: perf/kernel-baseline.sh missing")
fi

# 1b. XDP peer (perf/xdp/run.sh): the MSM's job as an eBPF/XDP forwarder at 1K and 10M
#     bindings; msm-bench reports MSM : XDP per-packet cost ratios from it.
xjson=$tmp/xdp-peer.json
if [ -n "${BENCH_SKIP_XDP:-}" ]; then
  args+=(--xdp-missing "not run: skipped (BENCH_SKIP_XDP set)")
else
  rm -f "$xjson"
  echo "bench: perf/xdp/run.sh --out $xjson" >&2
  rc=0
  perf/xdp/run.sh --out "$xjson" >"$tmp/xdp-peer.log" 2>&1 || rc=$?
  if [ -s "$xjson" ]; then
    args+=(--xdp-json "$xjson")
  else
    args+=(--xdp-missing "not run: perf/xdp/run.sh exited $rc without writing its JSON (log: $tmp/xdp-peer.log)")
  fi
fi

# 1c. The operator surface's cost in worker instructions per packet (issue 13; callgrind,
#     about a minute): judged in the Targets table next to the wall-clock A/B of step 3.
ojson=$tmp/operator-cost.json
if [ -n "${BENCH_SKIP_OPERATOR_COST:-}" ]; then
  args+=(--operator-cost-missing "not run: skipped (BENCH_SKIP_OPERATOR_COST set)")
elif ! command -v valgrind >/dev/null 2>&1; then
  args+=(--operator-cost-missing "not run: valgrind is not installed (make deps installs it)")
else
  rm -f "$ojson"
  echo "bench: perf/operator-cost.sh --out $ojson" >&2
  rc=0
  perf/operator-cost.sh --out "$ojson" >"$tmp/operator-cost.log" 2>&1 || rc=$?
  if [ -s "$ojson" ]; then
    args+=(--operator-cost-json "$ojson")
  else
    args+=(--operator-cost-missing "not run: perf/operator-cost.sh exited $rc without writing its JSON (log: $tmp/operator-cost.log)")
  fi
fi

# 2. Control plane, short configuration.
if [ -z "${BENCH_SKIP_CONTROL:-}" ]; then
  reg=(target/release/examples/regbench --bindings 1000000 --requests 900000
       --batches 64,1024 --run-secs 2 --quiet-secs 2 --wait-idle 30 --attempts 2)
  echo "bench: ${reg[*]}" >&2
  if "${reg[@]}" >"$tmp/regbench.md" 2>"$tmp/regbench.log"; then
    args+=(--control-md "$tmp/regbench.md" --control-command "${reg[*]}")
  else
    echo "bench: regbench failed (see $tmp/regbench.log)" >&2
    printf 'regbench failed, exit status %s; see %s\n' "$?" "$tmp/regbench.log" >"$tmp/regbench.md"
    args+=(--control-md "$tmp/regbench.md" --control-command "${reg[*]} (FAILED)")
  fi
fi

# 3. Data plane. Huge pages (issue 12): unless BENCH_NO_HUGE is set, reserve
#    BENCH_HUGEPAGES (default 768) 2 MiB pages via /proc/sys/vm/nr_hugepages, mount a
#    hugetlbfs on a temporary directory and run the MSM's EAL and testpmd on them
#    (msm-bench --huge-dir: mbuf pools in huge pages); the pages and the mount are
#    given back on every exit, failure and signal included. Where the machine cannot
#    reserve them (not root, no hugetlbfs, too few free): --no-huge, as before.
huge_dir=
huge_old=
huge_release() {
  if [ -n "$huge_dir" ]; then
    # A process that was just killed may still hold its mappings for a moment.
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
      umount "$huge_dir" 2>/dev/null && break
      sleep 0.5
    done
    mountpoint -q "$huge_dir" && umount -l "$huge_dir" 2>/dev/null
    rmdir "$huge_dir" 2>/dev/null || true
    huge_dir=
  fi
  if [ -n "$huge_old" ]; then
    echo "$huge_old" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
    echo "bench: huge pages given back (nr_hugepages = $(cat /proc/sys/vm/nr_hugepages))" >&2
    huge_old=
  fi
}
# Sets huge_why (the reason) and returns 1 when the pages cannot be had; huge_dir and
# huge_old say what huge_release must undo.
huge_reserve() {
  local want=${BENCH_HUGEPAGES:-768} have
  [ -w /proc/sys/vm/nr_hugepages ] || { huge_why="cannot write /proc/sys/vm/nr_hugepages"; return 1; }
  grep -q '^Hugepagesize: *2048 kB' /proc/meminfo || { huge_why="default huge page size is not 2 MiB"; return 1; }
  grep -qw hugetlbfs /proc/filesystems || { huge_why="no hugetlbfs in this kernel"; return 1; }
  huge_old=$(cat /proc/sys/vm/nr_hugepages)
  echo $((huge_old + want)) >/proc/sys/vm/nr_hugepages 2>/dev/null || { huge_why="reserving $want pages failed"; return 1; }
  have=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
  if [ "${have:-0}" -lt "$want" ]; then
    huge_why="only ${have:-0} of $want huge pages could be reserved"
    return 1
  fi
  huge_dir=$(mktemp -d /tmp/msm-bench-huge.XXXXXX)
  mount -t hugetlbfs -o pagesize=2M nodev "$huge_dir" || { huge_why="mounting hugetlbfs failed"; return 1; }
  huge_why="$want huge pages of 2 MiB reserved, hugetlbfs at $huge_dir"
}
trap huge_release EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -z "${BENCH_NO_HUGE:-}" ]; then
  if huge_reserve; then
    echo "bench: $huge_why" >&2
    args+=(--huge-dir "$huge_dir")
  else
    echo "bench: no huge pages ($huge_why): --no-huge" >&2
    huge_release
  fi
fi
if command -v perf >/dev/null 2>&1; then
  args+=(--profile "$tmp")
fi
target/release/msm-bench --invocation "perf/bench.sh${*:+ $*}" "${args[@]}" "$@"
echo "results: $stem.md $stem.json"
echo "bench: the suite took $((SECONDS / 60)) min $((SECONDS % 60)) s" >&2
