// Commit batching against `rdmq start`: with commitEveryBatches (with or
// without commitDelayUs), the batches a producer writes together go to the
// broker as one commit (counted by the broker's own request metric), each
// acknowledged at its own offset and read back once there.
import { buildRecordBatch } from '../format';
import { startLayout, StartedLayout } from '../bench/layouts';
import { Connection } from './connection';
import { Producer, ProducerMode } from './producer';
import { readAll } from './testing/read-all';

async function commitRequests(started: StartedLayout, message: 'COMMIT' | 'COMMIT_RANGE'): Promise<number> {
  const text = await (await fetch(`http://${started.gatewayMetrics}/metrics`)).text();
  const line = new RegExp(`rdmq_broker_fastpath_requests_total\\{message="${message}",outcome="ok"[^}]*\\} (\\d+)`).exec(text);
  return line ? Number(line[1]) : 0;
}

describe('commit batching (rdmq start)', () => {
  let started: StartedLayout;
  let connection: Connection;
  beforeAll(async () => {
    started = await startLayout('start', { durability: 'flush', regionSize: '64M', segmentSize: '1M' });
    connection = await Connection.open({ control: started.control });
  }, 30_000);
  afterAll(async () => {
    await connection?.close();
    await started?.stop();
  });

  it.each<[ProducerMode, number, number, 'COMMIT' | 'COMMIT_RANGE']>([
    ['exclusive', 20, 0, 'COMMIT_RANGE'],
    ['shared', 20, 0, 'COMMIT'],
    ['exclusive', 1000, 400_000, 'COMMIT_RANGE'],
    ['shared', 1000, 400_000, 'COMMIT'],
  ])('%s, commitEveryBatches %i, commitDelayUs %i: twenty batches written at once go in one %s, each at its own offset', async (mode, commitEveryBatches, commitDelayUs, message) => {
    const topicName = `together-${mode}-${commitDelayUs}`;
    await connection.call('createTopic', { name: topicName, partitions: 1, configs: {} });
    const producer = new Producer(connection, { mode, stagingDepth: 32, commitEveryBatches, commitDelayUs });
    const topic = await producer.topic(topicName);
    // The exclusive producer takes its place first (ACQUIRE), so all twenty are placed at once.
    if (mode === 'exclusive') await producer.write(topic, 0, await buildRecordBatch({ records: [{ key: null, value: 'first' }] }), 1);
    const before = await commitRequests(started, message);
    const batches = await Promise.all(Array.from({ length: 20 }, (_, i) => buildRecordBatch({ records: [{ key: null, value: `v-${i}` }] })));
    const offsets = await Promise.all(batches.map((b) => producer.write(topic, 0, b, 1)));
    expect((await commitRequests(started, message)) - before).toBe(1);
    await producer.disconnect();

    const first = mode === 'exclusive' ? 1n : 0n;
    expect([...offsets].sort((a, b) => (a < b ? -1 : 1))).toEqual(offsets.map((_, i) => first + BigInt(i)));
    const read = await readAll(started.control, topicName, offsets.length + Number(first));
    const at = new Map(read.map((r) => [r.value, r.offset]));
    offsets.forEach((offset, i) => expect(at.get(`v-${i}`)).toBe(offset));
    expect(read).toHaveLength(offsets.length + Number(first));
  }, 30_000);
});
