// Store space follows the data written: a default-sized `rdmq start` (4 GiB
// region, 64 MiB segment.bytes) holds thousands of quiet partitions, because a
// partition's first segment is one 64 KiB slot, not a whole 64 MiB segment.
import { Kafka, logLevel } from 'kafkajs';
import { ClusterProcess, startCluster } from '../bench/cluster';

const KiB = 1024;
const MiB = 1024 * KiB;
const REGION_BYTES = 4 * 1024 * MiB;

/** One gauge of the cluster's /metrics, by name. */
async function gauge(cluster: ClusterProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${cluster.metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  if (!line) throw new Error(`metric ${name} is not on /metrics`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('rdmq start with the default region and segment size', () => {
  let cluster: ClusterProcess;
  let kafka: Kafka;
  beforeAll(async () => {
    // The region file is sparse: only pages written take room in /dev/shm.
    cluster = await startCluster({ regionSize: '4G', segmentSize: '64M' });
    kafka = new Kafka({ clientId: 'capacity-test', brokers: [`127.0.0.1:${cluster.kafkaPort}`], logLevel: logLevel.NOTHING });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('stores one record in each of 32 partitions in a tiny fraction of the region, and says segment.bytes as used', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'thirty-two', numPartitions: 32 }] });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: 'thirty-two', acks: -1, messages: Array.from({ length: 32 }, (_, p) => ({ partition: p, value: 'hello' })) });
      await producer.disconnect();

      const offsets = await admin.fetchTopicOffsets('thirty-two');
      expect(offsets.map((o) => o.high)).toEqual(Array(32).fill('1'));
      const segments = await gauge(cluster, 'rdmq_storage_segments');
      const freeBytes = await gauge(cluster, 'rdmq_storage_free_bytes');
      expect(segments).toBe(32);
      // 32 one-slot segments: 2 MiB of a 4 GiB region (fixed 64 MiB segments filled it after 63 partitions).
      expect(REGION_BYTES - 64 * KiB - freeBytes).toBe(32 * 64 * KiB);

      const described = await admin.describeConfigs({ resources: [{ type: 2, name: 'thirty-two', configNames: ['segment.bytes'] }], includeSynonyms: false });
      expect(described.resources[0].configEntries).toEqual([expect.objectContaining({ configName: 'segment.bytes', configValue: String(64 * MiB), isDefault: true })]);
    } finally {
      await admin.disconnect();
    }
  });

  it('holds a 2,000-partition topic with a few records in every partition, all read back', async () => {
    const partitions = 2000;
    const recordsPerPartition = 3;
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'two-thousand', numPartitions: partitions }], timeout: 30_000 });
    } finally {
      await admin.disconnect();
    }
    const producer = kafka.producer();
    await producer.connect();
    const sent = new Set<string>();
    for (let round = 0; round < recordsPerPartition; round++) {
      const messages = Array.from({ length: partitions }, (_, p) => {
        const value = `p${p}-r${round}`;
        sent.add(value);
        return { partition: p, value };
      });
      await producer.send({ topic: 'two-thousand', acks: -1, timeout: 30_000, messages });
    }
    await producer.disconnect();

    const received = new Map<string, { partition: number; offset: string }>();
    const consumer = kafka.consumer({ groupId: 'capacity-readers', maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'two-thousand', fromBeginning: true });
    const all = new Promise<void>((resolve) => {
      void consumer.run({
        partitionsConsumedConcurrently: 4,
        eachMessage: async ({ partition, message }) => {
          const value = message.value!.toString();
          expect(received.has(value)).toBe(false);
          received.set(value, { partition, offset: message.offset });
          if (received.size === sent.size) resolve();
        },
      });
    });
    await all;
    await consumer.disconnect();

    expect([...received.keys()].sort()).toEqual([...sent].sort());
    for (const [value, at] of received) {
      const [p, r] = value.slice(1).split('-r').map(Number);
      expect(at).toEqual({ partition: p, offset: String(r) });
    }
    // 2,000 + 32 one-slot segments: 127 MiB of the region, nothing near full.
    expect(await gauge(cluster, 'rdmq_storage_segments')).toBe(partitions + 32);
    expect(REGION_BYTES - 64 * KiB - (await gauge(cluster, 'rdmq_storage_free_bytes'))).toBe((partitions + 32) * 64 * KiB);
  }, 120_000);
});

describe('rdmq start with a nearly full region', () => {
  let cluster: ClusterProcess;
  afterAll(async () => {
    await cluster?.stop();
  });

  it('gives a partition the smallest segment that holds its batch when no run of its grown size is left', async () => {
    // 31 slots of 64 KiB. Partition 1 takes slot 0; partition 0 grows through 1, 2, 4 and 8 slots (22 batches
    // of 40 KB), then wants 16 slots where 15 are left, and gets one slot instead of an error; it grows again from
    // there (2 slots for batch 24).
    cluster = await startCluster({ regionSize: '2M', segmentSize: '1M' });
    const kafka = new Kafka({ clientId: 'capacity-full', brokers: [`127.0.0.1:${cluster.kafkaPort}`], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'growing', numPartitions: 2 }] });
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({ topic: 'growing', acks: -1, messages: [{ partition: 1, value: 'first' }] });
      const value = 'g'.repeat(40_000);
      for (let i = 0; i < 24; i++) await producer.send({ topic: 'growing', acks: -1, messages: [{ partition: 0, value: `${i}:${value}` }] });
      expect((await admin.fetchTopicOffsets('growing')).map((o) => o.high)).toEqual(['24', '1']);
      expect(await gauge(cluster, 'rdmq_storage_segments')).toBe(7);
      expect(await gauge(cluster, 'rdmq_storage_free_bytes')).toBe((31 - 1 - 15 - 1 - 2) * 64 * KiB);
    } finally {
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});
