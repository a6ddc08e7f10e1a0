# Sourced by kjgw.sh, kcgw.sh and kjcmp.sh: start_filled TAG — a fresh `rdmq start` of the tree in $TREE
# (default /work/main) on ports 7530-7533, its pid in SP, with topic k1 filled by kcat with 256 MiB of
# 1 KiB lines in ~1 MB batches (/dev/shm/s37-recs256.txt, made once from s37-recs.txt).
start_filled() {
  cd ${TREE:-/work/main}
  pkill -f "main.js start --data /dev/shm/s37k"; sleep 1
  rm -rf /dev/shm/s37k
  node $NODEOPT dist/cli/main.js start --data /dev/shm/s37k --control 127.0.0.1:7530 --fastpath 127.0.0.1:7531 --metrics 127.0.0.1:7532 --kafka 127.0.0.1:7533 --region-size 4G --prefault-region > /work/s37/kstart-$1.log 2>&1 &
  SP=$!
  for i in $(seq 1 120); do grep -q '"ready"' /work/s37/kstart-$1.log && break; sleep 0.5; done
  [ -f /dev/shm/s37-recs256.txt ] || head -262144 /dev/shm/s37-recs.txt > /dev/shm/s37-recs256.txt
  kcat -P -b 127.0.0.1:7533 -t k1 -X batch.size=1000000 -X linger.ms=20 -l /dev/shm/s37-recs256.txt
}
