// Replication with the roles apart: four `rdmq storage` nodes, one `rdmq
// broker --storage A,B,C,D --default-replication-factor 3`, Kafka producers
// (kafkajs through the broker's gateway) and fast-path SDK producers writing
// unique values. Every segment is on three nodes; a storage node SIGKILLed
// under load costs no acknowledged record, writes go on, and its copies are
// made again on the node left over. Readers of one partition read different
// copies.
import { Kafka, logLevel } from 'kafkajs';
import { Rdmq } from '../rdma-client';
import { readTopic, Writer } from './testing/apart';
import { ReplicatedRoles } from './testing/replicated';

jest.setTimeout(120_000);

const PARTITIONS = 2;

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every value of one metric on the broker's /metrics (one per label set). */
async function brokerMetric(roles: ReplicatedRoles, name: string, labels = '[^}]*'): Promise<number[]> {
  const text = await (await fetch(`http://127.0.0.1:${roles.broker.ready.metricsPort}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}\\{${labels}\\} (\\d+)$`, 'gm'))].map((m) => Number(m[1]));
}

/** Segment id → indexes of the running nodes holding it (sealed or open). */
async function holders(roles: ReplicatedRoles): Promise<Map<number, number[]>> {
  const map = new Map<number, number[]>();
  for (const [i, segments] of (await roles.segmentsByNode()).entries()) {
    for (const s of segments ?? []) map.set(s.segmentId, [...(map.get(s.segmentId) ?? []), i]);
  }
  return map;
}

