#!/bin/bash
# kjgw.sh TAG — fresh rdmq start (TREE), k1 = 256 MiB via kcat; kjmulti N rounds of the gateway only under /usr/bin/time; server CPU
T=$1
cd ${TREE:-/work/main}
pkill -f "main.js start --data /dev/shm/s37k"; sleep 1
rm -rf /dev/shm/s37k
node $NODEOPT dist/cli/main.js start --data /dev/shm/s37k --control 127.0.0.1:7530 --fastpath 127.0.0.1:7531 --metrics 127.0.0.1:7532 --kafka 127.0.0.1:7533 --region-size 4G --prefault-region > /work/s37/kstart-$T.log 2>&1 &
SP=$!
for i in $(seq 1 120); do grep -q '"ready"' /work/s37/kstart-$T.log && break; sleep 0.5; done
kcat -P -b 127.0.0.1:7533 -t k1 -X batch.size=1000000 -X linger.ms=20 -l /dev/shm/s37-recs256.txt
c0=$(awk '{print $14+$15}' /proc/$SP/stat)
/usr/bin/time -f "   client %U+%S s, ctx vol %w invol %c" node /work/s37/kjmulti.js 268000000 ${N:-4} 127.0.0.1:7533:k1 2>&1 | sed 's/durations.*//'
echo "   server $(( $(awk '{print $14+$15}' /proc/$SP/stat) - c0 )) cs"
kill -INT $SP; wait $SP
rm -rf /dev/shm/s37k
