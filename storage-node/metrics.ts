// The storage node's Prometheus metrics, read from the store at scrape time.
import { Gauge, Registry } from 'prom-client';
import { SegmentStore } from './segment-store';
import type { Scrubber, ScrubberStats } from './scrubber';
import type { StorageNode } from './storage-node';

/** A gauge set from `read` at each scrape; undefined leaves it as it was. */
function readGauge(registry: Registry, name: string, help: string, read: () => number | undefined): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      const value = read();
      if (value !== undefined) this.set(value);
    },
  });
}

export function registerStorageMetrics(registry: Registry, store: () => SegmentStore | undefined): void {
  const gauge = (name: string, help: string, value: (s: SegmentStore) => number): void =>
    readGauge(registry, name, help, () => {
      const s = store();
      return s && value(s);
    });
  gauge('rdmq_storage_segments', 'Segments allocated (open or sealed)', (s) => s.usage().segments);
  gauge('rdmq_storage_free_bytes', 'Bytes of the region not allocated to any segment', (s) => s.usage().freeBytes);
  gauge('rdmq_storage_largest_free_bytes', 'The largest segment that can still be allocated', (s) => s.usage().largestFreeBytes);
  gauge('rdmq_storage_used_bytes', 'Committed data bytes over all allocated segments', (s) => s.usage().usedBytes);
  gauge('rdmq_storage_allocated_bytes', 'Bytes of allocated segments', (s) => s.usage().allocatedBytes);
  gauge('rdmq_storage_fenced_ranges', 'Committed ranges that failed their check (at recovery, or found by the scrubber) and are fenced until an operator skips them', (s) => s.fencedRanges().length);
  gauge('rdmq_storage_unreadable_segments', 'Segment slots whose header is unreadable, kept out of the free pool', (s) => s.recovery.segmentsLost.length);
}

/** How fast-path clients reach this node ('checked' or 'verbs', value 1) and the accesses it refused, by reason. */
export function registerFastPathMetrics(registry: Registry, node: StorageNode): void {
  new Gauge({
    name: 'rdmq_storage_fastpath_mode',
    help: "How fast-path clients reach this node's segments: checked (every put and get through the node's grant check) or verbs (one-sided, per-segment NIC registrations)",
    labelNames: ['mode'],
    registers: [registry],
    collect() {
      this.set({ mode: node.mode }, 1);
    },
  });
  new Gauge({
    name: 'rdmq_storage_grant_refusals',
    help: 'Fast-path accesses refused: invalid (signature), denied (access or bounds), revoked (freed, sealed, committed over, skipped, older leader epoch)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const [reason, count] of Object.entries(node.refusals)) this.set({ reason }, count);
    },
  });
  new Gauge({
    name: 'rdmq_storage_data_requests_served',
    help: 'Puts and gets of the checked data path the node served (each one request, grant check and copy, whatever its size), by the door they came through: tcp, or unix (the Unix socket of clients on this host)',
    labelNames: ['op', 'door'],
    registers: [registry],
    collect() {
      const { served, servedOnUnixSocket: unix } = node;
      this.set({ op: 'put', door: 'tcp' }, served.puts - unix.puts);
      this.set({ op: 'put', door: 'unix' }, unix.puts);
      this.set({ op: 'get', door: 'tcp' }, served.gets - unix.gets);
      this.set({ op: 'get', door: 'unix' }, unix.gets);
    },
  });
  new Gauge({
    name: 'rdmq_storage_check_bytes_hashed_by_copies',
    help: "Bytes of batches checked before their commit whose CRC32C the check took from the blocks the threads copying the puts hashed, instead of reading them again",
    registers: [registry],
    collect() {
      this.set(node.copyCrcs?.bytesFromBlocks ?? 0);
    },
  });
}

/** Gets and puts served by a direct call to clients in the node's own process (rdmq start's gateway and SDK clients), after the same grant check. */
export function registerInProcessDataMetrics(registry: Registry, served: () => { inProcessReads: number; inProcessPuts: number }): void {
  new Gauge({
    name: 'rdmq_storage_in_process_reads',
    help: "Gets of clients in the storage node's own process, served by a direct call (grant checked, one copy) instead of a request on its socket",
    registers: [registry],
    collect() {
      this.set(served().inProcessReads);
    },
  });
  new Gauge({
    name: 'rdmq_storage_in_process_puts',
    help: "Puts of clients in the storage node's own process, served by a direct call (grant checked, one copy) instead of a request on its socket",
    registers: [registry],
    collect() {
      this.set(served().inProcessPuts);
    },
  });
}

/** The background scrubber's progress and what it found (scrubber.ts). */
export function registerScrubMetrics(registry: Registry, scrubber: Scrubber): void {
  const gauge = (name: string, help: string, value: (s: ScrubberStats) => number): void => readGauge(registry, name, help, () => value(scrubber.stats()));
  gauge('rdmq_storage_scrub_checked_bytes', 'Committed bytes the background scrubber has checked again (framing and CRC32C) since the node started', (s) => s.checkedBytes);
  gauge('rdmq_storage_scrub_passes', "The background scrubber's full passes over every segment's committed bytes since the node started", (s) => s.passes);
  gauge('rdmq_storage_scrub_damaged_ranges', 'Committed ranges the background scrubber found damaged (and fenced) since the node started', (s) => s.damaged.length);
}
