// Producers with many commits in flight, one of whose batches is corrupt,
// against `rdmq start` and against the roles run apart (where the broker
// checks and commits over the storage node's commit stream: an exclusive
// producer's commits of one partition together, each in one step; shared
// stages checked before the partition's queue). The corrupt batch is refused
// before it is acknowledged, nothing is committed over it, every acknowledged
// record is read once at its offset, and the partition goes on.
import { buildRecordBatch } from '../format';
import { Layout, startLayout, StartedLayout } from '../bench/layouts';
import { Connection } from './connection';
import { Consumer } from './consumer';
import { Producer } from './producer';
import { readAll } from './testing/read-all';

describe.each<Layout>(['start', 'apart'])('commits checked by storage (%s)', (layout) => {
  let started: StartedLayout;
  beforeAll(async () => {
    started = await startLayout(layout, { durability: 'flush', regionSize: '64M', segmentSize: '1M' });
  }, 30_000);
  afterAll(async () => {
    await started?.stop();
  });

  it('a corrupt batch among an exclusive producer\'s commits in flight is refused, nothing behind it is committed over it, every acknowledged record is read once', async () => {
    const connection = await Connection.open({ control: started.control });
    try {
      await connection.call('createTopic', { name: 'checked', partitions: 1, configs: {} });
      const producer = new Producer(connection, { mode: 'exclusive', stagingDepth: 8 });
      const topic = await producer.topic('checked');
      const batches = await Promise.all(Array.from({ length: 24 }, (_, i) => buildRecordBatch({ records: [{ key: null, value: `a-${i}` }] })));
      const corrupt = 12;
      batches[corrupt][batches[corrupt].length - 1] ^= 0xff; // inside the CRC's range
      const outcomes = await Promise.allSettled(batches.map((batch) => producer.write(topic, 0, batch, 1)));
      expect(outcomes[corrupt].status).toBe('rejected');
      const refusals = outcomes.flatMap((o) => (o.status === 'rejected' ? [String((o.reason as Error).message)] : []));
      expect(refusals.some((m) => /CRC32C/.test(m))).toBe(true);
      const acked = new Map<string, bigint>();
      outcomes.forEach((o, i) => {
        if (o.status === 'fulfilled') acked.set(`a-${i}`, o.value);
      });
      // A commit may cover several written batches (the SDK merges contiguous ones): the corrupt one's fails whole.
      expect(acked.has(`a-${corrupt}`)).toBe(false);
      await producer.disconnect();

      // The partition goes on: a new producer commits from the committed end.
      const next = new Producer(connection, { mode: 'exclusive', stagingDepth: 8 });
      const more = await Promise.all(Array.from({ length: 8 }, (_, i) => next.send({ topic: 'checked', messages: [{ value: `b-${i}`, partition: 0 }] })));
      more.forEach(([meta], i) => acked.set(`b-${i}`, BigInt(meta.baseOffset)));
      await next.disconnect();

      const read = await readAll(started.control, 'checked', acked.size);
      expect(read).toHaveLength(acked.size);
      expect(new Map(read.map((r) => [r.value, r.offset]))).toEqual(acked);
      expect(read.map((r) => r.offset)).toEqual(read.map((_, i) => BigInt(i)));
    } finally {
      await connection.close();
    }
  }, 60_000);

  it('large batches, copied in and hashed by the node\'s pool threads: a corrupt one among them is refused, every acknowledged one is read once', async () => {
    const connection = await Connection.open({ control: started.control });
    try {
      await connection.call('createTopic', { name: 'checked-large', partitions: 1, configs: {} });
      const producer = new Producer(connection, { mode: 'exclusive', stagingDepth: 8 });
      const topic = await producer.topic('checked-large');
      // 300 KiB each: over the size the node copies on its thread pool, three to a 1 MiB segment.
      const value = (i: number): string => `c-${i}-`.padEnd(300 * 1024, String.fromCharCode(97 + (i % 26)));
      const batches = await Promise.all(Array.from({ length: 12 }, (_, i) => buildRecordBatch({ records: [{ key: null, value: value(i) }] })));
      const corrupt = 7;
      batches[corrupt][150 * 1024] ^= 0x01; // in the middle: a whole block the copying thread hashes
      const outcomes = await Promise.allSettled(batches.map((batch) => producer.write(topic, 0, batch, 1)));
      expect(outcomes[corrupt].status).toBe('rejected');
      expect(String((outcomes[corrupt] as PromiseRejectedResult).reason)).toMatch(/CRC32C/);
      const acked = new Map<string, bigint>();
      outcomes.forEach((o, i) => {
        if (o.status === 'fulfilled') acked.set(value(i), o.value);
      });
      expect(acked.size).toBeGreaterThan(0);
      await producer.disconnect();
      const read = await readAll(started.control, 'checked-large', acked.size);
      expect(new Map(read.map((r) => [r.value, r.offset]))).toEqual(acked);
      if (layout === 'start') {
        // The storage node is in the process whose metrics these are: its checks took most of these CRCs from the copies.
        const metrics = await (await fetch(`http://${started.gatewayMetrics}/metrics`)).text();
        const hashed = Number(/^rdmq_storage_check_bytes_hashed_by_copies(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1]);
        expect(hashed).toBeGreaterThan(acked.size * 250 * 1024);
      }
    } finally {
      await connection.close();
    }
  }, 60_000);

  it('a corrupt batch among a shared producer\'s stages in flight is refused and skipped; every other batch is acknowledged and read once', async () => {
    const connection = await Connection.open({ control: started.control });
    try {
      await connection.call('createTopic', { name: 'checked-shared', partitions: 1, configs: {} });
      const producer = new Producer(connection, { mode: 'shared', stagingDepth: 8 });
      const topic = await producer.topic('checked-shared');
      const batches = await Promise.all(Array.from({ length: 24 }, (_, i) => buildRecordBatch({ records: [{ key: null, value: `s-${i}` }] })));
      const corrupt = 9;
      batches[corrupt][batches[corrupt].length - 1] ^= 0xff;
      const outcomes = await Promise.allSettled(batches.map((batch) => producer.write(topic, 0, batch, 1)));
      const refused = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i] : []));
      expect(refused).toEqual([corrupt]);
      expect(String(((outcomes[corrupt] as PromiseRejectedResult).reason as Error).message)).toMatch(/CRC32C/);
      const acked = new Map<string, bigint>();
      outcomes.forEach((o, i) => {
        if (o.status === 'fulfilled') acked.set(`s-${i}`, o.value);
      });
      await producer.disconnect();
      const read = await readAll(started.control, 'checked-shared', acked.size);
      expect(read).toHaveLength(acked.size);
      expect(new Map(read.map((r) => [r.value, r.offset]))).toEqual(acked);
    } finally {
      await connection.close();
    }
  }, 60_000);
});
