// The roles run apart (`rdmq storage`, `rdmq broker --storage`), Kafka
// producers (through the broker's gateway) and SDK producers writing unique
// values, and faults
// caused for real: the storage node SIGKILLed and restarted on the same data,
// the broker paused past its lease timeout. Afterwards every acknowledged
// value is read back, and every offset below the high watermark is accounted
// for: a record, or a range skipped for a write that was never acknowledged.
// Last, a full region: a clear error at once, and writes again once space is freed.
import { execFile } from 'child_process';
import { promisify } from 'util';
import { Kafka, logLevel } from 'kafkajs';
import { startCluster } from '../bench/cluster';
import { RemoteGatewayProcess, startRemoteGatewayProcess } from '../gateway/testing/remote-gateway';
import { Rdmq } from '../rdma-client';
import { LiveReader, PartitionLog, readTopic, RolesApart, Writer } from './testing/apart';

const PARTITIONS = 3;
const run = promisify(execFile);

async function createTopic(kafka: string, topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'admin', brokers: [kafka], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] });
  await admin.disconnect();
}

/** Every acknowledged value is stored; nothing is stored twice unless a send of it failed (at-least-once retry). */
function checkValues(writer: Writer, logs: Map<number, PartitionLog>): { duplicates: string[] } {
  const seen = new Map<string, number>();
  for (const log of logs.values()) for (const r of log.records) seen.set(r.value, (seen.get(r.value) ?? 0) + 1);
  // Each missing value with where it was acknowledged and what is stored there instead.
  const missing = [...writer.acked].filter(([v]) => !seen.has(v)).map(([v, at]) => {
    const stored = logs.get(at.partition)?.records.find((r) => String(r.offset) === at.offset);
    return `${v} acked at ${at.partition}/${at.offset}, stored there: ${stored?.value ?? 'nothing'}`;
  });
  expect(missing).toEqual([]);
  const duplicates = [...seen].filter(([, n]) => n > 1).map(([v]) => v);
  expect(duplicates.filter((v) => !writer.failedOnce.has(v))).toEqual([]);
  return { duplicates };
}

/** Offsets below the watermark are dense: each holds one record or lies in a range skipped for a write that failed. */
function checkOffsets(writer: Writer, logs: Map<number, PartitionLog>): { recordless: number } {
  let recordless = 0;
  for (const [partition, log] of logs) {
    expect({ partition, overlaps: log.overlaps }).toEqual({ partition, overlaps: [] });
    expect(BigInt(log.records.length + log.skippedOffsets + log.gapOffsets)).toBe(log.highWatermark);
    recordless += log.skippedOffsets + log.gapOffsets;
  }
  // A write that never landed was never acknowledged: at most one skipped range per failed send.
  expect(recordless).toBeLessThanOrEqual(writer.failures);
  return { recordless };
}

/** Each partition's offsets were handed to the consumer once each, in increasing order. */
function expectNeverBackwards(reader: LiveReader): void {
  for (const [partition, list] of reader.delivered) {
    const backwards = list.filter((r, i) => i > 0 && r.offset <= list[i - 1].offset).map((r) => `${partition}/${r.offset}`);
    expect(backwards).toEqual([]);
  }
}

