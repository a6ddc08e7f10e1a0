// Topic rules as users meet them through `rdmq start`: the rdmq CLI, the
// fast-path producer it runs, and kafkajs. Each rule holds for both doors.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { errorCode } from '../gateway/protocol';
import { RawKafkaClient } from '../gateway/testing/raw-client';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const MAIN = path.join(__dirname, '..', 'cli', 'main.js');

function rdmq(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [MAIN, ...args], { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

describe('topic rules through rdmq start', () => {
  const dataDir = fs.mkdtempSync('/dev/shm/rdmq-topic-rules-');
  let cluster: ClusterProcess;
  let kafka: Kafka;
  const control = () => ['--control', cluster.control];
  const start = async (): Promise<void> => {
    cluster = await startCluster({ dataDir, regionSize: '256M', extraArgs: ['--num-partitions', '4'] });
    kafka = new Kafka({ clientId: 'topic-rules', brokers: [`127.0.0.1:${cluster.kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 2 } });
  };

  beforeAll(start, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('topics create on an existing topic fails with TOPIC_ALREADY_EXISTS and changes nothing', async () => {
    expect((await rdmq(['topics', 'create', 'events', '--partitions', '3', ...control()])).code).toBe(0);
    const again = await rdmq(['topics', 'create', 'events', '--partitions', '5', ...control()]);
    expect(again.code).not.toBe(0);
    expect(again.stdout).not.toMatch(/created/);
    expect(again.stderr).toMatch(/topic events already exists with 3 partition\(s\); nothing changed/);
    expect((await rdmq(['topics', 'describe', 'events', ...control()])).stdout).not.toMatch(/partition 3:/);
  }, 30_000);

  it.each(['__consumer_offsets', '__transaction_state'])('refuses to create the internal topic %s through the CLI and kafkajs', async (name) => {
    const cli = await rdmq(['topics', 'create', name, ...control()]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(new RegExp(`internal topic ${name} is prohibited`));
    const admin = kafka.admin();
    await admin.connect();
    try {
      const refused = (await admin.createTopics({ topics: [{ topic: name }] }).catch((err: unknown) => err)) as { errors?: { type: string }[] };
      expect(refused.errors?.map((e) => e.type)).toEqual(['INVALID_REQUEST']);
      expect(await admin.listTopics()).not.toContain(name);
    } finally {
      await admin.disconnect();
    }
  }, 30_000);

  it("refuses a fast-path batch over the topic's max.message.bytes with MESSAGE_TOO_LARGE, in both producer modes, as the Kafka door does", async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'capped', numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: String(1 << 20) }] }] });
      const big = 'x'.repeat(2 << 20) + '\n';
      for (const mode of ['shared', 'exclusive']) {
        const produced = await rdmq(['produce', 'capped', '--mode', mode, ...control()], big);
        expect({ mode, code: produced.code }).toEqual({ mode, code: expect.not.stringMatching(/^0$/) });
        expect(produced.stderr).toMatch(/MESSAGE_TOO_LARGE|max\.message\.bytes 1048576/);
      }
      const producer = kafka.producer();
      await producer.connect();
      try {
        await expect(producer.send({ topic: 'capped', messages: [{ value: big }] })).rejects.toThrow(/too large|larger than/i);
        // Under the limit both doors still take it.
        await producer.send({ topic: 'capped', messages: [{ value: 'small' }] });
      } finally {
        await producer.disconnect();
      }
      expect((await rdmq(['produce', 'capped', ...control()], 'also small\n')).code).toBe(0);
      expect(await admin.fetchTopicOffsets('capped')).toEqual([expect.objectContaining({ partition: 0, high: '2', low: '0' })]);
    } finally {
      await admin.disconnect();
    }
  }, 60_000);

  it('a topic a Kafka client auto-creates gets --num-partitions partitions', async () => {
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    try {
      await producer.send({ topic: 'auto-made', messages: [{ value: 'hello' }] });
    } finally {
      await producer.disconnect();
    }
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [topic] = (await admin.fetchTopicMetadata({ topics: ['auto-made'] })).topics;
      expect(topic.partitions).toHaveLength(4);
    } finally {
      await admin.disconnect();
    }
  }, 30_000);

  it("accepts Kafka's common topic configs it honours or for which it is honest to, and refuses the others with the reason", async () => {
    const admin = kafka.admin();
    await admin.connect();
    const raw = await RawKafkaClient.connect(`127.0.0.1:${cluster.kafkaPort}`);
    try {
      const accepted = {
        'min.insync.replicas': '2',
        'message.format.version': '0.10.0',
        'message.timestamp.type': 'CreateTime',
        'compression.type': 'producer',
        'cleanup.policy': 'delete',
        'retention.ms': '3600000',
        'retention.bytes': '1073741824',
        'segment.bytes': '4194304',
        'file.delete.delay.ms': '1000',
        'flush.messages': '9223372036854775807',
        preallocate: 'true',
        'delete.retention.ms': '1000',
        'min.cleanable.dirty.ratio': '0.3',
      };
      await admin.createTopics({ topics: [{ topic: 'configured', configEntries: Object.entries(accepted).map(([name, value]) => ({ name, value })) }] });
      const described = await admin.describeConfigs({ resources: [{ type: 2, name: 'configured' }], includeSynonyms: false });
      const values = Object.fromEntries(described.resources[0].configEntries.map((e) => [e.configName, e.configValue]));
      expect(values).toMatchObject(accepted);
      // librdkafka's own test suite sets message.format.version through AlterConfigs.
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: 'configured', configEntries: [{ name: 'message.format.version', value: '2.8-IV0' }] }] });

      for (const [name, value, reason] of [
        ['cleanup.policy', 'compact', /no log compaction/],
        ['compression.type', 'gzip', /does not recompress/],
        ['min.insync.replicas', '0', /from 1/],
        ['flush.messages', '1', /--durability/],
        ['segment.ms', '1000', /by size only/],
        ['message.timestamp.type', 'Sometime', /LogAppendTime/],
        ['no.such.config', '1', /unknown topic config/],
      ] as const) {
        // kafkajs drops the error message; the raw request shows what a client that reads it gets.
        const topic = `refused-${name.replace(/\./g, '-')}`;
        const answer = await raw.request('CreateTopics', 5, {
          topics: [{ name: topic, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name, value }] }],
          timeoutMs: 5000,
          validateOnly: false,
        });
        expect({ name, errorCode: answer.topics[0].errorCode }).toEqual({ name, errorCode: errorCode('INVALID_CONFIG') });
        expect(answer.topics[0].errorMessage).toMatch(reason);
      }
      expect((await admin.listTopics()).filter((t) => t.startsWith('refused-'))).toEqual([]);
    } finally {
      raw.close();
      await admin.disconnect();
    }
  }, 30_000);

  it('message.timestamp.type=LogAppendTime stamps each batch with its append time, and ListOffsets finds it by that time', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'appended', numPartitions: 1, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] }] });
    const producer = kafka.producer();
    await producer.connect();
    const before = Date.now();
    const [ack] = await producer.send({ topic: 'appended', messages: [{ value: 'old', timestamp: '1000' }, { value: 'older', timestamp: '500' }] });
    const after = Date.now();
    await producer.disconnect();
    expect(Number(ack.logAppendTime)).toBeGreaterThanOrEqual(before);
    const consumer = kafka.consumer({ groupId: 'appended-reader' });
    await consumer.connect();
    await consumer.subscribe({ topic: 'appended', fromBeginning: true });
    const stamps: number[] = [];
    await new Promise<void>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => void (stamps.push(Number(message.timestamp)) === 2 && resolve()) });
    });
    await consumer.disconnect();
    for (const t of stamps) expect(t).toBeGreaterThanOrEqual(before), expect(t).toBeLessThanOrEqual(after);
    expect(await admin.fetchTopicOffsetsByTimestamp('appended', 2000)).toEqual([{ partition: 0, offset: '0' }]);
    await admin.disconnect();
  }, 30_000);

  it("a group that committed lists with protocol type 'consumer' after a restart, and the cluster id keeps its Kafka format", async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'grouped', numPartitions: 1 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'grouped', messages: [{ value: 'one' }, { value: 'two' }] });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: 'survivors' });
    await consumer.connect();
    await consumer.subscribe({ topic: 'grouped', fromBeginning: true });
    let seen = 0;
    await new Promise<void>((resolve) => {
      void consumer.run({ eachMessage: async () => void (++seen === 2 && resolve()) });
    });
    await consumer.disconnect(); // commits
    const before = kafka.admin();
    await before.connect();
    const { clusterId } = await before.describeCluster();
    await before.disconnect();
    await cluster.stop({ keepData: true });
    await start();
    const after = kafka.admin();
    await after.connect();
    try {
      const { groups } = await after.listGroups();
      expect(groups).toContainEqual({ groupId: 'survivors', protocolType: 'consumer' });
      const [described] = (await after.describeGroups(['survivors'])).groups;
      expect(described).toEqual(expect.objectContaining({ groupId: 'survivors', state: 'Empty', protocolType: 'consumer' }));
      // Kafka's cluster id format (22 characters of URL-safe base64), the same after the restart.
      expect(clusterId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect((await after.describeCluster()).clusterId).toBe(clusterId);
    } finally {
      await after.disconnect();
    }
  }, 60_000);
});
