// Building a complete RecordBatch v2 from records, and decoding one back to
// records with absolute offsets and timestamps. The builder follows Kafka's
// Java producer: BaseTimestamp is the first record's timestamp, MaxTimestamp
// the largest, offset deltas count from 0, records compressed as one block.
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  MAX_TIMESTAMP_OFFSET,
  NO_PARTITION_LEADER_EPOCH,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RECORD_COUNT_OFFSET,
  RECORDS_OFFSET,
  TRANSACTIONAL_ATTRIBUTE,
} from './batch-layout';
import { writeBatchCrc } from './batch-crc';
import { Compression, compress, compressionId, decompress, DECOMPRESSED_BYTES_MAX_DEFAULT } from './compression';
import { BatchLimits, BATCH_LIMITS_DEFAULT, RecordBatchHeader, batchSizeBytes, readBatchHeader, validateBatch } from './record-batch';
import { RecordBatchError } from './record-batch-error';
import { PreparedRecord, Record, RecordInput, prepareRecord, readRecord, sizeOfRecord, writeRecord } from './records';
import { isSkipMarker } from './skip-marker';
import { ByteCursor } from './varint';

const INT32_MAX = 0x7fffffff;

export interface BuildRecordBatchOptions {
  records: RecordInput[];
  compression?: Compression;
  baseOffset?: bigint;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  isTransactional?: boolean;
  partitionLeaderEpoch?: number;
}

function prepareRecords(records: RecordInput[]): { prepared: PreparedRecord[]; baseTimestamp: bigint; maxTimestamp: bigint } {
  if (records.length === 0 || records.length > INT32_MAX) {
    throw new RangeError(`a batch holds 1 to ${INT32_MAX} records, not ${records.length}`);
  }
  const now = BigInt(Date.now());
  const timestamps = records.map((record) => (record.timestamp === undefined ? now : BigInt(record.timestamp)));
  const baseTimestamp = timestamps[0];
  let maxTimestamp = baseTimestamp;
  for (const timestamp of timestamps) if (timestamp > maxTimestamp) maxTimestamp = timestamp;
  const prepared = records.map((record, index) => prepareRecord(record, index, timestamps[index] - baseTimestamp));
  return { prepared, baseTimestamp, maxTimestamp };
}

/** Serialises records back to back; `into` must have exactly their size from `pos`. */
function writeRecords(into: Buffer, start: number, prepared: PreparedRecord[], recordsBytes: number): void {
  let pos = start;
  for (const record of prepared) pos = writeRecord(into, pos, record);
  // allocUnsafe buffers: a sizing bug must not ship uninitialised memory.
  if (pos - start !== recordsBytes) throw new Error(`record encoder wrote ${pos - start} bytes but sized ${recordsBytes}`);
}

async function encodeRecordsSection(prepared: PreparedRecord[], compression: Compression): Promise<Buffer> {
  let recordsBytes = 0;
  for (const record of prepared) recordsBytes += sizeOfRecord(record);
  if (compression === 'none') {
    // Write straight into the final batch buffer: no intermediate copy.
    const batch = Buffer.allocUnsafe(RECORD_BATCH_OVERHEAD + recordsBytes);
    writeRecords(batch, RECORDS_OFFSET, prepared, recordsBytes);
    return batch;
  }
  const plain = Buffer.allocUnsafe(recordsBytes);
  writeRecords(plain, 0, prepared, recordsBytes);
  const compressed = await compress(compression, plain);
  const batch = Buffer.allocUnsafe(RECORD_BATCH_OVERHEAD + compressed.length);
  compressed.copy(batch, RECORDS_OFFSET);
  return batch;
}

