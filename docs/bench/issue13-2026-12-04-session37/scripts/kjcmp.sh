#!/bin/bash
# kjcmp.sh TAG — fresh rdmq start with k1 = 256 MiB (kcat, 1 MB batches), null server serving 256 MiB; kjmulti alternating
T=$1
cd ${TREE:-/work/main}
pkill -f "main.js start --data /dev/shm/s37k"; sleep 1
rm -rf /dev/shm/s37k
node $NODEOPT dist/cli/main.js start --data /dev/shm/s37k --control 127.0.0.1:7530 --fastpath 127.0.0.1:7531 --metrics 127.0.0.1:7532 --kafka 127.0.0.1:7533 --region-size 4G --prefault-region > /work/s37/kstart-$T.log 2>&1 &
SP=$!
for i in $(seq 1 120); do grep -q '"ready"' /work/s37/kstart-$T.log && break; sleep 0.5; done
head -262144 /dev/shm/s37-recs.txt > /dev/shm/s37-recs256.txt
kcat -P -b 127.0.0.1:7533 -t k1 -X batch.size=1000000 -X linger.ms=20 -l /dev/shm/s37-recs256.txt
node dist/bench/null-kafka-server.js --serve 1048576 1024 268435456 > /work/s37/null-$T.out &
NP=$!
sleep 3
P=$(node -e 'console.log(JSON.parse(require("fs").readFileSync("/work/s37/null-'$T'.out","utf8").split("\n")[0]).port)')
node /work/s37/kjmulti.js 268000000 ${N:-4} 127.0.0.1:7533:k1 127.0.0.1:$P:k1
kill $NP
kill -INT $SP; wait $SP
rm -rf /dev/shm/s37k
