// Zstandard frames as Kafka writes them. zstd-napi's one-shot decompress
// allocates whatever size the frame header declares, so decoding goes
// through the streaming context instead, one output chunk at a time, and
// stops as soon as the output passes the cap. Window memory is bounded by
// zstd's default windowLogMax (2^27 bytes).
import { compress as compressOneShot } from 'zstd-napi';
import * as binding from 'zstd-napi/binding';
import { corruptCompressed, decompressedTooLarge } from './decompression-limit';

/** Kafka's default zstd level (compression.zstd.level). */
const ZSTD_LEVEL_DEFAULT = 3;
const OUTPUT_CHUNK_BYTES = binding.dStreamOutSize();

export async function compressZstd(data: Buffer): Promise<Buffer> {
  return compressOneShot(data, { compressionLevel: ZSTD_LEVEL_DEFAULT });
}

export async function decompressZstd(data: Buffer, decompressedBytesMax: number): Promise<Buffer> {
  if (data.length === 0) throw corruptCompressed('zstd', 'input is empty');
  const context = new binding.DCtx();
  const chunks: Buffer[] = [];
  let totalBytes = 0;
  let inputPos = 0;
  let frameOpen = false; // true while a frame has started and not yet ended
  for (;;) {
    const chunk = Buffer.allocUnsafe(OUTPUT_CHUNK_BYTES);
    const [remainingHint, producedBytes, consumedBytes] = context.decompressStream(chunk, data.subarray(inputPos));
    inputPos += consumedBytes;
    totalBytes += producedBytes;
    if (totalBytes > decompressedBytesMax) throw decompressedTooLarge('zstd', null, decompressedBytesMax);
    if (producedBytes > 0) chunks.push(chunk.subarray(0, producedBytes));
    // A call with nothing to do reports the header size of a next frame; only
    // calls that moved data say whether the current frame is complete.
    if (consumedBytes > 0 || producedBytes > 0) frameOpen = remainingHint !== 0;
    const outputDrained = producedBytes < chunk.length;
    if (inputPos >= data.length && outputDrained) break;
    if (consumedBytes === 0 && producedBytes === 0) {
      throw corruptCompressed('zstd', `decoder made no progress at byte ${inputPos} of ${data.length}`);
    }
  }
  if (frameOpen) throw corruptCompressed('zstd', 'frame is truncated');
  return Buffer.concat(chunks, totalBytes);
}
