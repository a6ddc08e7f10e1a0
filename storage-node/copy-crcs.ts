// CRCs taken where a put's bytes arrive, so the check before a commit need
// not read them again.
//
// A large put is copied into the region on a pool thread, which also takes
// the CRC32C of each whole 4 KiB block it copied while the bytes are in its
// cache (PeerProcess.readIntoAsync). Read again on the JS thread when the
// commit is checked, the same bytes come back at a third of the speed or less
// (another core's cache, and on a shadow-paging VM a trap per page) and hold
// up every other request meanwhile. A put by a direct call (a client in the
// node's own process) is hashed the same way, right after its copy.
//
// A block's CRC counts only while it still describes the block's bytes. Every
// write into a segment's data area is numbered when it is admitted
// (`touched`: the data service's puts of every kind, skip markers, copies
// from another replica, fenced ranges overwritten), and each block remembers
// the last write that touched it. A put's CRCs are kept (`landed`) only for
// blocks no write touched after it; any later write clears them. So a block
// keeps a CRC only if the put that took it was the last write into it, and
// nothing can change the block afterwards without clearing it. Blocks without
// one are read, as before. A verbs node, where clients write with one-sided
// puts the node never sees, keeps none (StorageNode does not make one).
import { crc32cWithBlocks, CRC_BLOCK_BYTES } from '../addon';
import { ATTRIBUTES_OFFSET, computeBatchCrc, LOG_OVERHEAD } from '../format';

interface SegmentBlocks {
  crcs: Uint32Array;
  valid: Uint8Array;
  /** The number of the last write admitted into each block (numbers wrap at 2^32, skipping 0). */
  lastWrite: Uint32Array;
}

export class CopyCrcs {
  private readonly segments = new Map<number, SegmentBlocks>();
  private writes = 0;
  /** Bytes whose CRC a check took from blocks rather than by reading them (tests, metrics). */
  bytesFromBlocks = 0;

  /** `capacityOf(segmentId)`: the size of the segment's data area. */
  constructor(private readonly capacityOf: (segmentId: number) => number) {}

  /**
   * A write into [position, +lengthBytes) of the segment was admitted: the
   * blocks it touches lose their CRCs. Its number. `hashing`: a put whose
   * copy takes block CRCs; the segment's blocks are tracked from its first
   * such put on (before it, no CRC can be kept, so no write need be known).
   */
  touched(segmentId: number, position: number, lengthBytes: number, hashing = false): number {
    const write = (this.writes = (this.writes + 1) >>> 0 || 1);
    if (lengthBytes <= 0) return write;
    const blocks = hashing ? this.blocksOf(segmentId) : this.segments.get(segmentId);
    if (!blocks) return write;
    const from = Math.floor(position / CRC_BLOCK_BYTES);
    const to = Math.min(blocks.valid.length, Math.ceil((position + lengthBytes) / CRC_BLOCK_BYTES));
    blocks.valid.fill(0, from, to);
    blocks.lastWrite.fill(write, from, to);
    return write;
  }

  /** Where a put at `position` has its first whole block, and how many it has: what to ask the copy for. */
  static blocksOfPut(position: number, lengthBytes: number): { firstBlockOffset: number; count: number } {
    const firstBlockOffset = (CRC_BLOCK_BYTES - (position % CRC_BLOCK_BYTES)) % CRC_BLOCK_BYTES;
    return { firstBlockOffset, count: Math.max(0, Math.floor((lengthBytes - firstBlockOffset) / CRC_BLOCK_BYTES)) };
  }

  /** Write `write` (a put at `position`) landed with these block CRCs: kept for the blocks no later write touched. */
  landed(segmentId: number, write: number, position: number, crcs: Uint32Array): void {
    const blocks = this.segments.get(segmentId);
    if (!blocks) return; // freed meanwhile
    const first = Math.ceil(position / CRC_BLOCK_BYTES);
    for (let k = 0; k < crcs.length; k++) {
      const block = first + k;
      if (blocks.lastWrite[block] !== write) continue;
      blocks.crcs[block] = crcs[k];
      blocks.valid[block] = 1;
    }
  }

  /**
   * A `crcOf` for checkStoredBatches over `bytes`, the segment's data from
   * `position`: each batch's CRC from the blocks that still have one, the
   * rest read. Undefined when the segment has none.
   */
  batchCrcs(segmentId: number, position: number): ((bytes: Buffer, at: number, batchLength: number) => number) | undefined {
    const blocks = this.segments.get(segmentId);
    if (!blocks) return undefined;
    return (bytes, at, batchLength) => {
      // Kafka's batch CRC covers Attributes to the batch's end.
      const start = position + at + ATTRIBUTES_OFFSET;
      const end = position + at + LOG_OVERHEAD + batchLength;
      const first = Math.ceil(start / CRC_BLOCK_BYTES);
      const last = Math.floor(end / CRC_BLOCK_BYTES);
      if (last <= first) return computeBatchCrc(bytes, at, batchLength);
      const valid = blocks.valid.subarray(first, last);
      for (let k = 0; k < valid.length; k++) this.bytesFromBlocks += valid[k] * CRC_BLOCK_BYTES;
      return crc32cWithBlocks(bytes.subarray(at + ATTRIBUTES_OFFSET, at + LOG_OVERHEAD + batchLength), first * CRC_BLOCK_BYTES - start, blocks.crcs.subarray(first, last), valid);
    };
  }

  /** The segment is sealed (its last checks read) or gone: its blocks with it. */
  drop(segmentId: number): void {
    this.segments.delete(segmentId);
  }

  private blocksOf(segmentId: number): SegmentBlocks {
    let blocks = this.segments.get(segmentId);
    if (!blocks) {
      const count = Math.ceil(this.capacityOf(segmentId) / CRC_BLOCK_BYTES);
      blocks = { crcs: new Uint32Array(count), valid: new Uint8Array(count), lastWrite: new Uint32Array(count) };
      this.segments.set(segmentId, blocks);
    }
    return blocks;
  }
}
