// SegmentStore: one region file split into 64 KiB slots; a segment is a run of
// slots holding a header page plus a data area that producers fill with
// one-sided puts. Segments have the size their partition asks for, so store
// space follows the data written.
//
// Contract. Every method is synchronous and either completes its change (in
// the region and in the in-memory table) or throws before changing the table;
// a fault hook that throws leaves the region as a crash at that point would.
// Not safe to share across worker threads. Durability: 'none' never persists
// (a SIGKILL loses nothing, since the mapping is shared, but power loss may);
// 'flush' and 'sync' persist the data range and then the header on every
// commit, so a header never claims bytes that are not durable ('sync' adds the
// broker's metadata-log fsync, nothing here).
//
// Space. An ExtentAllocator (in memory, best fit) hands out runs of slots.
// The region is its only record: at open the store walks the slots, and a slot
// with a valid OPEN or SEALED header starts a segment of the slots its header
// names; every other slot is free. So free space must never show a header at
// a slot boundary. Freed segments and bytes producers wrote are the only
// sources of such bytes, and both are cleaned (header-sized bytes zeroed):
//   allocate  take slots → take an id → zero every non-zero slot boundary of
//             the run → persist the OPEN header (the commit point). A crash
//             before the header leaves free slots with zeroed boundaries.
//   free      persist a FREE header that keeps the slot count (the commit
//             point) → zero the boundaries after the first slot → zero the
//             older header copy, then the FREE one. A crash after the FREE
//             header is finished by the next open, which finds that header
//             and does the zeroing again; a crash before it frees nothing.
//
// Recovery (open). Walk the slots as above (headers read with pread, so holes
// of a sparse region stay holes); for each segment take the newest valid
// header copy (see layout.ts); a slot with non-zero bytes but no valid copy
// (or one that makes no sense) is unreadable: reported (one warning per run of
// such slots, which goes on over later slots with a zero boundary but not
// zero throughout: the lost segment's data) and kept out of the free pool, so
// nothing overwrites what may still be recovered from it; the broker fences the offsets of a segment it
// knows but storage lost. Known limit: a segment whose two header copies are
// both destroyed exposes its data area to the walk, where bytes a producer
// forged at a slot boundary could pass for a header.
// Then walk the batches from startPosition to commitPosition. Committed bytes
// were acknowledged, so a batch that fails its check is never cut: its range
// is fenced (reported with its byte and offset range; see batch-scan.ts
// scanCommitted) and the header keeps its commit position and end offset, so
// no offset is handed out twice. Only an explicit `skipFencedRange` (the
// operator's command) changes it. Bytes past the commit position were never
// acknowledged and are never read: a torn put beyond it is simply ignored.
import * as fs from 'fs';
import { z } from 'zod';
import type { Region } from '../addon';
import { openRegion } from './region-file';
import { checkBatch, scanCommitted } from './batch-scan';
import { buildSkipMarker, ProducerScan, RECORD_BATCH_OVERHEAD, scanProducerWindows } from '../format';
import { Extent, ExtentAllocator } from './extent-allocator';
import {
  computeGeometry,
  dataCapacityOf,
  decodeIdCounter,
  encodeIdCounter,
  encodeSegmentHeader,
  IdCounter,
  idCounterCopyOffset,
  isZero,
  maxDataCapacity,
  readSegmentHeader,
  REGION_SIZE_BYTES_DEFAULT,
  RegionGeometry,
  SEGMENT_HEADER_BYTES,
  SEGMENT_HEADER_COPY_BYTES,
  SEGMENT_HEADER_PAGE_BYTES,
  SEGMENT_SIZE_BYTES_DEFAULT,
  SEGMENT_SIZE_BYTES_MAX,
  segmentDataOffset,
  segmentHeaderCopyOffset,
  slotOffset,
  slotsForDataCapacity,
  SegmentHeader,
  SegmentState,
  Superblock,
  SUPERBLOCK_BYTES,
} from './layout';
import { StorageError } from './storage-error';

export type { Durability } from './region-file';
import type { Durability } from './region-file';

export type HeaderWriteReason = 'allocate' | 'commit' | 'seal' | 'free' | 'recovery';

/**
 * Fault-injection probes on the storage path (Redpanda style). A probe that
 * throws aborts the operation at that point; the error reaches the caller.
 * Probes fire whatever the durability, so tests need not depend on it.
 */
export interface StorageFaults {
  /** Before a data range is persisted (commit, skip marker). */
  beforeDataPersist?(event: { segmentId: number; regionOffset: number; lengthBytes: number }): void;
  /** Before a header copy is written and persisted: throwing leaves the previous header in place. */
  beforeHeaderPersist?(event: { segmentId: number; sequence: number; reason: HeaderWriteReason }): void;
  /** Before the header bytes at one slot boundary are zeroed (allocate, free, or finishing a free at recovery). */
  beforeSlotClear?(event: { segmentId: number; slot: number; reason: 'allocate' | 'free' | 'recovery' }): void;
}

export interface StorageLogger {
  warn(message: string): void;
}

export interface SegmentStoreOptions {
  path: string;
  /** Sparse: only touched pages take space. Default 4 GiB. */
  regionSizeBytes?: number;
  /** Size of a segment when `allocate` names no data capacity. Default 64 MiB; a multiple of 4096, at least 64 KiB. */
  segmentSizeBytes?: number;
  durability: Durability;
  faults?: StorageFaults;
  logger?: StorageLogger;
  /**
   * Fault every page of the region in when it opens, before recovery reads it,
   * so no put, get or check later pays a first touch (see Region.prefault).
   * Without it each segment is faulted in, in the background, when allocated.
   */
  prefaultRegion?: boolean;
}

export type SegmentStateName = 'OPEN' | 'SEALED';

