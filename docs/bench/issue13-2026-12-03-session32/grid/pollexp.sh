#!/bin/bash
# pollexp.sh SERVER_US CLIENT_US — lone-publish breakdown total with poll windows
S=$1; C=$2
rm -rf /dev/shm/s32p
RDMQ_POLL_WINDOW_US=$S node dist/cli/main.js start --data /dev/shm/s32p --region-size 1G > /work/s32/pstart.log 2>&1 &
PID=$!
for i in $(seq 1 60); do grep -q '"ready"' /work/s32/pstart.log && break; sleep 0.5; done
RDMQ_POLL_WINDOW_US=$C node dist/cli/main.js bench --breakdown --control 127.0.0.1:7400 --warmup 3000 --publishes 5000 --out /work/s32/pe > /work/s32/pe.log 2>&1
echo "server=$S client=$C $(grep -E 'put \(|commit round|total' /work/s32/pe.log | awk -F'  +' '{print $2": "$4}' | tr '\n' ' ')"
kill -INT $PID; wait $PID 2>/dev/null
