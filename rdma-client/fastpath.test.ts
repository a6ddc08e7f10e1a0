// The fast path end to end, with real processes: `rdmq start` in its own
// process, producers in their own processes where the story needs it.
import { buildRecordBatch, setBaseOffset } from '../format';
import { decodeCommitReply, decodeStageReply, encodeCommit, encodeStage, FastPathMessage } from '../format/fastpath-wire';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { PartitionView, Producer, Rdmq, RdmqError } from '.';
import { Connection } from './connection';
import { spawnScript } from './testing/processes';

interface Consumed {
  partition: number;
  offset: bigint;
  value: string;
}

/** Reads a topic (or only `partitions` of it) from the beginning until `count` messages arrived. */
async function consumeAll(control: string, topic: string, count: number, timeoutMs = 30_000, partitions?: number[]): Promise<Consumed[]> {
  const consumer = new Rdmq({ control }).consumer();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true, partitions });
  const seen: Consumed[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} messages within ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run(
          {
            eachMessage: ({ partition, message }) => {
              seen.push({ partition, offset: BigInt(message.offset), value: message.value?.toString() ?? '' });
              if (seen.length >= count) {
                clearTimeout(timer);
                resolve();
              }
            },
          },
          reject,
        )
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

async function createTopic(control: string, topic: string, partitions = 1): Promise<void> {
  const admin = new Rdmq({ control }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
  await admin.disconnect();
}

describe('fast path', () => {
  let cluster: ClusterProcess;

  beforeAll(async () => {
    cluster = await startCluster({ durability: 'flush', leaseTimeoutMs: 1000, retentionCheckMs: 100, segmentSize: '1M', regionSize: '64M' });
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it('four shared-mode producers on one partition: the consumer sees every record exactly once, in commit order, with no gaps', async () => {
    await createTopic(cluster.control, 'four-producers');
    const perProducer = 300;
    const producers = ['a', 'b', 'c', 'd'].map((id) =>
      spawnScript<{ id: string; from: number }>('produce-worker.js', ['--control', cluster.control, '--topic', 'four-producers', '--id', id, '--count', String(perProducer), '--batch', '7']),
    );
    const codes = await Promise.all(producers.map((p) => p.exited));
    expect(codes).toEqual([0, 0, 0, 0]);
    const seen = await consumeAll(cluster.control, 'four-producers', 4 * perProducer);
    expect(seen.map((m) => m.offset)).toEqual(Array.from({ length: 4 * perProducer }, (_, i) => BigInt(i)));
    expect(new Set(seen.map((m) => m.value)).size).toBe(4 * perProducer);
    for (const id of ['a', 'b', 'c', 'd']) {
      // Each producer's records appear in the order it sent them (each send waits for its commit).
      const mine = seen.filter((m) => m.value.startsWith(`${id}-`)).map((m) => Number(m.value.split('-')[1]));
      expect(mine).toEqual(Array.from({ length: perProducer }, (_, i) => i));
    }
  });

  it('rolls segments and reads across them, in exclusive mode too', async () => {
    await createTopic(cluster.control, 'rolling');
    const producer = new Rdmq({ control: cluster.control }).producer({ mode: 'exclusive', stagingDepth: 4 });
    await producer.connect();
    const value = 'x'.repeat(30_000);
    // ~3 MB through 1 MiB segments.
    const acked = await Promise.all(Array.from({ length: 100 }, (_, i) => producer.send({ topic: 'rolling', messages: [{ value: `${i}:${value}` }] })));
    await producer.disconnect();
    const seen = await consumeAll(cluster.control, 'rolling', 100);
    expect(seen.map((m) => m.offset)).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(i)));
    // Each send's acknowledged offset holds its own record: placement (with or without the cursor lock, across rolls) gave each batch its place once.
    const at = new Map(seen.map((m) => [m.offset.toString(), m.value.split(':')[0]]));
    expect(acked.map((r) => at.get(r[0].baseOffset))).toEqual(acked.map((_, i) => String(i)));
    const admin = new Rdmq({ control: cluster.control }).admin();
    await admin.connect();
    const described = await admin.describeTopic('rolling');
    await admin.disconnect();
    expect(described.partitions[0].segments).toBeGreaterThanOrEqual(3);
  });

  it.each(['exclusive', 'shared'] as const)(
    'send() encodes into buffers it used before once their batches committed (%s mode): rounds of concurrent large sends read back byte for byte',
    async (mode) => {
      const topic = `reused-buffers-${mode}`;
      await createTopic(cluster.control, topic);
      const producer = new Rdmq({ control: cluster.control }).producer({ mode });
      await producer.connect();
      const rounds = 5;
      const sends = 6;
      const value = (round: number, send: number, k: number): string =>
        `${round}-${send}-${k}:` + String.fromCharCode(97 + ((round * 7 + send * 3 + k) % 26)).repeat(100_000);
      const idleAfterRound: number[] = [];
      for (let round = 0; round < rounds; round++) {
        // Each send is one batch of ~200 KiB: large enough for the pool, in flight beside five others.
        await Promise.all(
          Array.from({ length: sends }, (_, send) => producer.send({ topic, messages: [0, 1].map((k) => ({ value: value(round, send, k) })) })),
        );
        idleAfterRound.push(producer.idleBatchBufferBytes);
      }
      await producer.disconnect();
      // From the first round on, the committed batches' buffers wait for the next ones.
      expect(idleAfterRound.every((bytes) => bytes >= 200_000)).toBe(true);
      const seen = await consumeAll(cluster.control, topic, rounds * sends * 2);
      const expected = new Set<string>();
      for (let round = 0; round < rounds; round++) for (let send = 0; send < sends; send++) for (const k of [0, 1]) expected.add(value(round, send, k));
      const wrong = seen.filter((m) => !expected.has(m.value)).map((m) => `${m.offset}: ${m.value.slice(0, 12)}…`);
      expect(wrong).toEqual([]);
      expect(new Set(seen.map((m) => m.value)).size).toBe(rounds * sends * 2);
    },
  );

  it('a consumer reading live across segment rolls in shared mode sees every record, though batches staged before a roll commit after it', async () => {
    await createTopic(cluster.control, 'live-rolls');
    const total = 160;
    // Started first, so it reads while the producer rolls ~4 segments of 1 MiB.
    const seen = consumeAll(cluster.control, 'live-rolls', total);
    const producer = new Rdmq({ control: cluster.control }).producer({ mode: 'shared', stagingDepth: 8 });
    await producer.connect();
    const value = 'y'.repeat(25_000);
    await Promise.all(Array.from({ length: total }, (_, i) => producer.send({ topic: 'live-rolls', messages: [{ value: `${i}:${value}` }] })));
    await producer.disconnect();
    expect((await seen).map((m) => m.offset)).toEqual(Array.from({ length: total }, (_, i) => BigInt(i)));
  });

  it('two consumers that split a topic\'s partitions read only their own, and every record once between them', async () => {
    await createTopic(cluster.control, 'split', 3);
    const producer = new Rdmq({ control: cluster.control }).producer();
    await producer.connect();
    await producer.send({ topic: 'split', messages: Array.from({ length: 30 }, (_, i) => ({ value: `v${i}`, partition: i % 3 })) });
    await producer.disconnect();
    const [even, odd] = await Promise.all([consumeAll(cluster.control, 'split', 20, 30_000, [0, 2]), consumeAll(cluster.control, 'split', 10, 30_000, [1])]);
    expect(new Set(even.map((m) => m.partition))).toEqual(new Set([0, 2]));
    expect(new Set(odd.map((m) => m.partition))).toEqual(new Set([1]));
    expect([...even, ...odd].map((m) => m.value).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `v${i}`).sort());
  });

  it('a view subscribing to an empty partition just as its first batch is written sees that batch (the push can come with the reply)', async () => {
    const connection = await Connection.open({ control: cluster.control });
    const admin = new Rdmq({ control: cluster.control }).admin();
    await admin.connect();
    const batch = await buildRecordBatch({ records: [{ key: null, value: Buffer.alloc(100, 0x62) }] });
    let missed = 0;
    try {
      // The race is a matter of microseconds: many tries, each starting the write a little later.
      for (let i = 0; i < 80; i++) {
        const name = `first-segment-${i}`;
        await createTopic(cluster.control, name);
        const producer = new Producer(connection, { mode: 'exclusive' });
        const topic = await producer.topic(name);
        const subscribing = PartitionView.subscribe(connection, name, 0, 'earliest');
        const spinUntil = process.hrtime.bigint() + BigInt(((i * 37) % 400) * 1000);
        while (process.hrtime.bigint() < spinUntil);
        await producer.write(topic, 0, Buffer.from(batch), 1);
        const view = await subscribing;
        const deadline = Date.now() + 2000;
        while (view.highWatermark === 0n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
        if (view.highWatermark === 0n) missed++;
        await view.close();
        await producer.disconnect();
        // Each topic holds a segment of this small region.
        await admin.deleteTopics({ topics: [name] });
      }
    } finally {
      await connection.close();
      await admin.disconnect();
    }
    expect(missed).toBe(0);
  });

  it('two views of one partition on one connection: closing one leaves the other its watermark pushes', async () => {
    await createTopic(cluster.control, 'two-views');
    const connection = await Connection.open({ control: cluster.control });
    try {
      const producer = new Producer(connection, { mode: 'exclusive' });
      const topic = await producer.topic('two-views');
      await producer.write(topic, 0, await buildRecordBatch({ records: [{ key: null, value: 'first' }] }), 1);
      const first = await PartitionView.subscribe(connection, 'two-views', 0, 'earliest');
      const second = await PartitionView.subscribe(connection, 'two-views', 0, 'earliest');
      await first.close();
      await producer.write(topic, 0, await buildRecordBatch({ records: [{ key: null, value: 'second' }] }), 1);
      const deadline = Date.now() + 5000;
      while (second.highWatermark < 2n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(second.highWatermark).toBe(2n);
      await second.close();
      await producer.disconnect();
    } finally {
      await connection.close();
    }
  });

  it('retention frees the oldest segments past retention.bytes and consumers start at the new log start', async () => {
    const admin = new Rdmq({ control: cluster.control }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'retained', configEntries: [{ name: 'retention.bytes', value: String(1 << 20) }] }] });
    const producer = new Rdmq({ control: cluster.control }).producer();
    await producer.connect();
    const value = 'r'.repeat(100_000);
    for (let i = 0; i < 40; i++) await producer.send({ topic: 'retained', messages: [{ value: `${i}:${value}` }] });
    await producer.disconnect();
    // Retention runs every 100 ms, also while the producer still sends: wait until the log start has moved and stays.
    let described = await admin.describeTopic('retained');
    for (let i = 0, steady = 0; i < 50 && steady < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const before = described.partitions[0].logStartOffset;
      described = await admin.describeTopic('retained');
      steady = before !== '0' && described.partitions[0].logStartOffset === before ? steady + 1 : 0;
    }
    await admin.disconnect();
    const start = BigInt(described.partitions[0].logStartOffset);
    expect(start).toBeGreaterThan(0n);
    expect(described.partitions[0].highWatermark).toBe('40');
    const seen = await consumeAll(cluster.control, 'retained', Number(40n - start));
    expect(seen[0].offset).toBe(start);
    expect(seen[seen.length - 1].offset).toBe(39n);
  });

  it('an exclusive producer rejects a second exclusive producer on the same partition with a clear error', async () => {
    await createTopic(cluster.control, 'exclusive');
    const rdmq = new Rdmq({ control: cluster.control });
    const first = rdmq.producer({ mode: 'exclusive' });
    const second = rdmq.producer({ mode: 'exclusive' });
    await first.connect();
    await second.connect();
    await first.send({ topic: 'exclusive', messages: [{ value: 'mine' }] });
    await expect(second.send({ topic: 'exclusive', messages: [{ value: 'theirs' }] })).rejects.toThrow(/exclusive/i);
    // Once the owner lets go, the partition is free again.
    await first.disconnect();
    await expect(second.send({ topic: 'exclusive', messages: [{ value: 'theirs' }] })).resolves.toHaveLength(1);
    await second.disconnect();
  });

  it("a producer killed between stage and commit does not stop the partition: after the lease timeout others commit and consumers pass the skipped range", async () => {
    await createTopic(cluster.control, 'dead-producer');
    const victim = spawnScript<{ staged: boolean; baseOffset: string }>('stage-and-hang.js', [cluster.control, 'dead-producer']);
    const staged = await victim.waitFor((l) => l.staged);
    expect(staged.baseOffset).toBe('0');
    victim.child.kill('SIGKILL');
    await victim.exited;
    const producer = new Rdmq({ control: cluster.control }).producer();
    await producer.connect();
    const started = Date.now();
    const [meta] = await producer.send({ topic: 'dead-producer', messages: [{ value: 'after' }] });
    await producer.disconnect();
    expect(meta.baseOffset).toBe('1');
    expect(Date.now() - started).toBeLessThan(10_000);
    const seen = await consumeAll(cluster.control, 'dead-producer', 1);
    expect(seen).toEqual([{ partition: 0, offset: 1n, value: 'after' }]);
  });

  it('serves Prometheus metrics: throughput, commit lag, segments, storage use, request latency and errors', async () => {
    const text = await (await fetch(`http://127.0.0.1:${cluster.metricsPort}/metrics`)).text();
    expect(text).toMatch(/rdmq_broker_fastpath_requests_total\{message="STAGE",outcome="ok",role="start"\} \d+/);
    expect(text).toMatch(/rdmq_broker_fastpath_request_seconds_bucket\{[^}]*message="COMMIT"[^}]*\} [1-9]/);
    expect(text).toMatch(/rdmq_broker_committed_bytes_total\{topic="four-producers",role="start"\} [1-9]\d*/);
    expect(text).toMatch(/rdmq_partition_high_watermark\{topic="four-producers",partition="0",role="start"\} 1200/);
    expect(text).toMatch(/rdmq_partition_stages_in_flight\{topic="four-producers",partition="0",role="start"\} 0/);
    expect(text).toMatch(/rdmq_storage_free_bytes\{role="start"\} \d+/);
    expect(text).toMatch(/rdmq_process_resident_memory_bytes/);
  });

  describe('bad input gets a clear error and the server keeps serving', () => {
    let connection: Connection;
    let topicId: number;

    beforeAll(async () => {
      await createTopic(cluster.control, 'bad-input');
      connection = await Connection.open({ control: cluster.control });
      topicId = (await connection.describeTopic('bad-input')).topicId;
    });

    afterAll(async () => {
      await connection.close();
    });

    async function stage(topic: number, lengthBytes: number, recordCount = 1) {
      const reply = await connection.request(FastPathMessage.STAGE, (reqId) => encodeStage({ reqId, topicId: topic, partition: 0, lengthBytes, recordCount }));
      return { grant: decodeStageReply(reply.header), payload: reply.payload };
    }

    async function stillServes(): Promise<void> {
      const producer = new Rdmq({ control: cluster.control }).producer();
      await producer.connect();
      await expect(producer.send({ topic: 'bad-input', messages: [{ value: 'still here' }] })).resolves.toHaveLength(1);
      await producer.disconnect();
    }

    it('an unknown topic', async () => {
      const { grant, payload } = await stage(99_999, 100);
      expect(grant.errorCode).toBe(3);
      expect(payload.toString()).toMatch(/no topic has id 99999/);
      const producer = new Rdmq({ control: cluster.control }).producer();
      await producer.connect();
      await expect(producer.send({ topic: 'no-such-topic', messages: [{ value: 'x' }] })).rejects.toThrow(RdmqError);
      await producer.disconnect();
      await stillServes();
    });

    it('a batch larger than a segment', async () => {
      const { grant, payload } = await stage(topicId, 4 << 20);
      expect(grant.errorCode).toBe(10);
      expect(payload.toString()).toMatch(/exceeds/);
      await stillServes();
    });

    it('a batch with a wrong CRC', async () => {
      const batch = await buildRecordBatch({ records: [{ key: null, value: 'corrupted in flight' }] });
      const { grant, payload } = await stage(topicId, batch.length);
      expect(grant.errorCode).toBe(0);
      setBaseOffset(batch, 0, grant.baseOffset);
      batch[batch.length - 1] ^= 0xff; // a flipped bit inside the CRC's range
      const replicas = connection.segmentReplicas(grant.segmentId, 'read-write', payload);
      await connection.flush(await connection.putAll(replicas, grant.segmentId, batch, grant.position));
      const reply = await connection.request(FastPathMessage.COMMIT, (reqId) =>
        encodeCommit({ reqId, topicId, partition: 0, stages: [{ stageId: grant.stageId, maxTimestamp: -1n }] }),
      );
      expect(decodeCommitReply(reply.header).errorCode).toBe(2);
      expect(reply.payload.toString()).toMatch(/CRC32C/);
      await stillServes();
      // The rejected range is skipped: consumers read past it.
      const seen = await consumeAll(cluster.control, 'bad-input', 3);
      expect(seen.every((m) => m.value === 'still here')).toBe(true);
    });

    it('malformed control messages', async () => {
      for (const id of [FastPathMessage.STAGE, FastPathMessage.COMMIT, FastPathMessage.COMMIT_RANGE, FastPathMessage.SUBSCRIBE, FastPathMessage.ACQUIRE, FastPathMessage.RELEASE, FastPathMessage.UNSUBSCRIBE]) {
        for (const junk of [Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(64, 0xff), Buffer.from('{"not": "json'), Buffer.alloc(20, 0)]) {
          await connection.endpoint.send(id, junk);
        }
      }
      const reply = await connection.request(FastPathMessage.COMMIT, (reqId) => {
        const b = Buffer.alloc(16);
        b.writeUInt32LE(reqId, 0);
        b.writeUInt32LE(5000, 12); // claims 5000 stages, carries none
        return b;
      });
      expect(decodeCommitReply(reply.header).errorCode).toBe(42);
      expect(reply.payload.toString()).toMatch(/5000 stages/);
      await stillServes();
      const metrics = await (await fetch(`http://127.0.0.1:${cluster.metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/rdmq_broker_errors_total\{code="3",role="start"\} [1-9]/);
      expect(metrics).toMatch(/rdmq_broker_errors_total\{code="2",role="start"\} [1-9]/);
    });
  });
});
