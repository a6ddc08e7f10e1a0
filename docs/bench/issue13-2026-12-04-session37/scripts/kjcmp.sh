#!/bin/bash
# kjcmp.sh TAG — fresh rdmq start with k1 = 256 MiB (kcat, 1 MB batches), null server serving 256 MiB; kjmulti alternating
. "$(dirname "$0")/filled-start.sh"
T=$1
start_filled $T
node dist/bench/null-kafka-server.js --serve 1048576 1024 268435456 > /work/s37/null-$T.out &
NP=$!
sleep 3
P=$(node -e 'console.log(JSON.parse(require("fs").readFileSync("/work/s37/null-'$T'.out","utf8").split("\n")[0]).port)')
node /work/s37/kjmulti.js 268000000 ${N:-4} 127.0.0.1:7533:k1 127.0.0.1:$P:k1
kill $NP
kill -INT $SP; wait $SP
rm -rf /dev/shm/s37k
