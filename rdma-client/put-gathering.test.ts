// Put gathering against `rdmq start`: small batches an exclusive producer
// places while two puts of their segment are under way go to the storage node
// together in one put (counted by the node's own metric), each still
// acknowledged at its own offset and read back once there. A large batch
// among them is put on its own, and the small ones on either side of it are
// not joined across it.
import { buildRecordBatch } from '../format';
import { startLayout, StartedLayout } from '../bench/layouts';
import { Connection } from './connection';
import { Producer } from './producer';
import { dataRequestsServed } from './testing/data-requests';
import { readAll } from './testing/read-all';

describe('put gathering (rdmq start, exclusive producer)', () => {
  let started: StartedLayout;
  let connection: Connection;
  beforeAll(async () => {
    started = await startLayout('start', { durability: 'flush', regionSize: '64M', segmentSize: '4M' });
    connection = await Connection.open({ control: started.control });
  }, 30_000);
  afterAll(async () => {
    await connection?.close();
    await started?.stop();
  });

  it('twenty small batches written at once take a handful of puts, each at its own offset', async () => {
    await connection.call('createTopic', { name: 'gathered', partitions: 1, configs: {} });
    const producer = new Producer(connection, { mode: 'exclusive', stagingDepth: 32 });
    const topic = await producer.topic('gathered');
    // The producer takes its place first (ACQUIRE), so all twenty are placed at once.
    await producer.write(topic, 0, await buildRecordBatch({ records: [{ key: null, value: 'first' }] }), 1);
    const before = await dataRequestsServed(started, 'put');
    const batches = await Promise.all(Array.from({ length: 20 }, (_, i) => buildRecordBatch({ records: [{ key: null, value: `v-${i}-${'x'.repeat(2000)}` }] })));
    const offsets = await Promise.all(batches.map((b) => producer.write(topic, 0, b, 1)));
    // Two puts go at once; the eighteen placed behind them go together (one put per run, at most 256 KiB).
    expect((await dataRequestsServed(started, 'put')) - before).toBeLessThanOrEqual(4);
    await producer.disconnect();

    expect([...offsets].sort((a, b) => (a < b ? -1 : 1))).toEqual(offsets.map((_, i) => 1n + BigInt(i)));
    const read = await readAll(started.control, 'gathered', 21);
    const at = new Map(read.map((r) => [r.value, r.offset]));
    offsets.forEach((offset, i) => expect(at.get(`v-${i}-${'x'.repeat(2000)}`)).toBe(offset));
    expect(read).toHaveLength(21);
  }, 30_000);

  it('a large batch among small ones is put on its own; every record reads back at its offset', async () => {
    await connection.call('createTopic', { name: 'mixed', partitions: 1, configs: {} });
    const producer = new Producer(connection, { mode: 'exclusive', stagingDepth: 32 });
    const topic = await producer.topic('mixed');
    await producer.write(topic, 0, await buildRecordBatch({ records: [{ key: null, value: 'first' }] }), 1);
    const value = (i: number): string => (i % 5 === 2 ? `big-${i}-${'y'.repeat(100_000)}` : `small-${i}`);
    const batches = await Promise.all(Array.from({ length: 20 }, (_, i) => buildRecordBatch({ records: [{ key: null, value: value(i) }] })));
    const before = await dataRequestsServed(started, 'put');
    const offsets = await Promise.all(batches.map((b) => producer.write(topic, 0, b, 1)));
    const puts = (await dataRequestsServed(started, 'put')) - before;
    // Four large ones alone, the small ones in runs between them: fewer puts than batches, at least one per run.
    expect(puts).toBeLessThan(20);
    expect(puts).toBeGreaterThanOrEqual(4);
    await producer.disconnect();

    const read = await readAll(started.control, 'mixed', 21);
    const at = new Map(read.map((r) => [r.value, r.offset]));
    offsets.forEach((offset, i) => expect(at.get(value(i))).toBe(offset));
    expect(read).toHaveLength(21);
  }, 30_000);

  it('hundreds of batches in flight whose puts finish out of order: each acknowledged once, at its own offset, in the order written', async () => {
    await connection.call('createTopic', { name: 'deep', partitions: 1, configs: {} });
    const producer = new Producer(connection, { mode: 'exclusive', stagingDepth: 256 });
    const topic = await producer.topic('deep');
    await producer.write(topic, 0, await buildRecordBatch({ records: [{ key: null, value: 'first' }] }), 1);
    // Every seventh batch is large enough to be put alone, so it lands before or after the gathered runs around it.
    const value = (i: number): string => (i % 7 === 3 ? `big-${i}-${'z'.repeat(70_000)}` : `small-${i}-${'s'.repeat(i % 50)}`);
    const count = 400;
    const batches = await Promise.all(Array.from({ length: count }, (_, i) => buildRecordBatch({ records: [{ key: null, value: value(i) }, { key: null, value: `${i}b` }] })));
    const offsets = await Promise.all(batches.map((b) => producer.write(topic, 0, b, 2)));
    await producer.disconnect();

    expect(offsets).toEqual(offsets.map((_, i) => 1n + 2n * BigInt(i)));
    const read = await readAll(started.control, 'deep', 1 + 2 * count);
    expect(read).toHaveLength(1 + 2 * count);
    const at = new Map(read.map((r) => [r.value, r.offset]));
    offsets.forEach((offset, i) => {
      expect(at.get(value(i))).toBe(offset);
      expect(at.get(`${i}b`)).toBe(offset + 1n);
    });
  }, 60_000);
});
