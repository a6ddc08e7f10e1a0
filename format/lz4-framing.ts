// LZ4 as Kafka stores it: the standard LZ4 frame format (Kafka's
// Lz4BlockOutputStream), which Java readers accept only with independent
// blocks and version 01 — what lz4-napi writes by default.
//
// lz4-napi decompresses a whole frame at once with no output limit, so the
// frame's block table is walked first: each compressed block expands to at
// most the frame's block maximum (64 KiB..4 MiB) and each stored block to its
// own size. A frame whose worst case exceeds the cap by more than one block
// is refused before any output is allocated; encoders fill every block but
// the last, so such a frame really is over the cap. After decompression the
// exact size is checked, so memory stays within cap + one block.
import { compressFrame, decompressFrame } from 'lz4-napi';
import { corruptCompressed, decompressedTooLarge } from './decompression-limit';

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const FLG_VERSION_MASK = 0xc0;
const FLG_VERSION_01 = 0x40;
const FLG_BLOCK_CHECKSUM = 0x10;
const FLG_CONTENT_SIZE = 0x08;
const FLG_CONTENT_CHECKSUM = 0x04;
const FLG_DICT_ID = 0x01;
const BLOCK_UNCOMPRESSED_BIT = 0x80000000;
const BLOCK_MAX_BYTES_BY_ID: { readonly [id: number]: number } = {
  4: 64 * 1024,
  5: 256 * 1024,
  6: 1024 * 1024,
  7: 4 * 1024 * 1024,
};

export async function compressLz4Frame(data: Buffer): Promise<Buffer> {
  return compressFrame(data);
}

export async function decompressLz4Frame(data: Buffer, decompressedBytesMax: number): Promise<Buffer> {
  const bound = lz4OutputBound(data);
  if (bound.worstCaseBytes - bound.largestBlockBytes > decompressedBytesMax) {
    throw decompressedTooLarge('lz4', bound.contentBytes ?? null, decompressedBytesMax);
  }
  if (bound.contentBytes !== null && bound.contentBytes > decompressedBytesMax) {
    throw decompressedTooLarge('lz4', bound.contentBytes, decompressedBytesMax);
  }
  const output = await decompressFrame(data);
  if (output.length > decompressedBytesMax) throw decompressedTooLarge('lz4', output.length, decompressedBytesMax);
  return output;
}

interface Lz4OutputBound {
  /** Sum over blocks of the most each can expand to. */
  worstCaseBytes: number;
  largestBlockBytes: number;
  /** Declared content size when every frame declares one. */
  contentBytes: number | null;
}

function need(data: Buffer, pos: number, bytes: number, what: string): void {
  if (data.length - pos < bytes) throw corruptCompressed('lz4', `frame is truncated in its ${what} at byte ${pos}`);
}

/** Walks every frame's header and block sizes without decompressing. */
export function lz4OutputBound(data: Buffer): Lz4OutputBound {
  const bound: Lz4OutputBound = { worstCaseBytes: 0, largestBlockBytes: 0, contentBytes: 0 };
  let pos = 0;
  while (pos < data.length) {
    need(data, pos, 4, 'magic number');
    const magic = data.readUInt32LE(pos);
    if (((magic & SKIPPABLE_MAGIC_MASK) >>> 0) === SKIPPABLE_MAGIC) {
      need(data, pos + 4, 4, 'skippable frame size');
      pos += 8 + data.readUInt32LE(pos + 4);
      continue;
    }
    if (magic !== FRAME_MAGIC) throw corruptCompressed('lz4', `bad frame magic 0x${magic.toString(16)} at byte ${pos}`);
    pos = walkFrame(data, pos + 4, bound);
  }
  return bound;
}

function walkFrame(data: Buffer, pos: number, bound: Lz4OutputBound): number {
  need(data, pos, 3, 'frame descriptor');
  const flg = data[pos];
  const blockMaxBytes = BLOCK_MAX_BYTES_BY_ID[(data[pos + 1] >> 4) & 0x07];
  if ((flg & FLG_VERSION_MASK) !== FLG_VERSION_01 || blockMaxBytes === undefined) {
    throw corruptCompressed('lz4', `unsupported frame descriptor FLG 0x${flg.toString(16)} BD 0x${data[pos + 1].toString(16)}`);
  }
  pos += 2;
  if (flg & FLG_CONTENT_SIZE) {
    need(data, pos, 8, 'content size');
    const contentBytes = Number(data.readBigUInt64LE(pos));
    if (bound.contentBytes !== null) bound.contentBytes += contentBytes;
    pos += 8;
  } else {
    bound.contentBytes = null;
  }
  if (flg & FLG_DICT_ID) pos += 4;
  pos += 1; // header checksum, verified by the decoder
  const blockChecksumBytes = flg & FLG_BLOCK_CHECKSUM ? 4 : 0;
  for (;;) {
    need(data, pos, 4, 'block size');
    const word = data.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break; // end mark
    const storedBytes = (word & ~BLOCK_UNCOMPRESSED_BIT) >>> 0;
    const expandsTo = (word & BLOCK_UNCOMPRESSED_BIT) !== 0 ? storedBytes : blockMaxBytes;
    bound.worstCaseBytes += expandsTo;
    bound.largestBlockBytes = Math.max(bound.largestBlockBytes, expandsTo);
    need(data, pos, storedBytes + blockChecksumBytes, 'block data');
    pos += storedBytes + blockChecksumBytes;
  }
  if (flg & FLG_CONTENT_CHECKSUM) pos += 4;
  return pos;
}
