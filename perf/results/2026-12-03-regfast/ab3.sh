#!/bin/bash
ARGS="--batches 32,64,1024 --requests 4000000 --attempts 2 --wait-idle 60 --quiet-secs 1 --micro 0"
for round in 1 2; do
  for d in disk shm; do
    for v in before after; do
      out=r$round-$d-$v
      extra=""; [ $d = shm ] && extra="--dir /dev/shm"
      { date -Is; uptime; echo "cpu: $(head -1 /proc/pressure/cpu)"; echo "io: $(head -1 /proc/pressure/io)"; } > $out.load
      ./regbench-$v $ARGS $extra > $out.md 2> $out.err
      { date -Is; uptime; } >> $out.load
    done
  done
done
echo finished > ab3.done
