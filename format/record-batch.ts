// Reading, checking and patching RecordBatch v2 headers in place. Nothing
// here decompresses: the gateway validates every produced batch on the hot
// path, so the check is one CRC over a view plus, for uncompressed batches,
// one allocation-free walk over the records.
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_BYTES_MAX_DEFAULT,
  BATCH_LENGTH_MIN,
  BATCH_LENGTH_OFFSET,
  CONTROL_ATTRIBUTE,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  MAX_TIMESTAMP_OFFSET,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RECORD_COUNT_OFFSET,
  RECORDS_OFFSET,
  TIMESTAMP_TYPE_ATTRIBUTE,
  TRANSACTIONAL_ATTRIBUTE,
} from './batch-layout';
import { computeBatchCrc } from './batch-crc';
import { readInt64BE, writeInt64BE } from './int64';
import { Compression, compressionFromAttributes } from './compression';
import { RecordBatchError } from './record-batch-error';
import { readRecordLayout, RecordLayout } from './records';
import { isSkipMarker } from './skip-marker';
import { ByteCursor } from './varint';

export * from './batch-layout';

export interface RecordBatchHeader {
  baseOffset: bigint;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  compression: Compression;
  timestampType: 'create' | 'log-append';
  isTransactional: boolean;
  isControl: boolean;
  lastOffsetDelta: number;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export interface BatchLimits {
  /** Largest whole batch (LOG_OVERHEAD + BatchLength), like Kafka's max.message.bytes. */
  batchBytesMax: number;
}

export const BATCH_LIMITS_DEFAULT: BatchLimits = { batchBytesMax: BATCH_BYTES_MAX_DEFAULT };

/** Bytes the whole batch at `offset` occupies, from its BatchLength. */
export function batchSizeBytes(header: Pick<RecordBatchHeader, 'batchLength'>): number {
  return LOG_OVERHEAD + header.batchLength;
}

/** Parses the 61 header bytes at `offset`; checks only that they exist and that magic is 2. */
export function readBatchHeader(buf: Buffer, offset = 0): RecordBatchHeader {
  const magic = requireBatchHeader(buf, offset);
  const attributes = buf.readInt16BE(offset + ATTRIBUTES_OFFSET);
  return {
    baseOffset: buf.readBigInt64BE(offset + BASE_OFFSET_OFFSET),
    batchLength: buf.readInt32BE(offset + BATCH_LENGTH_OFFSET),
    partitionLeaderEpoch: buf.readInt32BE(offset + PARTITION_LEADER_EPOCH_OFFSET),
    magic,
    crc: buf.readUInt32BE(offset + CRC_OFFSET),
    attributes,
    compression: compressionFromAttributes(attributes),
    timestampType: attributes & TIMESTAMP_TYPE_ATTRIBUTE ? 'log-append' : 'create',
    isTransactional: (attributes & TRANSACTIONAL_ATTRIBUTE) !== 0,
    isControl: (attributes & CONTROL_ATTRIBUTE) !== 0,
    lastOffsetDelta: buf.readInt32BE(offset + LAST_OFFSET_DELTA_OFFSET),
    baseTimestamp: buf.readBigInt64BE(offset + BASE_TIMESTAMP_OFFSET),
    maxTimestamp: buf.readBigInt64BE(offset + MAX_TIMESTAMP_OFFSET),
    producerId: buf.readBigInt64BE(offset + PRODUCER_ID_OFFSET),
    producerEpoch: buf.readInt16BE(offset + PRODUCER_EPOCH_OFFSET),
    baseSequence: buf.readInt32BE(offset + BASE_SEQUENCE_OFFSET),
    recordCount: buf.readInt32BE(offset + RECORD_COUNT_OFFSET),
  };
}

/** The header's MaxTimestamp alone, checked as readBatchHeader checks it (length, magic), without decoding the rest. */
export function readBatchMaxTimestamp(buf: Buffer, offset = 0): bigint {
  requireBatchHeader(buf, offset);
  return buf.readBigInt64BE(offset + MAX_TIMESTAMP_OFFSET);
}

/**
 * The header's BaseOffset: a number while it is a safe integer (every offset
 * a partition reaches in practice), else a bigint. Unlike readBatchHeader it
 * allocates nothing: the storage node reads it for every batch it commits.
 * Call only where a whole header is known to be (requireBatchHeader).
 */
export function readBaseOffset(buf: Buffer, offset = 0): number | bigint {
  return readInt64BE(buf, offset + BASE_OFFSET_OFFSET);
}

/** Throws unless a whole v2 batch header starts at `offset` (length, magic), as readBatchHeader does; returns its magic. */
export function requireBatchHeader(buf: Buffer, offset = 0): number {
  const available = buf.length - offset;
  if (available < RECORD_BATCH_OVERHEAD) {
    throw new RecordBatchError(
      'TRUNCATED',
      `batch header needs ${RECORD_BATCH_OVERHEAD} bytes but only ${Math.max(available, 0)} are available at byte ${offset}`,
    );
  }
  const magic = buf.readInt8(offset + MAGIC_OFFSET);
  if (magic !== MAGIC_V2) throw unsupportedMagic(magic);
  return magic;
}

function unsupportedMagic(magic: number): RecordBatchError {
  return new RecordBatchError('UNSUPPORTED_MAGIC', `batch magic is ${magic}; only record batch v2 (magic ${MAGIC_V2}) is supported`);
}

/**
 * The BatchLength at `offset`, checked against the header size and the
 * limit. Needs only the first 12 bytes, so an oversized batch is refused
 * before the rest of it is awaited.
 */
export function readBatchLength(buf: Buffer, offset: number, limits: BatchLimits): number {
  const available = buf.length - offset;
  if (available < LOG_OVERHEAD) {
    throw new RecordBatchError(
      'TRUNCATED',
      `batch needs at least ${LOG_OVERHEAD} bytes to read its length but only ${Math.max(available, 0)} are available`,
    );
  }
  const batchLength = buf.readInt32BE(offset + BATCH_LENGTH_OFFSET);
  if (batchLength < BATCH_LENGTH_MIN) {
    throw new RecordBatchError(
      'CORRUPT_MESSAGE',
      `batch length ${batchLength} is below the minimum of ${BATCH_LENGTH_MIN} (a header with no records)`,
    );
  }
  if (LOG_OVERHEAD + batchLength > limits.batchBytesMax) {
    throw new RecordBatchError(
      'MESSAGE_TOO_LARGE',
      `batch of ${LOG_OVERHEAD + batchLength} bytes exceeds the limit of ${limits.batchBytesMax}`,
    );
  }
  return batchLength;
}

/**
 * Checks the batch at `offset` without decompressing it and returns its
 * header. Throws RecordBatchError: TRUNCATED when fewer bytes are present
 * than BatchLength announces, MESSAGE_TOO_LARGE over the limit,
 * UNSUPPORTED_MAGIC for anything but v2, CORRUPT_MESSAGE for a CRC mismatch,
 * INVALID_RECORD when counts, offsets or record structure disagree.
 */
export function validateBatch(buf: Buffer, offset = 0, limits: BatchLimits = BATCH_LIMITS_DEFAULT): RecordBatchHeader {
  const header = validateBatchHeader(buf, offset, limits);
  if (header.compression === 'none' && !isSkipMarker(header)) walkRecords(buf, offset + RECORDS_OFFSET, offset + batchSizeBytes(header), header);
  return header;
}

/** validateBatch up to the records: length, magic, CRC over the whole batch, counts. */
export function validateBatchHeader(buf: Buffer, offset = 0, limits: BatchLimits = BATCH_LIMITS_DEFAULT): RecordBatchHeader {
  const batchLength = readBatchLength(buf, offset, limits);
  const available = buf.length - offset;
  if (available < LOG_OVERHEAD + batchLength) {
    throw new RecordBatchError(
      'TRUNCATED',
      `batch announces ${LOG_OVERHEAD + batchLength} bytes but only ${available} are available`,
    );
  }
  const magic = buf.readInt8(offset + MAGIC_OFFSET);
  if (magic !== MAGIC_V2) throw unsupportedMagic(magic);
  const storedCrc = buf.readUInt32BE(offset + CRC_OFFSET);
  const computedCrc = computeBatchCrc(buf, offset, batchLength);
  if (storedCrc !== computedCrc) {
    throw new RecordBatchError(
      'CORRUPT_MESSAGE',
      `batch CRC32C is 0x${storedCrc.toString(16)} but its bytes compute to 0x${computedCrc.toString(16)}`,
    );
  }
  const header = readBatchHeader(buf, offset);
  checkCounts(header);
  return header;
}

function checkCounts(header: RecordBatchHeader): void {
  if (header.recordCount < 0) {
    throw new RecordBatchError('INVALID_RECORD', `record count ${header.recordCount} is negative`);
  }
  if (header.lastOffsetDelta < 0 && header.recordCount > 0) {
    throw new RecordBatchError('INVALID_RECORD', `last offset delta ${header.lastOffsetDelta} is negative`);
  }
  // Compaction may leave fewer records than offsets, never more.
  if (header.recordCount > header.lastOffsetDelta + 1) {
    throw new RecordBatchError(
      'INVALID_RECORD',
      `record count ${header.recordCount} exceeds the ${header.lastOffsetDelta + 1} offsets the batch spans (last offset delta ${header.lastOffsetDelta})`,
    );
  }
}

/**
 * Walks the (uncompressed) records in `buf` from `start` to `end`: exactly
 * recordCount of them, offsets increasing within the batch, filling the
 * range exactly. With `onRecord`, hands it each record's layout as it goes
 * (one reused object: read what you need before returning), so a reader
 * checks and decodes in a single pass.
 */
export function walkRecords(buf: Buffer, start: number, end: number, header: RecordBatchHeader, onRecord?: (layout: RecordLayout) => void): void {
  const cursor = new ByteCursor(buf, start, end);
  const layout = new RecordLayout();
  let previousOffsetDelta = -1;
  for (let i = 0; i < header.recordCount; i++) {
    if (cursor.remaining() === 0) {
      throw new RecordBatchError(
        'INVALID_RECORD',
        `batch declares ${header.recordCount} records but its bytes hold only ${i}`,
      );
    }
    readRecordLayout(cursor, layout);
    const offsetDelta = layout.offsetDelta;
    if (offsetDelta <= previousOffsetDelta || offsetDelta > header.lastOffsetDelta) {
      throw new RecordBatchError(
        'INVALID_RECORD',
        `record ${i} has offset delta ${offsetDelta}; allowed are ${previousOffsetDelta + 1}..${header.lastOffsetDelta}`,
      );
    }
    previousOffsetDelta = offsetDelta;
    if (onRecord !== undefined) onRecord(layout);
  }
  if (cursor.remaining() !== 0) {
    throw new RecordBatchError(
      'INVALID_RECORD',
      `batch declares ${header.recordCount} records but ${cursor.remaining()} bytes follow the last of them`,
    );
  }
}

/** Rewrites BaseOffset in place. It lies outside the CRC, so the batch stays valid. */
export function setBaseOffset(buf: Buffer, offset: number, baseOffset: bigint): void {
  writeInt64BE(buf, baseOffset, offset + BASE_OFFSET_OFFSET);
}

/** Rewrites PartitionLeaderEpoch in place. It lies outside the CRC, so the batch stays valid. */
export function setPartitionLeaderEpoch(buf: Buffer, offset: number, partitionLeaderEpoch: number): void {
  buf.writeInt32BE(partitionLeaderEpoch, offset + PARTITION_LEADER_EPOCH_OFFSET);
}

export interface BatchSpan {
  /** Where the batch starts in the scanned buffer. */
  offset: number;
  /** Bytes of the whole batch, LOG_OVERHEAD + BatchLength. */
  length: number;
  header: RecordBatchHeader;
}

export interface BatchSplit {
  batches: BatchSpan[];
  /** Bytes covered by complete batches; the rest is a partial batch. */
  bytesConsumed: number;
  /** Bytes of an incomplete trailing batch (0 when the range ends on a boundary). */
  partialTailBytes: number;
}

/**
 * Splits a record set (batches back to back, as in a fetch response or a
 * log segment) into its complete batches. A trailing partial batch is not an
 * error — fetch responses routinely end in one — it is reported instead.
 * Headers are read, not validated: call validateBatch on spans you accept.
 */
export function splitBatches(buf: Buffer, limits: BatchLimits = BATCH_LIMITS_DEFAULT): BatchSplit {
  const batches: BatchSpan[] = [];
  let offset = 0;
  while (buf.length - offset >= LOG_OVERHEAD) {
    const length = LOG_OVERHEAD + readBatchLength(buf, offset, limits);
    if (buf.length - offset < length) break;
    batches.push({ offset, length, header: readBatchHeader(buf, offset) });
    offset += length;
  }
  return { batches, bytesConsumed: offset, partialTailBytes: buf.length - offset };
}
