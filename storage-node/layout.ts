// The on-region format of a storage node, version 2. Pure encode/decode over
// Buffers; segment-store.ts does the I/O. All integers little-endian (the
// region is local memory, read by this node and by one-sided gets from hosts
// of the same architecture); record batches inside the data areas keep their
// own big-endian Kafka layout.
//
//   Region  = Superblock (first slot) | Slot 0 | Slot 1 | ... (slotCount slots of slotSizeBytes)
//   Segment = a run of whole slots: Header page (4 KiB) | Data area (slots × slotSizeBytes - 4 KiB)
//
// Segments have variable sizes, so store space follows the data written (a
// partition's first segment is one 64 KiB slot). A segment's header sits at the
// start of its first slot and records how many slots it spans; at recovery the
// store walks the slots: a valid OPEN or SEALED header says how many to skip,
// anything else is a free slot. So the header-sized bytes at every slot
// boundary of free space never hold a valid header (see segment-store.ts).
// Version 1 (fixed-size segments) is refused with a message, not read.
//
// Superblock page (offset 0), written once when the region is initialised:
//   0   magic "RDMQSTOR"      8 bytes, written last: its presence means the rest is complete
//   8   formatVersion         u32   2
//   12  segmentHeaderBytes    u32   4096
//   16  regionSizeBytes       u64
//   24  slotSizeBytes         u64   65536
//   32  slotCount             u32
//   36  reserved              u32
//   40  slotsOffset           u64   where slot 0 starts (one slot in: slots stay slot-aligned)
//   48  nodeUuid              16 bytes
//   64  createdAtMs           i64
//   124 crc32c                u32   over bytes [0, 124)
//   128 id counter copy 0     64 bytes  } the next segment id, double-buffered:
//   192 id counter copy 1     64 bytes  } see "Double buffering" below
//
// Id counter copy (64 bytes): 0 sequence u64, 8 nextSegmentId u64, 60 crc32c over [0, 60).
//
// Segment header copy (128 bytes = two 64-byte cache lines); copy 0 at the
// start of the header page, copy 1 right after it:
//   cache line 0 — identity, written by allocate/seal/free:
//   0   magic "RSEG"          u32
//   4   version               u16   2
//   6   state                 u8    0 FREE, 1 OPEN, 2 SEALED
//   7   reserved              u8
//   8   sequence              u64   bumped by every header write
//   16  segmentId             u64   unique per region, never reused
//   24  topicId               u32
//   28  partition             u32
//   32  baseOffset            i64
//   40  startPosition         u32   byte positions are within the data area
//   44  slotCount             u32   slots the segment spans, header page included
//   48  createdAtMs           i64
//   56  sealedAtMs            i64   0 until sealed
//   cache line 1 — the commit line, rewritten by every commit:
//   64  commitPosition        u32   } one cache line, so the commit position and
//   68  writePosition         u32   } the offset it stands for travel together
//   72  endOffset             i64   next Kafka offset after the last committed batch
//   80  maxTimestamp          i64
//   124 crc32c                u32   over bytes [0, 124) of this copy
//
// Double buffering. A header (or id counter) update writes the copy that does
// not hold the current value, with sequence + 1, and persists it; readers take
// the valid copy (magic, version, CRC) with the highest sequence. A write torn
// by a crash leaves a copy whose CRC fails, and the other copy — the previous
// value — wins: every header update is crash-atomic.
import { crc32c } from '../addon';

export const PAGE_BYTES = 4096;
export const FORMAT_VERSION = 2;

export const SUPERBLOCK_MAGIC = Buffer.from('RDMQSTOR', 'ascii');
export const SUPERBLOCK_BYTES = PAGE_BYTES;
const SUPERBLOCK_CRC_OFFSET = 124;
const COUNTER_COPY_OFFSETS = [128, 192] as const;
const COUNTER_COPY_BYTES = 64;
const COUNTER_CRC_OFFSET = 60;

export const SEGMENT_MAGIC = 0x47455352; // "RSEG" read as a little-endian u32
export const SEGMENT_HEADER_VERSION = 2;
export const SEGMENT_HEADER_PAGE_BYTES = PAGE_BYTES;
export const SEGMENT_HEADER_COPY_BYTES = 128;
export const SEGMENT_HEADER_COPY_OFFSETS = [0, SEGMENT_HEADER_COPY_BYTES] as const;
/** Both header copies: the bytes zeroed at slot boundaries of free space. */
export const SEGMENT_HEADER_BYTES = 2 * SEGMENT_HEADER_COPY_BYTES;
/** Where the commit cache line starts inside a header copy. */
export const SEGMENT_COMMIT_LINE_OFFSET = 64;
const SEGMENT_CRC_OFFSET = 124;

