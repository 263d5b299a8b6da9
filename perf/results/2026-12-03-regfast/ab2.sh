#!/bin/bash
while [ ! -f ab.done ]; do sleep 5; done
# CPU part only: the journal on tmpfs (fdatasync costs next to nothing), interleaved.
ARGS="--batches 32,64,1024 --requests 3000000 --attempts 2 --wait-idle 60 --quiet-secs 1 --micro 0 --dir /dev/shm"
for round in 1 2; do
  for v in before after; do
    out=shm-$round-$v
    { date -Is; uptime; echo "cpu: $(head -1 /proc/pressure/cpu)"; echo "io: $(head -1 /proc/pressure/io)"; } > $out.load
    ./regbench-$v $ARGS > $out.md 2> $out.err
    { date -Is; uptime; } >> $out.load
  done
done
./prof.sh ./regbench-after prof-after
echo finished > ab2.done
