// Snappy as Kafka clients write it. The Java client wraps raw snappy blocks
// in xerial's SnappyOutputStream framing:
//
//   header: 0x82 "SNAPPY" 0x00, int32 version (1), int32 min compatible version (1)
//   then repeated: int32 big-endian compressed length, raw snappy block
//
// librdkafka and others may write one raw snappy block with no framing. Like
// Java's SnappyInputStream, the reader takes either: framed if the magic is
// there, raw otherwise. The writer uses the xerial framing, which every
// client reads.
import { compress as compressRaw, uncompress as uncompressRaw } from 'snappy';
import { corruptCompressed, decompressedTooLarge } from './decompression-limit';

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;
const XERIAL_VERSION = 1;
const XERIAL_MIN_COMPATIBLE_VERSION = 1;
/** SnappyOutputStream's default block size, which Kafka's Java client uses. */
const XERIAL_BLOCK_BYTES = 32 * 1024;
const BLOCK_LENGTH_BYTES = 4;

export function isXerialFramed(data: Buffer): boolean {
  return data.length >= XERIAL_HEADER_BYTES && data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC);
}

export async function compressSnappyXerial(data: Buffer): Promise<Buffer> {
  const blocks: Promise<Buffer>[] = [];
  for (let start = 0; start < data.length; start += XERIAL_BLOCK_BYTES) {
    blocks.push(compressRaw(data.subarray(start, start + XERIAL_BLOCK_BYTES)));
  }
  const compressed = await Promise.all(blocks);
  const header = Buffer.alloc(XERIAL_HEADER_BYTES);
  XERIAL_MAGIC.copy(header, 0);
  header.writeInt32BE(XERIAL_VERSION, 8);
  header.writeInt32BE(XERIAL_MIN_COMPATIBLE_VERSION, 12);
  const parts: Buffer[] = [header];
  for (const block of compressed) {
    const length = Buffer.alloc(BLOCK_LENGTH_BYTES);
    length.writeInt32BE(block.length, 0);
    parts.push(length, block);
  }
  return Buffer.concat(parts);
}

/**
 * The uncompressed length a raw snappy block declares in its preamble (a
 * little-endian base-128 uint32), read before decompressing so the cap is
 * enforced without allocating the output.
 */
export function rawSnappyLength(block: Buffer): number {
  let length = 0;
  for (let i = 0; i < 5 && i < block.length; i++) {
    length += (block[i] & 0x7f) * 2 ** (7 * i);
    if ((block[i] & 0x80) === 0) return length;
  }
  throw corruptCompressed('snappy', 'block preamble (uncompressed length) is malformed');
}

/** Splits the xerial stream into its raw blocks; concatenated streams repeat the header. */
function xerialBlocks(data: Buffer): Buffer[] {
  const blocks: Buffer[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (data.length - pos >= XERIAL_HEADER_BYTES && data.subarray(pos, pos + XERIAL_MAGIC.length).equals(XERIAL_MAGIC)) {
      pos += XERIAL_HEADER_BYTES;
      continue;
    }
    if (data.length - pos < BLOCK_LENGTH_BYTES) throw corruptCompressed('snappy', `truncated block length at byte ${pos}`);
    const length = data.readInt32BE(pos);
    pos += BLOCK_LENGTH_BYTES;
    if (length < 0 || length > data.length - pos) {
      throw corruptCompressed('snappy', `block of ${length} bytes at byte ${pos} exceeds the ${data.length - pos} bytes left`);
    }
    blocks.push(data.subarray(pos, pos + length));
    pos += length;
  }
  return blocks;
}

export async function decompressSnappy(data: Buffer, decompressedBytesMax: number): Promise<Buffer> {
  const blocks = isXerialFramed(data) ? xerialBlocks(data) : [data];
  let totalBytes = 0;
  for (const block of blocks) totalBytes += rawSnappyLength(block);
  if (totalBytes > decompressedBytesMax) throw decompressedTooLarge('snappy', totalBytes, decompressedBytesMax);
  const decoded = await Promise.all(blocks.map((block) => uncompressRaw(block, { asBuffer: true }) as Promise<Buffer>));
  return decoded.length === 1 ? decoded[0] : Buffer.concat(decoded, totalBytes);
}