/** The unit of allocation: a segment spans whole slots; the smallest segment is one slot. */
export const SLOT_SIZE_BYTES = 64 * 1024;
/** Size of a segment when an allocation names none. */
export const SEGMENT_SIZE_BYTES_DEFAULT = 64 * 1024 * 1024;
export const SEGMENT_SIZE_BYTES_MIN = SLOT_SIZE_BYTES;
/** Positions are u32 and Kafka's batchLength is int32: keep segments below 2 GiB, in whole slots. */
export const SEGMENT_SIZE_BYTES_MAX = 2 * 1024 * 1024 * 1024 - SLOT_SIZE_BYTES;
export const REGION_SIZE_BYTES_DEFAULT = 4 * 1024 * 1024 * 1024;
/** 256 TiB: far above any device, well inside exact JS integers. */
export const REGION_SIZE_BYTES_MAX = 2 ** 48;
const U32_MAX = 0xffffffff;

export enum SegmentState {
  FREE = 0,
  OPEN = 1,
  SEALED = 2,
}

export interface Superblock {
  formatVersion: number;
  segmentHeaderBytes: number;
  regionSizeBytes: number;
  slotSizeBytes: number;
  slotCount: number;
  slotsOffset: number;
  /** 32 hex digits with dashes, as crypto.randomUUID() prints it. */
  nodeUuid: string;
  createdAtMs: number;
}

export interface SegmentHeader {
  state: SegmentState;
  sequence: number;
  segmentId: number;
  topicId: number;
  partition: number;
  baseOffset: bigint;
  startPosition: number;
  /** Slots the segment spans (header page included); at least 1. */
  slotCount: number;
  createdAtMs: number;
  sealedAtMs: number;
  commitPosition: number;
  writePosition: number;
  endOffset: bigint;
  maxTimestamp: bigint;
}

export interface IdCounter {
  sequence: number;
  nextSegmentId: number;
}

/** Where everything lives in a region of a given size. */
export interface RegionGeometry {
  regionSizeBytes: number;
  slotSizeBytes: number;
  slotCount: number;
  slotsOffset: number;
  /** Size of a segment when an allocation names none. */
  segmentSizeBytes: number;
}

/** Throws a RangeError saying what is allowed; the store wraps it as INVALID_ARGUMENT. */
export function computeGeometry(regionSizeBytes: number, segmentSizeBytes: number): RegionGeometry {
  checkSegmentSize(segmentSizeBytes);
  if (!Number.isInteger(regionSizeBytes) || regionSizeBytes % PAGE_BYTES !== 0 || regionSizeBytes > REGION_SIZE_BYTES_MAX) {
    throw new RangeError(
      `region size ${regionSizeBytes} bytes must be a whole number of ${PAGE_BYTES}-byte pages, at most ${REGION_SIZE_BYTES_MAX}`,
    );
  }
  const slotsOffset = SLOT_SIZE_BYTES;
  const slotCount = Math.max(0, Math.floor((regionSizeBytes - slotsOffset) / SLOT_SIZE_BYTES));
  if (slotCount * SLOT_SIZE_BYTES < segmentSizeBytes) {
    throw new RangeError(
      `region size ${regionSizeBytes} bytes holds no segment of ${segmentSizeBytes} bytes after the ${SLOT_SIZE_BYTES}-byte superblock slot`,
    );
  }
  if (slotCount > U32_MAX) throw new RangeError(`region holds ${slotCount} slots, more than ${U32_MAX}`);
  return { regionSizeBytes, slotSizeBytes: SLOT_SIZE_BYTES, slotCount, slotsOffset, segmentSizeBytes };
}

export function checkSegmentSize(segmentSizeBytes: number): void {
  if (!Number.isInteger(segmentSizeBytes) || segmentSizeBytes % PAGE_BYTES !== 0) {
    throw new RangeError(`segment size ${segmentSizeBytes} bytes must be a whole number of ${PAGE_BYTES}-byte pages`);
  }
  if (segmentSizeBytes < SEGMENT_SIZE_BYTES_MIN || segmentSizeBytes > SEGMENT_SIZE_BYTES_MAX) {
    throw new RangeError(
      `segment size ${segmentSizeBytes} bytes is outside ${SEGMENT_SIZE_BYTES_MIN}..${SEGMENT_SIZE_BYTES_MAX} bytes`,
    );
  }
}

/** Slots a segment needs for a data area of at least `dataCapacityBytes`. */
export function slotsForDataCapacity(geometry: RegionGeometry, dataCapacityBytes: number): number {
  return Math.max(1, Math.ceil((dataCapacityBytes + SEGMENT_HEADER_PAGE_BYTES) / geometry.slotSizeBytes));
}

/** The data area of a segment spanning `slotCount` slots. */
export function dataCapacityOf(geometry: RegionGeometry, slotCount: number): number {
  return slotCount * geometry.slotSizeBytes - SEGMENT_HEADER_PAGE_BYTES;
}