describe('roles apart', () => {
  let roles: RolesApart | undefined;
  let gateway: RemoteGatewayProcess | undefined;
  afterEach(async () => {
    await gateway?.stop();
    await roles?.stop();
    roles = undefined;
    gateway = undefined;
  });

  it('a storage node SIGKILLed under load and restarted on the same data: the broker and `rdmq gateway` serve again by themselves, every acknowledged value is readable once, and the watermarks hold only what was written', async () => {
    roles = await RolesApart.start();
    await createTopic(roles.kafka, 'restart');
    gateway = await startRemoteGatewayProcess(roles.control);
    const reader = await new LiveReader().start(roles.control, 'restart');
    // Kafka through the broker's own gateway and through `rdmq gateway`, and the SDK.
    const writer = new Writer('restart', PARTITIONS);
    await writer.kafka(roles.kafka, 2, 'k');
    await writer.kafka(gateway.kafka, 2, 'g');
    await writer.sdk(roles.control, 2);
    await writer.acks(300);
    await roles.storage.signal('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const ackedBeforeRestart = writer.acked.size;
    const before = ['k', 'g', 's'].map((prefix) => writer.ackedFrom(prefix));
    await roles.startStorage();
    // Nothing is restarted or told but the storage node: the broker and both gateways find it again.
    await writer.acks(300);
    await writer.stop();
    expect(writer.acked.size).toBeGreaterThan(ackedBeforeRestart + 299);
    const after = ['k', 'g', 's'].map((prefix) => writer.ackedFrom(prefix));
    expect(after.map((n, i) => n > before[i])).toEqual([true, true, true]);

    // A consumer reading all along is handed every acknowledged value once, in order.
    expect(await reader.waitFor(writer.acked.keys())).toEqual([]);
    expectNeverBackwards(reader);
    await reader.stop();
    const logs = await readTopic(roles.control, 'restart');
    // Kafka consumers read the same through the broker's gateway, whose readers reconnected too.
    for (const [partition, log] of logs) {
      const { stdout } = await run('kcat', ['-b', roles.kafka, '-C', '-t', 'restart', '-p', String(partition), '-o', 'beginning', '-e', '-q', '-f', '%s\\n']);
      expect(stdout.split('\n').filter((line) => line.length > 0)).toEqual(log.records.map((r) => r.value));
    }
    const { duplicates } = checkValues(writer, logs);
    const { recordless } = checkOffsets(writer, logs);
    process.stdout.write(
      `storage restart: ${writer.acked.size} acked, ${writer.failures} failed sends, ${duplicates.length} stored twice after a failed send, ${recordless} offsets without a record\n`,
    );
    expect(roles.broker.stderr()).not.toMatch(/stages in flight, the limit is/);
  }, 90_000);

  it('a broker paused (SIGSTOP) past its lease timeout under load loses no acknowledged record and skips no offset of a live producer', async () => {
    roles = await RolesApart.start({ leaseTimeoutMs: 1000 });
    await createTopic(roles.kafka, 'paused');
    const writer = await (await new Writer('paused', PARTITIONS).kafka(roles.kafka, 3)).sdk(roles.control, 3);
    for (let round = 0; round < 2; round++) {
      await writer.acks(100);
      roles.broker.child.kill('SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 3000));
      roles.broker.child.kill('SIGCONT');
    }
    await writer.acks(100);
    await writer.stop();

    const logs = await readTopic(roles.control, 'paused');
    checkValues(writer, logs);
    const { recordless } = checkOffsets(writer, logs);
    expect(recordless).toBe(0);
    expect(roles.broker.stderr()).toMatch(/stalled for \d+ ms/);
  }, 90_000);

  it('SDK producers and a live SDK consumer ride through a broker SIGKILL and restart: sends resume, and the consumer goes on from its position, never backwards', async () => {
    roles = await RolesApart.start();
    await createTopic(roles.kafka, 'broker-restart');
    const reader = await new LiveReader().start(roles.control, 'broker-restart');
    const writer = await new Writer('broker-restart', PARTITIONS).sdk(roles.control, 3);
    await writer.acks(200);
    await roles.broker.signal('SIGKILL');
    const ackedBeforeRestart = writer.acked.size;
    await roles.startBroker();
    await writer.acks(200);
    await writer.stop();
    expect(writer.acked.size).toBeGreaterThan(ackedBeforeRestart + 199);

    // The same consumer, never restarted, is handed every acknowledged value...
    expect(await reader.waitFor(writer.acked.keys())).toEqual([]);
    // ...each offset once, in order: it resumed where it was.
    expectNeverBackwards(reader);
    await reader.stop();
    const logs = await readTopic(roles.control, 'broker-restart');
    checkValues(writer, logs);
    checkOffsets(writer, logs);
  }, 90_000);
});

describe('a full region', () => {
  it('a produce to a new, auto-created topic gets KAFKA_STORAGE_ERROR at once, through Kafka and the SDK, and works once space is freed', async () => {
    const cluster = await startCluster({ regionSize: '4M', segmentSize: '1M' });
    try {
      const kafka = new Kafka({ clientId: 'full', brokers: [`127.0.0.1:${cluster.kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
      const admin = kafka.admin();
      await admin.connect();
      // A 4 MiB region holds 63 one-slot (64 KiB) segments after its superblock.
      await admin.createTopics({ topics: [{ topic: 'filler', numPartitions: 64 }] });
      const producer = kafka.producer({ retry: { retries: 0 } });
      await producer.connect();
      // One record per partition takes one segment each, until the region has none left.
      const filled = await Promise.allSettled(Array.from({ length: 64 }, (_, partition) => producer.send({ topic: 'filler', messages: [{ value: 'x', partition }] })));
      expect(filled.some((r) => r.status === 'rejected')).toBe(true);

      const startedAt = Date.now();
      const refused = (await producer.send({ topic: 'fresh', messages: [{ value: 'y' }] }).catch((err: unknown) => err)) as { type?: string; cause?: { type?: string } };
      expect(refused.cause?.type ?? refused.type).toBe('KAFKA_STORAGE_ERROR');
      const sdk = new Rdmq({ control: cluster.control }).producer();
      await sdk.connect();
      const sdkAdmin = new Rdmq({ control: cluster.control }).admin();
      await sdkAdmin.connect();
      await sdkAdmin.createTopics({ topics: [{ topic: 'fresh-sdk', numPartitions: 1 }] });
      await expect(sdk.send({ topic: 'fresh-sdk', messages: [{ value: 'z' }] })).rejects.toMatchObject({ errorCode: 56, retriable: true });
      expect(Date.now() - startedAt).toBeLessThan(5000);

      await admin.deleteTopics({ topics: ['filler'] });
      await producer.send({ topic: 'fresh', messages: [{ value: 'y' }] });
      await sdk.send({ topic: 'fresh-sdk', messages: [{ value: 'z' }] });
      await sdk.disconnect();
      await sdkAdmin.disconnect();
      await producer.disconnect();
      await admin.disconnect();
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});
