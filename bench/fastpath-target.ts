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
  await admin.createTopics({ topics: [{ topic: topicName, numPartitions: 1 }] });
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
  const connection = await Connection.open({ control: o.control });
  const producer = new Producer(connection, { mode: o.mode, stagingDepth: o.stagingDepth, commitEveryBatches: o.commitEveryBatches, commitDelayUs: o.commitDelayUs });
  try {
    const topic = await producer.topic(topicName);
    const lanes = Math.max(1, o.stagingDepth);
    // One batch buffer per lane: a buffer is patched (base offset) for each write, so lanes must not share.
    const template = await makeBatch(o.batchBytes, o.recordBytes);
    const buffers = Array.from({ length: lanes }, () => Buffer.from(template.batch));
    const latencies: number[] = [];
    const series: [number, number][] = [];
    let bytes = 0;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(o.maxSeconds * 1e9));
    const lane = async (i: number): Promise<void> => {
      while (bytes < o.totalBytes && process.hrtime.bigint() < deadline) {
        bytes += template.batch.length;
        const t0 = process.hrtime.bigint();
        await producer.write(topic, 0, buffers[i], template.records);
        const t1 = process.hrtime.bigint();
        const us = Number(t1 - t0) / 1e3;
        latencies.push(us);
        if (series.length < 20_000) series.push([Number(t1 - start) / 1e6, us]);
        o.onProgress?.(Math.min(bytes, o.totalBytes), o.totalBytes * 2);
      }
    };
    await Promise.all(Array.from({ length: lanes }, (_, i) => lane(i)));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await producer.disconnect();
    return { mbps: bytes / seconds / 1e6, bytes, latencies, series };
  } finally {
    await connection.close();
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
