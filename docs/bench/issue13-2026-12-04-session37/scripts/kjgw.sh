#!/bin/bash
# kjgw.sh TAG — fresh rdmq start (TREE), k1 = 256 MiB via kcat; kjmulti N rounds of the gateway only under /usr/bin/time; server CPU
. "$(dirname "$0")/filled-start.sh"
T=$1
start_filled $T
c0=$(awk '{print $14+$15}' /proc/$SP/stat)
/usr/bin/time -f "   client %U+%S s, ctx vol %w invol %c" node /work/s37/kjmulti.js 268000000 ${N:-4} 127.0.0.1:7533:k1 2>&1 | sed 's/durations.*//'
echo "   server $(( $(awk '{print $14+$15}' /proc/$SP/stat) - c0 )) cs"
kill -INT $SP; wait $SP
rm -rf /dev/shm/s37k
