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
}
