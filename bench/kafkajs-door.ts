// kafkajs as a door, in this process. The producer sends one batch of
// records per request, to the partitions in turn; publish latency is a
// send() until its acknowledgement (at --acks). Consumers are members of one
// consumer group, as Kafka users run them: the group splits the partitions.
import { Consumer, EachBatchPayload, Kafka, Message } from 'kafkajs';
import { ConsumeRun, Door, Produced, ProduceRun, RunningConsumers } from './door';
import { readStamp, STAMP_BYTES, wallClockMs, writeStamp } from './e2e-stamp';
import type { KafkaDoorOptions } from './kafka-target';

/** How long all consumers may take to join their group (Kafka's initial rebalance delay is 3 s). */
const GROUP_JOIN_MS_MAX = 60_000;

export class KafkajsDoor implements Door {
  /** Each consume phase is a new group, so it reads from the beginning. */
  private groups = 0;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    private readonly o: KafkaDoorOptions,
    readonly close: () => Promise<void>,
  ) {}

  async produce(run: ProduceRun): Promise<Produced> {
    const o = this.o;
    const producer = this.kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      const perBatch = Math.max(1, Math.floor(o.batchBytes / o.recordBytes));
      const value = Buffer.alloc(Math.min(o.recordBytes, o.batchBytes), 0x62);
      if (run.stamp && value.length < STAMP_BYTES) throw new Error(`end-to-end stamps need records of at least ${STAMP_BYTES} bytes (--record-size)`);
      const batches = Array.from({ length: o.partitions }, (_, partition): Message[] => Array.from({ length: perBatch }, () => ({ value, partition })));
      let bytes = 0;
      let records = 0;
      let sends = 0;
      run.clock.start();
      const start = process.hrtime.bigint();
      while (bytes < run.totalBytes && process.hrtime.bigint() < run.deadline) {
        const partition = sends++ % o.partitions;
        let messages = batches[partition];
        if (run.stamp) {
          const stamped = Buffer.from(value);
          writeStamp(stamped, wallClockMs());
          messages = [{ value: stamped, partition }, ...messages.slice(1)];
        }
        const t0 = process.hrtime.bigint();
        await producer.send({ topic: this.topic, acks: o.acks, messages });
        const t1 = process.hrtime.bigint();
        bytes += perBatch * value.length;
        records += perBatch;
        run.publish.record(Number(t1 - t0) / 1e3, run.clock.msSinceStart(t1));
        run.onProgress?.(bytes);
      }
      return { bytes, records, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
    } finally {
      await producer.disconnect();
    }
  }

  async startConsumers(run: ConsumeRun): Promise<RunningConsumers> {
    const groupId = `${this.topic}-readers-${++this.groups}`;
    // Fetches wait at most 500 ms for data, as Java consumers do (fetch.max.wait.ms); kafkajs's
    // 5 s would only delay disconnect, since the server answers a waiting fetch as data arrives.
    const consumers = Array.from({ length: this.o.consumers }, () => this.kafka.consumer({ groupId, maxBytes: 64 << 20, maxBytesPerPartition: 32 << 20, maxWaitTimeInMs: 500 }));
    const stop = async (): Promise<void> => void (await Promise.all(consumers.map((c) => c.disconnect())));
    let readyAt: bigint | undefined;
    const joined = consumers.map((c) => new Promise<void>((resolve) => {
      const off = c.on(c.events.GROUP_JOIN, () => {
        readyAt ??= process.hrtime.bigint();
        off();
        resolve();
      });
    }));
    try {
      for (const c of consumers) watchCrashes(c, run);
      // All members connect and join at once: the coordinator's initial rebalance delay then
      // forms the group in one generation, so no partition moves (and is read twice) later.
      await Promise.all(consumers.map(async (c) => {
        await c.connect();
        await c.subscribe({ topic: this.topic, fromBeginning: true });
        await c.run({ eachBatch: async (payload) => deliver(run, payload) });
      }));
      await withTimeout(Promise.all(joined), GROUP_JOIN_MS_MAX, `kafkajs consumers did not all join group ${groupId} within ${GROUP_JOIN_MS_MAX / 1000} s`);
      return { readyAt: readyAt!, stop };
    } catch (err) {
      await stop();
      throw err;
    }
  }
}

function watchCrashes(consumer: Consumer, run: ConsumeRun): void {
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) run.ledger.fail(payload.error);
  });
}

function deliver(run: ConsumeRun, { batch }: EachBatchPayload): void {
  const receivedMs = run.e2e ? wallClockMs() : 0;
  for (const m of batch.messages) {
    run.ledger.add(batch.partition, BigInt(m.offset), 1, m.value?.length ?? 0);
    if (run.e2e) {
      const stamp = readStamp(m.value);
      if (stamp !== undefined) run.e2e.record((receivedMs - stamp) * 1e3, run.clock.msSinceStart());
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
