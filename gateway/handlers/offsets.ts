// ListOffsets, OffsetForLeaderEpoch and DeleteRecords: where a partition's
// log starts and ends, and which offset a timestamp falls on.
import { decodeRecordBatch, headerMaxTimestampPlausible, splitBatches } from '../../format';
import { PartitionRuntime } from '../../broker';
import { ResponseInput } from '../protocol';
import { findPartition, findTopic, TopicRef } from '../broker-view';
import { refusal } from '../authorization';
import { GatewayContext, Handler } from '../context';
import { kafkaError, KafkaErrorValue, toKafkaError } from '../errors';
import { LEADER_EPOCH } from './metadata';

const LATEST = -1n;
const EARLIEST = -2n;
/** KIP-405 (v8+): the earliest offset on local storage, which is every offset here. */
const EARLIEST_LOCAL = -4n;
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
      partitions: await Promise.all(
        t.partitions.map((p) => {
          const denied = refusal(call, 'DESCRIBE', 'TOPIC', t.name);
          return denied ? { partitionIndex: p.partitionIndex, errorCode: denied.code, timestamp: -1n, offset: -1n } : listPartitionOffset(gw, t.name, p.partitionIndex, p.timestamp);
        }),
      ),
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
  if (timestamp === EARLIEST || timestamp === EARLIEST_LOCAL) return answer(state.logStartOffset());
  try {
    const hit = timestamp === MAX_TIMESTAMP ? await maxTimestampRecord(gw, found.topic, partition, found.runtime) : await recordAtTimestamp(gw, found.topic, partition, found.runtime, timestamp);
    return hit ? answer(hit.offset, hit.timestamp) : answer(-1n);
  } catch (err) {
    const error = toKafkaError(err);
    return { partitionIndex: partition, errorCode: error.code, timestamp: -1n, offset: -1n };
  }
}

/**
 * The first record with timestamp ≥ `ts`, as Kafka answers. The broker's
 * sparse index names the one index interval where the first batch reaching
 * `ts` lies; from there batches are read in order and the first record that
 * reaches `ts` wins. A batch is skipped by its header only when the header's
 * MaxTimestamp is plausible (batches stored before the gateway rewrote unset
 * ones, or put by a fast-path client, are decoded instead).
 */
async function recordAtTimestamp(
  gw: GatewayContext,
  topic: TopicRef,
  partition: number,
  runtime: PartitionRuntime,
  ts: bigint,
): Promise<TimestampHit | null> {
  if (ts < 0n) throw kafkaErrorThrowable('INVALID_REQUEST', `timestamp ${ts} is not -1 (latest), -2 (earliest), -3 (max timestamp) or ≥ 0`);
  const start = runtime.state.offsetForTimestamp(ts);
  if (start === null) return null;
  let found: TimestampHit | null = null;
  const from = start > runtime.state.logStartOffset() ? start : runtime.state.logStartOffset();
  const ended = await scanBatches(gw, topic, partition, runtime, from, async (bytes, span, header, next) => {
    if (headerMaxTimestampPlausible(header) && header.maxTimestamp < ts) return true;
    const decoded = await decodeRecordBatch(bytes, span.offset, { limits: { batchBytesMax: 0x7fffffff } });
    const record = decoded.records.find((r) => r.offset >= next && r.timestamp >= ts);
    if (!record) return true;
    found = { offset: record.offset, timestamp: record.timestamp };
    return false;
  });
  if (!found && ended === 'bound') throw scanBoundReached(gw, topic.name, partition, from, `timestamp ${ts}`);
  return found;
}

/**
 * The record with the largest timestamp (the first of equals): the index knows
 * the largest batch maxTimestamp, so this is the first record reaching it.
 */
async function maxTimestampRecord(gw: GatewayContext, topic: TopicRef, partition: number, runtime: PartitionRuntime): Promise<TimestampHit | null> {
  const max = runtime.state.maxTimestampIndexed();
  if (max === null || max < 0n) return null;
  return recordAtTimestamp(gw, topic, partition, runtime, max);
}

interface TimestampHit {
  offset: bigint;
  timestamp: bigint;
}

type BatchVisitor = (
  bytes: Buffer,
  span: ReturnType<typeof splitBatches>['batches'][number],
  header: ReturnType<typeof splitBatches>['batches'][number]['header'],
  from: bigint,
) => Promise<boolean>;

/**
 * Visits stored batches from `from` up to the high watermark, within
 * maxTimestampScanBytes; the visitor returns false to stop. Says why it ended:
 * 'stopped' by the visitor, 'end' of the log, or the scan 'bound'.
 */
async function scanBatches(
  gw: GatewayContext,
  topic: TopicRef,
  partition: number,
  runtime: PartitionRuntime,
  from: bigint,
  visit: BatchVisitor,
): Promise<'stopped' | 'end' | 'bound'> {
  const fetcher = await gw.fetchers.get(topic.name, topic.topicId, partition);
  let offset = from;
  let scanned = 0;
  while (offset < runtime.state.highWatermark()) {
    if (scanned >= gw.limits.maxTimestampScanBytes) return 'bound';
    const { records } = await fetcher.fetch(offset, SCAN_STEP_BYTES);
    if (records.length === 0) return 'end';
    scanned += records.length;
    const next = offset;
    for (const span of splitBatches(records, { batchBytesMax: 0x7fffffff }).batches) {
      const last = span.header.baseOffset + BigInt(span.header.lastOffsetDelta);
      if (last < next) continue;
      if (!(await visit(records, span, span.header, next))) return 'stopped';
      offset = last + 1n;
    }
    if (offset === next) return 'end';
  }
  return 'end';
}

/**
 * A lookup that read maxTimestampScanBytes without an answer: the index
 * pointed at the wrong place (batches whose header lied), so neither an offset
 * nor "none" would be true. Fails the partition instead, and says so in the log.
 */
function scanBoundReached(gw: GatewayContext, topicName: string, partition: number, from: bigint, what: string): Error {
  const message =
    `ListOffsets for ${what} on ${topicName}-${partition} read ${gw.limits.maxTimestampScanBytes} bytes from offset ${from} ` +
    `(limits.maxTimestampScanBytes) without finding it; raise the limit or look the offset up by fetching`;
  gw.log(message);
  return kafkaErrorThrowable('UNKNOWN_SERVER_ERROR', message);
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
        const denied = refusal(call, 'DESCRIBE', 'TOPIC', t.topic);
        if (denied) return { errorCode: denied.code, partition: p.partition, leaderEpoch: -1, endOffset: -1n };
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
            const denied = refusal(call, 'DELETE', 'TOPIC', t.name);
            if (denied) return { partitionIndex: p.partitionIndex, lowWatermark: -1n, errorCode: denied.code };
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
