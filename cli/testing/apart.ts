// The roles run apart for tests — `rdmq storage` and `rdmq broker --storage`
// as their own processes, each with its data directory — plus a Kafka writer
// that records what was acknowledged and a reader that reads a topic back
// batch by batch, skip markers included, so a test can check every offset.
import * as fs from 'fs';
import * as path from 'path';
import { Kafka, logLevel, Producer as KafkaProducer } from 'kafkajs';
import { freeLoopbackPort, RunningRole, startRole } from '../../bench/cluster';
import { decodeRecordBatch, isSkipMarker, readBatchHeader, splitBatches } from '../../format';
import { Rdmq } from '../../rdma-client';

const MAIN = path.join(__dirname, '..', 'main.js');

interface Ready {
  controlPort: number;
  fastpathPort: number;
  metricsPort: number;
  kafkaPort?: number;
}

export interface ApartOptions {
  leaseTimeoutMs?: number;
  regionSize?: string;
  segmentSize?: string;
}

/** Storage node and broker (with its Kafka gateway) in two processes; either restarts on the same data and ports. */
export class RolesApart {
  storage!: RunningRole<Ready>;
  broker!: RunningRole<Ready>;

  private constructor(
    readonly dir: string,
    private readonly options: ApartOptions,
    /** Fixed for the life of the roles, so a restarted role is found where it was. */
    private readonly ports: { storageControl: number; storageFastpath: number; control: number; fastpath: number; kafka: number },
  ) {}

  static async start(options: ApartOptions = {}): Promise<RolesApart> {
    const ports = {
      storageControl: await freeLoopbackPort(),
      storageFastpath: await freeLoopbackPort(),
      control: await freeLoopbackPort(),
      fastpath: await freeLoopbackPort(),
      kafka: await freeLoopbackPort(),
    };
    const roles = new RolesApart(fs.mkdtempSync(path.join('/dev/shm', 'rdmq-apart-')), options, ports);
    try {
      await roles.startStorage();
      await roles.startBroker();
    } catch (err) {
      await roles.stop();
      throw err;
    }
    return roles;
  }

  /** Starts (or restarts, on the same data and ports) the storage node. */
  async startStorage(): Promise<void> {
    this.storage = await startRole<Ready>([
      MAIN, 'storage', '--data', path.join(this.dir, 'storage'), '--control', `127.0.0.1:${this.ports.storageControl}`,
      '--fastpath', `127.0.0.1:${this.ports.storageFastpath}`, '--metrics', '127.0.0.1:0', '--durability', 'flush',
      '--region-size', this.options.regionSize ?? '64M', '--segment-size', this.options.segmentSize ?? '1M',
    ]);
  }

  /** Starts (or restarts, on the same data and ports) the broker with its Kafka gateway. */
  async startBroker(): Promise<void> {
    const { storageControl, control, fastpath, kafka } = this.ports;
    this.broker = await startRole<Ready>([
      MAIN, 'broker', '--storage', `127.0.0.1:${storageControl}`, '--data', path.join(this.dir, 'broker'),
      '--control', `127.0.0.1:${control}`, '--fastpath', `127.0.0.1:${fastpath}`, '--metrics', '127.0.0.1:0', '--kafka', `127.0.0.1:${kafka}`,
      '--durability', 'flush', '--segment-size', this.options.segmentSize ?? '1M', '--lease-timeout-ms', String(this.options.leaseTimeoutMs ?? 1500),
    ]);
  }

  get kafka(): string {
    return `127.0.0.1:${this.ports.kafka}`;
  }

  get control(): string {
    return `127.0.0.1:${this.ports.control}`;
  }

