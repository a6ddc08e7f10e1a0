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

  it('delivers the records before a batch whose bytes were corrupted in the region, then reports that batch once and delivers nothing past it', async () => {
    await createTopic('crc');
    const batch = (name: string): string[] => Array.from({ length: 10 }, (_, i) => `${name}-${String(i).padStart(4, '0')}`);
    await produce('crc', [...batch('first'), ...batch('second'), ...batch('third')], 10);
    // One byte of a record's value in the second batch flipped, as a failing disk would: only the CRC can tell.
    const region = path.join(cluster.dataDir, 'region');
    const at = fs.readFileSync(region).indexOf('second-0005');
    expect(at).toBeGreaterThan(0);
    const fd = fs.openSync(region, 'r+');
    fs.writeSync(fd, Buffer.from('S'), 0, 1, at);
    fs.closeSync(fd);

    const consumer = new Consumer(connection);
    await consumer.subscribe({ topic: 'crc', fromBeginning: true });
    const errors: Error[] = [];
    const delivered: ConsumedMessage[] = [];
    await consumer.run({ eachMessage: ({ message }) => void delivered.push(message) }, (err) => errors.push(err));
    await until(() => errors.length > 0, 'the corrupt batch to be reported');
    await produce('crc', ['after-1']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await consumer.stop();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(RdmqError);
    expect((errors[0] as RdmqError).errorCode).toBe(2);
    expect(errors[0].message).toMatch(/corrupt batch at crc-0 segment \d+ position \d+: CORRUPT_MESSAGE: batch CRC32C is 0x[0-9a-f]+ but its bytes compute to/);
    expect(delivered.map((m) => [m.offset, m.value!.toString()])).toEqual(batch('first').map((v, i) => [String(i), v]));
  }, 40_000);

  it('reads the next range while it hands out the last, two reads at most per partition, each within maxBytesPerRead, and messages stay valid after later reads', async () => {
    await createTopic('ahead');
    const values = Array.from({ length: 300 }, (_, i) => `${String(i).padStart(5, '0')}-${'v'.repeat(1500)}`);
    await produce('ahead', values, 10);
    const reader = await Connection.open({ control: cluster.control });
    // The real get, counted: how many are in flight, and how large each is.
    const get = reader.get.bind(reader);
    let inFlight = 0;
    let inFlightMax = 0;
    let readBytesMax = 0;
    reader.get = async (segmentId, preferred, local, remoteOffset) => {
      inFlightMax = Math.max(inFlightMax, ++inFlight);
      readBytesMax = Math.max(readBytesMax, local.length);
      try {
        return await get(segmentId, preferred, local, remoteOffset);
      } finally {
        inFlight--;
      }
    };
    try {
      const consumer = new Consumer(reader, { maxBytesPerRead: 64 * 1024 });
      await consumer.subscribe({ topic: 'ahead', fromBeginning: true });
      const delivered: ConsumedMessage[] = [];
      let handedOutWhileReading = 0;
      await consumer.run({
        eachMessage: ({ message }) => {
          if (inFlight > 0) handedOutWhileReading++;
          delivered.push(message);
        },
      });
      await until(() => delivered.length === values.length, 'every message');
      await consumer.stop();
      expect(delivered.map((m) => m.value!.toString())).toEqual(values);
      expect(delivered.map((m) => m.offset)).toEqual(values.map((_, i) => String(i)));
      expect(readBytesMax).toBeLessThanOrEqual(64 * 1024);
      expect(inFlightMax).toBeLessThanOrEqual(2);
      expect(handedOutWhileReading).toBeGreaterThan(0);
    } finally {
      await reader.close();
    }
  }, 40_000);
});
