#!/bin/bash
# usage: prof.sh BIN OUT
BIN=$1; OUT=$2
$BIN --batches 64 --requests 3000000 --run-secs 8 --attempts 1 --wait-idle 30 --quiet-secs 1 --micro 0 > $OUT.md 2> $OUT.err &
P=$!
while ! grep -q "storm with batches" $OUT.err 2>/dev/null; do sleep 0.2; done
sleep 0.5
perf record -e cpu-clock -F 2999 -g -C 1 -o $OUT.data -- sleep 6 2> /dev/null
wait $P
