// A storage region that fills up (the "fill" fault): producers on both doors
// get a clear, retriable error naming the cause, the process stays up, every
// acknowledged record stays readable, writes go on once room is made (a
// topic deleted), and nothing acknowledged is lost across a restart on the
// full region.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { Rdmq } from '../rdma-client';
import { readAll } from '../rdma-client/testing/read-all';

jest.setTimeout(120_000);

const VALUE = 'v'.repeat(2000);

/** Sends one record at a time until `limit` sends failed in a row; the values acknowledged. */
async function fillWith(send: (value: string) => Promise<void>, prefix: string): Promise<{ acked: string[]; lastError: Error }> {
  const acked: string[] = [];
  let failedInARow = 0;
  let lastError: Error | undefined;
  for (let i = 0; failedInARow < 3; i++) {
    const value = `${prefix}-${i}-${VALUE}`;
    try {
      await send(value);
      acked.push(value);
      failedInARow = 0;
    } catch (err) {
      lastError = err as Error;
      failedInARow++;
    }
    if (i > 20_000) throw new Error('the region never filled');
  }
  return { acked, lastError: lastError! };
}

/** The values of a topic's first `count` records, read back through the SDK (and anything past them). */
async function valuesOf(control: string, topic: string, count: number): Promise<Set<string>> {
  return new Set((await readAll(control, topic, count)).map((r) => r.value));
}

describe('a storage region that fills up', () => {
  const dataDir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'rdmq-region-full-'));
  let cluster: ClusterProcess | undefined;

  afterAll(async () => {
    await cluster?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('refuses writes with a clear error, keeps every acknowledged record, takes writes again once room is made, and after a restart', async () => {
    cluster = await startCluster({ dataDir, regionSize: '8M', segmentSize: '1M' });
    const control = cluster.control;
    const kafka = new Kafka({ clientId: 'fill', brokers: [`127.0.0.1:${cluster.kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'ballast', numPartitions: 1 }, { topic: 'kept', numPartitions: 1 }] });

    // Ballast through the fast path until the region is full.
    const sdk = new Rdmq({ control }).producer();
    await sdk.connect();
    const ballast = await fillWith((value) => sdk.send({ topic: 'ballast', messages: [{ value }] }).then(() => undefined), 'b');
    expect(ballast.acked.length).toBeGreaterThan(100);
    expect(ballast.lastError.message).toMatch(/no free run|full|free some/i);

    // The Kafka door into another topic is refused too, with Kafka's storage error, and the process lives.
    const producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 0 } });
    await producer.connect();
    const kept = await fillWith((value) => producer.send({ topic: 'kept', acks: -1, messages: [{ value }] }).then(() => undefined), 'k');
    // KAFKA_STORAGE_ERROR (56), which kafkajs words as Kafka does.
    expect(kept.lastError.message).toMatch(/Disk error when trying to access log file/);
    expect(cluster.failures()).toEqual([]);

    // Every acknowledged record is there.
    expect(await valuesOf(control, 'ballast', ballast.acked.length)).toEqual(new Set(ballast.acked));
    if (kept.acked.length > 0) expect(await valuesOf(control, 'kept', kept.acked.length)).toEqual(new Set(kept.acked));

    // Room made: the ballast topic goes, and writes are taken again.
    await admin.deleteTopics({ topics: ['ballast'] });
    let after: string | undefined;
    for (let i = 0; after === undefined; i++) {
      try {
        await producer.send({ topic: 'kept', acks: -1, messages: [{ value: `after-${i}` }] });
        after = `after-${i}`;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    await producer.disconnect();
    await sdk.disconnect();
    await admin.disconnect();

    // A restart on the same region keeps all of it.
    await cluster.stop({ keepData: true });
    cluster = await startCluster({ dataDir, regionSize: '8M', segmentSize: '1M' });
    expect(await valuesOf(cluster.control, 'kept', kept.acked.length + 1)).toEqual(new Set([...kept.acked, after]));
  });
});
