// What the storage node checks of a producer's bytes before the broker commits them: the
// bytes between two positions must be whole Kafka v2 batches with the base
// offsets the broker assigned, the staged record count, and a good CRC32C.
// Records are not parsed: that is the consumer's business, and the CRC covers
// them. A failure is an INVALID_BATCH error (Kafka CORRUPT_MESSAGE) naming
// what was wrong.
import { computeBatchCrc, LOG_OVERHEAD, readBatchHeader, RECORD_BATCH_OVERHEAD } from '../format';
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
  let nextOffset = expected.baseOffset;
  let records = 0;
  while (at < bytes.length) {
    if (bytes.length - at < RECORD_BATCH_OVERHEAD) {
      throw new StorageError('INVALID_BATCH', `${where}: ${bytes.length - at} trailing bytes are too short for a record batch (${RECORD_BATCH_OVERHEAD})`);
    }
    let header;
    try {
      header = readBatchHeader(bytes, at);
    } catch (err) {
      throw new StorageError('INVALID_BATCH', `${where}: ${(err as Error).message}`);
    }
    const size = LOG_OVERHEAD + header.batchLength;
    if (header.batchLength < RECORD_BATCH_OVERHEAD - LOG_OVERHEAD || at + size > bytes.length) {
      throw new StorageError('INVALID_BATCH', `${where}: batch at byte ${at} claims ${size} bytes but ${bytes.length - at} were written`);
    }
    if (expected.batchBytesMax !== undefined && size > expected.batchBytesMax) {
      throw new StorageError('INVALID_BATCH', `${where}: batch at offset ${header.baseOffset} is ${size} bytes, over the topic's max.message.bytes ${expected.batchBytesMax}`);
    }
    if (header.baseOffset !== nextOffset) {
      throw new StorageError('INVALID_BATCH', `${where}: batch at byte ${at} has base offset ${header.baseOffset}, the broker assigned ${nextOffset}`);
    }
    if (expected.verifyCrc !== false) {
      const actual = crcOf(bytes, at, header.batchLength);
      if (actual !== header.crc) {
        throw new StorageError('INVALID_BATCH', `${where}: batch at offset ${header.baseOffset} has CRC32C 0x${header.crc.toString(16)} but its bytes give 0x${actual.toString(16)}`);
      }
    }
    nextOffset += BigInt(header.recordCount);
    records += header.recordCount;
    at += size;
  }
  if (records !== expected.recordCount) {
    throw new StorageError('INVALID_BATCH', `${where}: ${records} records were written, ${expected.recordCount} were staged`);
  }
}