export interface SegmentDescriptor {
  segmentId: number;
  state: SegmentStateName;
  sealed: boolean;
  topicId: number;
  partition: number;
  baseOffset: bigint;
  /** Positions are bytes within the data area. */
  startPosition: number;
  /** Highest position committed, or the seal position once sealed. */
  writePosition: number;
  commitPosition: number;
  /** Next Kafka offset after the last committed batch. */
  endOffset: bigint;
  maxTimestamp: bigint;
  createdAtMs: number;
  /** 0 until sealed. */
  sealedAtMs: number;
  dataCapacityBytes: number;
}

export interface CommitRequest {
  commitPosition: number;
  endOffset: bigint;
  maxTimestamp: bigint;
}

export interface StorageUsage {
  /** OPEN and SEALED segments. */
  segments: number;
  /** Committed data bytes over all segments. */
  usedBytes: number;
  /** Bytes of the slots segments span (headers included). */
  allocatedBytes: number;
  /** Bytes of free slots. */
  freeBytes: number;
  /** The largest segment that can still be allocated (its slots, header included). */
  largestFreeBytes: number;
  /** Size of a segment when an allocation names none. */
  segmentSizeBytes: number;
}

/**
 * Committed bytes of a segment that failed their check (at recovery, or by the scrubber): readers
 * of these offsets get an error until an operator skips the range.
 * Positions and offsets are [start, end).
 */
export interface FencedRange {
  segmentId: number;
  topicId: number;
  partition: number;
  startPosition: number;
  endPosition: number;
  baseOffset: bigint;
  endOffset: bigint;
  reason: string;
}

/** Where a scrubber's step (SegmentStore.scrubCommitted) left off, and what it found. */
export interface ScrubStep {
  /** A batch boundary: where the next step starts. */
  position: number;
  /** The offset at `position`. */
  nextOffset: bigint;
  checkedBytes: number;
  /** The committed end was reached (an open segment may commit more by the next pass). */
  atEnd: boolean;
  /** A committed range that fails its check and is not fenced: the step ends after it. */
  damaged?: FencedRange;
}

export interface AllocateRequest {
  topicId: number;
  partition: number;
  baseOffset: bigint;
  /** The data area wanted; rounded up to whole slots. Default: a segment of the store's segmentSizeBytes. */
  dataCapacityBytes?: number;
  /** The id to give the segment (a replica carries the same id on every node); default: the next of this node's. */
  segmentId?: number;
}

export interface RecoveryReport {
  segmentsRecovered: number;
  /** Slot runs whose header is unreadable: kept out of the free pool, never overwritten. `index` is the first slot of the run. */
  segmentsLost: { index: number; slotCount: number; segmentId?: number; reason: string }[];
  /** Frees a crash interrupted, finished at open. */
  freesFinished: { segmentId: number; index: number; slotCount: number }[];
  /** Damaged committed ranges, fenced (not cut). */
  fencedRanges: FencedRange[];
  /** Segments where one header copy was invalid and the other one was used. */
  headerFallbacks: { segmentId: number; sequence: number }[];
}

const optionsSchema = z.object({
  path: z.string().min(1),
  regionSizeBytes: z.number().int().positive().default(REGION_SIZE_BYTES_DEFAULT),
  segmentSizeBytes: z.number().int().positive().default(SEGMENT_SIZE_BYTES_DEFAULT),
  durability: z.enum(['none', 'flush', 'sync']),
  prefaultRegion: z.boolean().default(false),
});

const U32_MAX = 0xffffffff;
const INT64_MAX = (1n << 63n) - 1n;
const NO_TIMESTAMP = -1n;
const FIRST_SEGMENT_ID = 1;
/** What a slot boundary of free space holds. */
const ZERO_SLOT_HEADER = Buffer.alloc(SEGMENT_HEADER_BYTES);

/** One segment's run of slots. */
interface Slot {
  /** The first slot: where the header page is. */
  index: number;
  slotCount: number;
  /** Sequence of the newest valid header copy; 0 when neither copy is valid. */
  sequence: number;
  /** Set while the segment is OPEN or SEALED. */
  header?: SegmentHeader;
  /** Damaged committed ranges found at recovery, by position. */
  fenced?: FencedRange[];
  headerView?: Buffer;
  dataView?: Buffer;
}

export class SegmentStore {
  private readonly segmentsById = new Map<number, Slot>();
  private allocator: ExtentAllocator;
  /** Slot runs whose header is unreadable: never handed to the allocator. */
  private readonly quarantined: Extent[] = [];
  private idCounter: IdCounter;
  private closed = false;
  /** Per slot: 1 once its pages were faulted in by this process (a fault-in per page is a system call even when warm). */
  private readonly prefaulted: Uint8Array;
  /** Told of every write the store itself makes into a segment's data (skip markers, replica copies, fenced ranges overwritten). */
  onDataWrite?: (segmentId: number, position: number, lengthBytes: number) => void;

  private constructor(
    private readonly mapped: Region,
    readonly superblock: Superblock,
    readonly geometry: RegionGeometry,
    readonly durability: Durability,
    private readonly faults: StorageFaults,
    private readonly logger: StorageLogger,
    readonly recovery: RecoveryReport,
    idCounter: IdCounter | undefined,
  ) {
    this.allocator = new ExtentAllocator(geometry.slotCount);
    this.prefaulted = new Uint8Array(geometry.slotCount);
    this.idCounter = idCounter ?? { sequence: 0, nextSegmentId: FIRST_SEGMENT_ID };
  }

