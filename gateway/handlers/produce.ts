// Produce: each partition's record batch is checked without decompressing it
// (size, magic, CRC32C, record count and, uncompressed, the record framing),
// then written byte for byte through the fast path (stage → put → commit) and
// acknowledged once committed. Compressed batches pass through untouched but
// for a MaxTimestamp the client left unset (see stampMaxTimestamp).
//
// acks=1 and acks=-1 both answer after the commit: the commit is the only
// point at which a record is both durable at the configured level and
// visible, so there is nothing weaker to acknowledge. acks=0 sends nothing.
import {
  headerMaxTimestampPlausible,
  maxRecordTimestamp,
  RecordBatchHeader,
  rewriteMaxTimestamp,
  setPartitionLeaderEpoch,
  validateBatch,
} from '../../format';
import { batchSizeError } from '../../broker';
import { ResponseInput } from '../protocol';
import { CatalogTopic } from '../catalog';
import { refusal } from '../authorization';
import { DataContext, Handler, NO_RESPONSE } from '../context';
import { kafkaError, KafkaErrorValue, toKafkaError } from '../errors';
import { LEADER_EPOCH } from './metadata';

type PartitionResponse = NonNullable<NonNullable<ResponseInput<'Produce'>['responses']>[number]['partitionResponses']>[number];
type TopicInfo = Parameters<DataContext['producer']['write']>[0];

export const produce: Handler<'Produce', DataContext> = async (body, call) => {
  const gw = call.gateway;
  const requestError = checkRequest(body.acks, body.transactionalId);
  const responses = await Promise.all(
    body.topicData.map(async (t) => ({
      name: t.name,
      partitionResponses: await Promise.all(
        t.partitionData.map((p) => {
          const error = requestError ?? refusal(call, 'WRITE', 'TOPIC', t.name);
          return error ? failed(p.index, error) : producePartition(gw, t.name, p.index, p.records);
        }),
      ),
    })),
  );
  if (body.acks === 0) return NO_RESPONSE;
  return { responses, throttleTimeMs: 0 };
};

