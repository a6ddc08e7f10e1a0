// The few Kafka RecordBatch v2 header reads the recovery scan needs.
// TODO: switch to format/ (readBatchHeader, validateBatch) once it exports
// them through format/index.ts; this file then goes away.
//
//   BaseOffset int64 @0 | BatchLength int32 @8 (bytes after offset 12) |
//   PartitionLeaderEpoch int32 @12 | Magic int8 @16 (= 2) |
//   CRC uint32 @17 = CRC32C of [21, 12 + BatchLength) | Attributes int16 @21 |
//   LastOffsetDelta int32 @23 | BaseTimestamp int64 @27 | MaxTimestamp int64 @35 |
//   ProducerId int64 @43 | ProducerEpoch int16 @51 | BaseSequence int32 @53 |
//   RecordCount int32 @57 | Records @61         — all big-endian
import { crc32c } from '../addon';

export const LOG_OVERHEAD = 12;
export const RECORD_BATCH_OVERHEAD = 61;
const BATCH_LENGTH_MIN = RECORD_BATCH_OVERHEAD - LOG_OVERHEAD;
const MAGIC_V2 = 2;
const CRC_COVERED_FROM = 21;

export interface BatchSummary {
  baseOffset: bigint;
  /** Whole batch, LOG_OVERHEAD included. */
  sizeBytes: number;
  lastOffsetDelta: number;
  maxTimestamp: bigint;
  recordCount: number;
}

export type BatchCheck = { ok: true; batch: BatchSummary } | { ok: false; reason: string };

/** Checks the batch starting at `bytes[0]`, which must lie wholly inside `bytes`. */
export function checkBatch(bytes: Buffer): BatchCheck {
  if (bytes.length < RECORD_BATCH_OVERHEAD) {
    return { ok: false, reason: `${bytes.length} bytes left, a batch header needs ${RECORD_BATCH_OVERHEAD}` };
  }
  const batchLength = bytes.readInt32BE(8);
  if (batchLength < BATCH_LENGTH_MIN || batchLength > bytes.length - LOG_OVERHEAD) {
    return {
      ok: false,
      reason: `batchLength ${batchLength} is outside ${BATCH_LENGTH_MIN}..${bytes.length - LOG_OVERHEAD} (the bytes left)`,
    };
  }
  const magic = bytes.readInt8(16);
  if (magic !== MAGIC_V2) return { ok: false, reason: `magic ${magic}, expected ${MAGIC_V2}` };
  const sizeBytes = LOG_OVERHEAD + batchLength;
  const stored = bytes.readUInt32BE(17);
  const computed = crc32c(bytes.subarray(CRC_COVERED_FROM, sizeBytes));
  if (stored !== computed) {
    return { ok: false, reason: `CRC32C ${hex(computed)} does not match the stored ${hex(stored)}` };
  }
  const lastOffsetDelta = bytes.readInt32BE(23);
  const recordCount = bytes.readInt32BE(57);
  if (lastOffsetDelta < 0 || recordCount < 0) {
    return { ok: false, reason: `lastOffsetDelta ${lastOffsetDelta} and recordCount ${recordCount} must not be negative` };
  }
  return {
    ok: true,
    batch: { baseOffset: bytes.readBigInt64BE(0), sizeBytes, lastOffsetDelta, maxTimestamp: bytes.readBigInt64BE(35), recordCount },
  };
}

export interface ScanResult {
  /** End of the last valid batch (the scan's start if none). */
  validEndPosition: number;
  batchCount: number;
  /** Last valid batch's baseOffset + lastOffsetDelta + 1, or undefined if none was valid. */
  endOffset?: bigint;
  /** Largest maxTimestamp over the valid batches, or undefined if none. */
  maxTimestamp?: bigint;
  /** Why the scan stopped before `end`, if it did. */
  stopReason?: string;
}

/** Walks batches of `data` from `start` to `end` and stops at the first invalid one. */
export function scanBatches(data: Buffer, start: number, end: number): ScanResult {
  const result: ScanResult = { validEndPosition: start, batchCount: 0 };
  let position = start;
  while (position < end) {
    const check = checkBatch(data.subarray(position, end));
    if (!check.ok) {
      result.stopReason = `batch at position ${position}: ${check.reason}`;
      break;
    }
    const { batch } = check;
    position += batch.sizeBytes;
    result.validEndPosition = position;
    result.batchCount++;
    result.endOffset = batch.baseOffset + BigInt(batch.lastOffsetDelta) + 1n;
    if (result.maxTimestamp === undefined || batch.maxTimestamp > result.maxTimestamp) result.maxTimestamp = batch.maxTimestamp;
  }
  return result;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
