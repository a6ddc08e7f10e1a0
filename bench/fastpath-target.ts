// The fast-path SDK as a door, through either of two APIs:
//   raw      "raw batches": producers write one prebuilt record batch over and
//            over with producer.write, consumers look at committed bytes with
//            eachRawBatch, without decoding records (the transport's ceiling);
//   records  what applications run: producer.send() of records (encoding,
//            CRC, partitioning each time) and eachMessage (decoding).
// Each producer has its own connection and `stagingLanes` sends in flight;
// consumers pull committed bytes with one-sided gets. The fast path has no group
// coordinator, so N consumers split the partitions by hand, as a Kafka group
// would: consumer i reads partitions i, i+N, i+2N, ... With fanout F there are
// F such readers, each reading every partition in full (like F consumer
// groups); the broker gives each subscriber of a partition the next reader
// index, so with replication they read different copies.
import { batchSizeBytes, buildRecordBatch, LOG_OVERHEAD, peekFirstRecord, readBatchHeader, writeBatchCrc } from '../format';
import { ConsumedMessage, Connection, EachMessagePayload, EachRawBatchPayload, Producer, ProducerOptions, Rdmq, SaslOptions } from '../rdma-client';
import { STAGING_BYTES_DEFAULT } from '../rdma-client/producer';
import { ConsumeRun, Door, Produced, ProduceRun, RunningConsumers } from './door';
import { readStamp, STAMP_BYTES, wallClockMs, writeStamp } from './e2e-stamp';

export interface FastPathDoorOptions {
  control: string;
  /** Authenticate every connection as this user (--security sasl_ssl); anonymous when absent. */
  sasl?: SaslOptions;
  batchBytes: number;
  recordBytes: number;
  mode: NonNullable<ProducerOptions['mode']>;
  stagingDepth: number;
  commitEveryBatches: number;
  commitDelayUs: number;
  commitsInFlight: number;
  /** Partitions of the benchmark topic; producers write them round-robin. */
  partitions: number;
  /** Producers, each with its own connection. */
  producers: number;
  /** Consumers, each with its own connection and its share of the partitions. */
  consumers: number;
  /** Independent readers, each made of `consumers` consumers and reading every partition (default 1). */
  fanout?: number;
  /** The topic's replication factor; unset = the broker's default. */
  replicationFactor?: number;
  /** Raw batches (default) or records through send() and eachMessage. */
  api?: FastPathApi;
}

export type FastPathApi = 'raw' | 'records';

/** The client column of a fast-path row. */
export function fastPathClient(api: FastPathApi): string {
  return api === 'raw' ? 'sdk raw batches' : 'sdk send/eachMessage';
}

/** A consumer's largest single read. */
const READ_BYTES_MAX = 16 * 1024 * 1024;

/** Sends in flight per producer: `stagingDepth`, fewer where the SDK's stagingBytes admits fewer batches of `batchBytes`. */
export function stagingLanes(stagingDepth: number, batchBytes: number): number {
  return Math.max(1, Math.min(stagingDepth, Math.floor(STAGING_BYTES_DEFAULT / batchBytes)));
}

/** How many `recordBytes` values make a record batch of about `batchBytes` (61 bytes of batch header, ~12 per record). */
export function recordsShape(batchBytes: number, recordBytes: number): { recordsPerSend: number; valueBytes: number } {
  const valueBytes = Math.max(1, Math.min(recordBytes, batchBytes - 80));
  return { valueBytes, recordsPerSend: Math.max(1, Math.floor((batchBytes - 61) / (valueBytes + 12))) };
}

/** One record batch of about `batchBytes`, made of `recordBytes`-sized values. */
export async function makeBatch(batchBytes: number, recordBytes: number): Promise<{ batch: Buffer; records: number }> {
  const { recordsPerSend: count, valueBytes } = recordsShape(batchBytes, recordBytes);
  const payload = Buffer.alloc(valueBytes, 0x62);
  const batch = await buildRecordBatch({ records: Array.from({ length: count }, () => ({ key: null, value: payload })) });
  return { batch, records: count };
}

/** Partitions consumer `index` of `consumers` reads. */
export function partitionsOf(index: number, consumers: number, partitions: number): number[] {
  return Array.from({ length: partitions }, (_, p) => p).filter((p) => p % consumers === index);
}

/** A lane of producer `p` (number `l`): each call prepares one send and says what it carries. */
type LaneFactory = (producer: Producer, p: number, l: number) => () => { bytes: number; records: number; send: () => Promise<unknown> };

export class FastPathDoor implements Door {
  private constructor(
    private readonly o: FastPathDoorOptions,
    readonly topic: string,
    private readonly admin: ReturnType<Rdmq['admin']>,
  ) {}

