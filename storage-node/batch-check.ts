// What the storage node checks of a producer's bytes before the broker commits them: the
// bytes between two positions must be whole Kafka v2 batches with the base
// offsets the broker assigned, the staged record count, and a good CRC32C.
// Records are not parsed: that is the consumer's business, and the CRC covers
// them. A failure is an INVALID_BATCH error (Kafka CORRUPT_MESSAGE) naming
// what was wrong.
import { BATCH_LENGTH_OFFSET, computeBatchCrc, CRC_OFFSET, LOG_OVERHEAD, readBaseOffset, RECORD_BATCH_OVERHEAD, RECORD_COUNT_OFFSET, requireBatchHeader, toSafeNumber } from '../format';
import { StorageError } from './storage-error';

export interface ExpectedBatches {
  baseOffset: bigint;
  recordCount: number;
  /** Check each batch's CRC32C (default true). */
  verifyCrc?: boolean;
  /** Largest batch allowed (the topic's max.message.bytes); unchecked when absent. */
  batchBytesMax?: number;
}

/**
 * `crcOf(bytes, at, batchLength)`: the CRC of the batch at byte `at`, where
 * the caller knows a cheaper way than reading it (CopyCrcs); default read.
 */
export function checkStoredBatches(bytes: Buffer, expected: ExpectedBatches, where: string, crcOf = computeBatchCrc): void {
  let at = 0;
  // Offsets compared as numbers while they are safe integers: no BigInt per batch on the commit path.
  let nextOffset: number | bigint = toSafeNumber(expected.baseOffset);
  let records = 0;
  while (at < bytes.length) {
    if (bytes.length - at < RECORD_BATCH_OVERHEAD) {
      throw new StorageError('INVALID_BATCH', `${where}: ${bytes.length - at} trailing bytes are too short for a record batch (${RECORD_BATCH_OVERHEAD})`);
    }
    try {
      requireBatchHeader(bytes, at);
    } catch (err) {
      throw new StorageError('INVALID_BATCH', `${where}: ${(err as Error).message}`);
    }
    const batchLength = bytes.readInt32BE(at + BATCH_LENGTH_OFFSET);
    const baseOffset = readBaseOffset(bytes, at);
    const size = LOG_OVERHEAD + batchLength;
    if (batchLength < RECORD_BATCH_OVERHEAD - LOG_OVERHEAD || at + size > bytes.length) {
      throw new StorageError('INVALID_BATCH', `${where}: batch at byte ${at} claims ${size} bytes but ${bytes.length - at} were written`);
    }
    if (expected.batchBytesMax !== undefined && size > expected.batchBytesMax) {
      throw new StorageError('INVALID_BATCH', `${where}: batch at offset ${baseOffset} is ${size} bytes, over the topic's max.message.bytes ${expected.batchBytesMax}`);
    }
    // A number and a bigint of the same value are == (not ===): either may be a bigint past the safe integers.
    if (baseOffset != nextOffset) {
      throw new StorageError('INVALID_BATCH', `${where}: batch at byte ${at} has base offset ${baseOffset}, the broker assigned ${nextOffset}`);
    }
    if (expected.verifyCrc !== false) {
      const stored = bytes.readUInt32BE(at + CRC_OFFSET);
      const actual = crcOf(bytes, at, batchLength);
      if (actual !== stored) {
        throw new StorageError('INVALID_BATCH', `${where}: batch at offset ${baseOffset} has CRC32C 0x${stored.toString(16)} but its bytes give 0x${actual.toString(16)}`);
      }
    }
    const recordCount = bytes.readInt32BE(at + RECORD_COUNT_OFFSET);
    nextOffset = typeof nextOffset === 'number' && Number.isSafeInteger(nextOffset + recordCount) ? nextOffset + recordCount : BigInt(nextOffset) + BigInt(recordCount);
    records += recordCount;
    at += size;
  }
  if (records !== expected.recordCount) {
    throw new StorageError('INVALID_BATCH', `${where}: ${records} records were written, ${expected.recordCount} were staged`);
  }
}
