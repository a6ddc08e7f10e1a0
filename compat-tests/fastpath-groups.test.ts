// One consumer group, two doors: a fast-path SDK member and a kafkajs member
// against the real `rdmq start` split a multi-partition topic between them,
// and each resumes exactly where the other's committed offsets say when the
// other leaves, whichever of them leads the group (computes the assignment).
// Every record is read exactly once over the whole story; a
// member that ignored the other's commits would read from the beginning
// (both start fromBeginning) and the duplicates would show.
import { execFile } from 'child_process';
import * as path from 'path';
import { promisify } from 'util';
import { Consumer as KafkaConsumer, Kafka, logLevel } from 'kafkajs';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { Rdmq } from '../rdma-client';
import { spawnScript } from '../rdma-client/testing/processes';

const TOPIC = 'shared-orders';
const PARTITIONS = 4;
const GROUP = 'two-doors';
const PER_PHASE = 200;

async function waitFor(what: string, done: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('a fast-path consumer group member and a kafkajs member in one group', () => {
  let cluster: ClusterProcess;
  let kafka: Kafka;
  const reads: { value: string; by: string; partition: number }[] = [];
  const kafkajsConsumers: KafkaConsumer[] = [];
  const sdkConsumers: { disconnect(): Promise<void> }[] = [];
  /** kafkajs's assignment of TOPIC in its latest generation. */
  let kafkajsAssignment: number[] = [];
  /** Whether kafkajs led its latest generation (computed everyone's assignment). */
  let kafkajsLeads = false;

  beforeAll(async () => {
    cluster = await startCluster({ regionSize: '256M', segmentSize: '4M' });
    kafka = new Kafka({ clientId: 'groups-test', brokers: [`127.0.0.1:${cluster.kafkaPort}`], logLevel: logLevel.NOTHING });
    const admin = new Rdmq({ control: cluster.control }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] });
    await admin.disconnect();
  });
  afterAll(async () => {
    for (const c of kafkajsConsumers) await c.disconnect().catch(() => undefined);
    for (const c of sdkConsumers) await c.disconnect().catch(() => undefined);
    await cluster?.stop();
  });

  async function produce(phase: string): Promise<void> {
    const producer = new Rdmq({ control: cluster.control }).producer();
    await producer.connect();
    const messages = Array.from({ length: PER_PHASE }, (_, i) => ({ value: `${phase}-${i}`, partition: i % PARTITIONS }));
    await producer.send({ topic: TOPIC, messages });
    await producer.disconnect();
  }

  async function startKafkajs(name: string): Promise<KafkaConsumer> {
    const consumer = kafka.consumer({ groupId: GROUP, sessionTimeout: 10_000, heartbeatInterval: 500 });
    kafkajsConsumers.push(consumer);
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      kafkajsAssignment = [...(e.payload.memberAssignment[TOPIC] ?? [])].sort();
      kafkajsLeads = e.payload.isLeader;
    });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ partition, message }) => void reads.push({ value: message.value!.toString(), by: name, partition }) });
    return consumer;
  }

  function sdkMember(name: string) {
    const consumer = new Rdmq({ control: cluster.control }).consumer({ groupId: GROUP, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, clientId: name });
    const errors: Error[] = [];
    sdkConsumers.push(consumer);
    return {
      consumer,
      errors,
      start: async () => {
        await consumer.connect();
        await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
        await consumer.run({ eachMessage: async ({ partition, message }) => void reads.push({ value: message.value!.toString(), by: name, partition }) }, (err) => errors.push(err));
      },
    };
  }

  function readOnce(count: number): void {
    const seen = new Map<string, number>();
    for (const r of reads) seen.set(r.value, (seen.get(r.value) ?? 0) + 1);
    const twice = [...seen].filter(([, n]) => n > 1).map(([v]) => v);
    expect(twice).toEqual([]);
    expect(seen.size).toBe(count);
  }

  it('share the partitions, and each resumes at the offsets the other committed', async () => {
    // The SDK member joins first and leads: it assigns kafkajs its share.
    const sdk = sdkMember('sdk');
    const sdkStarted = sdk.start();
    const admin = kafka.admin();
    await admin.connect();
    const deadline = Date.now() + 30_000;
    while ((await admin.describeGroups([GROUP])).groups[0].members.length === 0) {
      if (Date.now() > deadline) throw new Error('the SDK member never joined');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await admin.disconnect();
    const kafkajs = await startKafkajs('kafkajs');
    await sdkStarted;
    // One generation with both: the partitions split between them, each once.
    const sdkAssignment = () => sdk.consumer.assignment().flatMap((a) => a.partitions);
    await waitFor('a generation that splits the partitions', () => {
      const both = [...sdkAssignment(), ...kafkajsAssignment].sort();
      return sdkAssignment().length > 0 && kafkajsAssignment.length > 0 && both.join() === '0,1,2,3';
    });
    expect(kafkajsLeads).toBe(false);
    await produce('first');
    await waitFor('the first 200 records', () => new Set(reads.map((r) => r.value)).size >= PER_PHASE);
    const byMember = (name: string) => [...new Set(reads.filter((r) => r.by === name).map((r) => r.partition))].sort();
    expect(byMember('sdk')).toEqual(sdkAssignment());
    expect(byMember('kafkajs')).toEqual(kafkajsAssignment);
    readOnce(PER_PHASE);

    // The SDK member leaves (committing what it read): kafkajs takes its partitions from those commits.
    await sdk.consumer.disconnect();
    await produce('second');
    await waitFor('the second 200 records at kafkajs', () => reads.filter((r) => r.value.startsWith('second-')).length >= PER_PHASE);
    expect(new Set(reads.filter((r) => r.value.startsWith('second-')).map((r) => r.by))).toEqual(new Set(['kafkajs']));
    readOnce(2 * PER_PHASE);

    // A new SDK member joins; kafkajs leads now and assigns it its share.
    const next = sdkMember('sdk-2');
    await next.start();
    const nextAssignment = () => next.consumer.assignment().flatMap((a) => a.partitions);
    await waitFor('a generation that splits the partitions again', () => {
      const both = [...nextAssignment(), ...kafkajsAssignment].sort();
      return nextAssignment().length > 0 && kafkajsAssignment.length > 0 && both.join() === '0,1,2,3';
    });
    expect(kafkajsLeads).toBe(true);
    // kafkajs leaves (committing): the SDK member resumes from kafkajs's commits on every partition.
    await kafkajs.disconnect();
    await waitFor('the SDK member to own every partition', () => nextAssignment().join() === '0,1,2,3');
    await produce('third');
    await waitFor('the third 200 records at the second SDK member', () => reads.filter((r) => r.value.startsWith('third-')).length >= PER_PHASE);
    // A little longer: anything read twice would arrive now.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(new Set(reads.filter((r) => r.value.startsWith('third-')).map((r) => r.by))).toEqual(new Set(['sdk-2']));
    readOnce(3 * PER_PHASE);
    await next.consumer.disconnect();
    expect([...sdk.errors, ...next.errors]).toEqual([]);
  }, 60_000);

  it('refuses a group id the coordinator cannot hold, or a session timeout it does not allow, with the Kafka error', async () => {
    const consumer = new Rdmq({ control: cluster.control }).consumer({ groupId: 'g'.repeat(300), sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500 });
    sdkConsumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC });
    const reported: Error[] = [];
    await expect(consumer.run({ eachMessage: () => undefined }, (err) => reported.push(err))).rejects.toMatchObject({ type: 'INVALID_GROUP_ID', errorCode: 24 });
    // Once: run() rejects with it, onError does not get it again.
    expect(reported).toEqual([]);
    await consumer.disconnect();
    // A session timeout below the coordinator's minimum is refused the same way, before joining.
    const impatient = new Rdmq({ control: cluster.control }).consumer({ groupId: 'impatient', sessionTimeoutMs: 1000, heartbeatIntervalMs: 100 });
    sdkConsumers.push(impatient);
    await impatient.connect();
    await impatient.subscribe({ topic: TOPIC });
    await expect(impatient.run({ eachMessage: () => undefined }, () => undefined)).rejects.toMatchObject({ type: 'INVALID_SESSION_TIMEOUT', errorCode: 26 });
    await impatient.disconnect();
  });

  it('a fast-path member SIGKILLed mid-stream: kafkajs takes its partitions from its last commits, nothing skipped, little read again', async () => {
    const topic = 'crash-orders';
    const group = 'survivors';
    const admin = new Rdmq({ control: cluster.control }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] });
    await admin.disconnect();
    const producer = new Rdmq({ control: cluster.control }).producer();
    await producer.connect();
    const total = 400;
    await producer.send({ topic, messages: Array.from({ length: total }, (_, i) => ({ value: `crash-${i}`, partition: i % PARTITIONS })) });
    await producer.disconnect();

    const member = spawnScript<{ partition?: number; offset?: string; value?: string; assigned?: number[]; error?: string }>('group-member.js', [
      '--control', cluster.control, '--topic', topic, '--group', group, '--handle-ms', '10',
    ]);
    try {
      await member.waitFor((l) => l.assigned !== undefined);
      await waitFor('the member to handle 100 records', () => member.lines.filter((l) => l.value).length >= 100);
      member.child.kill('SIGKILL');
      await member.exited;
    } finally {
      member.child.kill('SIGKILL');
    }
    const bySdk = member.lines.filter((l) => l.value).map((l) => l.value!);

    const byKafkajs: string[] = [];
    const survivor = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 500 });
    kafkajsConsumers.push(survivor);
    await survivor.connect();
    await survivor.subscribe({ topic, fromBeginning: true });
    await survivor.run({ eachMessage: async ({ message }) => void byKafkajs.push(message.value!.toString()) });
    // The dead member's session (6 s) runs out; then kafkajs owns every partition.
    await waitFor('every record read', () => new Set([...bySdk, ...byKafkajs]).size >= total, 45_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await survivor.disconnect();

    expect(new Set([...bySdk, ...byKafkajs]).size).toBe(total);
    expect(byKafkajs.length).toBe(new Set(byKafkajs).size);
    // Read again: only what the member handled after its last commit landed, not everything it handled.
    const again = byKafkajs.filter((v) => bySdk.includes(v));
    expect(bySdk.length).toBeGreaterThanOrEqual(100);
    expect(again.length).toBeLessThanOrEqual(4 * PARTITIONS);
    // Its commits all landed, the first ones too (made while it was still subscribing its partitions).
    expect(member.lines.filter((l) => l.error)).toEqual([]);
  }, 90_000);

  it('`rdmq consume --group` reads the group\'s share from its committed offsets and commits only what it printed', async () => {
    const topic = 'cli-orders';
    const admin = new Rdmq({ control: cluster.control }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    await admin.disconnect();
    const producer = new Rdmq({ control: cluster.control }).producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 100 }, (_, i) => ({ value: `cli-${i}`, partition: i % 2 })) });
    await producer.disconnect();
    const consume = async (max: number): Promise<string[]> => {
      const main = path.join(__dirname, '..', 'cli', 'main.js');
      const args = [main, 'consume', topic, '--group', 'cli-readers', '--from-beginning', '--max-messages', String(max), '--control', cluster.control];
      const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: 30_000 });
      return stdout.split('\n').filter((l) => l !== '');
    };
    const first = await consume(60);
    const second = await consume(40);
    expect(first).toHaveLength(60);
    expect(second).toHaveLength(40);
    expect(new Set([...first, ...second]).size).toBe(100);
  }, 60_000);

  it('SDK members reading raw batches and decoded batches commit where the next one resumes', async () => {
    const topic = 'raw-orders';
    const group = 'raw-then-decoded';
    const rdmq = new Rdmq({ control: cluster.control });
    const admin = rdmq.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    await admin.disconnect();
    const send = async (from: number, count: number) => {
      const producer = rdmq.producer();
      await producer.connect();
      // Several batches per partition, so a raw read may hold more than one.
      for (let i = from; i < from + count; i += 10) {
        await producer.send({ topic, messages: Array.from({ length: 10 }, (_, j) => ({ value: `raw-${i + j}`, partition: (i / 10) % 2 })) });
      }
      await producer.disconnect();
    };
    await send(0, 100);
    const member = () => {
      const consumer = rdmq.consumer({ groupId: group, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500 });
      sdkConsumers.push(consumer);
      return consumer;
    };
    let rawRecords = 0;
    const raw = member();
    await raw.connect();
    await raw.subscribe({ topic, fromBeginning: true });
    await raw.run({ eachRawBatch: ({ bytes }) => void (rawRecords += countRecords(bytes)) });
    await waitFor('100 records as raw batches', () => rawRecords >= 100);
    await raw.disconnect();
    expect(rawRecords).toBe(100);

    await send(100, 50);
    const values: string[] = [];
    const decoded = member();
    await decoded.connect();
    await decoded.subscribe({ topic, fromBeginning: true });
    await decoded.run({ eachBatch: ({ batch }) => void values.push(...batch.messages.map((m) => m.value!.toString())) });
    await waitFor('the 50 new records', () => values.length >= 50);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await decoded.disconnect();
    expect(values.sort()).toEqual(Array.from({ length: 50 }, (_, i) => `raw-${100 + i}`).sort());
  }, 60_000);
});

/** Records in complete v2 record batches: each batch's record count (bytes 57..61 of its header). */
function countRecords(bytes: Buffer): number {
  let count = 0;
  for (let at = 0; at + 61 <= bytes.length; at += 12 + bytes.readInt32BE(at + 8)) count += bytes.readInt32BE(at + 57);
  return count;
}
