// Drives any Kafka-protocol server (rdmq's gateway or Apache Kafka) the same
// way, with a real client: kafkajs in this process, or kcat (librdkafka) as a
// child process. Producer phase then consumer phase on one partition.
import { spawn } from 'child_process';
import { Kafka, logLevel } from 'kafkajs';
import { summarize } from './stats';
import { MeasuredPoint } from './fastpath-target';

export type KafkaClient = 'kafkajs' | 'kcat';

export interface KafkaPointOptions {
  bootstrap: string;
  client: KafkaClient;
  batchBytes: number;
  recordBytes: number;
  totalBytes: number;
  maxSeconds: number;
  acks: number;
  onProgress?: (done: number, total: number) => void;
}

export async function runKafkaPoint(o: KafkaPointOptions): Promise<MeasuredPoint> {
  const kafka = new Kafka({ clientId: 'rdmq-bench', brokers: [o.bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topic = `bench-${o.client}-${o.batchBytes}-${Date.now()}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries: [
    { name: 'max.message.bytes', value: String(Math.max(o.batchBytes * 2, 1 << 20)) },
    { name: 'segment.bytes', value: String(Math.max(64 << 20, 4 * o.batchBytes)) },
  ] }], waitForLeaders: true });
  try {
    const produced = o.client === 'kafkajs' ? await produceKafkajs(kafka, topic, o) : await produceKcat(topic, o);
    const consumerMBps = o.client === 'kafkajs' ? await consumeKafkajs(kafka, topic, produced.bytes) : await consumeKcat(topic, o, produced.bytes);
    return { producerMBps: produced.mbps, consumerMBps, producedBytes: produced.bytes, latencyUs: summarize(produced.latencies), latencySeries: produced.series, samples: produced.latencies };
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

interface Produced {
  mbps: number;
  bytes: number;
  latencies: number[];
  series: [number, number][];
}

async function produceKafkajs(kafka: Kafka, topic: string, o: KafkaPointOptions): Promise<Produced> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const perBatch = Math.max(1, Math.floor(o.batchBytes / o.recordBytes));
  const value = Buffer.alloc(Math.min(o.recordBytes, o.batchBytes), 0x62);
  const messages = Array.from({ length: perBatch }, () => ({ value }));
  const latencies: number[] = [];
  const series: [number, number][] = [];
  let bytes = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(o.maxSeconds * 1e9));
  while (bytes < o.totalBytes && process.hrtime.bigint() < deadline) {
    const t0 = process.hrtime.bigint();
    await producer.send({ topic, acks: o.acks, messages });
    const t1 = process.hrtime.bigint();
    bytes += perBatch * value.length;
    const us = Number(t1 - t0) / 1e3;
    latencies.push(us);
    if (series.length < 20_000) series.push([Number(t1 - start) / 1e6, us]);
    o.onProgress?.(Math.min(bytes, o.totalBytes), o.totalBytes * 2);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await producer.disconnect();
  return { mbps: bytes / seconds / 1e6, bytes, latencies, series };
}

async function consumeKafkajs(kafka: Kafka, topic: string, expectedBytes: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: `${topic}-reader`, maxBytes: 64 << 20, maxBytesPerPartition: 32 << 20 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let bytes = 0;
  const start = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) bytes += m.value?.length ?? 0;
          if (bytes >= expectedBytes) resolve();
        },
      })
      .catch(reject);
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await consumer.disconnect();
  return bytes / seconds / 1e6;
}

/**
 * kcat (librdkafka) producer settings, as a user after batches of the target
 * size would set them; librdkafka 2.0's defaults cap a batch below 1 MiB:
 *   batch.size                  the target (default 1 000 000 bytes)
 *   batch.num.messages          enough records to fill it (default 10 000)
 *   linger.ms=20                time for a batch to fill (default 5)
 *   message.max.bytes           room for a whole batch in one request (default 1 000 000)
 *   queue.buffering.max.kbytes  buffering ahead of the broker, its maximum (default 1 GiB)
 *   acks                        as the bench asks (default all)
 * Everything else stays at librdkafka's defaults: requests in flight
 * (1 000 000), socket buffers, no compression, no idempotence.
 */
function kcatProducerArgs(o: KafkaPointOptions): string[] {
  const recordsPerBatch = Math.min(1_000_000, Math.max(10_000, Math.ceil(o.batchBytes / o.recordBytes)));
  return [
    '-b', o.bootstrap,
    '-X', `batch.size=${o.batchBytes}`,
    '-X', `batch.num.messages=${recordsPerBatch}`,
    '-X', 'linger.ms=20',
    '-X', `message.max.bytes=${Math.max(o.batchBytes * 2, 1 << 20)}`,
    '-X', 'queue.buffering.max.kbytes=2097151',
    '-X', `acks=${o.acks}`,
  ];
}

async function produceKcat(topic: string, o: KafkaPointOptions): Promise<Produced> {
  const line = Buffer.alloc(o.recordBytes, 0x62);
  line[line.length - 1] = 0x0a;
  const lines = Math.max(1, Math.floor(o.totalBytes / o.recordBytes));
  const start = process.hrtime.bigint();
  const child = spawn('kcat', ['-P', '-t', topic, '-p', '0', ...kcatProducerArgs(o)], { stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const chunk = Buffer.concat(Array.from({ length: Math.max(1, Math.floor((1 << 20) / o.recordBytes)) }, () => line));
  const perChunk = chunk.length / o.recordBytes;
  const deadline = start + BigInt(Math.round(o.maxSeconds * 1e9));
  let written = 0;
  while (written < lines && process.hrtime.bigint() < deadline) {
    if (!child.stdin.write(chunk)) await new Promise((resolve) => child.stdin.once('drain', resolve));
    written += perChunk;
    o.onProgress?.(Math.min(written * o.recordBytes, o.totalBytes), o.totalBytes * 2);
  }
  child.stdin.end();
  const code = await exited;
  if (code !== 0) throw new Error(`kcat producer exited with ${code}`);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const bytes = written * (o.recordBytes - 1);
  // kcat reports no per-message latency; the run's mean time per batch stands in for it.
  const perBatchUs = (seconds * 1e6) / Math.max(1, bytes / o.batchBytes);
  return { mbps: bytes / seconds / 1e6, bytes, latencies: [perBatchUs], series: [] };
}

async function consumeKcat(topic: string, o: KafkaPointOptions, expectedBytes: number): Promise<number> {
  const start = process.hrtime.bigint();
  const child = spawn('kcat', ['-C', '-b', o.bootstrap, '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q', '-f', '%s', '-X', 'fetch.max.bytes=67108864', '-X', `receive.message.max.bytes=${(64 << 20) + (1 << 20)}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let bytes = 0;
  child.stdout!.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0 && bytes < expectedBytes) throw new Error(`kcat consumer exited with ${code} after ${bytes} bytes`);
  return bytes / (Number(process.hrtime.bigint() - start) / 1e9) / 1e6;
}
