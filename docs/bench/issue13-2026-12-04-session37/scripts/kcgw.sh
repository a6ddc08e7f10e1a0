#!/bin/bash
# kcgw.sh TAG — fresh rdmq start (TREE), k1 = 256 MiB via kcat; N kcat reads (-c records) timed; server CPU
T=$1
cd ${TREE:-/work/main}
pkill -f "main.js start --data /dev/shm/s37k"; sleep 1
rm -rf /dev/shm/s37k
node $NODEOPT dist/cli/main.js start --data /dev/shm/s37k --control 127.0.0.1:7530 --fastpath 127.0.0.1:7531 --metrics 127.0.0.1:7532 --kafka 127.0.0.1:7533 --region-size 4G --prefault-region > /work/s37/kstart-$T.log 2>&1 &
SP=$!
for i in $(seq 1 120); do grep -q '"ready"' /work/s37/kstart-$T.log && break; sleep 0.5; done
kcat -P -b 127.0.0.1:7533 -t k1 -X batch.size=1000000 -X linger.ms=20 -l /dev/shm/s37-recs256.txt
for i in $(seq 1 ${N:-4}); do
  c0=$(awk '{print $14+$15}' /proc/$SP/stat); t0=$(date +%s.%N)
  kcat -C -b 127.0.0.1:7533 -t k1 -o beginning -c 262144 -q -X fetch.max.bytes=67108864 -X max.partition.fetch.bytes=33554432 > /dev/null
  t1=$(date +%s.%N); echo "kcat read $(echo "268.4/($t1-$t0)" | bc) MB/s server $(( $(awk '{print $14+$15}' /proc/$SP/stat) - c0 )) cs"
done
kill -INT $SP; wait $SP
rm -rf /dev/shm/s37k
