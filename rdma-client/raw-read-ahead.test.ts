// Raw batches are read ahead: while eachRawBatch handles one read's bytes, the
// next read fills the reader's other buffer. The bytes handed to a handler
// must stay exactly as read until it returns, however long it takes, and
// every batch must be delivered once, in order.
import { buildRecordBatch } from '../format';
import { startLayout, StartedLayout } from '../bench/layouts';
import { Connection } from './connection';
import { Consumer } from './consumer';
import { Producer } from './producer';

const BATCHES = 120;

describe('raw batches read ahead (rdmq start)', () => {
  let started: StartedLayout;
  let connection: Connection;
  const written: Buffer[] = [];
  beforeAll(async () => {
    started = await startLayout('start', { durability: 'flush', regionSize: '64M', segmentSize: '4M' });
    connection = await Connection.open({ control: started.control });
    await connection.call('createTopic', { name: 'raw-ahead', partitions: 1 });
    const producer = new Producer(connection, { mode: 'exclusive' });
    const topic = await producer.topic('raw-ahead');
    for (let i = 0; i < BATCHES; i++) {
      // Every batch differs throughout, and sizes vary, so a read landing in bytes still in use shows.
      const value = Buffer.alloc(9000 + 37 * i);
      for (let at = 0; at + 4 <= value.length; at += 4) value.writeUInt32LE((at * 2654435761 + i * 40503) >>> 0, at);
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

  it('a slow handler sees its bytes unchanged while the next read lands, and gets every batch once, in order', async () => {
    const expected = Buffer.concat(written);
    const chunks: Buffer[] = [];
    const changedUnderHandler: number[] = [];
    let received = 0;
    // Small reads: many of them, each with a backlog behind it, so reads ahead happen throughout.
    const consumer = new Consumer(connection, { maxBytesPerRead: 64 * 1024 });
    try {
      await consumer.subscribe({ topic: 'raw-ahead', fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        void consumer.run(
          {
            eachRawBatch: async ({ bytes }) => {
              const copy = Buffer.from(bytes);
              // Long enough for the read ahead to finish: several turns of the event loop and a timer.
              for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
              await new Promise((r) => setTimeout(r, 2));
              if (!copy.equals(bytes)) changedUnderHandler.push(chunks.length);
              chunks.push(copy);
              received += copy.length;
              if (received >= expected.length) resolve();
            },
          },
          reject,
        );
      });
    } finally {
      await consumer.stop();
    }
    expect(changedUnderHandler).toEqual([]);
    expect(received).toBe(expected.length);
    expect(Buffer.concat(chunks).equals(expected)).toBe(true);
    expect(chunks.length).toBeGreaterThan(10);
  }, 60_000);
});
