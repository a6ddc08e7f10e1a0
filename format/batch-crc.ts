// The batch CRC covers Attributes through the end of the batch, so the two
// fields the log rewrites (BaseOffset, PartitionLeaderEpoch) can change
// without recomputing it. The range is a view, never a copy.
import { crc32c } from '../addon/crc32c';
import { ATTRIBUTES_OFFSET, BATCH_LENGTH_OFFSET, CRC_OFFSET, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD } from './batch-layout';

/** CRC32C of the batch at `offset` whose BatchLength is `batchLength`. */
export function computeBatchCrc(buf: Buffer, offset: number, batchLength: number): number {
  return crc32c(buf.subarray(offset + ATTRIBUTES_OFFSET, offset + LOG_OVERHEAD + batchLength));
}

/** Computes and stores the CRC of a batch whose other fields are final. */
export function writeBatchCrc(buf: Buffer, offset: number, batchLength: number): void {
  buf.writeUInt32BE(computeBatchCrc(buf, offset, batchLength), offset + CRC_OFFSET);
}

/** Whether `batch` is one whole batch (its BatchLength spans it exactly) whose stored CRC32C matches its bytes. */
export function batchIntact(batch: Buffer): boolean {
  if (batch.length < RECORD_BATCH_OVERHEAD || LOG_OVERHEAD + batch.readInt32BE(BATCH_LENGTH_OFFSET) !== batch.length) return false;
  return computeBatchCrc(batch, 0, batch.length - LOG_OVERHEAD) === batch.readUInt32BE(CRC_OFFSET);
}
