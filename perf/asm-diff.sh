#!/usr/bin/env bash
# Compare functions' machine code between two builds (addresses normalised).
#
#   perf/asm-diff.sh BINARY_A BINARY_B [FUNCTION...]
#
# Prints, per function, its instruction count in each binary, how many `rdtsc` and
# `lfence` it contains, and how many instruction lines differ once addresses, RIP
# offsets and symbol comments are taken out. Used to show that the default build's
# worker has none of the `stage-cycles` code: build msm-bench at the commit before
# the feature and at this one (default features), and every function of the data
# path is instruction-for-instruction identical (see perf/README.md, "Profiling").
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,11p' "$0"; exit 2; }
a=$1 b=$2; shift 2
[ $# -gt 0 ] || set -- msm::dataplane::worker::run msm::dataplane::forward::route \
  msm::dataplane::local::deliver msm::dataplane::forward::emit
fn_asm() {
  objdump -d -C --no-show-raw-insn "$1" | awk -v f="<$2>:" '
    $0 ~ /^[0-9a-f]+ <.*>:$/ { on = (index($0, f) > 0); next }
    on && NF { sub(/^ *[0-9a-f]+:\t/, ""); gsub(/[0-9a-f]+ </, "<");
               gsub(/0x[0-9a-f]+\(%rip\)/, "RIP"); sub(/ *# <.*>$/, ""); print }'
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf "%-32s %22s %22s %10s\n" function "A: insns/rdtsc/lfence" "B: insns/rdtsc/lfence" differing
for f in "$@"; do
  fn_asm "$a" "$f" > "$tmp/a"; fn_asm "$b" "$f" > "$tmp/b"
  c() { printf "%d/%d/%d" "$(wc -l < "$1")" "$(grep -c rdtsc "$1" || true)" "$(grep -c lfence "$1" || true)"; }
  printf "%-32s %22s %22s %10s\n" "$f" "$(c "$tmp/a")" "$(c "$tmp/b")" \
    "$(diff "$tmp/a" "$tmp/b" | grep -c '^[<>]' || true)"
done
