// The fast-path consumer when it cannot simply read on: bytes that are not
// batches, seeks while it runs, and the keys of segments it has left behind.
// `rdmq start` runs in its own process; the consumer runs here.
import * as fs from 'fs';
import * as path from 'path';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { Producer, RdmqError } from '.';
import { Connection } from './connection';
import { ConsumedMessage, Consumer } from './consumer';

let cluster: ClusterProcess;
let connection: Connection;

beforeAll(async () => {
  cluster = await startCluster({ regionSize: '64M', segmentSize: '1M' });
  connection = await Connection.open({ control: cluster.control });
});
afterAll(async () => {
  await connection?.close();
  await cluster?.stop();
});

async function produce(topic: string, values: string[], batch = 50): Promise<void> {
  const producer = new Producer(connection, { mode: 'shared' });
  for (let i = 0; i < values.length; i += batch) {
    await producer.send({ topic, messages: values.slice(i, i + batch).map((value) => ({ value })) });
  }
  await producer.disconnect();
}

async function createTopic(topic: string): Promise<void> {
  await connection.call('createTopic', { name: topic, partitions: 1, configs: {} });
}

function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (condition()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(check, 20);
    };
    check();
  });
}

describe('the fast-path consumer', () => {
  it('reports a batch that runs past the commit watermark once, and does not spin on it', async () => {
    await createTopic('torn');
    await produce('torn', ['needle-0001']);
    // Make the stored batch claim 512 KiB more than was committed, as bytes written by some other process would.
    const region = path.join(cluster.dataDir, 'region');
    const bytes = fs.readFileSync(region);
    const needle = bytes.indexOf('needle-0001');
    expect(needle).toBeGreaterThan(0);
    let batchStart = needle - 61;
    while (batchStart > 0 && !(bytes[batchStart + 16] === 2 && bytes.readBigInt64BE(batchStart) === 0n)) batchStart--;
    const fd = fs.openSync(region, 'r+');
    const length = Buffer.alloc(4);
    length.writeInt32BE(bytes.readInt32BE(batchStart + 8) + 512 * 1024);
    fs.writeSync(fd, length, 0, 4, batchStart + 8);
    fs.closeSync(fd);

    const consumer = new Consumer(connection);
    await consumer.subscribe({ topic: 'torn', fromBeginning: true });
    const errors: Error[] = [];
    const delivered: ConsumedMessage[] = [];
    await consumer.run({ eachMessage: ({ message }) => void delivered.push(message) }, (err) => errors.push(err));
    await until(() => errors.length > 0, 'the corruption to be reported');
    const cpuBefore = process.cpuUsage();
    const wallBefore = Date.now();
    // Commits to the same partition keep arriving; none makes the consumer read the torn batch again.
    await produce('torn', ['after-1', 'after-2']);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const cpu = process.cpuUsage(cpuBefore);
    const cpuShare = (cpu.user + cpu.system) / 1000 / (Date.now() - wallBefore);
    await consumer.stop();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(RdmqError);
    expect((errors[0] as RdmqError).errorCode).toBe(2);
    expect(errors[0].message).toMatch(/corrupt batch at torn-0 segment \d+ position \d+: its length says \d+ bytes, \d+ are committed/);
    expect(delivered).toHaveLength(0);
    expect(cpuShare).toBeLessThan(0.5);
  }, 40_000);

  it('a seek while running to an offset past the end goes to onError, and a later seek reads on from there', async () => {
    await createTopic('seeking');
    await produce('seeking', Array.from({ length: 100 }, (_, i) => `v${i}`));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const consumer = new Consumer(connection);
    try {
      await consumer.subscribe({ topic: 'seeking', fromBeginning: true });
      const errors: Error[] = [];
      const seen: string[] = [];
      await consumer.run({ eachMessage: ({ message }) => void seen.push(message.value!.toString()) }, (err) => errors.push(err));
      await until(() => seen.length === 100, 'the first pass');
      consumer.seek({ topic: 'seeking', partition: 0, offset: 1_000_000 });
      await until(() => errors.length > 0, 'the failed seek to be reported');
      expect(errors[0].message).toMatch(/seeking-0/);
      // Seeks run in order: only the last one's position counts.
      consumer.seek({ topic: 'seeking', partition: 0, offset: 10 });
      consumer.seek({ topic: 'seeking', partition: 0, offset: 90 });
      await until(() => seen.length === 110, 'the read after the last seek');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(seen.slice(100)).toEqual(Array.from({ length: 10 }, (_, i) => `v${90 + i}`));
      expect(() => consumer.seek({ topic: 'seeking', partition: 0, offset: 'soon' })).toThrow(/offset must be an integer/);
    } finally {
      await consumer.stop();
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  }, 40_000);

  it('lets go of the keys of segments it has read past, and of all of them when it stops', async () => {
    await createTopic('rolling');
    const value = 'x'.repeat(2000);
    // About 6 MB through 1 MiB segments: several rolls.
    await produce('rolling', Array.from({ length: 3000 }, () => value), 100);
    const reader = await Connection.open({ control: cluster.control });
    try {
      const consumer = new Consumer(reader);
      await consumer.subscribe({ topic: 'rolling', fromBeginning: true });
      let count = 0;
      let keysMax = 0;
      await consumer.run({ eachMessage: () => void count++ });
      await until(() => {
        keysMax = Math.max(keysMax, reader.importedKeyCount);
        return count === 3000;
      }, 'every message');
      const segments = (await reader.describeTopic('rolling')).partitions[0].segments;
      expect(segments).toBeGreaterThanOrEqual(5);
      // Only the segments still ahead of the reader (the broker announces all from the start) and the open one.
      expect(reader.importedKeyCount).toBe(1);
      await consumer.stop();
      expect(reader.importedKeyCount).toBe(0);
    } finally {
      await reader.close();
    }
  }, 60_000);
});
