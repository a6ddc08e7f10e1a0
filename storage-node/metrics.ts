// The storage node's Prometheus metrics, read from the store at scrape time.
import { Gauge, Registry } from 'prom-client';
import { SegmentStore } from './segment-store';

export function registerStorageMetrics(registry: Registry, store: () => SegmentStore | undefined): void {
  const gauge = (name: string, help: string, value: (s: SegmentStore) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const s = store();
        if (s) this.set(value(s));
      },
    });
  };
  gauge('rdmq_storage_segments', 'Segments allocated (open or sealed)', (s) => s.usage().segments);
  gauge('rdmq_storage_free_bytes', 'Bytes of the region not allocated to any segment', (s) => s.usage().freeBytes);
  gauge('rdmq_storage_largest_free_bytes', 'The largest segment that can still be allocated', (s) => s.usage().largestFreeBytes);
  gauge('rdmq_storage_used_bytes', 'Committed data bytes over all allocated segments', (s) => s.usage().usedBytes);
  gauge('rdmq_storage_allocated_bytes', 'Bytes of allocated segments', (s) => s.usage().allocatedBytes);
  gauge('rdmq_storage_fenced_ranges', 'Committed ranges that failed their check at recovery and are fenced until an operator skips them', (s) => s.fencedRanges().length);
  gauge('rdmq_storage_unreadable_segments', 'Segment slots whose header is unreadable, kept out of the free pool', (s) => s.recovery.segmentsLost.length);
}
