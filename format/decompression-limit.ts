// Shared by the codec framings: the error for output beyond the cap. Lives
// apart from compression.ts so the framings do not import their own caller.
import { RecordBatchError } from './record-batch-error';

/** `bytes` is null when decoding stopped at the limit without learning the full size. */
export function decompressedTooLarge(codec: string, bytes: number | null, decompressedBytesMax: number): RecordBatchError {
  const size = bytes === null ? 'more than the limit' : `${bytes} bytes`;
  return new RecordBatchError(
    'MESSAGE_TOO_LARGE',
    `${codec} records decompress to ${size}, exceeding the limit of ${decompressedBytesMax} decompressed bytes per batch`,
  );
}

export function corruptCompressed(codec: string, reason: string): RecordBatchError {
  return new RecordBatchError('CORRUPT_MESSAGE', `${codec} records could not be decompressed: ${reason}`);
}
