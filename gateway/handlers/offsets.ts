// ListOffsets, OffsetForLeaderEpoch and DeleteRecords: where a partition's
// log starts and ends, and which offset a timestamp falls on.
import { decodeRecordBatch, splitBatches } from '../../format';
import { PartitionRuntime } from '../../broker';
import { ResponseInput } from '../protocol';
import { findPartition, findTopic, TopicRef } from '../broker-view';
import { GatewayContext, Handler } from '../context';
import { kafkaError, KafkaErrorValue, toKafkaError } from '../errors';
import { LEADER_EPOCH } from './metadata';

const LATEST = -1n;
const EARLIEST = -2n;
/** KIP-734: the record with the largest timestamp. */
const MAX_TIMESTAMP = -3n;
const SCAN_STEP_BYTES = 1024 * 1024;

type ListOffsetsPartition = NonNullable<NonNullable<ResponseInput<'ListOffsets'>['topics']>[number]['partitions']>[number];

function locatePartition(gw: GatewayContext, topicName: string, partition: number): { topic: TopicRef; runtime: PartitionRuntime } | KafkaErrorValue {
  const topic = findTopic(gw.broker, topicName);
  const runtime = topic && findPartition(gw.broker, topic, partition);
  if (!topic || !runtime) return kafkaError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${topicName}' partition ${partition} does not exist`);
  return { topic, runtime };
}

export const listOffsets: Handler<'ListOffsets'> = async (body, call) => {
  const gw = call.gateway;
  const topics = await Promise.all(
    body.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(t.partitions.map((p) => listPartitionOffset(gw, t.name, p.partitionIndex, p.timestamp))),
    })),
  );
  return { throttleTimeMs: 0, topics };
};

async function listPartitionOffset(gw: GatewayContext, topicName: string, partition: number, timestamp: bigint): Promise<ListOffsetsPartition> {
  const found = locatePartition(gw, topicName, partition);
  if ('code' in found) return { partitionIndex: partition, errorCode: found.code, timestamp: -1n, offset: -1n };
  const state = found.runtime.state;
  const answer = (offset: bigint, ts = -1n): ListOffsetsPartition => ({ partitionIndex: partition, errorCode: 0, timestamp: ts, offset, leaderEpoch: LEADER_EPOCH });
  if (timestamp === LATEST) return answer(state.highWatermark());
  if (timestamp === EARLIEST) return answer(state.logStartOffset());
  try {
    const hit = timestamp === MAX_TIMESTAMP ? await maxTimestampRecord(gw, found.topic, partition, found.runtime) : await recordAtTimestamp(gw, found.topic, partition, found.runtime, timestamp);
    return hit ? answer(hit.offset, hit.timestamp) : answer(-1n);
  } catch (err) {
    const error = toKafkaError(err);
    return { partitionIndex: partition, errorCode: error.code, timestamp: -1n, offset: -1n };
  }
}

/**
 * The first record with timestamp ≥ `ts`: the broker's sparse index gives a
 * batch at or before it, then batch headers (their max timestamps) are
 * scanned and the one batch that holds it decoded.
 */
async function recordAtTimestamp(
  gw: GatewayContext,
  topic: TopicRef,
  partition: number,
  runtime: PartitionRuntime,
  ts: bigint,
): Promise<{ offset: bigint; timestamp: bigint } | null> {
  if (ts < 0n) throw kafkaErrorThrowable('INVALID_REQUEST', `timestamp ${ts} is not -1 (latest), -2 (earliest), -3 (max timestamp) or ≥ 0`);
  const start = runtime.state.offsetForTimestamp(ts);
  if (start === null) return null;
  let found: { offset: bigint; timestamp: bigint } | null = null;
  await scanBatches(gw, topic, partition, runtime, start > runtime.state.logStartOffset() ? start : runtime.state.logStartOffset(), async (bytes, span, header, from) => {
    if (header.maxTimestamp < ts) return true;
    const decoded = await decodeRecordBatch(bytes, span.offset, { limits: { batchBytesMax: 0x7fffffff } });
    const record = decoded.records.find((r) => r.offset >= from && r.timestamp >= ts);
    if (record) {
      found = { offset: record.offset, timestamp: record.timestamp };
      return false;
    }
    return true;
  });
  return found;
}

