// How much one Fetch answers, against `rdmq start` as users run it: a client
// that asks for 64 MiB (32 MiB of one partition, kafkajs as `rdmq bench`
// sets it) gets whole batches up to the gateway's --max-fetch-response-bytes
// (8 MiB unless set), fetches on from there, and reads every record.
import { Kafka, logLevel } from 'kafkajs';
import { buildRecordBatch, splitBatches } from '../format';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { RawKafkaClient } from './testing/raw-client';

const MiB = 1024 * 1024;
const BATCHES = 14;
const BATCH_VALUE_BYTES = MiB - 200;

jest.setTimeout(90_000);

const fetchFrom = (fetchOffset: bigint) => ({
  replicaId: -1,
  maxWaitMs: 100,
  minBytes: 1,
  maxBytes: 64 * MiB,
  isolationLevel: 0,
  sessionId: 0,
  sessionEpoch: -1,
  topics: [{ topic: 'sized', partitions: [{ partition: 0, fetchOffset, partitionMaxBytes: 32 * MiB, logStartOffset: -1n }] }],
  forgottenTopicsData: [],
  rackId: '',
});

describe.each([
  { cap: 8 * MiB, extraArgs: [] as string[] },
  { cap: 2 * MiB, extraArgs: ['--max-fetch-response-bytes', '2M'] },
])('a Fetch for 64 MiB (cap $cap bytes)', ({ cap, extraArgs }) => {
  let cluster: ClusterProcess;
  let client: RawKafkaClient;
  beforeAll(async () => {
    cluster = await startCluster({ regionSize: '256M', segmentSize: '64M', extraArgs });
    client = await RawKafkaClient.connect(cluster.kafka);
    const created = await client.request('CreateTopics', 7, { topics: [{ name: 'sized', numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
    expect(created.topics[0].errorCode).toBe(0);
    for (let i = 0; i < BATCHES; i++) {
      const batch = await buildRecordBatch({ records: [{ key: null, value: Buffer.alloc(BATCH_VALUE_BYTES, i) }] });
      const res = await client.request('Produce', 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'sized', partitionData: [{ index: 0, records: batch }] }] });
      expect(res.responses[0].partitionResponses[0].errorCode).toBe(0);
    }
  });
  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('answers whole batches up to the cap, and the client fetches on from where the answer ended', async () => {
    let offset = 0n;
    const sizes: number[] = [];
    while (offset < BigInt(BATCHES)) {
      const res = await client.request('Fetch', 12, fetchFrom(offset));
      const partition = res.responses[0].partitions[0];
      expect(partition.errorCode).toBe(0);
      const records = partition.records as Buffer;
      const { batches } = splitBatches(records, { batchBytesMax: 0x7fffffff });
      expect(batches.length).toBeGreaterThan(0);
      expect(batches.reduce((n, b) => n + b.length, 0)).toBe(records.length); // whole batches only
      expect(batches[0].header.baseOffset).toBe(offset);
      sizes.push(records.length);
      offset += BigInt(batches.length);
    }
    expect(Math.max(...sizes)).toBeLessThanOrEqual(cap);
    // Filled to the cap: as many whole ~1 MiB batches as fit.
    expect(sizes[0]).toBeGreaterThan(cap - MiB);
  });

  it('kafkajs at the bench settings reads every record through answers of that size', async () => {
    const kafka = new Kafka({ clientId: 'sized', brokers: [cluster.kafka], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `sized-${cap}`, maxBytes: 64 * MiB, maxBytesPerPartition: 32 * MiB, maxWaitTimeInMs: 100 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: 'sized', fromBeginning: true });
      const seen: number[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`read ${seen.length} of ${BATCHES} records`)), 60_000);
        void consumer.run({
          eachMessage: async ({ message }) => {
            expect(message.value!.length).toBe(BATCH_VALUE_BYTES);
            seen.push(message.value![0]);
            if (seen.length === BATCHES) {
              clearTimeout(timer);
              resolve();
            }
          },
        });
      });
      expect(seen).toEqual(Array.from({ length: BATCHES }, (_, i) => i));
    } finally {
      await consumer.disconnect();
    }
  });
});