  /** Opens (or creates) the region at `path`, then scans it and rebuilds the segment table. */
  static open(options: SegmentStoreOptions): SegmentStore {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new StorageError('INVALID_ARGUMENT', `invalid storage options: ${parsed.error.issues.map(describeIssue).join('; ')}`);
    }
    const { path, regionSizeBytes, segmentSizeBytes, durability, prefaultRegion } = parsed.data;
    let geometry: RegionGeometry;
    try {
      geometry = computeGeometry(regionSizeBytes, segmentSizeBytes);
    } catch (err) {
      throw new StorageError('INVALID_ARGUMENT', (err as Error).message);
    }
    const { region, superblock } = openRegion(path, geometry, durability);
    const recovery: RecoveryReport = { segmentsRecovered: 0, segmentsLost: [], freesFinished: [], fencedRanges: [], headerFallbacks: [] };
    const store = new SegmentStore(
      region,
      superblock,
      geometry,
      durability,
      options.faults ?? {},
      options.logger ?? { warn: (message) => console.warn(`rdmq storage: ${message}`) },
      recovery,
      decodeIdCounter(region.bytes(0, SUPERBLOCK_BYTES)),
    );
    if (prefaultRegion) {
      region.prefault(0, region.sizeBytes);
      store.prefaulted.fill(1);
    }
    store.recover(path);
    return store;
  }

  /** The mapped region; UCX registers each segment's `dataRange` in it. */
  get region(): Region {
    this.checkOpen();
    return this.mapped;
  }

  /** Size of a segment when an allocation names none. */
  get segmentSizeBytes(): number {
    return this.geometry.segmentSizeBytes;
  }

  /** The largest data area one segment may have. */
  get maxDataCapacityBytes(): number {
    return maxDataCapacity(this.geometry);
  }

  /** Takes a free run of slots for a data area of at least `dataCapacityBytes` and makes it an OPEN segment at `baseOffset`, empty. */
  allocate(request: AllocateRequest): SegmentDescriptor {
    this.checkOpen();
    const { topicId, partition, baseOffset } = request;
    requireU32('topicId', topicId);
    requireU32('partition', partition);
    if (typeof baseOffset !== 'bigint' || baseOffset < 0n || baseOffset > INT64_MAX) {
      throw new StorageError('INVALID_ARGUMENT', `baseOffset ${String(baseOffset)} must be a bigint from 0 to ${INT64_MAX}`);
    }
    const wanted = request.dataCapacityBytes ?? this.geometry.segmentSizeBytes - SEGMENT_HEADER_PAGE_BYTES;
    if (!Number.isSafeInteger(wanted) || wanted < 1 || wanted > this.maxDataCapacityBytes) {
      throw new StorageError('INVALID_ARGUMENT', `data capacity ${wanted} bytes must be an integer from 1 to ${this.maxDataCapacityBytes}`);
    }
    const slotCount = slotsForDataCapacity(this.geometry, wanted);
    const firstSlot = this.allocator.take(slotCount);
    if (firstSlot === undefined) throw this.storageFull(slotCount);
    const slot: Slot = { index: firstSlot, slotCount, sequence: 0 };
    try {
      const segmentId = this.takeSegmentId(request.segmentId);
      this.clearSlots(slot, segmentId, firstSlot, 'allocate');
      this.writeHeader(slot, segmentId, 'allocate', {
        state: SegmentState.OPEN,
        sequence: 0,
        segmentId,
        topicId,
        partition,
        baseOffset,
        startPosition: 0,
        slotCount,
        createdAtMs: Date.now(),
      sealedAtMs: 0,
      commitPosition: 0,
      writePosition: 0,
      endOffset: baseOffset,
        maxTimestamp: NO_TIMESTAMP,
      });
    } catch (err) {
      this.allocator.release({ firstSlot, slotCount });
      throw err;
    }
    this.prefaultSlot(slot);
    return this.describeSlot(slot);
  }

  /**
   * Makes [old commit position, commitPosition) durable, then the header. Commit
   * positions only move forward; a sealed segment commits up to its seal position.
   */
  commit(segmentId: number, request: CommitRequest): SegmentDescriptor {
    this.checkOpen();
    const slot = this.slotOf(segmentId);
    const header = slot.header!;
    const { commitPosition, endOffset, maxTimestamp } = request;
    const limit = this.writeLimit(slot);
    if (!Number.isInteger(commitPosition) || commitPosition < header.commitPosition) {
      throw new StorageError(
        'INVALID_POSITION',
        `commit position ${commitPosition} of segment ${segmentId} is behind its commit position ${header.commitPosition}; commits only move forward`,
      );
    }
    if (commitPosition > limit) {
      throw new StorageError('INVALID_POSITION', `commit position ${commitPosition} of segment ${segmentId} is beyond ${this.limitName(header, limit)}`);
    }
    if (typeof endOffset !== 'bigint' || endOffset < header.endOffset || endOffset > INT64_MAX) {
      throw new StorageError(
        'INVALID_ARGUMENT',
        `end offset ${String(endOffset)} of segment ${segmentId} is behind its end offset ${header.endOffset}; end offsets only move forward`,
      );
    }
    if (typeof maxTimestamp !== 'bigint') {
      throw new StorageError('INVALID_ARGUMENT', `maxTimestamp must be a bigint, got ${typeof maxTimestamp}`);
    }
    if (commitPosition > header.commitPosition) {
      this.persistData(slot, segmentId, header.commitPosition, commitPosition - header.commitPosition);
    }
    this.writeHeader(slot, segmentId, 'commit', {
      ...header,
      commitPosition,
      writePosition: Math.max(header.writePosition, commitPosition),
      endOffset,
      maxTimestamp: maxTimestamp > header.maxTimestamp ? maxTimestamp : header.maxTimestamp,
    });
    return this.describeSlot(slot);
  }

  /**
   * Fills a dead producer's reserved range at or past the commit position with
   * the filler batch the broker built, and makes it durable. The broker
   * commits over it afterwards, as over any batch.
   */
  writeSkipMarker(segmentId: number, position: number, bytes: Buffer): void {
    this.checkOpen();
    const slot = this.slotOf(segmentId);
    const header = slot.header!;
    const limit = this.writeLimit(slot);
    if (!Number.isInteger(position) || position < header.commitPosition) {
      throw new StorageError(
        'INVALID_POSITION',
        `skip marker at position ${position} of segment ${segmentId} would overwrite committed bytes (commit position ${header.commitPosition})`,
      );
    }
    if (position + bytes.length > limit) {
      throw new StorageError(
        'INVALID_POSITION',
        `skip marker [${position}, ${position + bytes.length}) of segment ${segmentId} ends beyond ${this.limitName(header, limit)}`,
      );
    }
    const check = checkBatch(bytes);
    if (!check.ok) throw new StorageError('INVALID_BATCH', `skip marker for segment ${segmentId} is not a valid batch: ${check.reason}`);
    if (check.batch.sizeBytes !== bytes.length) {
      throw new StorageError(
        'INVALID_BATCH',
        `skip marker for segment ${segmentId} is ${bytes.length} bytes but its batch is ${check.batch.sizeBytes}; it must be exactly one batch`,
      );
    }
    this.onDataWrite?.(segmentId, position, bytes.length);
    bytes.copy(this.dataView(slot), position);
    this.persistData(slot, segmentId, position, bytes.length);
  }

  /**
   * Seals at `finalPosition` (≥ the commit position: stages already granted may
   * still commit up to it). Sealing again at the same position is a no-op.
   */
  seal(segmentId: number, request: { finalPosition: number }): SegmentDescriptor {
    this.checkOpen();
    const slot = this.slotOf(segmentId);
    const header = slot.header!;
    const { finalPosition } = request;
    if (header.state === SegmentState.SEALED) {
      if (finalPosition === header.writePosition) return this.describeSlot(slot);
      throw new StorageError(
        'INVALID_STATE',
        `segment ${segmentId} is already sealed at position ${header.writePosition}, not ${finalPosition}`,
      );
    }
    const lowest = Math.max(header.commitPosition, header.writePosition);
    const capacity = this.capacityOf(slot);
    if (!Number.isInteger(finalPosition) || finalPosition < lowest || finalPosition > capacity) {
      throw new StorageError(
        'INVALID_POSITION',
        `seal position ${finalPosition} of segment ${segmentId} must be from ${lowest} (its commit position) to ${capacity} (its data capacity)`,
      );
    }
    this.writeHeader(slot, segmentId, 'seal', {
      ...header,
      state: SegmentState.SEALED,
      writePosition: finalPosition,
      sealedAtMs: Date.now(),
    });
    return this.describeSlot(slot);
  }

  /** Returns a segment's slots to the free pool; its id is never handed out again. */
  free(segmentId: number): void {
    this.checkOpen();
    const slot = this.slotOf(segmentId);
    // A FREE copy with a higher sequence makes the free durable in one step; it
    // keeps the slot count, so an open after a crash from here on finishes it.
    this.writeHeader(slot, segmentId, 'free', { ...slot.header!, state: SegmentState.FREE });
    slot.header = undefined;
    this.segmentsById.delete(segmentId);
    this.finishFree(slot, segmentId, 'free');
    // Its views would reach whatever segment gets these slots next.
    slot.headerView = slot.dataView = undefined;
    this.allocator.release({ firstSlot: slot.index, slotCount: slot.slotCount });
  }

  /** Damaged committed ranges not yet skipped, by segment id and position. The broker asks at every probe: no descriptors are built. */
  fencedRanges(): FencedRange[] {
    this.checkOpen();
    const out: FencedRange[] = [];
    for (const slot of this.segmentsById.values()) for (const f of slot.fenced ?? []) out.push({ ...f });
    return out.sort((a, b) => a.segmentId - b.segmentId || a.startPosition - b.startPosition);
  }

  /**
   * Fences a committed range found damaged while the store is open (the
   * scrubber's finding), as recovery fences what it finds at open: the broker
   * takes it at its next probe (readers then get CORRUPT_MESSAGE there), and
   * only 'rdmq corruption skip' replaces it. False, and nothing changes, when
   * the segment is gone, the range is not within its committed bytes, or it
   * overlaps a fenced range.
   */
  fenceDamaged(range: FencedRange): boolean {
    this.checkOpen();
    const slot = this.segmentsById.get(range.segmentId);
    if (!slot) return false;
    const header = slot.header!;
    if (range.startPosition < header.startPosition || range.endPosition > header.commitPosition || range.startPosition >= range.endPosition) return false;
    const fenced = slot.fenced ?? [];
    if (fenced.some((f) => f.startPosition < range.endPosition && range.startPosition < f.endPosition)) return false;
    slot.fenced = [...fenced, { ...range }].sort((a, b) => a.startPosition - b.startPosition);
    return true;
  }

  /** The ids of every OPEN or SEALED segment, ascending: what a scrubber's pass walks. */
  segmentIds(): number[] {
    this.checkOpen();
    return [...this.segmentsById.keys()].sort((a, b) => a - b);
  }

  /**
   * The background scrubber's step: checks the whole committed batches of
   * `segmentId` from `position` (a batch boundary, `nextOffset` the offset
   * there; any position before the segment's start means from its start) as
   * recovery does at open (framing, magic, CRC32C), until about
   * `maxBytes` are checked or the committed end is reached. Ranges fenced at
   * recovery are stepped over. Reads only: a damaged range is returned, for
   * the caller to fence (fenceDamaged). Undefined when the segment is gone.
   */
  scrubCommitted(segmentId: number, position: number, nextOffset: bigint, maxBytes: number): ScrubStep | undefined {
    if (this.closed) return undefined;
    const slot = this.segmentsById.get(segmentId);
    if (!slot) return undefined;
    const header = slot.header!;
    const end = header.commitPosition;
    const data = this.dataView(slot);
    if (position < header.startPosition) {
      position = header.startPosition;
      nextOffset = header.baseOffset;
    }
    let checkedBytes = 0;
    while (position < end && checkedBytes < maxBytes) {
      const fence = slot.fenced?.find((f) => f.startPosition === position);
      if (fence) {
        position = fence.endPosition;
        nextOffset = fence.endOffset;
        continue;
      }
      const check = checkBatch(data.subarray(position, end));
      if (check.ok) {
        position += check.batch.sizeBytes;
        checkedBytes += check.batch.sizeBytes;
        nextOffset = check.batch.baseOffset + BigInt(check.batch.lastOffsetDelta) + 1n;
        continue;
      }
      const found = scanCommitted(data, position, end, nextOffset, header.endOffset).damaged[0];
      const damaged: FencedRange = { segmentId, topicId: header.topicId, partition: header.partition, ...found };
      return { position: found.endPosition, nextOffset: found.endOffset, checkedBytes: checkedBytes + found.endPosition - found.startPosition, atEnd: found.endPosition >= end, damaged };
    }
    return { position, nextOffset, checkedBytes, atEnd: position >= end };
  }

  /**
   * The operator's decision on a fenced range: overwrites exactly its bytes
   * with a skip marker covering exactly its offsets, so readers step over it
   * and offsets stay contiguous. The damaged bytes are gone afterwards.
   */
  skipFencedRange(segmentId: number, startPosition: number): FencedRange {
    this.checkOpen();
    const slot = this.slotOf(segmentId);
    const fence = slot.fenced?.find((f) => f.startPosition === startPosition);
    if (!fence) {
      const known = (slot.fenced ?? []).map((f) => f.startPosition).join(', ') || 'none';
      throw new StorageError('INVALID_ARGUMENT', `segment ${segmentId} has no fenced range at position ${startPosition} (fenced ranges start at: ${known})`);
    }
    const lengthBytes = fence.endPosition - fence.startPosition;
    const offsetCount = fence.endOffset - fence.baseOffset;
    if (lengthBytes < RECORD_BATCH_OVERHEAD || offsetCount < 1n || offsetCount > 0x7fffffffn) {
      throw new StorageError(
        'INVALID_STATE',
        `fenced range [${fence.startPosition}, ${fence.endPosition}) of segment ${segmentId} (offsets [${fence.baseOffset}, ${fence.endOffset})) ` +
          `cannot hold a skip marker: it needs at least ${RECORD_BATCH_OVERHEAD} bytes and 1 to 2^31-1 offsets`,
      );
    }
    this.onDataWrite?.(segmentId, fence.startPosition, lengthBytes);
    buildSkipMarker(lengthBytes, fence.baseOffset, Number(offsetCount)).copy(this.dataView(slot), fence.startPosition);
    this.persistData(slot, segmentId, fence.startPosition, lengthBytes);
    slot.fenced = slot.fenced!.filter((f) => f !== fence);
    this.logger.warn(
      `segment ${segmentId}: fenced bytes [${fence.startPosition}, ${fence.endPosition}) offsets [${fence.baseOffset}, ${fence.endOffset}) replaced by a skip marker on an operator's command`,
    );
    return { ...fence };
  }

  /** All OPEN and SEALED segments, by segment id. */
  describe(): SegmentDescriptor[] {
    this.checkOpen();
    return [...this.segmentsById.keys()].sort((a, b) => a - b).map((id) => this.describeSlot(this.segmentsById.get(id)!));
  }

  get(segmentId: number): SegmentDescriptor {
    this.checkOpen();
    return this.describeSlot(this.slotOf(segmentId));
  }

  has(segmentId: number): boolean {
    return this.segmentsById.has(segmentId);
  }

  /** Where the segment's data area lives in `region`: what UCX registers. */
  dataRange(segmentId: number): { regionOffset: number; lengthBytes: number } {
    this.checkOpen();
    const slot = this.slotOf(segmentId);
    return { regionOffset: segmentDataOffset(this.geometry, slot.index), lengthBytes: this.capacityOf(slot) };
  }

  /** A view (no copy) of committed bytes [position, position + length). */
  read(segmentId: number, position: number, length: number): Buffer {
    this.checkOpen();
    const slot = this.slotOf(segmentId);
    const header = slot.header!;
    if (!Number.isInteger(position) || !Number.isInteger(length) || position < 0 || length < 0) {
      throw new StorageError('INVALID_ARGUMENT', `read of ${length} bytes at ${position} needs non-negative integers`);
    }
    if (position + length > header.commitPosition) {
      throw new StorageError(
        'INVALID_POSITION',
        `read [${position}, ${position + length}) of segment ${segmentId} goes beyond its commit position ${header.commitPosition}`,
      );
    }
    return this.dataView(slot).subarray(position, position + length);
  }

  /**
   * A view (no copy) of [position, position + length) of the data area,
   * committed or not: what a producer wrote, for the check before its commit.
   * The view is cut from the segment's cached one, so checking a batch
   * allocates nothing the GC must account for.
   */
  /** Committed bytes of a segment, for a copy to another replica. */
  committedData(segmentId: number, position: number, length: number): Buffer {
    const header = this.slotOf(segmentId).header!;
    if (position < header.startPosition || position + length > header.commitPosition) {
      throw new StorageError('INVALID_POSITION', `range [${position}, +${length}) of segment ${segmentId} is not within its committed bytes [${header.startPosition}, ${header.commitPosition})`);
    }
    return this.written(segmentId, position, length);
  }

  /**
   * Bytes copied from another replica, written past the commit position like
   * a producer's put; they count once a commit covers them.
   */
  writeData(segmentId: number, position: number, bytes: Buffer): void {
    this.checkOpen();
    const slot = this.slotOf(segmentId);
    const header = slot.header!;
    const limit = this.writeLimit(slot);
    if (!Number.isInteger(position) || position < header.commitPosition || position + bytes.length > limit) {
      throw new StorageError('INVALID_POSITION', `copy [${position}, +${bytes.length}) of segment ${segmentId} must lie between its commit position ${header.commitPosition} and ${this.limitName(header, limit)}`);
    }
    this.onDataWrite?.(segmentId, position, bytes.length);
    bytes.copy(this.dataView(slot), position);
    this.persistData(slot, segmentId, position, bytes.length);
  }

  written(segmentId: number, position: number, length: number): Buffer {
    this.checkOpen();
    const slot = this.slotOf(segmentId);
    const capacity = this.capacityOf(slot);
    if (!Number.isInteger(position) || !Number.isInteger(length) || position < 0 || length < 0 || position + length > capacity) {
      throw new StorageError('INVALID_POSITION', `range [${position}, +${length}) is outside segment ${segmentId} of ${capacity} bytes`);
    }
    return this.dataView(slot).subarray(position, position + length);
  }

  /**
   * Idempotent producers' windows over the segment's committed batches, from
   * their headers only (see scanProducerWindows for the cost).
   */
  scanProducers(segmentId: number): ProducerScan {
    this.checkOpen();
    const slot = this.slotOf(segmentId);
    const header = slot.header!;
    return scanProducerWindows(this.dataView(slot), header.startPosition, header.commitPosition);
  }

  /** Faults the segment's pages in, so the first puts do not pay page faults. */
  prefaultSegment(segmentId: number): void {
    this.checkOpen();
    this.prefaultSlot(this.slotOf(segmentId));
  }

  usage(): StorageUsage {
    this.checkOpen();
    let usedBytes = 0;
    for (const slot of this.segmentsById.values()) usedBytes += slot.header!.commitPosition - slot.header!.startPosition;
    const slotBytes = this.geometry.slotSizeBytes;
    const freeSlots = this.allocator.freeSlots;
    return {
      segments: this.segmentsById.size,
      usedBytes,
      allocatedBytes: (this.geometry.slotCount - freeSlots) * slotBytes,
      freeBytes: freeSlots * slotBytes,
      largestFreeBytes: Math.min(this.allocator.largestFreeExtent * slotBytes, SEGMENT_SIZE_BYTES_MAX),
      segmentSizeBytes: this.geometry.segmentSizeBytes,
    };
  }

  /** Unmaps the region; views handed out read as empty afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.mapped.close();
  }

  // ---- recovery ----

  private recover(path: string): void {
    let maxSegmentId = 0;
    const used: Extent[] = [];
    const lost = new LostRuns((run) => this.lose(run));
    const headers = new SlotHeaderReader(path, this.geometry);
    try {
      this.walkSlots(headers, used, lost, (id) => (maxSegmentId = Math.max(maxSegmentId, id)));
    } finally {
      headers.close();
    }
    lost.end();
    this.allocator = new ExtentAllocator(this.geometry.slotCount, [...used, ...this.quarantined]);
    if (this.idCounter.nextSegmentId <= maxSegmentId) {
      this.idCounter = { sequence: this.idCounter.sequence, nextSegmentId: maxSegmentId + 1 };
    }
  }

  private walkSlots(headers: SlotHeaderReader, used: Extent[], lost: LostRuns, sawSegmentId: (id: number) => void): void {
    for (let index = 0; index < this.geometry.slotCount; ) {
      const read = readSegmentHeader(headers.at(index));
      if (read.kind !== 'valid') {
        if (read.kind === 'corrupt') lost.add(index, 'neither header copy is valid (CRC, magic or version)');
        // Inside a lost segment a boundary can be zero (a skip marker's padding,
        // a record's zeros) with its data going on after it: such a slot stays
        // in the run; only a slot that is zero throughout holds nothing to keep.
        else if (lost.open && !headers.slotIsZero(index)) lost.add(index, 'no header: the data area of the unreadable segment before it');
        else lost.end();
        index++;
        continue;
      }
      const header = read.header;
      if (Number.isSafeInteger(header.segmentId)) sawSegmentId(header.segmentId);
      if (header.slotCount < 1 || index + header.slotCount > this.geometry.slotCount) {
        lost.add(index, `its header claims ${header.slotCount} slots from slot ${index}, past the ${this.geometry.slotCount} slots of the region`, header.segmentId);
        index++;
        continue;
      }
      const slot: Slot = { index, slotCount: header.slotCount, sequence: header.sequence };
      if (header.state === SegmentState.FREE) {
        lost.end();
        this.finishFree(slot, header.segmentId, 'recovery');
        this.recovery.freesFinished.push({ segmentId: header.segmentId, index, slotCount: slot.slotCount });
        index += slot.slotCount;
        continue;
      }
      const insane = checkHeaderBounds(header, this.capacityOf(slot));
      if (insane) {
        lost.add(index, insane, header.segmentId);
        index++;
        continue;
      }
      if (this.segmentsById.has(header.segmentId)) {
        lost.add(index, `segment id ${header.segmentId} is already used by the segment at slot ${this.segmentsById.get(header.segmentId)!.index}`, header.segmentId);
        index++;
        continue;
      }
      lost.end();
      if (read.invalidCopies > 0) {
        this.logger.warn(
          `segment ${header.segmentId} (slot ${index}): one header copy is invalid (a torn write or corruption); using the valid copy with sequence ${header.sequence}`,
        );
        this.recovery.headerFallbacks.push({ segmentId: header.segmentId, sequence: header.sequence });
      }
      slot.header = header;
      this.segmentsById.set(header.segmentId, slot);
      used.push({ firstSlot: index, slotCount: slot.slotCount });
      this.recovery.segmentsRecovered++;
      this.verifyCommittedBatches(slot);
      index += slot.slotCount;
    }
  }

  private verifyCommittedBatches(slot: Slot): void {
    const header = slot.header!;
    const scan = scanCommitted(this.dataView(slot), header.startPosition, header.commitPosition, header.baseOffset, header.endOffset);
    if (scan.damaged.length === 0) return;
    slot.fenced = scan.damaged.map((d) => ({ segmentId: header.segmentId, topicId: header.topicId, partition: header.partition, ...d }));
    for (const f of slot.fenced) {
      this.logger.warn(
        `CORRUPT committed data: topic id ${f.topicId} partition ${f.partition} segment ${f.segmentId} bytes [${f.startPosition}, ${f.endPosition}) ` +
          `offsets [${f.baseOffset}, ${f.endOffset}) fail their check (${f.reason}); the range is fenced: readers of it get CORRUPT_MESSAGE ` +
          `until an operator runs 'rdmq corruption skip' (nothing was cut; commit position ${header.commitPosition} and end offset ${header.endOffset} are kept)`,
      );
      this.recovery.fencedRanges.push(f);
    }
  }

  private lose(run: LostRun): void {
    const where = run.slotCount === 1 ? `slot ${run.index}` : `slots ${run.index}..${run.index + run.slotCount - 1}`;
    const name = run.segmentId === undefined ? `the segment at ${where}` : `segment ${run.segmentId} (${where})`;
    this.logger.warn(`CORRUPT segment header: ${name} is unreadable (${run.reason}); its space is kept out of the free pool and the broker fences its offsets`);
    this.recovery.segmentsLost.push(run);
    this.quarantined.push({ firstSlot: run.index, slotCount: run.slotCount });
  }

  /**
   * After the FREE header is durable: zero the header bytes at each later slot
   * boundary, then the older header copy, then the FREE copy, so no crash
   * point leaves a valid header anywhere in the freed run but the FREE one.
   */
  private finishFree(slot: Slot, segmentId: number, reason: 'free' | 'recovery'): void {
    this.clearSlots(slot, segmentId, slot.index + 1, reason);
    this.faults.beforeSlotClear?.({ segmentId, slot: slot.index, reason });
    this.zeroHeaderCopy(slot, segmentHeaderCopyOffset(slot.sequence + 1));
    this.zeroHeaderCopy(slot, segmentHeaderCopyOffset(slot.sequence));
    slot.sequence = 0;
  }

  /** Zeroes the header bytes at every slot boundary of `slot`'s run from `fromSlot` on (those not already zero). */
  private clearSlots(slot: Slot, segmentId: number, fromSlot: number, reason: 'allocate' | 'free' | 'recovery'): void {
    const end = slot.index + slot.slotCount;
    if (fromSlot >= end) return;
    // One view over the run (a native call each was most of an allocation's time: a 64 MiB segment has 1,024 slots).
    const first = slotOffset(this.geometry, fromSlot);
    const run = this.mapped.bytes(first, slotOffset(this.geometry, end - 1) + SEGMENT_HEADER_BYTES - first);
    for (let index = fromSlot; index < end; index++) {
      const at = slotOffset(this.geometry, index) - first;
      if (run.compare(ZERO_SLOT_HEADER, 0, SEGMENT_HEADER_BYTES, at, at + SEGMENT_HEADER_BYTES) === 0) continue;
      this.faults.beforeSlotClear?.({ segmentId, slot: index, reason });
      run.fill(0, at, at + SEGMENT_HEADER_BYTES);
      this.persist(slotOffset(this.geometry, index), SEGMENT_HEADER_BYTES);
    }
  }

  // ---- region I/O ----

  private writeHeader(slot: Slot, segmentId: number, reason: HeaderWriteReason, header: SegmentHeader): void {
    const sequence = slot.sequence + 1;
    this.faults.beforeHeaderPersist?.({ segmentId, sequence, reason });
    const next: SegmentHeader = { ...header, sequence };
    const copyOffset = segmentHeaderCopyOffset(sequence);
    encodeSegmentHeader(next).copy(this.headerView(slot), copyOffset);
    this.persist(slotOffset(this.geometry, slot.index) + copyOffset, SEGMENT_HEADER_COPY_BYTES);
    slot.sequence = sequence;
    if (next.state === SegmentState.FREE) return;
    slot.header = next;
    this.segmentsById.set(segmentId, slot);
  }

  private zeroHeaderCopy(slot: Slot, copyOffset: number): void {
    this.headerView(slot).fill(0, copyOffset, copyOffset + SEGMENT_HEADER_COPY_BYTES);
    this.persist(slotOffset(this.geometry, slot.index) + copyOffset, SEGMENT_HEADER_COPY_BYTES);
  }

  private persistData(slot: Slot, segmentId: number, position: number, lengthBytes: number): void {
    const regionOffset = segmentDataOffset(this.geometry, slot.index) + position;
    this.faults.beforeDataPersist?.({ segmentId, regionOffset, lengthBytes });
    this.persist(regionOffset, lengthBytes);
  }

  private persist(regionOffset: number, lengthBytes: number): void {
    if (this.durability !== 'none' && lengthBytes > 0) this.mapped.persist(regionOffset, lengthBytes);
  }

  /** Takes the next segment id and makes the counter durable before anything uses the id. */
  /** `wanted`: an id chosen elsewhere (a replica's), refused when this node holds it; the counter moves past it. */
  private takeSegmentId(wanted?: number): number {
    if (wanted !== undefined) {
      requireU32('segmentId', wanted);
      if (this.segmentsById.has(wanted)) throw new StorageError('INVALID_ARGUMENT', `segment ${wanted} already exists on this node`);
    }
    const segmentId = wanted ?? this.idCounter.nextSegmentId;
    const next = { sequence: this.idCounter.sequence + 1, nextSegmentId: Math.max(this.idCounter.nextSegmentId, segmentId + 1) };
    const offset = idCounterCopyOffset(next.sequence);
    encodeIdCounter(next).copy(this.mapped.bytes(offset, 64));
    this.persist(offset, 64);
    this.idCounter = next;
    return segmentId;
  }

  private prefaultSlot(slot: Slot): void {
    const slots = this.prefaulted.subarray(slot.index, slot.index + slot.slotCount);
    if (slots.every((done) => done === 1)) return;
    slots.fill(1);
    // In the background: allocation is on the produce path, and touching a whole
    // segment's fresh pages takes tens of milliseconds.
    this.mapped.prefaultInBackground(slotOffset(this.geometry, slot.index), slot.slotCount * this.geometry.slotSizeBytes);
  }

  // Views are cached per segment: Region.bytes is a native call that also
  // keeps a reference per view.
  private headerView(slot: Slot): Buffer {
    slot.headerView ??= this.mapped.bytes(slotOffset(this.geometry, slot.index), SEGMENT_HEADER_PAGE_BYTES);
    return slot.headerView;
  }

  private dataView(slot: Slot): Buffer {
    slot.dataView ??= this.mapped.bytes(segmentDataOffset(this.geometry, slot.index), this.capacityOf(slot));
    return slot.dataView;
  }

  // ---- helpers ----

  private slotOf(segmentId: number): Slot {
    const slot = this.segmentsById.get(segmentId);
    if (!slot) throw new StorageError('UNKNOWN_SEGMENT', `segment ${segmentId} is not allocated on this storage node`);
    return slot;
  }

  private capacityOf(slot: Slot): number {
    return dataCapacityOf(this.geometry, slot.slotCount);
  }

  private storageFull(slotCount: number): StorageError {
    const slotBytes = this.geometry.slotSizeBytes;
    return new StorageError(
      'STORAGE_FULL',
      `no free run of ${slotCount * slotBytes} bytes is left for a new segment (${this.allocator.freeSlots * slotBytes} bytes free, the largest run ${this.allocator.largestFreeExtent * slotBytes}); free some (retention) and retry`,
    );
  }

  private writeLimit(slot: Slot): number {
    const header = slot.header!;
    return header.state === SegmentState.SEALED ? header.writePosition : this.capacityOf(slot);
  }

  private limitName(header: SegmentHeader, limit: number): string {
    return header.state === SegmentState.SEALED ? `its seal position ${limit}` : `its data area of ${limit} bytes`;
  }

  private describeSlot(slot: Slot): SegmentDescriptor {
    const h = slot.header!;
    const sealed = h.state === SegmentState.SEALED;
    return {
      segmentId: h.segmentId,
      state: sealed ? 'SEALED' : 'OPEN',
      sealed,
      topicId: h.topicId,
      partition: h.partition,
      baseOffset: h.baseOffset,
      startPosition: h.startPosition,
      writePosition: h.writePosition,
      commitPosition: h.commitPosition,
      endOffset: h.endOffset,
      maxTimestamp: h.maxTimestamp,
      createdAtMs: h.createdAtMs,
      sealedAtMs: h.sealedAtMs,
      dataCapacityBytes: this.capacityOf(slot),
    };
  }

  private checkOpen(): void {
    if (this.closed) throw new StorageError('CLOSED', `storage region ${this.superblock.nodeUuid} is closed`);
  }
}

