// Large reads in parts: a consumer's read of several MiB goes to the storage
// node as parts it copies at once (counted by the node's own metric), and the
// bytes delivered are exactly the bytes written, in order, raw or decoded.
import { buildRecordBatch } from '../format';
import { startLayout, StartedLayout } from '../bench/layouts';
import { Connection } from './connection';
import { Consumer } from './consumer';
import { Producer } from './producer';
import { dataRequestsServed } from './testing/data-requests';

describe('large reads in parts (rdmq start)', () => {
  let started: StartedLayout;
  let connection: Connection;
  const written: Buffer[] = [];
  beforeAll(async () => {
    started = await startLayout('start', { durability: 'flush', regionSize: '128M', segmentSize: '32M' });
    connection = await Connection.open({ control: started.control });
    await connection.call('createTopic', { name: 'large', partitions: 1, configs: { 'max.message.bytes': String(4 * 1024 * 1024) } });
    const producer = new Producer(connection, { mode: 'exclusive' });
    const topic = await producer.topic('large');
    for (let i = 0; i < 6; i++) {
      // Bytes that differ everywhere, so a part landing at the wrong place shows.
      const value = Buffer.alloc(1024 * 1024 + 4099 * i);
      for (let at = 0; at + 4 <= value.length; at += 4) value.writeUInt32LE((at * 2654435761 + i) >>> 0, at);
      const batch = await buildRecordBatch({ records: [{ key: null, value }] });
      await producer.write(topic, 0, batch, 1);
      written.push(batch);
    }
    await producer.disconnect();
  }, 60_000);
  afterAll(async () => {
    await connection?.close();
    await started?.stop();
  });

  async function consume(handlers: (done: () => void) => Parameters<Consumer['run']>[0]): Promise<void> {
    const consumer = new Consumer(connection, { maxBytesPerRead: 8 * 1024 * 1024 });
    try {
      await consumer.subscribe({ topic: 'large', fromBeginning: true });
      await new Promise<void>((resolve, reject) => void consumer.run(handlers(resolve), reject));
    } finally {
      await consumer.stop();
    }
  }

  it('raw batches: one read of the whole log, in parts, byte for byte', async () => {
    const expected = Buffer.concat(written);
    const chunks: Buffer[] = [];
    let received = 0;
    const before = await dataRequestsServed(started, 'get');
    await consume((done) => ({
      eachRawBatch: ({ bytes }) => {
        chunks.push(Buffer.from(bytes));
        received += bytes.length;
        if (received >= expected.length) done();
      },
    }));
    const gets = (await dataRequestsServed(started, 'get')) - before;
    expect(Buffer.concat(chunks).equals(expected)).toBe(true);
    // At most two reads of 8 MiB for the 6+ MiB written, each in several parts.
    expect(gets).toBeGreaterThan(chunks.length);
  }, 30_000);

  it('decoded messages: every value whole and in order', async () => {
    const values: Buffer[] = [];
    await consume((done) => ({
      eachMessage: ({ message }) => {
        values.push(Buffer.from(message.value!));
        if (values.length === written.length) done();
      },
    }));
    expect(values.map((v) => v.length)).toEqual(written.map((_, i) => 1024 * 1024 + 4099 * i));
    values.forEach((v, i) => {
      for (let at = 0; at + 4 <= v.length; at += 4096) expect(v.readUInt32LE(at)).toBe((at * 2654435761 + i) >>> 0);
    });
  }, 30_000);
});
