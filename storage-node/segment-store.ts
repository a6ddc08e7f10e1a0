// SegmentStore: one region file split into fixed-size segments, each a header
// page plus a data area that producers fill with one-sided puts.
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
// Recovery (open). For each segment: take the newest valid header copy (see
// layout.ts); no valid copy (or one that makes no sense) → the slot is
// unreadable: reported, and kept out of the free pool so nothing overwrites
// what may still be recovered from it. Then walk the batches from
// startPosition to commitPosition. Committed bytes were acknowledged, so a
// batch that fails its check is never cut: its range is fenced (reported with
// its byte and offset range; see batch-scan.ts scanCommitted) and the header
// keeps its commit position and end offset, so no offset is handed out twice.
// Only an explicit `skipFencedRange` (the operator's command) changes it.
// Bytes past the commit position were never acknowledged and are never read:
// a torn put beyond it is simply ignored.
import { z } from 'zod';
import type { Region } from '../addon';
import { openRegion } from './region-file';
import { checkBatch, scanCommitted } from './batch-scan';
import { buildSkipMarker, ProducerScan, RECORD_BATCH_OVERHEAD, scanProducerWindows } from '../format';
import {
  computeGeometry,
  decodeIdCounter,
  encodeIdCounter,
  encodeSegmentHeader,
  IdCounter,
  idCounterCopyOffset,
  readSegmentHeader,
  REGION_SIZE_BYTES_DEFAULT,
  RegionGeometry,
  SEGMENT_HEADER_COPY_BYTES,
  SEGMENT_HEADER_PAGE_BYTES,
  SEGMENT_SIZE_BYTES_DEFAULT,
  segmentDataOffset,
  segmentHeaderCopyOffset,
  segmentHeaderOffset,
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
}

export interface StorageLogger {
  warn(message: string): void;
}

export interface SegmentStoreOptions {
  path: string;
  /** Sparse: only touched pages take space. Default 4 GiB. */
  regionSizeBytes?: number;
  /** Default 64 MiB; a multiple of 4096, at least 64 KiB. */
  segmentSizeBytes?: number;
  durability: Durability;
  faults?: StorageFaults;
  logger?: StorageLogger;
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
  totalSegments: number;
  freeSegments: number;
  /** Committed data bytes over all non-free segments. */
  usedBytes: number;
  /** Non-free segments × segment size. */
  allocatedBytes: number;
  segmentSizeBytes: number;
}

/**
 * Committed bytes of a segment that failed their check at recovery: readers
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

export interface RecoveryReport {
  segmentsRecovered: number;
  /** Slots whose header is unreadable: kept out of the free pool, never overwritten. */
  segmentsLost: { index: number; segmentId?: number; reason: string }[];
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
});

const U32_MAX = 0xffffffff;
const INT64_MAX = (1n << 63n) - 1n;
const NO_TIMESTAMP = -1n;
const FIRST_SEGMENT_ID = 1;

interface Slot {
  index: number;
  /** Sequence of the newest valid header copy; 0 when neither copy is valid. */
  sequence: number;
  /** Set while the segment is OPEN or SEALED. */
  header?: SegmentHeader;
  /** Damaged committed ranges found at recovery, by position. */
  fenced?: FencedRange[];
  /** Why the slot is unreadable; such a slot is never allocated. */
  quarantined?: string;
  headerView?: Buffer;
  dataView?: Buffer;
}

