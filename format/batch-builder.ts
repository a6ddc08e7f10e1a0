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
import { writeInt64BE } from './int64';
import { Compression, compress, compressionId, decompress, DECOMPRESSED_BYTES_MAX_DEFAULT } from './compression';
import { BatchLimits, BATCH_LIMITS_DEFAULT, RecordBatchHeader, batchSizeBytes, readBatchHeader, validateBatchHeader, walkRecords } from './record-batch';
import {
  fieldBytes,
  readRecordLayout,
  Record,
  RecordBase,
  recordFromLayout,
  RecordInput,
  RecordLayout,
  sizeOfRecord,
  sizeOfRecordBody,
  TimestampDelta,
  writeRecord,
} from './records';
import { isSkipMarker } from './skip-marker';
import { ByteCursor, VARLONG_NUMBER_MAX } from './varint';

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
  /** Where the batch is written: a Buffer of exactly the size asked (default Buffer.allocUnsafe). */
  allocate?: (bytes: number) => Buffer;
}

/**
 * Sizes of every record, worked out once before anything is written, so the
 * batch is allocated once at its final size and each record is written
 * straight into it (strings encoded in place, no per-record buffers).
 */
interface RecordsPlan {
  timestampDeltas: TimestampDelta[];
  keyBytes: number[];
  valueBytes: number[];
  bodyBytes: number[];
  recordsBytes: number;
  baseTimestamp: number | bigint;
  maxTimestamp: number | bigint;
}

/** A record's create time: a number (ms since the epoch) when it is a safe integer, else a bigint. */
function timestampOf(record: RecordInput, now: number): number | bigint {
  const t = record.timestamp;
  if (t === undefined) return now;
  if (typeof t === 'number') return Number.isSafeInteger(t) ? t : BigInt(t); // BigInt throws RangeError for a fraction
  return t;
}

function timestampDelta(timestamp: number | bigint, base: number | bigint): TimestampDelta {
  if (typeof timestamp === 'number' && typeof base === 'number') {
    const delta = timestamp - base;
    if (Math.abs(delta) <= VARLONG_NUMBER_MAX) return delta;
  }
  return BigInt(timestamp) - BigInt(base);
}

function planRecords(records: RecordInput[]): RecordsPlan {
  const count = records.length;
  if (count === 0 || count > INT32_MAX) {
    throw new RangeError(`a batch holds 1 to ${INT32_MAX} records, not ${count}`);
  }
  const now = Date.now();
  const base = timestampOf(records[0], now);
  let max = base;
  const plan: RecordsPlan = { timestampDeltas: new Array(count), keyBytes: new Array(count), valueBytes: new Array(count), bodyBytes: new Array(count), recordsBytes: 0, baseTimestamp: base, maxTimestamp: base };
  for (let i = 0; i < count; i++) {
    const record = records[i];
    const timestamp = i === 0 ? base : timestampOf(record, now);
    if (timestamp > max) max = timestamp;
    const delta = timestampDelta(timestamp, base);
    const keyBytes = fieldBytes(record.key);
    const valueBytes = fieldBytes(record.value);
    const bodyBytes = sizeOfRecordBody(record, i, delta, keyBytes, valueBytes);
    plan.timestampDeltas[i] = delta;
    plan.keyBytes[i] = keyBytes;
    plan.valueBytes[i] = valueBytes;
    plan.bodyBytes[i] = bodyBytes;
    plan.recordsBytes += sizeOfRecord(bodyBytes);
  }
  plan.maxTimestamp = max;
  return plan;
}

/** Serialises records back to back; `into` must have exactly their size from `start`. */
function writeRecords(into: Buffer, start: number, records: RecordInput[], plan: RecordsPlan): void {
  let pos = start;
  for (let i = 0; i < records.length; i++) {
    pos = writeRecord(into, pos, records[i], i, plan.timestampDeltas[i], plan.bodyBytes[i], plan.keyBytes[i], plan.valueBytes[i]);
  }
  // Unzeroed buffers: a sizing bug must not ship uninitialised memory.
  if (pos - start !== plan.recordsBytes) throw new Error(`record encoder wrote ${pos - start} bytes but sized ${plan.recordsBytes}`);
}

/** The records section, compressed; the caller writes it into the batch. */
async function compressedRecords(records: RecordInput[], plan: RecordsPlan, compression: Compression): Promise<Buffer> {
  const plain = Buffer.allocUnsafe(plan.recordsBytes);
  writeRecords(plain, 0, records, plan);
  return compress(compression, plain);
}

/** A complete, CRC-correct batch. Strings in keys, values and headers are UTF-8. */
export async function buildRecordBatch(options: BuildRecordBatchOptions): Promise<Buffer> {
  const compression = options.compression ?? 'none';
  if (compression === 'none') return buildUncompressedBatch(options);
  const plan = planRecords(options.records);
  const compressed = await compressedRecords(options.records, plan, compression);
  const batch = (options.allocate ?? Buffer.allocUnsafe)(RECORD_BATCH_OVERHEAD + compressed.length);
  compressed.copy(batch, RECORDS_OFFSET);
  return finishBatch(batch, options, plan, compression);
}

