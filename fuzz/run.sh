#!/usr/bin/env bash
# The fuzz targets under libFuzzer (cargo-fuzz): `make fuzz-smoke` and `make fuzz`.
#
#   fuzz/run.sh smoke      every target on its checked-in corpus (fuzz/corpus/<t>/, left
#                          unchanged), then FUZZ_SMOKE_SECONDS (5) of mutation; fails on
#                          any crash. Part of `make test`.
#   fuzz/run.sh campaign   every target for FUZZ_SECONDS (600) or FUZZ_RUNS executions
#                          (whichever comes first), FUZZ_JOBS parallel jobs (1), one target
#                          after the other, at nice FUZZ_NICE (19); the corpus grows in
#                          fuzz/corpus-run/<t>/ (seeded from fuzz/corpus/<t>/, not
#                          committed), crashes land in fuzz/artifacts/<t>/. Prints, per
#                          target: executions, seconds, exec/s, coverage (edges, features),
#                          corpus size, crashes; the logs are in fuzz/target/logs/.
#
# FUZZ_TARGETS selects targets (default: all), FUZZ_SANITIZER the sanitizer (none: the
# targets are safe Rust over msm's lib; "address" works too, several times slower).
# On the stable toolchain RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags.
set -euo pipefail
cd "$(dirname "$0")"

mode=${1:-smoke}
ALL="dataplane mip_request registrar journal_replay subscribers config"
TARGETS=${FUZZ_TARGETS:-$ALL}
SAN=${FUZZ_SANITIZER:-none}
NICE=${FUZZ_NICE:-19}
export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: make deps" >&2; exit 1; }
# -O release, -a debug assertions (overflow checks): a wrapped length is a finding.
cargo fuzz build -O -a -s "$SAN" --target-dir "target/$SAN"
bin=target/$SAN/x86_64-unknown-linux-gnu/release
logs=target/logs
mkdir -p "$logs"

# libFuzzer flags common to both modes: no input may take more than 10 s or 2 GB.
common=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

summary() { # target log crashes
  local t=$1 log=$2 crashes=$3
  local execs secs rate last cov ft corp
  execs=$(grep -h '^stat::number_of_executed_units' "$log" | awk '{s+=$2} END {print s+0}')
  secs=$(grep -h '^Done [0-9]* runs in' "$log" | awk '{if ($5>m) m=$5} END {print m+0}')
  rate=$(grep -h '^stat::average_exec_per_sec' "$log" | awk '{s+=$2} END {print s+0}')
  last=$(grep -h -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE).*cov:' "$log" | tail -1)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
  printf '%-15s %12s %7s %9s %6s %7s %12s %7s\n' "$t" "$execs" "$secs" "$rate" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes"
}

header() {
  printf '%-15s %12s %7s %9s %6s %7s %12s %7s\n' target executions seconds exec/s cov ft corpus crashes
}

# Crash, timeout and out-of-memory inputs in artifacts/<t>/ (libFuzzer also writes
# slow-unit-* there: inputs that took long, not failures).
crashes() { find "artifacts/$1" -type f ! -name 'slow-unit-*' | wc -l; }

failed=0
rows=()
case $mode in
smoke)
  secs=${FUZZ_SMOKE_SECONDS:-5}
  for t in $TARGETS; do
    scratch=$(mktemp -d)
    log=$logs/smoke-$t.log
    mkdir -p "artifacts/$t"
    before=$(crashes "$t")
    # New inputs go to the scratch directory: the checked-in corpus is only read.
    if ! "$bin/$t" "${common[@]}" -max_total_time="$secs" -artifact_prefix="artifacts/$t/" \
        "$scratch" "corpus/$t" >"$log" 2>&1; then
      echo "fuzz-smoke: $t FAILED (log: fuzz/$log)" >&2
      grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" >&2 || tail -20 "$log" >&2
      failed=1
    fi
    rm -rf "$scratch"
    for d in /dev/shm/msm-fuzz-journal-* "${TMPDIR:-/tmp}"/msm-fuzz-journal-*; do
      [ -d "$d" ] && ! kill -0 "${d##*-}" 2>/dev/null && rm -rf "$d" || true
    done
    rows+=("$(summary "$t" "$log" "$(($(crashes "$t") - before))")")
  done
  ;;
campaign)
  secs=${FUZZ_SECONDS:-600}
  jobs=${FUZZ_JOBS:-1}
  # A private copy of the binaries: a rebuild during a long campaign does not change them.
  snap=$logs/bin-$$
  mkdir -p "$snap"
  for t in $TARGETS; do cp "$bin/$t" "$snap/"; done
  bin=$snap
  for t in $TARGETS; do
    mkdir -p "corpus-run/$t" "artifacts/$t"
    cp -n "corpus/$t"/* "corpus-run/$t/" 2>/dev/null || true
    log=$logs/campaign-$t.log
    rm -f "$logs"/fuzz-*.log
    args=("${common[@]}" -max_total_time="$secs" -artifact_prefix="$PWD/artifacts/$t/")
    [ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
    echo "fuzz: $t: $bin/$t ${args[*]} corpus-run/$t (jobs $jobs)" >&2
    before=$(crashes "$t")
    if [ "$jobs" -gt 1 ]; then
      # -runs applies to each job.
      (cd "$logs" && nice -n "$NICE" "$OLDPWD/$bin/$t" "${args[@]}" -jobs="$jobs" \
        -workers="$jobs" "$OLDPWD/corpus-run/$t") >"$log" 2>&1 || failed=1
      cat "$logs"/fuzz-*.log >>"$log" 2>/dev/null || true
    else
      nice -n "$NICE" "$bin/$t" "${args[@]}" "corpus-run/$t" >"$log" 2>&1 || failed=1
    fi
    after=$(crashes "$t")
    # The journal target's state directories of processes that are gone.
    for d in /dev/shm/msm-fuzz-journal-* "${TMPDIR:-/tmp}"/msm-fuzz-journal-*; do
      [ -d "$d" ] && ! kill -0 "${d##*-}" 2>/dev/null && rm -rf "$d" || true
    done
    rows+=("$(summary "$t" "$log" "$((after - before))")")
    [ "$after" -gt "$before" ] && echo "fuzz: $t: crash(es) in fuzz/artifacts/$t/" >&2
  done
  rm -rf "$snap"
  ;;
*)
  echo "usage: $0 smoke|campaign" >&2
  exit 2
  ;;
esac
header
printf '%s\n' "${rows[@]}"
exit $failed