/** The record with the largest timestamp (the first of equals), by scanning the whole log within the scan bound. */
async function maxTimestampRecord(gw: GatewayContext, topic: TopicRef, partition: number, runtime: PartitionRuntime): Promise<{ offset: bigint; timestamp: bigint } | null> {
  let best: { batchBytes: Buffer; maxTimestamp: bigint } | null = null;
  await scanBatches(gw, topic, partition, runtime, runtime.state.logStartOffset(), async (bytes, span, header) => {
    if (header.recordCount > 0 && (!best || header.maxTimestamp > best.maxTimestamp)) {
      best = { batchBytes: Buffer.from(bytes.subarray(span.offset, span.offset + span.length)), maxTimestamp: header.maxTimestamp };
    }
    return true;
  });
  if (!best) return null;
  const { batchBytes, maxTimestamp } = best as { batchBytes: Buffer; maxTimestamp: bigint };
  const decoded = await decodeRecordBatch(batchBytes, 0, { limits: { batchBytesMax: 0x7fffffff } });
  const record = decoded.records.find((r) => r.timestamp === maxTimestamp) ?? decoded.records[decoded.records.length - 1];
  return record ? { offset: record.offset, timestamp: record.timestamp } : null;
}

type BatchVisitor = (
  bytes: Buffer,
  span: ReturnType<typeof splitBatches>['batches'][number],
  header: ReturnType<typeof splitBatches>['batches'][number]['header'],
  from: bigint,
) => Promise<boolean>;

/** Visits stored batches from `from` up to the high watermark, within maxTimestampScanBytes; the visitor returns false to stop. */
async function scanBatches(gw: GatewayContext, topic: TopicRef, partition: number, runtime: PartitionRuntime, from: bigint, visit: BatchVisitor): Promise<void> {
  const fetcher = await gw.fetchers.get(topic.name, topic.topicId, partition);
  let offset = from;
  let scanned = 0;
  while (offset < runtime.state.highWatermark() && scanned < gw.limits.maxTimestampScanBytes) {
    const { records } = await fetcher.fetch(offset, SCAN_STEP_BYTES);
    if (records.length === 0) return;
    scanned += records.length;
    const next = offset;
    for (const span of splitBatches(records, { batchBytesMax: 0x7fffffff }).batches) {
      const last = span.header.baseOffset + BigInt(span.header.lastOffsetDelta);
      if (last < next) continue;
      if (!(await visit(records, span, span.header, next))) return;
      offset = last + 1n;
    }
    if (offset === next) return;
  }
}

function kafkaErrorThrowable(name: string, message: string): Error {
  const error = kafkaError(name, message);
  return Object.assign(new Error(message), { kafkaErrorCode: error.code });
}

export const offsetForLeaderEpoch: Handler<'OffsetForLeaderEpoch'> = (body, call) => {
  const gw = call.gateway;
  return {
    throttleTimeMs: 0,
    topics: body.topics.map((t) => ({
      topic: t.topic,
      partitions: t.partitions.map((p) => {
        const found = locatePartition(gw, t.topic, p.partition);
        if ('code' in found) return { errorCode: found.code, partition: p.partition, leaderEpoch: -1, endOffset: -1n };
        // One epoch for the partition's whole life: every epoch up to it ends at the log end.
        if (p.currentLeaderEpoch > LEADER_EPOCH) {
          return { errorCode: kafkaError('UNKNOWN_LEADER_EPOCH').code, partition: p.partition, leaderEpoch: -1, endOffset: -1n };
        }
        if (p.leaderEpoch > LEADER_EPOCH) return { errorCode: 0, partition: p.partition, leaderEpoch: -1, endOffset: -1n };
        return { errorCode: 0, partition: p.partition, leaderEpoch: LEADER_EPOCH, endOffset: found.runtime.state.highWatermark() };
      }),
    })),
  };
};

/**
 * DeleteRecords moves each partition's log start offset (offset -1: to the
 * high watermark). Readers below it get OFFSET_OUT_OF_RANGE; a segment is
 * freed once every record in it lies below the start.
 */
export const deleteRecords: Handler<'DeleteRecords'> = async (body, call) => {
  const gw = call.gateway;
  return {
    throttleTimeMs: 0,
    topics: await Promise.all(
      body.topics.map(async (t) => ({
        name: t.name,
        partitions: await Promise.all(
          t.partitions.map(async (p) => {
            const found = locatePartition(gw, t.name, p.partitionIndex);
            if ('code' in found) return { partitionIndex: p.partitionIndex, lowWatermark: -1n, errorCode: found.code };
            const target = p.offset === -1n ? found.runtime.state.highWatermark() : p.offset;
            try {
              const lowWatermark = await gw.broker.deleteRecordsBefore(t.name, p.partitionIndex, target);
              return { partitionIndex: p.partitionIndex, lowWatermark, errorCode: 0 };
            } catch (err) {
              const error = toKafkaError(err);
              if (error.name !== 'OFFSET_OUT_OF_RANGE') gw.log(`DeleteRecords on ${t.name}-${p.partitionIndex} up to ${target} failed: ${error.message}`);
              return { partitionIndex: p.partitionIndex, lowWatermark: -1n, errorCode: error.code };
            }
          }),
        ),
      })),
    ),
  };
};
