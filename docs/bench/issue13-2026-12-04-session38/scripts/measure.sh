#!/bin/bash
# measure.sh TAG — the issue's table, the breakdown (start, apart) and the layouts' rounds, one after the other
D=/work/s38/final/$1
mkdir -p $D
cd /work/main
state() { echo "$(date +%T) DAMON $(cat /sys/kernel/mm/damon/admin/kdamonds/0/state), load $(cut -d' ' -f1-3 /proc/loadavg)"; }
state > $D/state.txt
node dist/cli/main.js bench --target fastpath --target gateway --batch-sizes 8K,1M --workload all --out $D/table > $D/table.log 2>&1
state >> $D/state.txt
node dist/cli/main.js bench --breakdown --layout start,apart --warmup 3000 --out $D/breakdown > $D/breakdown.log 2>&1
state >> $D/state.txt
node dist/cli/main.js bench --target fastpath --layout start,apart --rounds 3 --api raw --batch-sizes 8K --workload produce --out $D/layouts > $D/layouts.log 2>&1
state >> $D/state.txt