/**
 * buildRecordBatch without compression, at once: the records are written
 * straight into the batch's buffer (no intermediate copy), and a caller on
 * a hot path (the SDK's send()) pays no promise for it.
 */
export function buildUncompressedBatch(options: BuildRecordBatchOptions): Buffer {
  if ((options.compression ?? 'none') !== 'none') throw new Error(`buildUncompressedBatch does not compress (asked for ${options.compression})`);
  const plan = planRecords(options.records);
  const batch = (options.allocate ?? Buffer.allocUnsafe)(RECORD_BATCH_OVERHEAD + plan.recordsBytes);
  writeRecords(batch, RECORDS_OFFSET, options.records, plan);
  return finishBatch(batch, options, plan, 'none');
}

/** Writes the header of a batch whose records section is in place, then its CRC. */
function finishBatch(batch: Buffer, options: BuildRecordBatchOptions, plan: RecordsPlan, compression: Compression): Buffer {
  const batchLength = batch.length - LOG_OVERHEAD;
  if (batchLength > INT32_MAX) throw new RangeError(`batch of ${batch.length} bytes does not fit BatchLength (int32)`);
  const attributes = compressionId(compression) | (options.isTransactional ? TRANSACTIONAL_ATTRIBUTE : 0);
  writeInt64BE(batch, options.baseOffset ?? 0, BASE_OFFSET_OFFSET);
  batch.writeInt32BE(batchLength, BATCH_LENGTH_OFFSET);
  batch.writeInt32BE(options.partitionLeaderEpoch ?? NO_PARTITION_LEADER_EPOCH, PARTITION_LEADER_EPOCH_OFFSET);
  batch.writeInt8(MAGIC_V2, MAGIC_OFFSET);
  batch.writeInt16BE(attributes, ATTRIBUTES_OFFSET);
  batch.writeInt32BE(options.records.length - 1, LAST_OFFSET_DELTA_OFFSET);
  writeInt64BE(batch, plan.baseTimestamp, BASE_TIMESTAMP_OFFSET);
  writeInt64BE(batch, plan.maxTimestamp, MAX_TIMESTAMP_OFFSET);
  writeInt64BE(batch, options.producerId ?? NO_PRODUCER_ID, PRODUCER_ID_OFFSET);
  batch.writeInt16BE(options.producerEpoch ?? NO_PRODUCER_EPOCH, PRODUCER_EPOCH_OFFSET);
  batch.writeInt32BE(options.baseSequence ?? NO_SEQUENCE, BASE_SEQUENCE_OFFSET);
  batch.writeInt32BE(options.records.length, RECORD_COUNT_OFFSET);
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
 * Checks the batch at `offset` (as validateBatch does, and for a compressed
 * batch its decompressed records too), then hands `onRecord` each record's
 * layout in one pass: the bytes it lies in (`buf`, or the decompressed
 * records) and where its fields are. The layout is one reused object: read
 * what you need before returning. Skip markers have no records. Throws
 * RecordBatchError before any record of a batch whose CRC, counts or
 * framing are wrong; a record whose structure is wrong throws when reached.
 */
export async function forEachRecord(
  buf: Buffer,
  offset: number,
  options: DecodeOptions,
  onRecord: (bytes: Buffer, layout: RecordLayout, header: RecordBatchHeader) => void,
): Promise<RecordBatchHeader> {
  const header = validateBatchHeader(buf, offset, options.limits ?? BATCH_LIMITS_DEFAULT);
  if (isSkipMarker(header)) return header;
  const end = offset + batchSizeBytes(header);
  if (header.compression === 'none') {
    walkRecords(buf, offset + RECORDS_OFFSET, end, header, (layout) => onRecord(buf, layout, header));
    return header;
  }
  const plain = await decompress(header.compression, buf.subarray(offset + RECORDS_OFFSET, end), options.decompressedBytesMax ?? DECOMPRESSED_BYTES_MAX_DEFAULT);
  walkRecords(plain, 0, plain.length, header, (layout) => onRecord(plain, layout, header));
  return header;
}

/** What a record's offset and timestamp are counted from in a batch with this header. */
export function recordBase(header: RecordBatchHeader): RecordBase {
  return {
    baseOffset: header.baseOffset,
    baseTimestamp: header.baseTimestamp,
    logAppendTime: header.timestampType === 'log-append' ? header.maxTimestamp : null,
  };
}

/**
 * Validates the batch at `offset`, decompresses its records if needed and
 * returns them with absolute offsets and timestamps. Skip markers decode to
 * no records. Uncompressed record bytes are views into `buf`.
 */
export async function decodeRecordBatch(buf: Buffer, offset = 0, options: DecodeOptions = {}): Promise<DecodedRecordBatch> {
  const records: Record[] = [];
  let base: RecordBase | undefined;
  const header = await forEachRecord(buf, offset, options, (bytes, layout, batchHeader) => {
    base ??= recordBase(batchHeader);
    records.push(recordFromLayout(bytes, layout, base));
  });
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
  const layout = new RecordLayout();
  readRecordLayout(new ByteCursor(buf, offset + RECORDS_OFFSET, end), layout);
  return recordFromLayout(buf, layout, recordBase(header));
}