  static async open(o: FastPathDoorOptions): Promise<FastPathDoor> {
    const admin = new Rdmq({ control: o.control, sasl: o.sasl }).admin();
    await admin.connect();
    const topic = `bench-${o.batchBytes}-${Date.now()}`;
    await admin.createTopics({ topics: [{ topic, numPartitions: o.partitions, replicationFactor: o.replicationFactor }] });
    return new FastPathDoor(o, topic, admin);
  }

  async produce(run: ProduceRun): Promise<Produced> {
    const o = this.o;
    if (o.api === 'records') return this.produceRecords(run);
    return this.runLanes(run, async (producers) => {
      const topic = await producers[0].topic(this.topic);
      const template = await makeBatch(o.batchBytes, o.recordBytes);
      const valueAt = run.stamp ? firstValueOffset(template.batch) : -1;
      return (producer, p, l) => {
        // One buffer per lane: a buffer is patched (base offset, stamp) for each write, so lanes must not share.
        const buffer = Buffer.from(template.batch);
        // Producer p owns partitions p, p+producers, ... (one owner each, as exclusive mode needs);
        // with more producers than partitions they share.
        const owned = partitionsOf(p, o.producers, o.partitions);
        const partition = owned.length > 0 ? owned[l % owned.length] : p % o.partitions;
        return () => {
          if (valueAt >= 0) {
            writeStamp(buffer.subarray(valueAt), wallClockMs());
            writeBatchCrc(buffer, 0, buffer.length - LOG_OVERHEAD);
          }
          return { bytes: buffer.length, records: template.records, send: () => producer.write(topic, partition, buffer, template.records) };
        };
      };
    });
  }

  /**
   * Each lane sends records with producer.send(), as an application does:
   * `recordsPerSend` fresh message objects per call, encoded into a batch by
   * the SDK. Counts value bytes (what the consumers count too). With one
   * partition the SDK's partitioner chooses it; with several, each lane names
   * one its producer owns (exclusive mode needs one writer per partition).
   */
  private produceRecords(run: ProduceRun): Promise<Produced> {
    const o = this.o;
    return this.runLanes(run, async (producers) => {
      await producers[0].topic(this.topic);
      const { recordsPerSend, valueBytes } = recordsShape(o.batchBytes, o.recordBytes);
      const value = Buffer.alloc(valueBytes, 0x62);
      if (run.stamp && valueBytes < STAMP_BYTES) throw new Error(`end-to-end stamps need records of at least ${STAMP_BYTES} bytes (--record-size)`);
      return (producer, p, l) => {
        const owned = partitionsOf(p, o.producers, o.partitions);
        const partition = o.partitions === 1 ? undefined : owned.length > 0 ? owned[l % owned.length] : p % o.partitions;
        return () => {
          const messages = Array.from({ length: recordsPerSend }, () => ({ value, partition }));
          if (run.stamp) {
            const stamped = Buffer.from(value);
            writeStamp(stamped, wallClockMs());
            messages[0] = { value: stamped, partition };
          }
          return { bytes: recordsPerSend * valueBytes, records: recordsPerSend, send: () => producer.send({ topic: this.topic, messages }) };
        };
      };
    });
  }

  /**
   * The producing both APIs share: `o.producers` producers (a connection
   * each), `stagingLanes` lanes per producer, each lane sending what its
   * `next` prepares until the run's bytes or deadline; every send timed.
   * `prepare` runs once the producers are connected, before the clock starts.
   */
  private async runLanes(run: ProduceRun, prepare: (producers: Producer[]) => Promise<LaneFactory>): Promise<Produced> {
    const o = this.o;
    const connections = await Promise.all(Array.from({ length: o.producers }, () => Connection.open({ control: o.control, sasl: o.sasl })));
    const producers = connections.map(
      (c) => new Producer(c, { mode: o.mode, stagingDepth: o.stagingDepth, commitEveryBatches: o.commitEveryBatches, commitDelayUs: o.commitDelayUs, commitsInFlight: o.commitsInFlight }),
    );
    try {
      const laneOf = await prepare(producers);
      let bytes = 0;
      let records = 0;
      run.clock.start();
      const start = process.hrtime.bigint();
      const lane = async (producer: Producer, p: number, l: number): Promise<void> => {
        const next = laneOf(producer, p, l);
        while (bytes < run.totalBytes && process.hrtime.bigint() < run.deadline) {
          const sending = next();
          // Counted before the send, so the other lanes see the total include it.
          bytes += sending.bytes;
          records += sending.records;
          const t0 = process.hrtime.bigint();
          await sending.send();
          const t1 = process.hrtime.bigint();
          run.publish.record(Number(t1 - t0) / 1e3, run.clock.msSinceStart(t1));
          run.onProgress?.(bytes);
        }
      };
      // As many sends in flight as the SDK's staging window admits at this batch size (32 of 8 KiB, 8 of 1 MiB):
      // more would only wait, and their buffers would push the ones in flight out of the cache.
      const lanes = stagingLanes(o.stagingDepth, o.batchBytes);
      await Promise.all(producers.flatMap((producer, p) => Array.from({ length: lanes }, (_, l) => lane(producer, p, l))));
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      await Promise.all(producers.map((p) => p.disconnect()));
      return { bytes, records, seconds };
    } finally {
      await Promise.all(connections.map((c) => c.close()));
    }
  }