function checkHeaderBounds(h: SegmentHeader, capacity: number): string | undefined {
  if (!Number.isSafeInteger(h.segmentId) || h.segmentId < FIRST_SEGMENT_ID) return `segment id ${h.segmentId} is not a valid id`;
  if (h.startPosition > h.commitPosition || h.commitPosition > capacity || h.writePosition > capacity) {
    return `positions start ${h.startPosition}, commit ${h.commitPosition}, write ${h.writePosition} do not fit a data area of ${capacity} bytes`;
  }
  if (h.baseOffset < 0n || h.endOffset < h.baseOffset) return `end offset ${h.endOffset} is below base offset ${h.baseOffset}`;
  return undefined;
}

function requireU32(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new StorageError('INVALID_ARGUMENT', `${name} ${value} must be an integer from 0 to ${U32_MAX}`);
  }
}

function describeIssue(issue: { path: PropertyKey[]; message: string }): string {
  return `${issue.path.map(String).join('.') || 'options'}: ${issue.message}`;
}

/**
 * Reads the header bytes at slot boundaries with pread, not through the
 * mapping: a read fault on a hole of a tmpfs file allocates a page, and the
 * walk would otherwise fill a sparse region with 4 KiB per slot.
 */
class SlotHeaderReader {
  private readonly fd: number;
  private readonly bytes = Buffer.alloc(SEGMENT_HEADER_BYTES);

