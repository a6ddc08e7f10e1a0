// The null Kafka server the client ceilings are measured against: a kafkajs
// consumer (which can read only as a group member) joins the group it keeps
// and reads every record it serves once, from the beginning, in Fetch answers
// no larger than the gateway's at its default, however much the consumer asks
// for; the ceiling measured from it is a rate.
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { FETCH_RESPONSE_BYTES_DEFAULT } from '../gateway/config';
import { RunningRole, startRole } from './cluster';
import { measureKafkajsConsumeCeilingMBps } from './limits';

const SERVER = path.join(__dirname, 'null-kafka-server.js');
const BATCH_BYTES = 1 << 20;
const RECORD_BYTES = 1024;
const TOTAL_BYTES = 32 << 20;

describe('null Kafka server', () => {
  let server: RunningRole<{ port: number; records: number }>;
  beforeAll(async () => {
    server = await startRole<{ port: number; records: number }>([SERVER, '--serve', String(BATCH_BYTES), String(RECORD_BYTES), String(TOTAL_BYTES)]);
  });
  afterAll(async () => {
    await server.signal('SIGTERM');
  });

  it('keeps a group of one for a kafkajs consumer, which reads every served record once, in answers of at most the gateway default', async () => {
    const kafka = new Kafka({ clientId: 'null-server-test', brokers: [`127.0.0.1:${server.ready.port}`], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: 'readers', maxBytes: 64 << 20, maxBytesPerPartition: 32 << 20, maxWaitTimeInMs: 100 });
    // The server's own end of the log: every record it serves, from offset 0.
    const admin = kafka.admin();
    await admin.connect();
    const expected = Number((await admin.fetchTopicOffsets('anything'))[0].high);
    await admin.disconnect();
    expect(expected).toBeGreaterThan(TOTAL_BYTES / RECORD_BYTES / 2);
    // What it says it serves when it is ready (a kcat reader of the ceiling stops after that many: kcat -c).
    expect(server.ready.records).toBe(expected);
    let next = 0;
    let outOfOrder = 0;
    let largestAnswerBytes = 0;
    let joined = 0;
    consumer.on(consumer.events.GROUP_JOIN, () => joined++);
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: 'anything', fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        consumer
          .run({
            eachBatch: async ({ batch }) => {
              let bytes = 0;
              for (const m of batch.messages) {
                if (Number(m.offset) !== next) outOfOrder++;
                next = Number(m.offset) + 1;
                bytes += m.value!.length;
              }
              largestAnswerBytes = Math.max(largestAnswerBytes, bytes);
              if (next >= expected) resolve();
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
    expect(joined).toBe(1);
    expect([next, outOfOrder]).toEqual([expected, 0]);
    // The consumer asked for 32 MiB of the partition; the answers held at most the gateway's cap (and more than one batch).
    expect(largestAnswerBytes).toBeLessThanOrEqual(FETCH_RESPONSE_BYTES_DEFAULT);
    expect(largestAnswerBytes).toBeGreaterThan(BATCH_BYTES);
  }, 60_000);

  it('gives kafkajs a consume ceiling: the MB/s it reads a log from memory at', async () => {
    const mbps = await measureKafkajsConsumeCeilingMBps({ batchBytes: BATCH_BYTES, recordBytes: RECORD_BYTES }, TOTAL_BYTES);
    expect(Number.isFinite(mbps)).toBe(true);
    expect(mbps).toBeGreaterThan(1);
  }, 60_000);
});