  async startConsumers(run: ConsumeRun): Promise<RunningConsumers> {
    const o = this.o;
    const readers = Math.max(1, o.fanout ?? 1);
    // More consumers than partitions leaves the rest with nothing to read, as in a Kafka group.
    const assignments = Array.from({ length: Math.min(o.consumers, o.partitions) }, (_, i) => partitionsOf(i, o.consumers, o.partitions));
    const members = Array.from({ length: readers }, (_, reader) => assignments.map((partitions) => ({ reader, partitions })));
    // Reader by reader, so that reader r takes reader index r of every partition (its preferred copy).
    const subscriptions = members.flat();
    const consumers = subscriptions.map(() => new Rdmq({ control: o.control, sasl: o.sasl }).consumer({ maxBytesPerRead: READ_BYTES_MAX }));
    const stop = async (): Promise<void> => void (await Promise.all(consumers.map((c) => c.disconnect())));
    try {
      await Promise.all(consumers.map((c) => c.connect()));
      const readyAt = process.hrtime.bigint();
      for (const [i, consumer] of consumers.entries()) {
        const { reader, partitions } = subscriptions[i];
        await consumer.subscribe({ topic: this.topic, fromBeginning: true, partitions });
        const handlers =
          o.api === 'records'
            ? { eachMessage: ({ partition, message }: EachMessagePayload) => deliverMessage(run, partition, message, reader) }
            : { eachRawBatch: ({ partition, bytes }: EachRawBatchPayload) => deliver(run, partition, bytes, reader) };
        await consumer.run(handlers, (err) => run.ledger.fail(err));
      }
      const sum = (of: typeof consumers): Record<string, number> => {
        const total: Record<string, number> = {};
        for (const c of of) for (const [replica, bytes] of c.readBytesByAddress()) total[replica] = (total[replica] ?? 0) + bytes;
        return total;
      };
      const readBytesByReplicaPerReader = (): Record<string, number>[] =>
        Array.from({ length: readers }, (_, r) => sum(consumers.filter((_c, i) => subscriptions[i].reader === r)));
      return { readyAt, stop, readBytesByReplica: () => sum(consumers), readBytesByReplicaPerReader, readers };
    } catch (err) {
      await stop();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.admin.deleteTopics({ topics: [this.topic] }).catch(() => undefined);
    await this.admin.disconnect();
  }
}

/** Where the first record's value starts in a batch the bench built (its stamp goes there). */
function firstValueOffset(batch: Buffer): number {
  const value = peekFirstRecord(batch)?.value;
  if (!value || value.length < STAMP_BYTES) throw new Error(`end-to-end stamps need records of at least ${STAMP_BYTES} bytes (--record-size)`);
  return value.byteOffset - batch.byteOffset;
}

/** Counts one decoded record in the ledger (its value bytes), and its end-to-end latency if it carries a stamp. */
function deliverMessage(run: ConsumeRun, partition: number, message: ConsumedMessage, reader: number): void {
  run.ledger.add(partition, BigInt(message.offset), 1, message.value?.length ?? 0, reader);
  if (run.e2e) {
    const stamp = readStamp(message.value);
    if (stamp !== undefined) run.e2e.record((wallClockMs() - stamp) * 1e3, run.clock.msSinceStart());
  }
}

/** Counts each batch of a raw read in the ledger (for reader `reader`), and its end-to-end latency if it carries a stamp. */
function deliver(run: ConsumeRun, partition: number, bytes: Buffer, reader: number): void {
  const receivedMs = run.e2e ? wallClockMs() : 0;
  for (let at = 0; at < bytes.length; ) {
    const header = readBatchHeader(bytes, at);
    const size = batchSizeBytes(header);
    run.ledger.add(partition, header.baseOffset, header.recordCount, size, reader);
    if (run.e2e) {
      const stamp = readStamp(peekFirstRecord(bytes, at, header)?.value);
      if (stamp !== undefined) run.e2e.record((receivedMs - stamp) * 1e3, run.clock.msSinceStart());
    }
    at += size;
  }
}
