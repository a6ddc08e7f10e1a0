// The final read of a chaos run: every partition from the beginning to its
// high watermark, once through each door. The SDK reads the stored batches
// raw, so it also sees skip markers and control batches, which the checker
// needs to tell a marked skip from a silent gap; kafkajs reads as a Kafka
// application would, through a fresh consumer group.
import { Kafka, logLevel } from 'kafkajs';
import { decodeRecordBatch, isSkipMarker, splitBatches } from '../format';
import { Rdmq } from '../rdma-client';
import type { FinalRead, PartitionRead, StoredBatch } from './checker';
import { withTimeout } from './clients/runtime';

const POLL_MS = 100;

export interface ReadbackResult {
  read: FinalRead;
  /** What went wrong while reading (a corrupt batch, a timeout); the partitions say how far they got. */
  errors: string[];
}

async function until(done: () => boolean, deadlineMs: number): Promise<boolean> {
  while (!done()) {
    if (Date.now() > deadlineMs) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return true;
}

export async function readThroughSdk(control: string, topic: string, timeoutMs: number): Promise<ReadbackResult> {
  const deadline = Date.now() + timeoutMs;
  const errors: string[] = [];
  const rdmq = new Rdmq({ control, requestTimeoutMs: 10_000 });
  const admin = rdmq.admin();
  await withTimeout(admin.connect(), 15_000, 'admin connect');
  const offsets = await withTimeout(admin.fetchTopicOffsets(topic), 15_000, 'fetchTopicOffsets');
  await admin.disconnect();
  const partitions = new Map<number, PartitionRead & { next: number; batches: StoredBatch[] }>();
  for (const o of offsets) {
    const low = Number(o.low);
    partitions.set(o.partition, { partition: o.partition, complete: false, logStartOffset: low, highWatermark: Number(o.high), records: [], batches: [], next: low });
  }
  const consumer = rdmq.consumer();
  await withTimeout(consumer.connect(), 15_000, 'consumer connect');
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await withTimeout(
      consumer.run(
        {
          eachRawBatch: async ({ partition, bytes }) => {
            const p = partitions.get(partition);
            if (!p) return;
            for (const span of splitBatches(bytes).batches) {
              const h = span.header;
              const first = Number(h.baseOffset);
              const last = first + h.lastOffsetDelta;
              p.next = Math.max(p.next, last + 1);
              if (isSkipMarker(h)) {
                p.batches.push({ first, last, kind: 'skip-marker' });
                continue;
              }
              p.batches.push({ first, last, kind: h.isControl ? 'control' : 'data' });
              if (h.isControl) continue;
              try {
                const { records } = await decodeRecordBatch(bytes, span.offset);
                for (const r of records) p.records.push({ offset: Number(r.offset), value: r.value?.toString() ?? '' });
              } catch (err) {
                errors.push(`sdk read: partition ${partition} batch ${first}..${last}: ${(err as Error).message}`);
              }
            }
          },
        },
        (err) => errors.push(`sdk read: ${err.message}`),
      ),
      15_000,
      'consumer run',
    );
    await until(() => [...partitions.values()].every((p) => p.next >= p.highWatermark), deadline);
  } finally {
    await withTimeout(consumer.disconnect(), 10_000, 'disconnect').catch(() => undefined);
  }
  for (const p of partitions.values()) {
    p.complete = p.next >= p.highWatermark;
    if (!p.complete) errors.push(`sdk read: partition ${p.partition} reached ${p.next} of high watermark ${p.highWatermark}`);
  }
  return { read: { door: 'sdk', partitions: [...partitions.values()].map(({ next: _next, ...p }) => p) }, errors };
}

/**
 * Reads through the Kafka door. `lastRecordOffsets` (from the SDK's read) says
 * when a partition is done: past its last record only markers may follow,
 * which kafkajs never hands to the application.
 */
export async function readThroughKafka(bootstrap: string, topic: string, lastRecordOffsets: Map<number, number>, timeoutMs: number): Promise<ReadbackResult> {
  const deadline = Date.now() + timeoutMs;
  const errors: string[] = [];
  const kafka = new Kafka({ clientId: 'chaos-readback', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 10 } });
  const admin = kafka.admin();
  await withTimeout(admin.connect(), 15_000, 'kafka admin connect');
  const offsets = await withTimeout(admin.fetchTopicOffsets(topic), 15_000, 'kafka fetchTopicOffsets');
  await admin.disconnect();
  const partitions = new Map<number, PartitionRead & { maxOffset: number; target: number }>();
  for (const o of offsets) {
    const low = Number(o.low);
    const target = lastRecordOffsets.get(o.partition) ?? Number(o.high) - 1;
    partitions.set(o.partition, { partition: o.partition, complete: false, logStartOffset: low, highWatermark: Number(o.high), records: [], maxOffset: low - 1, target });
  }
  const consumer = kafka.consumer({ groupId: `chaos-readback-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 200 });
  await withTimeout(consumer.connect(), 15_000, 'kafka consumer connect');
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const p = partitions.get(batch.partition);
        if (!p) return;
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          // A refetch after a rebalance hands some records again: keep each offset once.
          if (offset <= p.maxOffset) continue;
          p.records.push({ offset, value: m.value?.toString() ?? '' });
          p.maxOffset = offset;
        }
      },
    });
    await until(() => [...partitions.values()].every((p) => p.maxOffset >= p.target), deadline);
  } finally {
    await withTimeout(consumer.disconnect(), 10_000, 'kafka disconnect').catch(() => undefined);
  }
  for (const p of partitions.values()) {
    p.complete = p.maxOffset >= p.target;
    if (!p.complete) errors.push(`kafka read: partition ${p.partition} reached ${p.maxOffset} of last record ${p.target}`);
  }
  return { read: { door: 'kafka', partitions: [...partitions.values()].map(({ maxOffset: _m, target: _t, ...p }) => p) }, errors };
}

/** The offset of the last record per partition in a read. */
export function lastRecordOffsets(read: FinalRead): Map<number, number> {
  return new Map(read.partitions.map((p) => [p.partition, p.records.reduce((max, r) => Math.max(max, r.offset), p.logStartOffset - 1)]));
}