/** The largest data area a segment may have. */
export function maxDataCapacity(geometry: RegionGeometry): number {
  return dataCapacityOf(geometry, Math.floor(SEGMENT_SIZE_BYTES_MAX / geometry.slotSizeBytes));
}

export function slotOffset(geometry: RegionGeometry, slot: number): number {
  return geometry.slotsOffset + slot * geometry.slotSizeBytes;
}

export function segmentDataOffset(geometry: RegionGeometry, firstSlot: number): number {
  return slotOffset(geometry, firstSlot) + SEGMENT_HEADER_PAGE_BYTES;
}

// ---- superblock ----

export function encodeSuperblock(sb: Superblock): Buffer {
  const page = Buffer.alloc(SUPERBLOCK_BYTES);
  SUPERBLOCK_MAGIC.copy(page, 0);
  page.writeUInt32LE(sb.formatVersion, 8);
  page.writeUInt32LE(sb.segmentHeaderBytes, 12);
  page.writeBigUInt64LE(BigInt(sb.regionSizeBytes), 16);
  page.writeBigUInt64LE(BigInt(sb.slotSizeBytes), 24);
  page.writeUInt32LE(sb.slotCount, 32);
  page.writeBigUInt64LE(BigInt(sb.slotsOffset), 40);
  Buffer.from(sb.nodeUuid.replace(/-/g, ''), 'hex').copy(page, 48, 0, 16);
  page.writeBigInt64LE(BigInt(sb.createdAtMs), 64);
  page.writeUInt32LE(crc32c(page.subarray(0, SUPERBLOCK_CRC_OFFSET)), SUPERBLOCK_CRC_OFFSET);
  return page;
}

export type SuperblockRead =
  | { kind: 'empty' }
  | { kind: 'valid'; superblock: Superblock }
  | { kind: 'foreign'; reason: string };

/** `bytes` is at least the first 128 bytes of the superblock page. */
export function decodeSuperblock(bytes: Buffer): SuperblockRead {
  if (!bytes.subarray(0, SUPERBLOCK_MAGIC.length).equals(SUPERBLOCK_MAGIC)) {
    if (isZero(bytes.subarray(0, SUPERBLOCK_BYTES))) return { kind: 'empty' };
    return { kind: 'foreign', reason: 'it does not start with the RDMQSTOR magic' };
  }
  const crc = bytes.readUInt32LE(SUPERBLOCK_CRC_OFFSET);
  if (crc32c(bytes.subarray(0, SUPERBLOCK_CRC_OFFSET)) !== crc) {
    return { kind: 'foreign', reason: 'its superblock CRC32C does not match' };
  }
  const hex = bytes.subarray(48, 64).toString('hex');
  return {
    kind: 'valid',
    superblock: {
      formatVersion: bytes.readUInt32LE(8),
      segmentHeaderBytes: bytes.readUInt32LE(12),
      regionSizeBytes: Number(bytes.readBigUInt64LE(16)),
      slotSizeBytes: Number(bytes.readBigUInt64LE(24)),
      slotCount: bytes.readUInt32LE(32),
      slotsOffset: Number(bytes.readBigUInt64LE(40)),
      nodeUuid: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
      createdAtMs: Number(bytes.readBigInt64LE(64)),
    },
  };
}

// ---- id counter (double-buffered, inside the superblock page) ----

export function idCounterCopyOffset(sequence: number): number {
  return COUNTER_COPY_OFFSETS[sequence % 2];
}

export function encodeIdCounter(counter: IdCounter): Buffer {
  const copy = Buffer.alloc(COUNTER_COPY_BYTES);
  copy.writeBigUInt64LE(BigInt(counter.sequence), 0);
  copy.writeBigUInt64LE(BigInt(counter.nextSegmentId), 8);
  copy.writeUInt32LE(crc32c(copy.subarray(0, COUNTER_CRC_OFFSET)), COUNTER_CRC_OFFSET);
  return copy;
}

/** The newest valid copy in the superblock page, or undefined if neither is valid. */
export function decodeIdCounter(superblockPage: Buffer): IdCounter | undefined {
  let best: IdCounter | undefined;
  for (const offset of COUNTER_COPY_OFFSETS) {
    const copy = superblockPage.subarray(offset, offset + COUNTER_COPY_BYTES);
    if (crc32c(copy.subarray(0, COUNTER_CRC_OFFSET)) !== copy.readUInt32LE(COUNTER_CRC_OFFSET)) continue;
    const sequence = Number(copy.readBigUInt64LE(0));
    if (sequence === 0) continue; // sequences start at 1
    const counter = { sequence, nextSegmentId: Number(copy.readBigUInt64LE(8)) };
    if (!best || counter.sequence > best.sequence) best = counter;
  }
  return best;
}

// ---- segment header (double-buffered, first SEGMENT_HEADER_BYTES of the header page) ----