  constructor(
    path: string,
    private readonly geometry: RegionGeometry,
  ) {
    this.fd = fs.openSync(path, 'r');
  }

  at(index: number): Buffer {
    const read = fs.readSync(this.fd, this.bytes, 0, SEGMENT_HEADER_BYTES, slotOffset(this.geometry, index));
    this.bytes.fill(0, read);
    return this.bytes;
  }

  /** The whole slot reads as zero (holes of a sparse region do). Only asked right after a lost slot. */
  slotIsZero(index: number): boolean {
    const slot = Buffer.alloc(this.geometry.slotSizeBytes);
    const read = fs.readSync(this.fd, slot, 0, slot.length, slotOffset(this.geometry, index));
    return isZero(slot.subarray(0, read));
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

interface LostRun {
  index: number;
  slotCount: number;
  segmentId?: number;
  reason: string;
}

/**
 * Consecutive lost slots reported as one run: a segment whose header is gone
 * leaves its data area's slot boundaries, which are not headers either.
 */
class LostRuns {
  private run: LostRun | undefined;

  constructor(private readonly report: (run: LostRun) => void) {}

  get open(): boolean {
    return this.run !== undefined;
  }

  add(index: number, reason: string, segmentId?: number): void {
    if (this.run && this.run.index + this.run.slotCount === index && segmentId === undefined) {
      this.run.slotCount++;
      return;
    }
    this.end();
    this.run = { index, slotCount: 1, segmentId, reason };
  }

  end(): void {
    if (this.run) this.report(this.run);
    this.run = undefined;
  }
}
