// The recovery scan's view of Kafka RecordBatch v2: each batch's framing,
// magic and CRC32C, with a reason (not an exception) when one is invalid, so
// recovery can fence a damaged committed range (never cut it). The layout and
// the CRC come from format/, which every role shares.
import {
  BASE_OFFSET_OFFSET,
  BATCH_LENGTH_MIN,
  BATCH_LENGTH_OFFSET,
  computeBatchCrc,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  MAX_TIMESTAMP_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RECORD_COUNT_OFFSET,
} from '../format';

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
  const batchLength = bytes.readInt32BE(BATCH_LENGTH_OFFSET);
  if (batchLength < BATCH_LENGTH_MIN || batchLength > bytes.length - LOG_OVERHEAD) {
    return {
      ok: false,
      reason: `batchLength ${batchLength} is outside ${BATCH_LENGTH_MIN}..${bytes.length - LOG_OVERHEAD} (the bytes left)`,
    };
  }
  const magic = bytes.readInt8(MAGIC_OFFSET);
  if (magic !== MAGIC_V2) return { ok: false, reason: `magic ${magic}, expected ${MAGIC_V2}` };
  const sizeBytes = LOG_OVERHEAD + batchLength;
  const stored = bytes.readUInt32BE(CRC_OFFSET);
  const computed = computeBatchCrc(bytes, 0, batchLength);
  if (stored !== computed) {
    return { ok: false, reason: `CRC32C ${hex(computed)} does not match the stored ${hex(stored)}` };
  }
  const lastOffsetDelta = bytes.readInt32BE(LAST_OFFSET_DELTA_OFFSET);
  const recordCount = bytes.readInt32BE(RECORD_COUNT_OFFSET);
  if (lastOffsetDelta < 0 || recordCount < 0) {
    return { ok: false, reason: `lastOffsetDelta ${lastOffsetDelta} and recordCount ${recordCount} must not be negative` };
  }
  return {
    ok: true,
    batch: { baseOffset: bytes.readBigInt64BE(BASE_OFFSET_OFFSET), sizeBytes, lastOffsetDelta, maxTimestamp: bytes.readBigInt64BE(MAX_TIMESTAMP_OFFSET), recordCount },
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

/** Committed bytes that failed their check: fenced, never cut. Positions and offsets are [start, end). */
export interface DamagedRange {
  startPosition: number;
  endPosition: number;
  baseOffset: bigint;
  endOffset: bigint;
  reason: string;
}

export interface CommittedScan {
  damaged: DamagedRange[];
  /** Largest maxTimestamp over the valid batches, or undefined if none. */
  maxTimestamp?: bigint;
}

/**
 * Walks a segment's committed range [start, end), whose offsets are
 * [baseOffset, endOffset) as its header says. A batch that fails its check
 * starts a damaged range that runs to the next batch that can be found (its
 * own framing first, then a byte-by-byte search for a valid batch with a
 * plausible offset) or, failing that, to the end: fencing too much is
 * recoverable, losing track of records is not. Offsets of a damaged range run
 * from the end of the last good batch to the base offset of the next one.
 */
export function scanCommitted(data: Buffer, start: number, end: number, baseOffset: bigint, endOffset: bigint): CommittedScan {
  const result: CommittedScan = { damaged: [] };
  let position = start;
  let nextOffset = baseOffset;
  while (position < end) {
    const check = checkBatch(data.subarray(position, end));
    if (check.ok) {
      const { batch } = check;
      position += batch.sizeBytes;
      nextOffset = batch.baseOffset + BigInt(batch.lastOffsetDelta) + 1n;
      if (result.maxTimestamp === undefined || batch.maxTimestamp > result.maxTimestamp) result.maxTimestamp = batch.maxTimestamp;
      continue;
    }
    const resume = findNextBatch(data, position, end, nextOffset, endOffset);
    const damaged: DamagedRange = {
      startPosition: position,
      endPosition: resume?.position ?? end,
      baseOffset: nextOffset,
      endOffset: resume?.baseOffset ?? (endOffset > nextOffset ? endOffset : nextOffset),
      reason: `batch at position ${position}: ${check.reason}`,
    };
    result.damaged.push(damaged);
    position = damaged.endPosition;
    nextOffset = damaged.endOffset;
  }
  return result;
}

/** The first valid batch after the bad one at `bad` whose base offset lies in [minOffset, maxOffset). */
function findNextBatch(data: Buffer, bad: number, end: number, minOffset: bigint, maxOffset: bigint): { position: number; baseOffset: bigint } | undefined {
  const plausibleAt = (p: number): bigint | undefined => {
    if (end - p < RECORD_BATCH_OVERHEAD || data.readInt8(p + MAGIC_OFFSET) !== MAGIC_V2) return undefined;
    const base = data.readBigInt64BE(p + BASE_OFFSET_OFFSET);
    if (base < minOffset || base >= maxOffset) return undefined;
    const check = checkBatch(data.subarray(p, end));
    return check.ok ? base : undefined;
  };
  // Its own framing first: a flip inside the records leaves the length intact.
  const framedLength = end - bad >= LOG_OVERHEAD ? data.readInt32BE(bad + BATCH_LENGTH_OFFSET) : -1;
  const framed = bad + LOG_OVERHEAD + framedLength;
  if (framedLength >= BATCH_LENGTH_MIN && framed < end) {
    const base = plausibleAt(framed);
    if (base !== undefined) return { position: framed, baseOffset: base };
  }
  for (let p = bad + 1; p + RECORD_BATCH_OVERHEAD <= end; p++) {
    const base = plausibleAt(p);
    if (base !== undefined) return { position: p, baseOffset: base };
  }
  return undefined;
}