  async stop(): Promise<void> {
    await this.broker?.signal('SIGTERM');
    await this.storage?.signal('SIGTERM');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Producers writing unique values ("<prefix><loop>-<n>") round-robin over the
 * partitions, through Kafka (kafkajs via the broker's gateway) or the SDK,
 * each value retried until acknowledged. A value is in `acked` once
 * acknowledged; `failedOnce` holds every value that had a failed attempt (its
 * bytes may have landed anyway, so a retry may store it twice).
 */
export class Writer {
  readonly acked = new Map<string, { partition: number; offset: string }>();
  readonly failedOnce = new Set<string>();
  failures = 0;
  private stopped = false;
  private loops: Promise<void>[] = [];
  private readonly ackWaiters: { count: number; resolve: () => void }[] = [];
    private readonly closers: (() => Promise<void>)[] = [];

  constructor(
    private readonly topic: string,
    private readonly partitions: number,
  ) {}

  /** `loops` Kafka producers through the gateway at `kafka` (or bootstrapped on several); their values start with `prefix`. */
  async kafka(kafka: string | string[], loops: number, prefix = 'k'): Promise<this> {
    const client = new Kafka({ clientId: 'writer', brokers: Array.isArray(kafka) ? kafka : [kafka], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const producer: KafkaProducer = client.producer({ retry: { retries: 0 }, allowAutoTopicCreation: false });
    await producer.connect();
    this.closers.push(() => producer.disconnect());
    this.startLoops(prefix, loops, async (value, partition) => {
      const [meta] = await producer.send({ topic: this.topic, acks: -1, timeout: 10_000, messages: [{ value, partition }] });
      return String(meta.baseOffset);
    });
    return this;
  }

  /** `loops` fast-path SDK senders sharing one shared-mode producer. */
  async sdk(control: string, loops: number): Promise<this> {
    const producer = new Rdmq({ control }).producer({ mode: 'shared' });
    await producer.connect();
    this.closers.push(() => producer.disconnect());
    this.startLoops('s', loops, async (value, partition) => {
      const [meta] = await producer.send({ topic: this.topic, messages: [{ value, partition }] });
      return meta.baseOffset;
    });
    return this;
  }

  /** How many acknowledged values start with `prefix` (one kind of producer). */
  ackedFrom(prefix: string): number {
    let n = 0;
    for (const value of this.acked.keys()) if (value.startsWith(prefix)) n++;
    return n;
  }

  /** Resolves once `more` further values are acknowledged. */
  acks(more: number): Promise<void> {
    const count = this.acked.size + more;
    return new Promise((resolve) => this.ackWaiters.push({ count, resolve }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    for (const close of this.closers) await close().catch(() => undefined);
  }

  private startLoops(prefix: string, loops: number, send: (value: string, partition: number) => Promise<string>): void {
    for (let id = 0; id < loops; id++) this.loops.push(this.loop(`${prefix}${id}`, id, send));
  }

  private async loop(name: string, id: number, send: (value: string, partition: number) => Promise<string>): Promise<void> {
    for (let n = 0; !this.stopped; n++) {
      const value = `${name}-${n}`;
      const partition = (id + n) % this.partitions;
      while (!this.stopped) {
        try {
          const offset = await send(value, partition);
          this.acked.set(value, { partition, offset });
          for (const w of this.ackWaiters.filter((x) => this.acked.size >= x.count)) {
            this.ackWaiters.splice(this.ackWaiters.indexOf(w), 1);
            w.resolve();
          }
          break;
        } catch {
          this.failures++;
          this.failedOnce.add(value);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }
  }
}

export interface PartitionLog {
  highWatermark: bigint;
  /** Records in offset order. */
  records: { offset: bigint; value: string }[];
  /** Offsets covered by skip markers. */
  skippedOffsets: number;
  /** Offsets covered by nothing stored (between segments: a range the broker skipped without bytes). */
  gapOffsets: number;
  /** Offsets covered twice, or batches out of order: must be empty. */
  overlaps: string[];
}

/** Reads every partition of `topic` from its start to its high watermark, batch by batch. */
export async function readTopic(control: string, topic: string, timeoutMs = 20_000): Promise<Map<number, PartitionLog>> {
  const rdmq = new Rdmq({ control });
  const admin = rdmq.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const logs = new Map<number, PartitionLog & { next: bigint }>();
  for (const o of offsets) {
    logs.set(o.partition, { highWatermark: BigInt(o.high), records: [], skippedOffsets: 0, gapOffsets: 0, overlaps: [], next: BigInt(o.low) });
  }
  const done = (): boolean => [...logs.values()].every((l) => l.next >= l.highWatermark);
  const consumer = rdmq.consumer();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read back ${topic}: ${JSON.stringify([...logs].map(([p, l]) => [p, String(l.next), String(l.highWatermark)]))}`)), timeoutMs);
    if (done()) {
      clearTimeout(timer);
      resolve();
    }
    consumer
      .run({
        eachRawBatch: async ({ partition, bytes }) => {
          const log = logs.get(partition)!;
          const copy = Buffer.from(bytes);
          for (const span of splitBatches(copy).batches) {
            const header = readBatchHeader(copy, span.offset);
            const end = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
            if (header.baseOffset < log.next) log.overlaps.push(`batch at ${header.baseOffset} overlaps up to ${log.next}`);
            else log.gapOffsets += Number(header.baseOffset - log.next);
            if (isSkipMarker(header)) {
              log.skippedOffsets += header.lastOffsetDelta + 1;
            } else {
              const { records } = await decodeRecordBatch(copy, span.offset);
              for (const r of records) log.records.push({ offset: r.offset, value: r.value!.toString() });
            }
            if (end > log.next) log.next = end;
          }
          if (done()) {
            clearTimeout(timer);
            resolve();
          }
        },
      }, reject)
      .catch(reject);
  });
  await consumer.disconnect();
  // An unstored range at the very end (the last segment ends before the watermark).
  for (const log of logs.values()) if (log.next < log.highWatermark) log.gapOffsets += Number(log.highWatermark - log.next);
  return logs;
}

/** An SDK consumer reading a topic live from the beginning, recording what it is handed, in order, per partition. */
export class LiveReader {
  readonly delivered = new Map<number, { offset: bigint; value: string }[]>();
  readonly errors: string[] = [];
  private consumer: ReturnType<Rdmq['consumer']> | undefined;

  async start(control: string, topic: string): Promise<this> {
    this.consumer = new Rdmq({ control }).consumer();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run(
      {
        eachMessage: ({ partition, message }) => {
          let list = this.delivered.get(partition);
          if (!list) this.delivered.set(partition, (list = []));
          list.push({ offset: BigInt(message.offset), value: message.value!.toString() });
        },
      },
      (err) => this.errors.push(err.message),
    );
    return this;
  }

  /** Waits until every value in `values` has been delivered (or the time is up). */
  async waitFor(values: Iterable<string>, timeoutMs = 20_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = new Set([...this.delivered.values()].flatMap((list) => list.map((r) => r.value)));
      const missing = [...values].filter((v) => !seen.has(v));
      if (missing.length === 0 || Date.now() > deadline) return missing;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}
