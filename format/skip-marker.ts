// A skip marker fills a byte range of the log that a producer reserved (a
// stage grant) but never wrote because it died. It must be a structurally
// valid batch, so every reader can step over it by BatchLength, and it must
// account for the offsets that were reserved, so offsets stay contiguous:
//
//   - a control batch (no Kafka client hands control batches to the app),
//   - RecordCount 0 and LastOffsetDelta = offsetCount - 1 (the offsets it covers),
//   - ProducerId -1, so no transaction state refers to it,
//   - zero padding after the header up to the reserved length, under the CRC.
//
// Kafka itself never writes an empty control batch without a producer id,
// which is what makes the marker recognisable.
import {
  BATCH_LENGTH_OFFSET,
  CONTROL_ATTRIBUTE,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  NO_PARTITION_LEADER_EPOCH,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_BATCH_OVERHEAD,
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  RECORD_COUNT_OFFSET,
} from './batch-layout';
import { writeBatchCrc } from './batch-crc';
import type { RecordBatchHeader } from './record-batch';

/** Kafka's "no timestamp". */
const NO_TIMESTAMP = -1n;
const INT32_MAX = 0x7fffffff;

export function buildSkipMarker(lengthBytes: number, baseOffset: bigint, offsetCount: number): Buffer {
  if (!Number.isInteger(lengthBytes) || lengthBytes < RECORD_BATCH_OVERHEAD || lengthBytes - LOG_OVERHEAD > INT32_MAX) {
    throw new RangeError(
      `skip marker length ${lengthBytes} is not allowed: it must be an integer from ${RECORD_BATCH_OVERHEAD} to ${INT32_MAX + LOG_OVERHEAD} bytes`,
    );
  }
  if (!Number.isInteger(offsetCount) || offsetCount < 1 || offsetCount > INT32_MAX) {
    throw new RangeError(`skip marker offset count ${offsetCount} is not allowed: it must be an integer from 1 to ${INT32_MAX}`);
  }
  const batchLength = lengthBytes - LOG_OVERHEAD;
  const marker = Buffer.alloc(lengthBytes); // zeroed: the padding
  marker.writeBigInt64BE(baseOffset, BASE_OFFSET_OFFSET);
  marker.writeInt32BE(batchLength, BATCH_LENGTH_OFFSET);
  marker.writeInt32BE(NO_PARTITION_LEADER_EPOCH, PARTITION_LEADER_EPOCH_OFFSET);
  marker.writeInt8(MAGIC_V2, MAGIC_OFFSET);
  marker.writeInt16BE(CONTROL_ATTRIBUTE, ATTRIBUTES_OFFSET);
  marker.writeInt32BE(offsetCount - 1, LAST_OFFSET_DELTA_OFFSET);
  marker.writeBigInt64BE(NO_TIMESTAMP, BASE_TIMESTAMP_OFFSET);
  marker.writeBigInt64BE(NO_TIMESTAMP, MAX_TIMESTAMP_OFFSET);
  marker.writeBigInt64BE(NO_PRODUCER_ID, PRODUCER_ID_OFFSET);
  marker.writeInt16BE(NO_PRODUCER_EPOCH, PRODUCER_EPOCH_OFFSET);
  marker.writeInt32BE(NO_SEQUENCE, BASE_SEQUENCE_OFFSET);
  marker.writeInt32BE(0, RECORD_COUNT_OFFSET);
  writeBatchCrc(marker, 0, batchLength);
  return marker;
}

/** True for a batch readers must step over without surfacing anything. */
export function isSkipMarker(header: RecordBatchHeader): boolean {
  return header.isControl && header.recordCount === 0 && header.producerId === NO_PRODUCER_ID;
}
