#!/bin/bash
# kcgw.sh TAG — fresh rdmq start (TREE), k1 = 256 MiB via kcat; N kcat reads (-c records) timed; server CPU
. "$(dirname "$0")/filled-start.sh"
T=$1
start_filled $T
for i in $(seq 1 ${N:-4}); do
  c0=$(awk '{print $14+$15}' /proc/$SP/stat); t0=$(date +%s.%N)
  kcat -C -b 127.0.0.1:7533 -t k1 -o beginning -c 262144 -q -X fetch.max.bytes=67108864 -X max.partition.fetch.bytes=33554432 > /dev/null
  t1=$(date +%s.%N); echo "kcat read $(echo "268.4/($t1-$t0)" | bc) MB/s server $(( $(awk '{print $14+$15}' /proc/$SP/stat) - c0 )) cs"
done
kill -INT $SP; wait $SP
rm -rf /dev/shm/s37k