function checkRequest(acks: number, transactionalId: string | null): KafkaErrorValue | null {
  if (acks !== 0 && acks !== 1 && acks !== -1) return kafkaError('INVALID_REQUIRED_ACKS', `acks must be -1, 0 or 1, got ${acks}`);
  if (transactionalId !== null) {
    return kafkaError('TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'transactions are not supported by this gateway');
  }
  return null;
}

async function producePartition(gw: DataContext, topicName: string, partition: number, records: Buffer | null): Promise<PartitionResponse> {
  // `records` views a frame buffer the connection reuses once this handler
  // settles: finish with it (the write awaited) before returning; copy anything kept.
  const topic = await gw.catalog.lookup(topicName, partition);
  if (!topic) {
    return failed(partition, kafkaError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${topicName}' partition ${partition} does not exist`));
  }
  const checked = checkBatch(records, topic);
  if ('error' in checked) return failed(partition, checked.error);
  const { batch, header } = checked;
  let logAppendTimeMs = -1n;
  try {
    if (topic.config['message.timestamp.type'] === 'LogAppendTime') logAppendTimeMs = stampLogAppendTime(batch, header);
    else await stampMaxTimestamp(batch, header);
  } catch (err) {
    return failed(partition, toKafkaError(err));
  }
  // Outside the CRC: Kafka's leader stamps its epoch here too.
  setPartitionLeaderEpoch(batch, 0, LEADER_EPOCH);
  const info: TopicInfo = { name: topic.name, topicId: topic.topicId, partitions: [], configs: {} };
  const write = () => gw.produceGroups.append(info, partition, batch, header.recordCount, topic.config['max.message.bytes']);
  try {
    let baseOffset: bigint;
    if (header.producerId >= 0n) {
      // A gateway without the broker forwards idempotent produces before they reach here (remote.ts).
      if (!gw.idempotence) throw new Error('idempotent produce reached a gateway that cannot check sequences');
      const appended = await gw.idempotence.append(
        topic,
        partition,
        { producerId: header.producerId, epoch: header.producerEpoch, firstSequence: header.baseSequence, recordCount: header.recordCount, lastOffsetDelta: header.lastOffsetDelta },
        write,
      );
      if ('error' in appended) return failed(partition, appended.error);
      baseOffset = appended.baseOffset;
    } else {
      baseOffset = await write();
    }
    return { index: partition, errorCode: 0, baseOffset, logAppendTimeMs, logStartOffset: gw.catalog.logStartOffset(topic, partition) };
  } catch (err) {
    const error = toKafkaError(err);
    if (error.name === 'UNKNOWN_TOPIC_OR_PARTITION') gw.catalog.invalidate(topicName);
    gw.log(`produce to ${topicName}-${partition} failed: ${error.name}: ${error.message}`);
    return failed(partition, error);
  }
}

/** Kafka's checks on a produced batch (LogValidator), before any byte is written. */
export function checkBatch(records: Buffer | null, topic: CatalogTopic): { batch: Buffer; header: RecordBatchHeader } | { error: KafkaErrorValue } {
  if (records === null || records.length === 0) {
    return { error: kafkaError('INVALID_RECORD', 'a produce request must carry exactly one record batch per partition, got none') };
  }
  const tooLarge = batchSizeError(topic.name, topic.config, records.length);
  if (tooLarge) return { error: toKafkaError(tooLarge) };
  let header: RecordBatchHeader;
  try {
    header = validateBatch(records, 0, { batchBytesMax: topic.config['max.message.bytes'] });
  } catch (err) {
    return { error: toKafkaError(err) };
  }
  const size = 12 + header.batchLength;
  if (size !== records.length) {
    return { error: kafkaError('INVALID_RECORD', `a produce request must carry exactly one record batch per partition; ${records.length - size} bytes follow the first`) };
  }
  if (header.recordCount <= 0) return { error: kafkaError('INVALID_RECORD', 'a record batch must hold at least one record') };
  if (header.recordCount !== header.lastOffsetDelta + 1) {
    return {
      error: kafkaError('INVALID_RECORD', `record count ${header.recordCount} does not match the offset range 0..${header.lastOffsetDelta} of the batch`),
    };
  }
  if (header.isControl) return { error: kafkaError('INVALID_RECORD', 'clients may not write control batches') };
  if (header.isTransactional) return { error: kafkaError('INVALID_TXN_STATE', 'transactional batches are not supported by this gateway') };
  return { batch: records, header };
}

/**
 * Makes the header's MaxTimestamp the records' true maximum, as Kafka's log
 * does: the broker indexes timestamps by it and ListOffsets skips batches by
 * it. Uncompressed records are walked every time (one pass over bytes already
 * in memory); a compressed batch is decompressed only when its claim is
 * certainly wrong (below its first timestamp, as sarama's -1), since
 * decompressing every batch would cost the gateway its compressed throughput.
 */
async function stampMaxTimestamp(batch: Buffer, header: RecordBatchHeader): Promise<void> {
  if (header.compression !== 'none' && headerMaxTimestampPlausible(header)) return;
  const maxTimestamp = await maxRecordTimestamp(batch, 0, header);
  if (maxTimestamp === header.maxTimestamp) return;
  rewriteMaxTimestamp(batch, 0, header, maxTimestamp, false);
  header.maxTimestamp = maxTimestamp;
}

/**
 * message.timestamp.type=LogAppendTime, as Kafka's log does it: the batch
 * becomes a log-append-time batch whose MaxTimestamp, the time of this append,
 * is every record's timestamp. Returns that time for the response.
 */
function stampLogAppendTime(batch: Buffer, header: RecordBatchHeader): bigint {
  const now = BigInt(Date.now());
  rewriteMaxTimestamp(batch, 0, header, now, true);
  header.maxTimestamp = now;
  header.timestampType = 'log-append';
  return now;
}

function failed(partition: number, error: KafkaErrorValue): PartitionResponse {
  return {
    index: partition,
    errorCode: error.code,
    baseOffset: -1n,
    logAppendTimeMs: -1n,
    logStartOffset: -1n,
    errorMessage: error.message,
  };
}
