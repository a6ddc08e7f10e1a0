// A batch's timestamps as its records hold them. The header's MaxTimestamp is
// the client's claim: Java and librdkafka fill it in, sarama leaves it at -1.
// Kafka's log recomputes it from the records and rewrites the header; the
// gateway does the same, so the broker's timestamp index and every reader of
// the stored batch see the true maximum.
import { ATTRIBUTES_OFFSET, MAX_TIMESTAMP_OFFSET, RECORDS_OFFSET, TIMESTAMP_TYPE_ATTRIBUTE } from './batch-layout';
import { writeBatchCrc } from './batch-crc';
import { decompress, DECOMPRESSED_BYTES_MAX_DEFAULT } from './compression';
import { RecordBatchError } from './record-batch-error';
import { batchSizeBytes, RecordBatchHeader } from './record-batch';
import { readRecordTimestampDelta } from './records';
import { ByteCursor } from './varint';

/** No timestamp (Kafka's RecordBatch.NO_TIMESTAMP). */
export const NO_TIMESTAMP = -1n;

/**
 * The largest record timestamp of the batch at `offset` (its log-append time
 * for a log-append batch), read from the records: decompressed first when the
 * batch is compressed.
 */
export async function maxRecordTimestamp(
  buf: Buffer,
  offset: number,
  header: RecordBatchHeader,
  decompressedBytesMax = DECOMPRESSED_BYTES_MAX_DEFAULT,
): Promise<bigint> {
  if (header.timestampType === 'log-append') return header.maxTimestamp;
  const stored = buf.subarray(offset + RECORDS_OFFSET, offset + batchSizeBytes(header));
  const plain = await decompress(header.compression, stored, decompressedBytesMax);
  const cursor = new ByteCursor(plain, 0, plain.length);
  // A number while the deltas are (every realistic batch): no BigInt per record, the gateway's largest allocation once.
  let maxDelta: number | bigint | null = null;
  for (let i = 0; i < header.recordCount; i++) {
    if (cursor.remaining() === 0) throw new RecordBatchError('INVALID_RECORD', `batch declares ${header.recordCount} records but holds only ${i}`);
    const delta = readRecordTimestampDelta(cursor);
    if (maxDelta === null || delta > maxDelta) maxDelta = delta;
  }
  return maxDelta === null ? NO_TIMESTAMP : header.baseTimestamp + BigInt(maxDelta);
}

/**
 * Whether the header's MaxTimestamp can be taken as it stands without reading
 * the records: log-append batches carry the broker's own time, and a claim
 * below the first record's timestamp is certainly wrong (sarama's -1).
 */
export function headerMaxTimestampPlausible(header: RecordBatchHeader): boolean {
  return header.timestampType === 'log-append' || header.maxTimestamp >= header.baseTimestamp;
}

/** Sets MaxTimestamp (and, for LogAppendTime, the timestamp type) and recomputes the CRC. */
export function rewriteMaxTimestamp(batch: Buffer, offset: number, header: RecordBatchHeader, maxTimestamp: bigint, logAppendTime: boolean): void {
  if (logAppendTime) batch.writeInt16BE(header.attributes | TIMESTAMP_TYPE_ATTRIBUTE, offset + ATTRIBUTES_OFFSET);
  batch.writeBigInt64BE(maxTimestamp, offset + MAX_TIMESTAMP_OFFSET);
  writeBatchCrc(batch, offset, header.batchLength);
}
