#!/bin/bash
# up.sh — leaves running: rdmq start (7530-7533) with k1 = 256 MiB by kcat, and a null server serving 256 MiB (port in /work/s37/null-up.out)
cd ${TREE:-/work/main}
pkill -f "main.js start --data /dev/shm/s37k"; pkill -f null-kafka-server; sleep 1
rm -rf /dev/shm/s37k
setsid node $NODEOPT dist/cli/main.js start --data /dev/shm/s37k --control 127.0.0.1:7530 --fastpath 127.0.0.1:7531 --metrics 127.0.0.1:7532 --kafka 127.0.0.1:7533 --region-size 4G --prefault-region > /work/s37/kstart-up.log 2>&1 < /dev/null &
for i in $(seq 1 120); do grep -q '"ready"' /work/s37/kstart-up.log && break; sleep 0.5; done
kcat -P -b 127.0.0.1:7533 -t k1 -X batch.size=1000000 -X linger.ms=20 -l /dev/shm/s37-recs256.txt
setsid node dist/bench/null-kafka-server.js --serve 1048576 1024 268435456 > /work/s37/null-up.out < /dev/null 2>&1 &
for i in $(seq 1 60); do grep -q port /work/s37/null-up.out && break; sleep 0.5; done
node -e 'console.log(JSON.parse(require("fs").readFileSync("/work/s37/null-up.out","utf8").split("\n")[0]).port)' > /work/s37/null-port
echo "up: gateway 7533, null $(cat /work/s37/null-port)"
