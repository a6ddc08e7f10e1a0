// Topic rules as users meet them through `rdmq start`: the rdmq CLI, the
// fast-path producer it runs, and kafkajs. Each rule holds for both doors.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterProcess, startCluster } from '../bench/cluster';

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
    cluster = await startCluster({ dataDir, regionSize: '256M' });
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
    expect(again.stderr).toMatch(/TOPIC_ALREADY_EXISTS: topic events already exists with 3 partition\(s\)/);
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

  it("a group that committed lists with protocol type 'consumer' after a restart", async () => {
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
    await cluster.stop({ keepData: true });
    await start();
    const after = kafka.admin();
    await after.connect();
    try {
      const { groups } = await after.listGroups();
      expect(groups).toContainEqual({ groupId: 'survivors', protocolType: 'consumer' });
      const [described] = (await after.describeGroups(['survivors'])).groups;
      expect(described).toEqual(expect.objectContaining({ groupId: 'survivors', state: 'Empty', protocolType: 'consumer' }));
    } finally {
      await after.disconnect();
    }
  }, 60_000);
});