export class SegmentStore {
  private readonly slots: Slot[];
  private readonly segmentsById = new Map<number, Slot>();
  private idCounter: IdCounter;
  private closed = false;

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
    this.slots = Array.from({ length: geometry.segmentCount }, (_, index) => ({ index, sequence: 0 }));
    this.idCounter = idCounter ?? { sequence: 0, nextSegmentId: FIRST_SEGMENT_ID };
  }

  /** Opens (or creates) the region at `path`, then scans it and rebuilds the segment table. */
  static open(options: SegmentStoreOptions): SegmentStore {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new StorageError('INVALID_ARGUMENT', `invalid storage options: ${parsed.error.issues.map(describeIssue).join('; ')}`);
    }
    const { path, regionSizeBytes, segmentSizeBytes, durability } = parsed.data;
    let geometry: RegionGeometry;
    try {
      geometry = computeGeometry(regionSizeBytes, segmentSizeBytes);
    } catch (err) {
      throw new StorageError('INVALID_ARGUMENT', (err as Error).message);
    }
    const { region, superblock } = openRegion(path, geometry, durability);
    const recovery: RecoveryReport = { segmentsRecovered: 0, segmentsLost: [], fencedRanges: [], headerFallbacks: [] };
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
    store.recover();
    return store;
  }

  /** The mapped region; UCX registers each segment's `dataRange` in it. */
  get region(): Region {
    this.checkOpen();
    return this.mapped;
  }

  get segmentSizeBytes(): number {
    return this.geometry.segmentSizeBytes;
  }

  get dataCapacityBytes(): number {
    return this.geometry.dataCapacityBytes;
  }

  /** Takes a free segment and makes it OPEN at `baseOffset`, empty. */
  allocate(request: { topicId: number; partition: number; baseOffset: bigint }): SegmentDescriptor {
    this.checkOpen();
    const { topicId, partition, baseOffset } = request;
    requireU32('topicId', topicId);
    requireU32('partition', partition);
    if (typeof baseOffset !== 'bigint' || baseOffset < 0n || baseOffset > INT64_MAX) {
      throw new StorageError('INVALID_ARGUMENT', `baseOffset ${String(baseOffset)} must be a bigint from 0 to ${INT64_MAX}`);
    }
    const slot = this.slots.find((s) => s.header === undefined && s.quarantined === undefined);
    if (!slot) {
      throw new StorageError(
        'STORAGE_FULL',
        `all ${this.geometry.segmentCount} segments of ${this.geometry.segmentSizeBytes} bytes are in use; free some (retention) and retry`,
      );
    }
    const segmentId = this.takeSegmentId();
    this.prefaultSlot(slot);
    this.writeHeader(slot, segmentId, 'allocate', {
      state: SegmentState.OPEN,
      sequence: 0,
      segmentId,
      topicId,
      partition,
      baseOffset,
      startPosition: 0,
      createdAtMs: Date.now(),
      sealedAtMs: 0,
      commitPosition: 0,
      writePosition: 0,
      endOffset: baseOffset,
      maxTimestamp: NO_TIMESTAMP,
    });
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
    const limit = this.writeLimit(header);
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
    const limit = this.writeLimit(header);
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
    if (!Number.isInteger(finalPosition) || finalPosition < lowest || finalPosition > this.geometry.dataCapacityBytes) {
      throw new StorageError(
        'INVALID_POSITION',
        `seal position ${finalPosition} of segment ${segmentId} must be from ${lowest} (its commit position) to ${this.geometry.dataCapacityBytes} (its data capacity)`,
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

  /** Returns a segment to the free pool; its id is never handed out again. */
  free(segmentId: number): void {
    this.checkOpen();
    const slot = this.slotOf(segmentId);
    // A FREE copy with a higher sequence makes the free durable in one step;
    // zeroing the older copy first means no crash point leaves an old valid
    // copy as the newest one.
    this.writeHeader(slot, segmentId, 'free', { ...slot.header!, state: SegmentState.FREE });
    const freeCopy = segmentHeaderCopyOffset(slot.sequence);
    const olderCopy = segmentHeaderCopyOffset(slot.sequence + 1);
    this.zeroHeaderCopy(slot, olderCopy);
    this.zeroHeaderCopy(slot, freeCopy);
    slot.sequence = 0;
    slot.header = undefined;
    this.segmentsById.delete(segmentId);
  }

  /** Damaged committed ranges not yet skipped, by segment id and position. */
  fencedRanges(): FencedRange[] {
    this.checkOpen();
    return this.describe().flatMap((d) => (this.segmentsById.get(d.segmentId)!.fenced ?? []).map((f) => ({ ...f })));
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
    return { regionOffset: segmentDataOffset(this.geometry, slot.index), lengthBytes: this.geometry.dataCapacityBytes };
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
  written(segmentId: number, position: number, length: number): Buffer {
    this.checkOpen();
    const slot = this.slotOf(segmentId);
    const capacity = this.geometry.dataCapacityBytes;
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
    const used = this.segmentsById.size;
    return {
      totalSegments: this.geometry.segmentCount,
      freeSegments: this.geometry.segmentCount - used - this.recovery.segmentsLost.length,
      usedBytes,
      allocatedBytes: used * this.geometry.segmentSizeBytes,
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

  private recover(): void {
    const capacity = this.geometry.dataCapacityBytes;
    let maxSegmentId = 0;
    for (const slot of this.slots) {
      const read = readSegmentHeader(this.headerView(slot));
      if (read.kind === 'zeroed') continue;
      if (read.kind === 'corrupt') {
        this.lose(slot, undefined, 'neither header copy is valid (CRC, magic or version)');
        continue;
      }
      const header = read.header;
      slot.sequence = header.sequence;
      if (header.segmentId > maxSegmentId && Number.isSafeInteger(header.segmentId)) maxSegmentId = header.segmentId;
      if (header.state === SegmentState.FREE) continue;
      if (read.invalidCopies > 0) {
        this.logger.warn(
          `segment ${header.segmentId} (index ${slot.index}): one header copy is invalid (a torn write or corruption); using the valid copy with sequence ${header.sequence}`,
        );
        this.recovery.headerFallbacks.push({ segmentId: header.segmentId, sequence: header.sequence });
      }
      const insane = checkHeaderBounds(header, capacity);
      if (insane) {
        this.lose(slot, header.segmentId, insane);
        continue;
      }
      if (this.segmentsById.has(header.segmentId)) {
        this.lose(slot, header.segmentId, `segment id ${header.segmentId} is already used by the segment at index ${this.segmentsById.get(header.segmentId)!.index}`);
        continue;
      }
      slot.header = header;
      this.segmentsById.set(header.segmentId, slot);
      this.recovery.segmentsRecovered++;
      this.verifyCommittedBatches(slot);
    }
    if (this.idCounter.nextSegmentId <= maxSegmentId) {
      this.idCounter = { sequence: this.idCounter.sequence, nextSegmentId: maxSegmentId + 1 };
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

  private lose(slot: Slot, segmentId: number | undefined, reason: string): void {
    const name = segmentId === undefined ? `the segment at index ${slot.index}` : `segment ${segmentId} (index ${slot.index})`;
    slot.quarantined = reason;
    this.logger.warn(`CORRUPT segment header: ${name} is unreadable (${reason}); its space is kept out of the free pool and the broker fences its offsets`);
    this.recovery.segmentsLost.push({ index: slot.index, segmentId, reason });
  }

  // ---- region I/O ----

  private writeHeader(slot: Slot, segmentId: number, reason: HeaderWriteReason, header: SegmentHeader): void {
    const sequence = slot.sequence + 1;
    this.faults.beforeHeaderPersist?.({ segmentId, sequence, reason });
    const next: SegmentHeader = { ...header, sequence };
    const copyOffset = segmentHeaderCopyOffset(sequence);
    encodeSegmentHeader(next).copy(this.headerView(slot), copyOffset);
    this.persist(segmentHeaderOffset(this.geometry, slot.index) + copyOffset, SEGMENT_HEADER_COPY_BYTES);
    slot.sequence = sequence;
    if (next.state === SegmentState.FREE) return;
    slot.header = next;
    this.segmentsById.set(segmentId, slot);
  }

  private zeroHeaderCopy(slot: Slot, copyOffset: number): void {
    this.headerView(slot).fill(0, copyOffset, copyOffset + SEGMENT_HEADER_COPY_BYTES);
    this.persist(segmentHeaderOffset(this.geometry, slot.index) + copyOffset, SEGMENT_HEADER_COPY_BYTES);
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
  private takeSegmentId(): number {
    const segmentId = this.idCounter.nextSegmentId;
    const next = { sequence: this.idCounter.sequence + 1, nextSegmentId: segmentId + 1 };
    const offset = idCounterCopyOffset(next.sequence);
    encodeIdCounter(next).copy(this.mapped.bytes(offset, 64));
    this.persist(offset, 64);
    this.idCounter = next;
    return segmentId;
  }

  private prefaultSlot(slot: Slot): void {
    // In the background: allocation is on the produce path, and touching a whole
    // segment's fresh pages takes tens of milliseconds.
    this.mapped.prefaultInBackground(segmentHeaderOffset(this.geometry, slot.index), this.geometry.segmentSizeBytes);
  }

  // Views are cached per segment: Region.bytes is a native call that also
  // keeps a reference per view.
  private headerView(slot: Slot): Buffer {
    slot.headerView ??= this.mapped.bytes(segmentHeaderOffset(this.geometry, slot.index), SEGMENT_HEADER_PAGE_BYTES);
    return slot.headerView;
  }

  private dataView(slot: Slot): Buffer {
    slot.dataView ??= this.mapped.bytes(segmentDataOffset(this.geometry, slot.index), this.geometry.dataCapacityBytes);
    return slot.dataView;
  }

  // ---- helpers ----

  private slotOf(segmentId: number): Slot {
    const slot = this.segmentsById.get(segmentId);
    if (!slot) throw new StorageError('UNKNOWN_SEGMENT', `segment ${segmentId} is not allocated on this storage node`);
    return slot;
  }

  private writeLimit(header: SegmentHeader): number {
    return header.state === SegmentState.SEALED ? header.writePosition : this.geometry.dataCapacityBytes;
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
      dataCapacityBytes: this.geometry.dataCapacityBytes,
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