describe('replication over several storage nodes', () => {
  let roles: ReplicatedRoles;

  beforeAll(async () => {
    roles = await ReplicatedRoles.start({ storageNodes: 4, defaultReplicationFactor: 3, segmentSize: '64K' });
  });

  afterAll(async () => {
    await roles?.stop();
  });

  test('every segment has three copies; a storage node killed under load loses no acknowledged record; its copies are made again', async () => {
    const admin = new Kafka({ clientId: 'admin', brokers: [roles.kafka], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'replicated', numPartitions: PARTITIONS, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }] });
    // More copies than nodes is refused with Kafka's error.
    await expect(admin.createTopics({ topics: [{ topic: 'too-many', numPartitions: 1, replicationFactor: 5 }] })).rejects.toHaveProperty(['errors', 0, 'type'], 'INVALID_REPLICATION_FACTOR');
    await admin.disconnect();

    const writer = new Writer('replicated', PARTITIONS);
    await writer.kafka(roles.kafka, 2);
    await writer.sdk(roles.control, 2);
    await writer.acks(200);

    const before = await holders(roles);
    expect(before.size).toBeGreaterThanOrEqual(PARTITIONS);
    for (const [id, nodes] of before) expect({ id, copies: nodes.length }).toEqual({ id, copies: 3 });

    // The node holding the most copies goes away; writes go on without it.
    const counts = [0, 1, 2, 3].map((i) => [...before.values()].filter((n) => n.includes(i)).length);
    const victim = counts.indexOf(Math.max(...counts));
    await roles.killStorage(victim);
    const failuresBefore = writer.failures;
    await writer.acks(200);
    await writer.stop();
    expect(writer.ackedFrom('k')).toBeGreaterThan(50);
    expect(writer.ackedFrom('s')).toBeGreaterThan(50);

    // Every acknowledged value is stored once, at the offset it was acknowledged at.
    const logs = await readTopic(roles.control, 'replicated');
    const stored = new Map<string, string>();
    for (const [partition, log] of logs) {
      expect(log.overlaps).toEqual([]);
      for (const r of log.records) {
        expect(stored.has(r.value) && !writer.failedOnce.has(r.value)).toBe(false);
        stored.set(r.value, `${partition}/${r.offset}`);
      }
    }
    const wrong = [...writer.acked].filter(([v, at]) => stored.get(v) !== `${at.partition}/${at.offset}`);
    expect(wrong).toEqual([]);

    // The broker's metrics say which node is down and how many segments are short of copies.
    await until('the metrics to show the victim down', async () => (await brokerMetric(roles, 'rdmq_storage_node_up')).filter((v) => v === 0).length === 1);
    expect(await brokerMetric(roles, 'rdmq_storage_node_up')).toHaveLength(4);

    // Sealed segments that lost their copy on the victim are copied to the spare node.
    await until('every segment has three copies on the nodes left', async () => {
      const now = await holders(roles);
      return [...now.values()].every((nodes) => nodes.length === 3);
    });
    await until('no partition to count a segment short of copies', async () => (await brokerMetric(roles, 'rdmq_partition_under_replicated_segments')).every((v) => v === 0));
    expect(await brokerMetric(roles, 'rdmq_partition_under_replicated_segments')).toHaveLength(PARTITIONS);
    const spare = [0, 1, 2, 3].find((i) => i !== victim && counts[i] === Math.min(...counts.filter((_, j) => j !== victim)))!;
    expect([...(await holders(roles)).values()].some((nodes) => nodes.includes(spare))).toBe(true);
    // The kill cost some retries, not records.
    expect(writer.failures).toBeGreaterThanOrEqual(failuresBefore);

    // The victim comes back: its stale copies are retired, no segment has more than three.
    await roles.startStorage(victim);
    await until('the returned node holds no stale copy', async () => [...(await holders(roles)).values()].every((nodes) => nodes.length === 3));
  });

  test('below min.insync.replicas producers get NOT_ENOUGH_REPLICAS, and write again once a node returns', async () => {
    const admin = new Rdmq({ control: roles.control }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'strict', numPartitions: 1, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '3' }] }] });
    await admin.disconnect();
    const producer = new Rdmq({ control: roles.control }).producer();
    await producer.connect();
    await producer.send({ topic: 'strict', messages: [{ value: 'before' }] });
    // Two of four nodes down: only two copies can be placed, fewer than min.insync.replicas.
    const down = [0, 1];
    for (const i of down) await roles.killStorage(i);
    let refusal: unknown;
    await until('a send is refused for want of replicas', async () => {
      try {
        await producer.send({ topic: 'strict', messages: [{ value: 'during' }] });
        return false;
      } catch (err) {
        refusal = err;
        return /NOT_ENOUGH_REPLICAS|min\.insync\.replicas/.test(String((err as Error).message) + String((err as { type?: string }).type));
      }
    });
    expect(String((refusal as Error).message)).toMatch(/min\.insync\.replicas|storage nodes answer/);
    // Its segment lost the copies on the nodes down and has no node left to be copied to.
    await until('strict-0 to count its segment short of copies', async () => (await brokerMetric(roles, 'rdmq_partition_under_replicated_segments', 'topic="strict",partition="0"[^}]*'))[0] === 1);
    expect((await brokerMetric(roles, 'rdmq_storage_node_up')).filter((v) => v === 0)).toHaveLength(2);
    for (const i of down) await roles.startStorage(i);
    await until('a send succeeds again', async () => {
      try {
        await producer.send({ topic: 'strict', messages: [{ value: 'after' }] });
        return true;
      } catch {
        return false;
      }
    });
    await producer.disconnect();
    const logs = await readTopic(roles.control, 'strict');
    const values = logs.get(0)!.records.map((r) => r.value);
    expect(values[0]).toBe('before');
    expect(values).toContain('after');
  });

  test('two readers of one partition read from different copies', async () => {
    const admin = new Rdmq({ control: roles.control }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'spread', numPartitions: 1, replicationFactor: 3 }] });
    await admin.disconnect();
    const producer = new Rdmq({ control: roles.control }).producer();
    await producer.connect();
    const value = Buffer.alloc(4096, 7);
    for (let i = 0; i < 50; i++) await producer.send({ topic: 'spread', messages: Array.from({ length: 8 }, () => ({ value })) });
    await producer.disconnect();

    const readers = [new Rdmq({ control: roles.control }).consumer(), new Rdmq({ control: roles.control }).consumer()];
    const counts = [0, 0];
    for (const [i, consumer] of readers.entries()) {
      await consumer.connect();
      await consumer.subscribe({ topic: 'spread', fromBeginning: true });
      await consumer.run({ eachMessage: async () => void counts[i]++ });
    }
    await until('both readers read all 400 records', () => counts.every((n) => n >= 400));
    // Each reader's busiest copy: the readers prefer different copies of every segment.
    const [a, b] = readers.map((c) => [...c.readBytesByNode()].sort((x, y) => y[1] - x[1]));
    for (const consumer of readers) await consumer.disconnect();
    expect(a.length).toBeGreaterThan(0);
    expect(b.length).toBeGreaterThan(0);
    expect({ a, b, differ: a[0][0] !== b[0][0] }).toMatchObject({ differ: true });
  });
});
