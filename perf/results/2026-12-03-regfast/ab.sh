#!/bin/bash
# Interleaved A/B: before (0f39739) and after, same arguments, same machine.
ARGS="--batches 32,64,1024 --requests 3000000 --attempts 2 --wait-idle 90 --quiet-secs 1"
for round in 1 2 3; do
  for v in before after; do
    out=ab-$round-$v
    { date -Is; uptime; echo "cpu: $(head -1 /proc/pressure/cpu)"; echo "io: $(head -1 /proc/pressure/io)"; } > $out.load
    ./regbench-$v $ARGS > $out.md 2> $out.err
    { date -Is; uptime; } >> $out.load
  done
done
echo finished > ab.done
