// kafkajs 2.2.4, unchanged, against rdmq's Kafka gateway: storage node,
// broker and gateway in one child process, the client in this one.
import { Admin, CompressionTypes, ConfigResourceTypes, Consumer, Kafka, KafkaMessage, logLevel } from 'kafkajs';
import { Rdmq } from '../rdma-client';
import { ClusterProcess, startCluster } from '../bench/cluster';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

interface Seen {
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

function seen(partition: number, m: KafkaMessage): Seen {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = String(v);
  return { partition, offset: m.offset, key: m.key?.toString() ?? null, value: m.value?.toString() ?? null, headers };
}

/** Runs the consumer until `count` messages arrived; the consumer keeps running. */
function collect(consumer: Consumer, count: number, timeoutMs = 30_000): Promise<Seen[]> {
  const out: Seen[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${out.length} of ${count} messages within ${timeoutMs} ms: ${JSON.stringify(out)}`)), timeoutMs);
    consumer
      .run({
        eachMessage: async ({ partition, message }) => {
          out.push(seen(partition, message));
          if (out.length === count) {
            clearTimeout(timer);
            resolve(out);
          }
        },
      })
      .catch(reject);
  });
}

describe('kafkajs against the rdmq gateway', () => {
  let gateway: ClusterProcess;
  let kafka: Kafka;
  let admin: Admin;
  const consumers: Consumer[] = [];

  const consumer = (groupId: string): Consumer => {
    const c = kafka.consumer({ groupId, sessionTimeout: 10_000, rebalanceTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200 });
    consumers.push(c);
    return c;
  };

  beforeAll(async () => {
    gateway = await startCluster({ regionSize: '256M' });
    kafka = new Kafka({ clientId: 'compat-kafkajs', brokers: [gateway.kafka], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    for (const c of consumers) await c.disconnect().catch(() => undefined);
    await admin?.disconnect();
    await gateway?.stop();
  });

  // Every test on its own: a request handler that throws is a bug even when the client copes with the closed connection.
  let failuresBefore = 0;
  beforeEach(() => {
    failuresBefore = gateway.failures().length;
  });
  afterEach(() => {
    expect(gateway.failures().slice(failuresBefore)).toEqual([]);
  });

  it('admin creates, describes, alters, grows and deletes topics', async () => {
    expect(await admin.createTopics({ topics: [{ topic: 'admin-a', numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] })).toBe(true);
    expect(await admin.createTopics({ topics: [{ topic: 'admin-a', numPartitions: 2 }] })).toBe(false);
    expect(await admin.listTopics()).toContain('admin-a');
    const meta = await admin.fetchTopicMetadata({ topics: ['admin-a'] });
    expect(meta.topics[0].partitions.map((p) => p.partitionId).sort()).toEqual([0, 1]);

    const describe = async () => {
      const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'admin-a' }] });
      expect(resources[0].errorCode).toBe(0);
      return Object.fromEntries(resources[0].configEntries.map((c) => [c.configName, { value: c.configValue, isDefault: c.isDefault }]));
    };
    expect((await describe())['retention.ms']).toEqual({ value: '3600000', isDefault: false });

    // AlterConfigs replaces every override: retention.ms goes back to its default.
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'admin-a', configEntries: [{ name: 'max.message.bytes', value: '2000000' }] }] });
    const altered = await describe();
    expect(altered['max.message.bytes']).toEqual({ value: '2000000', isDefault: false });
    expect(altered['retention.ms']).toEqual({ value: '604800000', isDefault: true });

    await expect(admin.createTopics({ topics: [{ topic: 'admin-compact', configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] })).rejects.toMatchObject({
      errors: [expect.objectContaining({ type: 'INVALID_CONFIG' })],
    });
    await expect(admin.createTopics({ topics: [{ topic: 'bad/name' }] })).rejects.toMatchObject({ errors: [expect.objectContaining({ type: 'INVALID_TOPIC_EXCEPTION' })] });

    await admin.createPartitions({ topicPartitions: [{ topic: 'admin-a', count: 4 }] });
    expect((await admin.fetchTopicMetadata({ topics: ['admin-a'] })).topics[0].partitions).toHaveLength(4);

    await admin.deleteTopics({ topics: ['admin-a'] });
    expect(await admin.listTopics()).not.toContain('admin-a');
  });

  it('messages with keys and headers come back from three partitions as they were sent', async () => {
    await admin.createTopics({ topics: [{ topic: 'three', numPartitions: 3 }] });
    const producer = kafka.producer();
    await producer.connect();
    const sent = Array.from({ length: 30 }, (_, i) => ({ partition: i % 3, key: `key-${i}`, value: `value-${i}`, headers: { trace: `t-${i}`, n: String(i) } }));
    await producer.send({ topic: 'three', messages: sent.slice(0, 15) });
    await producer.send({ topic: 'three', compression: CompressionTypes.GZIP, messages: sent.slice(15) });
    await producer.disconnect();

    const c = consumer('three-readers');
    await c.connect();
    await c.subscribe({ topic: 'three', fromBeginning: true });
    const got = await collect(c, 30);
    await c.disconnect();
    const byKey = new Map(got.map((m) => [m.key, m]));
    for (const s of sent) {
      const m = byKey.get(s.key)!;
      expect(m).toMatchObject({ partition: s.partition, value: s.value, headers: s.headers });
    }
    for (const p of [0, 1, 2]) {
      expect(got.filter((m) => m.partition === p).map((m) => m.offset)).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    }
    const offsets = await admin.fetchTopicOffsets('three');
    expect(offsets.map((o) => [o.partition, o.low, o.high]).sort()).toEqual([
      [0, '0', '10'],
      [1, '0', '10'],
      [2, '0', '10'],
    ]);
  });

  it('an idempotent producer stores every message once, in order', async () => {
    await admin.createTopics({ topics: [{ topic: 'idempotent', numPartitions: 2 }] });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let b = 0; b < 5; b++) {
      await producer.send({ topic: 'idempotent', messages: Array.from({ length: 20 }, (_, i) => ({ partition: i % 2, value: `${b}-${i}` })) });
    }
    await producer.disconnect();
    const offsets = await admin.fetchTopicOffsets('idempotent');
    expect(offsets.map((o) => o.high)).toEqual(['50', '50']);

    const c = consumer('idempotent-readers');
    await c.connect();
    await c.subscribe({ topic: 'idempotent', fromBeginning: true });
    const got = await collect(c, 100);
    await c.disconnect();
    expect(new Set(got.map((m) => m.value)).size).toBe(100);
    for (const p of [0, 1]) {
      const values = got.filter((m) => m.partition === p).map((m) => m.value);
      expect(values).toEqual([...values].sort((a, b) => order(a!) - order(b!)));
    }
  });

  it('a group of two shares the partitions and one member takes all of them when the other leaves', async () => {
    await admin.createTopics({ topics: [{ topic: 'shared', numPartitions: 4 }] });
    const assignments = new Map<Consumer, number[]>();
    const track = (c: Consumer) =>
      c.on(c.events.GROUP_JOIN, (e) => assignments.set(c, [...(e.payload.memberAssignment['shared'] ?? [])].sort()));
    const a = consumer('sharing');
    const b = consumer('sharing');
    track(a);
    track(b);
    await a.connect();
    await b.connect();
    await a.subscribe({ topic: 'shared', fromBeginning: true });
    await b.subscribe({ topic: 'shared', fromBeginning: true });
    const received: Seen[] = [];
    await a.run({ eachMessage: async ({ partition, message }) => void received.push(seen(partition, message)) });
    await b.run({ eachMessage: async () => undefined });
    await waitUntil(() => (assignments.get(a)?.length ?? 0) + (assignments.get(b)?.length ?? 0) === 4 && (assignments.get(a)?.length ?? 0) === 2, 'both members hold two partitions');

    await b.disconnect();
    await waitUntil(() => assignments.get(a)?.length === 4, 'the remaining member holds all four partitions');
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'shared', messages: [0, 1, 2, 3].map((p) => ({ partition: p, value: `after-leave-${p}` })) });
    await producer.disconnect();
    await waitUntil(() => received.filter((m) => m.value?.startsWith('after-leave')).length === 4, 'the remaining member reads every partition');
    await a.disconnect();
    const groups = await admin.listGroups();
    expect(groups.groups.map((g) => g.groupId)).toContain('sharing');
  });

  it('a restarted consumer resumes after the offsets it committed', async () => {
    await admin.createTopics({ topics: [{ topic: 'resume', numPartitions: 1 }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'resume', messages: Array.from({ length: 10 }, (_, i) => ({ value: `first-${i}` })) });

    const first = consumer('resumers');
    await first.connect();
    await first.subscribe({ topic: 'resume', fromBeginning: true });
    expect((await collect(first, 10)).map((m) => m.offset)).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    await first.disconnect();
    expect(await admin.fetchOffsets({ groupId: 'resumers', topics: ['resume'] })).toEqual([
      { topic: 'resume', partitions: [expect.objectContaining({ partition: 0, offset: '10' })] },
    ]);

    await producer.send({ topic: 'resume', messages: Array.from({ length: 5 }, (_, i) => ({ value: `second-${i}` })) });
    await producer.disconnect();
    const second = consumer('resumers');
    await second.connect();
    await second.subscribe({ topic: 'resume', fromBeginning: true });
    const got = await collect(second, 5);
    expect(got.map((m) => [m.offset, m.value])).toEqual(Array.from({ length: 5 }, (_, i) => [String(10 + i), `second-${i}`]));
    await second.disconnect();
  });

  it('seek moves a running consumer to an offset, and offsets can be found by timestamp', async () => {
    await admin.createTopics({ topics: [{ topic: 'seek', numPartitions: 1 }] });
    const producer = kafka.producer();
    await producer.connect();
    const base = Date.now() - 100_000;
    await producer.send({ topic: 'seek', messages: Array.from({ length: 10 }, (_, i) => ({ value: `m-${i}`, timestamp: String(base + i * 1000) })) });
    await producer.disconnect();
    expect(await admin.fetchTopicOffsetsByTimestamp('seek', base + 6500)).toEqual([{ partition: 0, offset: '7' }]);
    expect(await admin.fetchTopicOffsetsByTimestamp('seek', base + 6000)).toEqual([{ partition: 0, offset: '6' }]);

    const c = consumer('seekers');
    await c.connect();
    await c.subscribe({ topic: 'seek', fromBeginning: true });
    const got: Seen[] = [];
    let seeked = false;
    await c.run({
      eachMessage: async ({ partition, message }) => {
        if (!seeked) return;
        got.push(seen(partition, message));
      },
    });
    c.seek({ topic: 'seek', partition: 0, offset: '7' });
    seeked = true;
    await waitUntil(() => got.length >= 3, 'messages from offset 7');
    expect(got.slice(0, 3).map((m) => [m.offset, m.value])).toEqual([
      ['7', 'm-7'],
      ['8', 'm-8'],
      ['9', 'm-9'],
    ]);
    await c.disconnect();
  });

  it('admin describes, resets and deletes a consumer group', async () => {
    await admin.createTopics({ topics: [{ topic: 'managed', numPartitions: 1 }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'managed', messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] });
    await producer.disconnect();
    const c = consumer('managed-group');
    await c.connect();
    await c.subscribe({ topic: 'managed', fromBeginning: true });
    await collect(c, 3);
    const live = await admin.describeGroups(['managed-group']);
    expect(live.groups[0]).toMatchObject({ groupId: 'managed-group', state: 'Stable', protocolType: 'consumer' });
    expect(live.groups[0].members).toHaveLength(1);
    await c.disconnect();

    expect((await admin.describeGroups(['managed-group'])).groups[0]).toMatchObject({ state: 'Empty', members: [] });
    await admin.setOffsets({ groupId: 'managed-group', topic: 'managed', partitions: [{ partition: 0, offset: '1' }] });
    expect((await admin.fetchOffsets({ groupId: 'managed-group', topics: ['managed'] }))[0].partitions[0].offset).toBe('1');
    await admin.resetOffsets({ groupId: 'managed-group', topic: 'managed', earliest: true });
    expect((await admin.fetchOffsets({ groupId: 'managed-group', topics: ['managed'] }))[0].partitions[0].offset).toBe('0');

    await admin.deleteGroups(['managed-group']);
    expect((await admin.fetchOffsets({ groupId: 'managed-group', topics: ['managed'] }))[0].partitions[0].offset).toBe('-1');
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain('managed-group');
  });

  it('what the fast-path SDK writes, kafkajs reads', async () => {
    await admin.createTopics({ topics: [{ topic: 'sdk-to-kafka', numPartitions: 2 }] });
    const producer = new Rdmq({ control: gateway.control }).producer();
    await producer.connect();
    await producer.send({ topic: 'sdk-to-kafka', messages: Array.from({ length: 6 }, (_, i) => ({ partition: i % 2, key: `k${i}`, value: `sdk-${i}`, headers: { from: 'sdk' } })) });
    await producer.send({ topic: 'sdk-to-kafka', compression: 'gzip', messages: [{ partition: 0, key: 'k6', value: 'sdk-6', headers: { from: 'sdk' } }] });
    await producer.disconnect();

    const c = consumer('sdk-readers');
    await c.connect();
    await c.subscribe({ topic: 'sdk-to-kafka', fromBeginning: true });
    const got = await collect(c, 7);
    await c.disconnect();
    expect(got.map((m) => [m.key, m.value, m.headers.from, m.partition]).sort()).toEqual(
      Array.from({ length: 7 }, (_, i) => [`k${i}`, `sdk-${i}`, 'sdk', i === 6 ? 0 : i % 2]).sort(),
    );
  });

  it('what kafkajs writes, the fast-path SDK reads', async () => {
    await admin.createTopics({ topics: [{ topic: 'kafka-to-sdk', numPartitions: 1 }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'kafka-to-sdk', messages: Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: `kafka-${i}`, headers: { from: 'kafkajs' } })) });
    await producer.send({ topic: 'kafka-to-sdk', compression: CompressionTypes.GZIP, messages: [{ key: 'k5', value: 'kafka-5', headers: { from: 'kafkajs' } }] });
    await producer.disconnect();

    const reader = new Rdmq({ control: gateway.control }).consumer();
    await reader.connect();
    await reader.subscribe({ topic: 'kafka-to-sdk', fromBeginning: true });
    const got: string[][] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`SDK read only ${got.length} messages`)), 20_000);
      reader
        .run(
          {
            eachMessage: ({ message }) => {
              got.push([message.offset, message.key!.toString(), message.value!.toString(), message.headers.from!.toString()]);
              if (got.length === 6) {
                clearTimeout(timer);
                resolve();
              }
            },
          },
          reject,
        )
        .catch(reject);
    });
    await reader.disconnect();
    expect(got).toEqual(Array.from({ length: 6 }, (_, i) => [String(i), `k${i}`, `kafka-${i}`, 'kafkajs']));
  });
});

function order(value: string): number {
  const [b, i] = value.split('-').map(Number);
  return b * 1000 + i;
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
