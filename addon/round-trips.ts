// The machine's floor under any message and its answer between two
// processes (addon/src/round-trips.cc): what `rdmq bench --breakdown` puts
// beside one publish, which crosses processes at least twice (the put to the
// storage node, the commit to the broker).
import { nativeCall } from './errors';
import { native } from './native';

/** Microseconds of each of `count` blocking one-byte round trips between this process and a forked child (blocks this thread meanwhile). */
export function measureRoundTrips(count: number): Float64Array {
  return nativeCall(() => native().measureRoundTrips(count));
}