/** A complete, CRC-correct batch. Strings in keys, values and headers are UTF-8. */
export async function buildRecordBatch(options: BuildRecordBatchOptions): Promise<Buffer> {
  const compression = options.compression ?? 'none';
  const { prepared, baseTimestamp, maxTimestamp } = prepareRecords(options.records);
  const batch = await encodeRecordsSection(prepared, compression);
  const batchLength = batch.length - LOG_OVERHEAD;
  if (batchLength > INT32_MAX) throw new RangeError(`batch of ${batch.length} bytes does not fit BatchLength (int32)`);
  const attributes = compressionId(compression) | (options.isTransactional ? TRANSACTIONAL_ATTRIBUTE : 0);
  batch.writeBigInt64BE(options.baseOffset ?? 0n, BASE_OFFSET_OFFSET);
  batch.writeInt32BE(batchLength, BATCH_LENGTH_OFFSET);
  batch.writeInt32BE(options.partitionLeaderEpoch ?? NO_PARTITION_LEADER_EPOCH, PARTITION_LEADER_EPOCH_OFFSET);
  batch.writeInt8(MAGIC_V2, MAGIC_OFFSET);
  batch.writeInt16BE(attributes, ATTRIBUTES_OFFSET);
  batch.writeInt32BE(prepared.length - 1, LAST_OFFSET_DELTA_OFFSET);
  batch.writeBigInt64BE(baseTimestamp, BASE_TIMESTAMP_OFFSET);
  batch.writeBigInt64BE(maxTimestamp, MAX_TIMESTAMP_OFFSET);
  batch.writeBigInt64BE(options.producerId ?? NO_PRODUCER_ID, PRODUCER_ID_OFFSET);
  batch.writeInt16BE(options.producerEpoch ?? NO_PRODUCER_EPOCH, PRODUCER_EPOCH_OFFSET);
  batch.writeInt32BE(options.baseSequence ?? NO_SEQUENCE, BASE_SEQUENCE_OFFSET);
  batch.writeInt32BE(prepared.length, RECORD_COUNT_OFFSET);
  writeBatchCrc(batch, 0, batchLength);
  return batch;
}

export interface DecodeOptions {
  limits?: BatchLimits;
  /** Cap on the decompressed records of one batch. */
  decompressedBytesMax?: number;
}

export interface DecodedRecordBatch {
  header: RecordBatchHeader;
  records: Record[];
}

/**
 * Validates the batch at `offset`, decompresses its records if needed and
 * returns them with absolute offsets and timestamps. Skip markers decode to
 * no records. Uncompressed record bytes are views into `buf`.
 */
export async function decodeRecordBatch(buf: Buffer, offset = 0, options: DecodeOptions = {}): Promise<DecodedRecordBatch> {
  const header = validateBatch(buf, offset, options.limits ?? BATCH_LIMITS_DEFAULT);
  if (isSkipMarker(header)) return { header, records: [] };
  const stored = buf.subarray(offset + RECORDS_OFFSET, offset + batchSizeBytes(header));
  const plain = await decompress(header.compression, stored, options.decompressedBytesMax ?? DECOMPRESSED_BYTES_MAX_DEFAULT);
  const cursor = new ByteCursor(plain, 0, plain.length);
  const base = {
    baseOffset: header.baseOffset,
    baseTimestamp: header.baseTimestamp,
    logAppendTime: header.timestampType === 'log-append' ? header.maxTimestamp : null,
  };
  const records: Record[] = [];
  for (let i = 0; i < header.recordCount; i++) {
    if (cursor.remaining() === 0) {
      throw new RecordBatchError('INVALID_RECORD', `batch declares ${header.recordCount} records but holds only ${i}`);
    }
    records.push(readRecord(cursor, base));
  }
  if (cursor.remaining() !== 0) {
    throw new RecordBatchError(
      'INVALID_RECORD',
      `batch declares ${header.recordCount} records but ${cursor.remaining()} bytes follow the last of them`,
    );
  }
  return { header, records };
}

/**
 * The first record of an uncompressed batch, read without validating or
 * decoding the rest, so a tool can look at one record per batch at memory
 * speed (rdmq bench reads its end-to-end timestamps this way). Key and value
 * are views into `buf`. Undefined for a compressed, control or empty batch
 * and for a skip marker.
 */
export function peekFirstRecord(buf: Buffer, offset = 0, header: RecordBatchHeader = readBatchHeader(buf, offset)): Record | undefined {
  if (header.compression !== 'none' || header.isControl || header.recordCount <= 0 || isSkipMarker(header)) return undefined;
  const end = Math.min(buf.length, offset + batchSizeBytes(header));
  const cursor = new ByteCursor(buf, offset + RECORDS_OFFSET, end);
  const logAppendTime = header.timestampType === 'log-append' ? header.maxTimestamp : null;
  return readRecord(cursor, { baseOffset: header.baseOffset, baseTimestamp: header.baseTimestamp, logAppendTime });
}