export function segmentHeaderCopyOffset(sequence: number): number {
  return SEGMENT_HEADER_COPY_OFFSETS[sequence % 2];
}

export function encodeSegmentHeader(header: SegmentHeader): Buffer {
  const copy = Buffer.alloc(SEGMENT_HEADER_COPY_BYTES);
  copy.writeUInt32LE(SEGMENT_MAGIC, 0);
  copy.writeUInt16LE(SEGMENT_HEADER_VERSION, 4);
  copy.writeUInt8(header.state, 6);
  copy.writeBigUInt64LE(BigInt(header.sequence), 8);
  copy.writeBigUInt64LE(BigInt(header.segmentId), 16);
  copy.writeUInt32LE(header.topicId, 24);
  copy.writeUInt32LE(header.partition, 28);
  copy.writeBigInt64LE(header.baseOffset, 32);
  copy.writeUInt32LE(header.startPosition, 40);
  copy.writeUInt32LE(header.slotCount, 44);
  copy.writeBigInt64LE(BigInt(header.createdAtMs), 48);
  copy.writeBigInt64LE(BigInt(header.sealedAtMs), 56);
  copy.writeUInt32LE(header.commitPosition, 64);
  copy.writeUInt32LE(header.writePosition, 68);
  copy.writeBigInt64LE(header.endOffset, 72);
  copy.writeBigInt64LE(header.maxTimestamp, 80);
  copy.writeUInt32LE(crc32c(copy.subarray(0, SEGMENT_CRC_OFFSET)), SEGMENT_CRC_OFFSET);
  return copy;
}

/** One copy, or undefined when its magic, version, CRC or state is not valid. */
export function decodeSegmentHeaderCopy(copy: Buffer): SegmentHeader | undefined {
  if (copy.readUInt32LE(0) !== SEGMENT_MAGIC || copy.readUInt16LE(4) !== SEGMENT_HEADER_VERSION) return undefined;
  if (crc32c(copy.subarray(0, SEGMENT_CRC_OFFSET)) !== copy.readUInt32LE(SEGMENT_CRC_OFFSET)) return undefined;
  const state = copy.readUInt8(6);
  if (state !== SegmentState.FREE && state !== SegmentState.OPEN && state !== SegmentState.SEALED) return undefined;
  return {
    state,
    sequence: Number(copy.readBigUInt64LE(8)),
    segmentId: Number(copy.readBigUInt64LE(16)),
    topicId: copy.readUInt32LE(24),
    partition: copy.readUInt32LE(28),
    baseOffset: copy.readBigInt64LE(32),
    startPosition: copy.readUInt32LE(40),
    slotCount: copy.readUInt32LE(44),
    createdAtMs: Number(copy.readBigInt64LE(48)),
    sealedAtMs: Number(copy.readBigInt64LE(56)),
    commitPosition: copy.readUInt32LE(64),
    writePosition: copy.readUInt32LE(68),
    endOffset: copy.readBigInt64LE(72),
    maxTimestamp: copy.readBigInt64LE(80),
  };
}

export type SegmentHeaderRead =
  /** Both copies zero: never used, or freed. */
  | { kind: 'zeroed' }
  /** The newest valid copy; `invalidCopies` counts non-zero copies that failed to decode. */
  | { kind: 'valid'; header: SegmentHeader; invalidCopies: number }
  /** Non-zero, but neither copy is valid. */
  | { kind: 'corrupt' };

/** `page` holds at least both header copies. */
export function readSegmentHeader(page: Buffer): SegmentHeaderRead {
  let best: SegmentHeader | undefined;
  let invalidCopies = 0;
  let zeroCopies = 0;
  for (const offset of SEGMENT_HEADER_COPY_OFFSETS) {
    const copy = page.subarray(offset, offset + SEGMENT_HEADER_COPY_BYTES);
    const header = decodeSegmentHeaderCopy(copy);
    if (header) {
      if (!best || header.sequence > best.sequence) best = header;
    } else if (isZero(copy)) {
      zeroCopies++;
    } else {
      invalidCopies++;
    }
  }
  if (best) return { kind: 'valid', header: best, invalidCopies };
  return zeroCopies === SEGMENT_HEADER_COPY_OFFSETS.length ? { kind: 'zeroed' } : { kind: 'corrupt' };
}

const ZERO_PAGE = Buffer.alloc(PAGE_BYTES);

/** A native compare, page by page: recovery asks this of every slot of the region. */
export function isZero(bytes: Buffer): boolean {
  for (let at = 0; at < bytes.length; at += PAGE_BYTES) {
    const chunk = bytes.subarray(at, Math.min(at + PAGE_BYTES, bytes.length));
    if (!chunk.equals(ZERO_PAGE.subarray(0, chunk.length))) return false;
  }
  return true;
}
