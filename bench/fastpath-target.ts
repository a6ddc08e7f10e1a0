// Drives the fast path for one batch size: a producer phase (1 producer,
// 1 partition) then a consumer phase reading the same bytes back.
import { buildRecordBatch } from '../format';
import { Rdmq } from '../rdma-client';
import { Connection } from '../rdma-client/connection';
import { Producer, ProducerMode } from '../rdma-client/producer';
import { LatencySummary, summarize } from './stats';

export interface FastPathPointOptions {
  control: string;
  batchBytes: number;
  recordBytes: number;
  totalBytes: number;
  maxSeconds: number;
  mode: ProducerMode;
  stagingDepth: number;
  commitEveryBatches: number;
  commitDelayUs: number;
  /** Partitions of the benchmark topic (default 1); producers write them round-robin. */
  partitions?: number;
  /** Producers, each with its own connection (default 1). */
  producers?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface MeasuredPoint {
  producerMBps: number;
  consumerMBps: number;
  producedBytes: number;
  latencyUs: LatencySummary;
  /** Publish latency over time: [msSinceStart, latencyUs] samples (bounded). */
  latencySeries: [number, number][];
  /** Every publish latency measured (µs), for the CDF. */
  samples?: number[];
}

/** One record batch of about `batchBytes`, made of `recordBytes`-sized values. */
export async function makeBatch(batchBytes: number, recordBytes: number): Promise<{ batch: Buffer; records: number }> {
  const value = Math.max(1, Math.min(recordBytes, batchBytes - 80));
  const count = Math.max(1, Math.floor((batchBytes - 61) / (value + 12)));
  const payload = Buffer.alloc(value, 0x62);
  const batch = await buildRecordBatch({ records: Array.from({ length: count }, () => ({ key: null, value: payload })) });
  return { batch, records: count };
}

export async function runFastPathPoint(o: FastPathPointOptions): Promise<MeasuredPoint> {
  const rdmq = new Rdmq({ control: o.control });
  const admin = rdmq.admin();
  await admin.connect();
  const topicName = `bench-${o.batchBytes}-${Date.now()}`;
  await admin.createTopics({ topics: [{ topic: topicName, numPartitions: o.partitions ?? 1 }] });
  try {
    const produced = await producePhase(o, topicName);
    const consumerMBps = await consumePhase(o.control, topicName, produced.bytes);
    return { producerMBps: produced.mbps, consumerMBps, producedBytes: produced.bytes, latencyUs: summarize(produced.latencies), latencySeries: produced.series, samples: produced.latencies };
  } finally {
    await admin.deleteTopics({ topics: [topicName] }).catch(() => undefined);
    await admin.disconnect();
  }
}

async function producePhase(o: FastPathPointOptions, topicName: string): Promise<{ mbps: number; bytes: number; latencies: number[]; series: [number, number][] }> {
  const producerCount = Math.max(1, o.producers ?? 1);
  const partitions = Math.max(1, o.partitions ?? 1);
  const connections = await Promise.all(Array.from({ length: producerCount }, () => Connection.open({ control: o.control })));
  const producers = connections.map(
    (c) => new Producer(c, { mode: o.mode, stagingDepth: o.stagingDepth, commitEveryBatches: o.commitEveryBatches, commitDelayUs: o.commitDelayUs }),
  );
  try {
    const topic = await producers[0].topic(topicName);
    const lanesPerProducer = Math.max(1, o.stagingDepth);
    // One batch buffer per lane: a buffer is patched (base offset) for each write, so lanes must not share.
    const template = await makeBatch(o.batchBytes, o.recordBytes);
    const latencies: number[] = [];
    const series: [number, number][] = [];
    let bytes = 0;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(o.maxSeconds * 1e9));
    const lane = async (producer: Producer, p: number, l: number): Promise<void> => {
      const buffer = Buffer.from(template.batch);
      // Producer p owns partitions p, p+producers, p+2·producers, ... (one owner each, as
      // exclusive mode needs); with more producers than partitions they share.
      const owned = Array.from({ length: partitions }, (_, i) => i).filter((i) => i % producerCount === p);
      const partition = owned.length > 0 ? owned[l % owned.length] : p % partitions;
      while (bytes < o.totalBytes && process.hrtime.bigint() < deadline) {
        bytes += template.batch.length;
        const t0 = process.hrtime.bigint();
        await producer.write(topic, partition, buffer, template.records);
        const t1 = process.hrtime.bigint();
        const us = Number(t1 - t0) / 1e3;
        latencies.push(us);
        if (series.length < 20_000) series.push([Number(t1 - start) / 1e6, us]);
        o.onProgress?.(Math.min(bytes, o.totalBytes), o.totalBytes * 2);
      }
    };
    await Promise.all(producers.flatMap((producer, p) => Array.from({ length: lanesPerProducer }, (_, l) => lane(producer, p, l))));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await Promise.all(producers.map((p) => p.disconnect()));
    return { mbps: bytes / seconds / 1e6, bytes, latencies, series };
  } finally {
    await Promise.all(connections.map((c) => c.close()));
  }
}

async function consumePhase(control: string, topicName: string, expectedBytes: number): Promise<number> {
  const consumer = new Rdmq({ control }).consumer({ maxBytesPerRead: 16 * 1024 * 1024 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: topicName, fromBeginning: true });
    let bytes = 0;
    let start = 0n;
    const elapsed = await new Promise<number>((resolve, reject) => {
      start = process.hrtime.bigint();
      consumer
        .run(
          {
            eachRawBatch: ({ bytes: chunk }) => {
              bytes += chunk.length;
              if (bytes >= expectedBytes) resolve(Number(process.hrtime.bigint() - start) / 1e9);
            },
          },
          reject,
        )
        .catch(reject);
    });
    return bytes / elapsed / 1e6;
  } finally {
    await consumer.disconnect();
  }
}
