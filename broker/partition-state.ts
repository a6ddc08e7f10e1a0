// Stage/commit ordering for one partition: the broker's hot-path state.
//
// Contract: pure and synchronous — no I/O, no clock, no randomness; time comes
// in as `nowMs`. Not safe to share between threads (there are none in JS), and
// every method either completes its whole change or throws before changing
// anything, except where a method says otherwise.
//
// Model. A partition is an ordered list of segments; only the last one may be
// open. `stage()` reserves the next byte range of the open segment and the next
// Kafka offsets, in one global stage order. The commit watermark advances over
// that order only while the oldest outstanding stage is resolved — completed
// (its bytes are written) or skipped (its lease ran out) — so readers never see
// a gap or a torn batch. A skipped range keeps its offsets (consumed, no
// records) and its bytes (garbage a reader must step over: `skippedRanges`).
//
// Reader contract for `locate(offset)`: the returned position is the start of a
// batch (or skipped range) at or before the batch containing `offset`, in the
// returned segment. The reader scans v2 batch headers forward from there
// (baseOffset at +0, batchLength at +8: next batch at position + 12 +
// batchLength), stepping over `skippedRanges(segmentId)`, until it reaches the
// batch whose last offset is ≥ `offset`. Index entries are at least
// `indexIntervalBytes` apart, so a scan reads at most about that many bytes
// plus one batch. Segments recovered after a restart are indexed only at their
// start (the broker never reads payload), so the first scan there is longer.
//
// Published watermark. The watermark moves in two steps: `complete` (and the
// other resolving calls) advance it here, the broker makes the advance durable
// on the storage node, and only then calls `publish`. Everything a reader sees
// (`highWatermark`, `locate`, `segments`, `segmentInfo`) stops at the published
// watermark, so no reader ever sees bytes the storage node has not committed.
//
// Fenced ranges. Committed bytes that failed their check at the storage
// node's recovery, or a whole segment whose header is unreadable, stay in the
// log as fenced ranges: `locate` refuses offsets inside one (CORRUPT_MESSAGE),
// an index entry at each fence's end lets readers seek past it, readers learn
// the fences of each segment (`fencesOf`) so sequential reads stop there too,
// and offsets go on after the end the header recorded: none is handed out twice.

export type PartitionErrorCode =
  | 'BATCH_TOO_LARGE'
  | 'INVALID_REQUEST'
  | 'EXCLUSIVE_OWNED'
  | 'NOT_EXCLUSIVE_OWNER'
  | 'UNKNOWN_STAGE'
  | 'LEASE_EXPIRED'
  | 'NOT_CONTIGUOUS'
  | 'TOO_MANY_IN_FLIGHT'
  | 'STAGES_IN_FLIGHT'
  | 'UNKNOWN_SEGMENT'
  | 'OFFSET_OUT_OF_RANGE'
  | 'CORRUPT_RANGE';

interface ErrorTraits {
  retriable: boolean;
  kafkaErrorName?: string;
  kafkaErrorCode?: number;
}

// One table: retry logic reads `retriable`, never the message.
const PARTITION_ERRORS: Record<PartitionErrorCode, ErrorTraits> = {
  BATCH_TOO_LARGE: { retriable: false, kafkaErrorName: 'MESSAGE_TOO_LARGE', kafkaErrorCode: 10 },
  INVALID_REQUEST: { retriable: false, kafkaErrorName: 'INVALID_REQUEST', kafkaErrorCode: 42 },
  EXCLUSIVE_OWNED: { retriable: false },
  NOT_EXCLUSIVE_OWNER: { retriable: false },
  UNKNOWN_STAGE: { retriable: false },
  // The producer stages again and rewrites: its bytes were never committed.
  LEASE_EXPIRED: { retriable: true, kafkaErrorName: 'REQUEST_TIMED_OUT', kafkaErrorCode: 7 },
  NOT_CONTIGUOUS: { retriable: false, kafkaErrorName: 'OUT_OF_ORDER_SEQUENCE_NUMBER', kafkaErrorCode: 45 },
  TOO_MANY_IN_FLIGHT: { retriable: true },
  STAGES_IN_FLIGHT: { retriable: true },
  UNKNOWN_SEGMENT: { retriable: false },
  OFFSET_OUT_OF_RANGE: { retriable: false, kafkaErrorName: 'OFFSET_OUT_OF_RANGE', kafkaErrorCode: 1 },
  // Stays until an operator skips the range ('rdmq corruption skip'); a reader may seek past it.
  CORRUPT_RANGE: { retriable: false, kafkaErrorName: 'CORRUPT_MESSAGE', kafkaErrorCode: 2 },
};

export class PartitionError extends Error {
  readonly retriable: boolean;
  readonly kafkaErrorName?: string;
  readonly kafkaErrorCode?: number;
  constructor(
    readonly code: PartitionErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PartitionError';
    const traits = PARTITION_ERRORS[code];
    this.retriable = traits.retriable;
    this.kafkaErrorName = traits.kafkaErrorName;
    this.kafkaErrorCode = traits.kafkaErrorCode;
  }
}

export interface SegmentInfo {
  segmentId: number;
  baseOffset: bigint;
  dataCapacityBytes: number;
  startPosition: number;
  commitPosition: number;
  /** Next offset after the last committed (or skipped) one. */
  endOffset: bigint;
  sealed: boolean;
  maxTimestamp: bigint;
}

/**
 * Offsets whose records cannot be read: committed bytes that failed their
 * check (`lost` false: [startPosition, endPosition) of the segment), or a
 * whole segment whose header is unreadable (`lost` true: no positions).
 */
export interface FencedRange {
  segmentId: number;
  lost: boolean;
  startPosition: number;
  endPosition: number;
  baseOffset: bigint;
  endOffset: bigint;
  reason: string;
}

/** A fence as a reader of one segment sees it; a lost segment's fence sits, zero bytes long, where its neighbour ends or starts. */
export interface SegmentFence {
  startPosition: number;
  endPosition: number;
  baseOffset: bigint;
  endOffset: bigint;
}

export interface PartitionStateOptions {
  leaseTimeoutMs: number;
  /** Lease of an exclusive owner, renewed by each of its commits. Defaults to `leaseTimeoutMs`. */
  exclusiveLeaseTimeoutMs?: number;
  /** Sparse index granularity. */
  indexIntervalBytes?: number;
  /** Stages reserved but not yet covered by the watermark. */
  maxInFlightStages?: number;
  /**
   * First stage id to hand out. A partition rebuilt after a storage failure
   * continues its predecessor's numbering: a stage id is never reused, and a
   * commit for a stage below it that this state never granted is refused as
   * retriable (LEASE_EXPIRED): its producer stages again.
   */
  firstStageId?: number;
}

export interface RecoveredPartition {
  topicId: number;
  partition: number;
  /** Only used in error messages. */
  topicName?: string;
  segments: SegmentInfo[];
  /** The log start the metadata records (DeleteRecords may have moved it inside the first segment). */
  logStartOffset?: bigint;
  /** Damaged ranges inside `segments` and whole lost segments (see FencedRange). */
  fenced?: FencedRange[];
}

export interface StageRequest {
  lengthBytes: number;
  recordCount: number;
  producerKey: string;
  nowMs: number;
  /**
   * The largest data area a segment of this partition may have (from its
   * topic's segment.bytes): a larger batch is refused with BATCH_TOO_LARGE.
   * Without it the partition does not bound batches itself; the caller's roll must.
   */
  segmentDataBytesMax?: number;
}

export interface StageGrant {
  stageId: number;
  segmentId: number;
  position: number;
  lengthBytes: number;
  baseOffset: bigint;
  recordCount: number;
  leaseExpiresAtMs: number;
}

/**
 * The open segment cannot take the batch (or there is none): the caller
 * allocates a segment with this baseOffset and room for at least
 * `neededBytes`, calls `addSegment`, and retries. `sealedSegmentId` is the
 * segment this call sealed, for the metadata log.
 */
export interface NeedSegment {
  kind: 'need-segment';
  baseOffset: bigint;
  /** The batch waiting for the segment; 0 when none is (an exclusive producer acquiring). */
  neededBytes: number;
  sealedSegmentId?: number;
}

export type StageResult = { kind: 'granted'; grant: StageGrant } | NeedSegment;

export interface SkipRange {
  segmentId: number;
  position: number;
  lengthBytes: number;
  baseOffset: bigint;
  offsetCount: number;
}

export interface SegmentWatermark {
  segmentId: number;
  commitPosition: number;
  endOffset: bigint;
}

export interface CommitAdvance {
  advanced: boolean;
  /** Each segment whose watermark moved, with its new watermark. */
  segments: SegmentWatermark[];
  /** Stages now covered by the watermark, in stage order. */
  committedStageIds: number[];
  /** Ranges covered by the watermark without records. */
  skipped: SkipRange[];
}

/** An exclusive commit checked against the state, to be made on storage before it is applied. */
export interface PlannedCommit extends SegmentWatermark {
  maxTimestamp: bigint;
}

export interface ExclusiveGrant {
  kind: 'acquired';
  segmentId: number;
  position: number;
  nextOffset: bigint;
  dataCapacityBytes: number;
  leaseExpiresAtMs: number;
}

/** A range an exclusive producer wrote, to commit. */
export interface ExclusiveRange {
  segmentId: number;
  position: number;
  lengthBytes: number;
  baseOffset: bigint;
  recordCount: number;
  maxTimestamp: bigint;
}

export interface ExclusiveCommit extends ExclusiveRange {
  nowMs: number;
}

export type Location = { segmentId: number; position: number } | 'below-start' | 'at-end' | 'above-end';

export interface RetentionPolicy {
  nowMs: number;
  /** -1: keep forever. */
  retentionMs: number;
  /** -1: no size limit. */
  retentionBytes: number;
}

interface IndexEntry {
  offset: bigint;
  segmentId: number;
  position: number;
  /** Largest batch maxTimestamp from the log start through the end of this entry's interval. */
  maxTimestampSoFar: bigint;
}

type StageStatus = 'pending' | 'completed' | 'skipped';

interface Stage {
  grant: StageGrant;
  status: StageStatus;
  maxTimestamp: bigint;
}

interface Segment {
  /** As resolved here; may run ahead of `published` until the broker publishes. */
  info: SegmentInfo;
  /** What readers see: made durable on the storage node. */
  published: { commitPosition: number; endOffset: bigint };
  /** End of the last reserved byte range; the seal point once sealed. */
  reservedEnd: number;
  /** Stages in this segment not yet covered by the watermark. */
  inFlightStages: number;
  skipped: SkipRange[];
  /** Position of the last offset-index entry in this segment. */
  lastIndexedPosition: number;
}

interface ExclusiveOwner {
  producerKey: string;
  leaseExpiresAtMs: number;
}

const DEFAULT_INDEX_INTERVAL_BYTES = 4096;
const DEFAULT_MAX_IN_FLIGHT_STAGES = 1024;
// Remembered resolutions answer a late or repeated `complete` precisely.
const RESOLVED_STAGES_REMEMBERED = 4096;
const MIN_TIMESTAMP = -(1n << 63n);

export class PartitionState {
  readonly topicId: number;
  readonly partition: number;
  private readonly label: string;
  private readonly leaseTimeoutMs: number;
  private readonly exclusiveLeaseTimeoutMs: number;
  private readonly indexIntervalBytes: number;
  private readonly maxInFlightStages: number;

  private readonly segmentList: Segment[] = [];
  private readonly segmentsById = new Map<number, Segment>();
  /** Stages in stage order not yet covered by the watermark; `queueHead` is the oldest. */
  private queue: Stage[] = [];
  private queueHead = 0;
  private readonly stagesById = new Map<number, Stage>();
  private readonly resolved = new Map<number, 'committed' | 'skipped'>();
  private nextStageId: number;
  /** Stage ids below this were granted by an earlier state of this partition. */
  private readonly firstStageId: number;
  /** Next offset to hand out. */
  private nextReserveOffset: bigint;
  /** Next offset after the resolved prefix. */
  private watermarkOffset: bigint;
  /** Next offset after the published prefix: the high watermark readers see. */
  private publishedOffset: bigint;
  /** Offset below which segments were freed by retention. */
  private freedUpToOffset: bigint;
  private readonly index: IndexEntry[] = [];
  private exclusive: ExclusiveOwner | null = null;
  /** By base offset. */
  private fenced: FencedRange[] = [];

  constructor(recovered: RecoveredPartition, options: PartitionStateOptions) {
    this.topicId = recovered.topicId;
    this.partition = recovered.partition;
    this.label = `${recovered.topicName ?? `topic id ${recovered.topicId}`} partition ${recovered.partition}`;
    requirePositiveInteger(options.leaseTimeoutMs, 'leaseTimeoutMs');
    this.leaseTimeoutMs = options.leaseTimeoutMs;
    this.exclusiveLeaseTimeoutMs = options.exclusiveLeaseTimeoutMs ?? options.leaseTimeoutMs;
    requirePositiveInteger(this.exclusiveLeaseTimeoutMs, 'exclusiveLeaseTimeoutMs');
    this.indexIntervalBytes = options.indexIntervalBytes ?? DEFAULT_INDEX_INTERVAL_BYTES;
    if (!Number.isInteger(this.indexIntervalBytes) || this.indexIntervalBytes < 0) {
      throw invalid(`indexIntervalBytes must be an integer ≥ 0, got ${this.indexIntervalBytes}`);
    }
    this.maxInFlightStages = options.maxInFlightStages ?? DEFAULT_MAX_IN_FLIGHT_STAGES;
    requirePositiveInteger(this.maxInFlightStages, 'maxInFlightStages');
    this.firstStageId = options.firstStageId ?? 1;
    requirePositiveInteger(this.firstStageId, 'firstStageId');
    this.nextStageId = this.firstStageId;

    // Empty segments can share a base offset with their successor; an open one sorts last.
    const sorted = [...recovered.segments].sort(
      (a, b) => compareBigint(a.baseOffset, b.baseOffset) || Number(b.sealed) - Number(a.sealed),
    );
    this.fenced = [...(recovered.fenced ?? [])].sort((a, b) => compareBigint(a.baseOffset, b.baseOffset));
    const lost = this.fenced.filter((f) => f.lost);
    const firstOffset = minOf([...sorted.map((s) => s.baseOffset), ...lost.map((f) => f.baseOffset)]) ?? 0n;
    this.freedUpToOffset = maxOf(firstOffset, recovered.logStartOffset ?? 0n);
    sorted.forEach((info, i) => this.recoverSegment(info, i === sorted.length - 1, sorted[i + 1]));
    const last = sorted[sorted.length - 1];
    this.nextReserveOffset = last ? last.endOffset : 0n;
    // Offsets of a lost segment past the last readable one are never handed out again.
    const lostEnd = maxOfAll(lost.map((f) => f.endOffset));
    if (lostEnd !== undefined && lostEnd > this.nextReserveOffset) {
      if (last) {
        const segment = this.segmentsById.get(last.segmentId)!;
        segment.info.sealed = true;
        segment.skipped.push({ segmentId: last.segmentId, position: last.commitPosition, lengthBytes: 0, baseOffset: last.endOffset, offsetCount: Number(lostEnd - last.endOffset) });
      }
      this.nextReserveOffset = lostEnd;
    }
    this.watermarkOffset = this.nextReserveOffset;
    this.publishedOffset = this.watermarkOffset;
    // A reader that seeks past a damaged range starts at the first batch after it.
    for (const f of this.fenced) {
      const segment = f.lost ? undefined : this.segmentsById.get(f.segmentId);
      if (segment && f.endPosition < segment.info.commitPosition) this.insertIndexEntry(segment, f.endOffset, f.endPosition);
    }
  }

  // A recovered segment's uncommitted tail is gone (its producers must retry),
  // so it reopens at its commit position. Any segment followed by another is
  // sealed even if its header lagged. A gap between a segment's end offset and
  // the next one's base offset (stages lost in a crash after a roll) becomes a
  // zero-byte skipped range.
  private recoverSegment(info: SegmentInfo, isLast: boolean, next: SegmentInfo | undefined): void {
    validateSegmentInfo(info, this.label);
    if (this.segmentsById.has(info.segmentId)) throw invalid(`${this.label}: segment ${info.segmentId} recovered twice`);
    const segment: Segment = {
      info: { ...info, sealed: info.sealed || !isLast },
      published: { commitPosition: info.commitPosition, endOffset: info.endOffset },
      reservedEnd: info.commitPosition,
      inFlightStages: 0,
      skipped: [],
      lastIndexedPosition: info.startPosition,
    };
    this.pushSegment(segment);
    if (info.endOffset > info.baseOffset) {
      this.addIndexEntry(segment, info.baseOffset, info.startPosition, info.maxTimestamp);
    }
    if (next) {
      if (next.baseOffset < info.endOffset) {
        throw invalid(
          `${this.label}: segment ${next.segmentId} starts at offset ${next.baseOffset}, inside segment ${info.segmentId} which ends at ${info.endOffset}`,
        );
      }
      if (next.baseOffset > info.endOffset) {
        segment.skipped.push({
          segmentId: info.segmentId,
          position: info.commitPosition,
          lengthBytes: 0,
          baseOffset: info.endOffset,
          offsetCount: Number(next.baseOffset - info.endOffset),
        });
      }
    }
  }

  // ---- Shared mode -------------------------------------------------------

  /** Reserves a byte range and offsets for a batch. See `NeedSegment`. */
  stage(request: StageRequest): StageResult {
    const { lengthBytes, recordCount, producerKey, nowMs } = request;
    requirePositiveInteger(lengthBytes, 'lengthBytes');
    requirePositiveInteger(recordCount, 'recordCount');
    requireProducerKey(producerKey);
    requireTime(nowMs);
    this.checkNotExclusivelyOwned(producerKey, nowMs);
    if (this.exclusive) {
      throw invalid(`${this.label}: '${producerKey}' owns the partition exclusively and commits with commitExclusive, not stage`);
    }
    const inFlight = this.queue.length - this.queueHead;
    if (inFlight >= this.maxInFlightStages) {
      throw new PartitionError(
        'TOO_MANY_IN_FLIGHT',
        `${this.label} has ${inFlight} stages in flight, the limit is ${this.maxInFlightStages}; retry after some commit`,
      );
    }
    if (request.segmentDataBytesMax !== undefined && lengthBytes > request.segmentDataBytesMax) {
      throw new PartitionError('BATCH_TOO_LARGE', `batch of ${lengthBytes} bytes exceeds the largest segment of ${this.label}: ${request.segmentDataBytesMax} bytes of batches`);
    }
    const open = this.openSegment();
    if (!open) return { kind: 'need-segment', baseOffset: this.nextReserveOffset, neededBytes: lengthBytes };
    if (open.reservedEnd + lengthBytes > open.info.dataCapacityBytes) {
      open.info.sealed = true;
      return { kind: 'need-segment', baseOffset: this.nextReserveOffset, neededBytes: lengthBytes, sealedSegmentId: open.info.segmentId };
    }

    const grant: StageGrant = {
      stageId: this.nextStageId++,
      segmentId: open.info.segmentId,
      position: open.reservedEnd,
      lengthBytes,
      baseOffset: this.nextReserveOffset,
      recordCount,
      leaseExpiresAtMs: nowMs + this.leaseTimeoutMs,
    };
    open.reservedEnd += lengthBytes;
    open.inFlightStages++;
    this.nextReserveOffset += BigInt(recordCount);
    const stage: Stage = { grant, status: 'pending', maxTimestamp: MIN_TIMESTAMP };
    this.queue.push(stage);
    this.stagesById.set(grant.stageId, stage);
    return { kind: 'granted', grant: { ...grant } };
  }

  /**
   * Marks a stage's bytes written and advances the watermark as far as it can.
   * Completing a stage twice is a no-op. A stage whose lease has run out at
   * `nowMs` is refused (LEASE_EXPIRED) even if `expireLeases` has not swept it
   * yet: the producer stages again.
   */
  complete(stageId: number, done: { maxTimestamp: bigint; nowMs: number }): CommitAdvance {
    requireTime(done.nowMs);
    const stage = this.stagesById.get(stageId);
    if (!stage) {
      const resolution = this.resolved.get(stageId);
      if (resolution === 'committed') return emptyAdvance();
      if (resolution === 'skipped') throw this.leaseExpired(stageId);
      if (stageId < this.firstStageId) {
        throw new PartitionError(
          'LEASE_EXPIRED',
          `${this.label}: stage ${stageId} was dropped when the partition was rebuilt from the storage node; stage the batch again`,
        );
      }
      throw new PartitionError('UNKNOWN_STAGE', `${this.label} has no stage ${stageId}`);
    }
    if (stage.status === 'skipped') throw this.leaseExpired(stageId);
    if (stage.status === 'completed') return emptyAdvance();
    if (done.nowMs >= stage.grant.leaseExpiresAtMs) throw this.leaseExpired(stageId);
    stage.status = 'completed';
    stage.maxTimestamp = done.maxTimestamp;
    return this.advance();
  }

  /**
   * Where a stage stands: 'pending' (granted, not written) or 'completed'
   * (written, behind an older stage still pending) are not yet covered by the
   * watermark; 'committed' and 'skipped' are; 'unknown' was never granted or
   * is long forgotten.
   */
  stageStatus(stageId: number): StageStatus | 'committed' | 'unknown' {
    const stage = this.stagesById.get(stageId);
    if (stage) return stage.status;
    return this.resolved.get(stageId) ?? 'unknown';
  }

  /** The grant of a stage still waiting for its commit, if any. */
  pendingGrant(stageId: number): StageGrant | undefined {
    const stage = this.stagesById.get(stageId);
    return stage && stage.status === 'pending' ? stage.grant : undefined;
  }

  /**
   * Gives up a pending stage at once (its bytes were rejected): its range is
   * skipped like an expired lease, so the partition goes on.
   */
  abort(stageId: number): CommitAdvance {
    const stage = this.stagesById.get(stageId);
    if (!stage || stage.status !== 'pending') return emptyAdvance();
    stage.status = 'skipped';
    return this.advance();
  }

  /** Turns incomplete stages whose lease ran out into skipped ranges; ends a lapsed exclusive lease. */
  expireLeases(nowMs: number): CommitAdvance {
    requireTime(nowMs);
    if (this.exclusive && nowMs >= this.exclusive.leaseExpiresAtMs) this.exclusive = null;
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const stage = this.queue[i];
      if (stage.status === 'pending' && nowMs >= stage.grant.leaseExpiresAtMs) stage.status = 'skipped';
    }
    return this.advance();
  }

  /**
   * Gives every running lease `byMs` more: the broker itself was stalled (a
   * pause, a long GC) for that long, so producers could not have been heard.
   */
  extendLeases(byMs: number): void {
    if (!Number.isFinite(byMs) || byMs <= 0) return;
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const stage = this.queue[i];
      if (stage.status === 'pending') stage.grant.leaseExpiresAtMs += byMs;
    }
    if (this.exclusive) this.exclusive.leaseExpiresAtMs += byMs;
  }

  /** The id the next stage will get; a rebuilt state starts from it. */
  nextStageIdToGrant(): number {
    return this.nextStageId;
  }

  /** Earliest lease expiry among incomplete stages, for scheduling `expireLeases`. */
  nextLeaseExpiryMs(): number | null {
    let earliest: number | null = null;
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const stage = this.queue[i];
      if (stage.status === 'pending' && (earliest === null || stage.grant.leaseExpiresAtMs < earliest)) {
        earliest = stage.grant.leaseExpiresAtMs;
      }
    }
    if (this.exclusive && (earliest === null || this.exclusive.leaseExpiresAtMs < earliest)) {
      earliest = this.exclusive.leaseExpiresAtMs;
    }
    return earliest;
  }

  inFlightStageCount(): number {
    return this.queue.length - this.queueHead;
  }

  private advance(): CommitAdvance {
    const moved = new Map<number, SegmentWatermark>();
    const committedStageIds: number[] = [];
    const skipped: SkipRange[] = [];
    while (this.queueHead < this.queue.length) {
      const stage = this.queue[this.queueHead];
      if (stage.status === 'pending') break;
      this.queueHead++;
      const { grant } = stage;
      const segment = this.segmentsById.get(grant.segmentId);
      // A segment holding in-flight stages is never removed (retention takes
      // only fully committed ones), so it is still here.
      if (!segment) throw new Error(`invariant: segment ${grant.segmentId} of stage ${grant.stageId} is gone`);
      segment.inFlightStages--;
      this.stagesById.delete(grant.stageId);
      if (stage.status === 'completed') {
        this.commitRange(segment, grant.position, grant.lengthBytes, grant.baseOffset, grant.recordCount, stage.maxTimestamp);
        committedStageIds.push(grant.stageId);
        this.remember(grant.stageId, 'committed');
      } else {
        const range: SkipRange = {
          segmentId: grant.segmentId,
          position: grant.position,
          lengthBytes: grant.lengthBytes,
          baseOffset: grant.baseOffset,
          offsetCount: grant.recordCount,
        };
        this.skipRange(segment, range);
        skipped.push(range);
        this.remember(grant.stageId, 'skipped');
      }
      moved.set(segment.info.segmentId, {
        segmentId: segment.info.segmentId,
        commitPosition: segment.info.commitPosition,
        endOffset: segment.info.endOffset,
      });
    }
    this.compactQueue();
    return { advanced: moved.size > 0, segments: [...moved.values()], committedStageIds, skipped };
  }

  private commitRange(
    segment: Segment,
    position: number,
    lengthBytes: number,
    baseOffset: bigint,
    recordCount: number,
    maxTimestamp: bigint,
  ): void {
    const info = segment.info;
    const isFirst = info.endOffset === info.baseOffset && segment.skipped.length === 0;
    if (isFirst || position - segment.lastIndexedPosition >= this.indexIntervalBytes) {
      this.addIndexEntry(segment, baseOffset, position, maxTimestamp);
    } else {
      this.raiseLastIndexTimestamp(maxTimestamp);
    }
    info.commitPosition = position + lengthBytes;
    info.endOffset = baseOffset + BigInt(recordCount);
    this.watermarkOffset = info.endOffset;
    if (maxTimestamp > info.maxTimestamp) info.maxTimestamp = maxTimestamp;
  }

  // A skipped range gets its own index entry so a reader scanning forward
  // lands on it and steps over it by `skippedRanges` rather than reading garbage.
  private skipRange(segment: Segment, range: SkipRange): void {
    segment.skipped.push(range);
    this.addIndexEntry(segment, range.baseOffset, range.position, MIN_TIMESTAMP);
    segment.info.commitPosition = range.position + range.lengthBytes;
    segment.info.endOffset = range.baseOffset + BigInt(range.offsetCount);
    this.watermarkOffset = segment.info.endOffset;
  }

  private addIndexEntry(segment: Segment, offset: bigint, position: number, maxTimestamp: bigint): void {
    const previous = this.index[this.index.length - 1];
    const before = previous ? previous.maxTimestampSoFar : MIN_TIMESTAMP;
    this.index.push({
      offset,
      segmentId: segment.info.segmentId,
      position,
      maxTimestampSoFar: maxTimestamp > before ? maxTimestamp : before,
    });
    segment.lastIndexedPosition = position;
  }

  private raiseLastIndexTimestamp(maxTimestamp: bigint): void {
    const last = this.index[this.index.length - 1];
    if (last && maxTimestamp > last.maxTimestampSoFar) last.maxTimestampSoFar = maxTimestamp;
  }

  private remember(stageId: number, resolution: 'committed' | 'skipped'): void {
    this.resolved.set(stageId, resolution);
    if (this.resolved.size > RESOLVED_STAGES_REMEMBERED) {
      const oldest = this.resolved.keys().next().value as number;
      this.resolved.delete(oldest);
    }
  }

  private compactQueue(): void {
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  // ---- Segments ----------------------------------------------------------

  /** Adds a freshly allocated segment after `stage`/`acquireExclusive` asked for one. */
  addSegment(info: SegmentInfo): void {
    validateSegmentInfo(info, this.label);
    if (this.segmentsById.has(info.segmentId)) {
      throw invalid(`${this.label} already has segment ${info.segmentId}`);
    }
    const open = this.openSegment();
    if (open) {
      throw invalid(`${this.label} still has open segment ${open.info.segmentId}; a segment is added only after a roll`);
    }
    if (info.baseOffset !== this.nextReserveOffset) {
      throw invalid(`${this.label}: new segment ${info.segmentId} must start at offset ${this.nextReserveOffset}, not ${info.baseOffset}`);
    }
    if (info.sealed || info.commitPosition !== info.startPosition || info.endOffset !== info.baseOffset) {
      throw invalid(`${this.label}: new segment ${info.segmentId} must be empty and unsealed`);
    }
    if (this.segmentList.length === 0) this.freedUpToOffset = maxOf(this.freedUpToOffset, info.baseOffset);
    this.pushSegment({
      info: { ...info },
      published: { commitPosition: info.commitPosition, endOffset: info.endOffset },
      reservedEnd: info.startPosition,
      inFlightStages: 0,
      skipped: [],
      lastIndexedPosition: info.startPosition,
    });
  }

  private pushSegment(segment: Segment): void {
    this.segmentList.push(segment);
    this.segmentsById.set(segment.info.segmentId, segment);
  }

  /** Every segment as readers see it (published watermarks). */
  segments(): readonly SegmentInfo[] {
    return this.segmentList.map(publishedInfo);
  }

  /** The data capacity of the newest segment (the open one, or the one just sealed); undefined with none. */
  lastSegmentCapacityBytes(): number | undefined {
    return this.lastSegment()?.info.dataCapacityBytes;
  }

  /** One segment as readers see it now (a copy), without copying the whole list; undefined once freed. */
  segmentInfo(segmentId: number): SegmentInfo | undefined {
    const segment = this.segmentsById.get(segmentId);
    return segment && publishedInfo(segment);
  }

  /**
   * Shows readers the watermark of `advance`, once the broker has made it
   * durable on the storage node. Advances are published in the order they
   * were made.
   */
  publish(advance: CommitAdvance): void {
    for (const moved of advance.segments) {
      const segment = this.segmentsById.get(moved.segmentId);
      if (segment && moved.endOffset >= segment.published.endOffset) {
        segment.published = { commitPosition: moved.commitPosition, endOffset: moved.endOffset };
      }
      if (moved.endOffset > this.publishedOffset) this.publishedOffset = moved.endOffset;
    }
  }

  /** Whether readers see everything resolved here. */
  isPublished(): boolean {
    return this.publishedOffset === this.watermarkOffset;
  }

  /** Ranges in a segment that hold no records: a reader steps over their bytes. */
  skippedRanges(segmentId: number): readonly SkipRange[] {
    const segment = this.segmentsById.get(segmentId);
    if (!segment) throw new PartitionError('UNKNOWN_SEGMENT', `${this.label} has no segment ${segmentId}`);
    return segment.skipped.map((r) => ({ ...r }));
  }

  /** Sealed, and every stage in it resolved: its bytes will not change again. */
  isFullyCommitted(segmentId: number): boolean {
    const segment = this.segmentsById.get(segmentId);
    return segment !== undefined && isFullyCommitted(segment);
  }

  /**
   * Segments retention may free, oldest first: a prefix of the log made of
   * sealed, fully committed segments, never the open one.
   */
  retentionCandidates(policy: RetentionPolicy): SegmentInfo[] {
    const candidates: SegmentInfo[] = [];
    let remainingBytes = this.segmentList.reduce((sum, s) => sum + segmentBytes(s), 0);
    for (const segment of this.freeablePrefix()) {
      const tooOld =
        policy.retentionMs >= 0 && segment.info.maxTimestamp < BigInt(Math.floor(policy.nowMs - policy.retentionMs));
      const tooBig = policy.retentionBytes >= 0 && remainingBytes - segmentBytes(segment) >= policy.retentionBytes;
      if (!tooOld && !tooBig) break;
      candidates.push({ ...segment.info });
      remainingBytes -= segmentBytes(segment);
    }
    return candidates;
  }

  /** Frees the oldest segment; the log start offset moves to its end. */
  removeSegment(segmentId: number): void {
    const first = this.segmentList[0];
    if (!first || first.info.segmentId !== segmentId) {
      throw invalid(
        `${this.label}: only the oldest segment (${first ? first.info.segmentId : 'none'}) can be removed, not ${segmentId}`,
      );
    }
    if (!this.isFreeable(first)) {
      throw invalid(`${this.label}: segment ${segmentId} is still open or has stages in flight`);
    }
    const next = this.segmentList[1];
    this.segmentList.shift();
    this.segmentsById.delete(segmentId);
    this.freedUpToOffset = maxOf(this.freedUpToOffset, next.info.baseOffset);
    this.fenced = this.fenced.filter((f) => f.endOffset > this.freedUpToOffset);
    let drop = 0;
    while (drop < this.index.length && this.index[drop].segmentId === segmentId) drop++;
    this.index.splice(0, drop);
  }

  /**
   * Moves the log start offset up to `offset` (never down, never past the high
   * watermark): readers get 'below-start' for what lies before it.
   */
  moveLogStart(offset: bigint): void {
    if (offset > this.highWatermark()) {
      throw new PartitionError('OFFSET_OUT_OF_RANGE', `${this.label}: log start ${offset} would pass the high watermark ${this.highWatermark()}`);
    }
    this.freedUpToOffset = maxOf(this.freedUpToOffset, offset);
  }

  /** Sealed, fully committed leading segments whose every record lies below the log start: nothing can read them. */
  segmentsBelowLogStart(): SegmentInfo[] {
    return this.freeableEndingBy(this.freedUpToOffset).map((segment) => ({ ...segment.info }));
  }

  /** Frees every leading segment that ends at or before `offset` and may be freed; returns their ids. */
  dropSegmentsBefore(offset: bigint): number[] {
    const dropped = this.freeableEndingBy(offset).map((segment) => segment.info.segmentId);
    for (const segmentId of dropped) this.removeSegment(segmentId);
    return dropped;
  }

  /** A segment may be freed once it is sealed (not the open one) and every stage in it is resolved. */
  private isFreeable(segment: Segment): boolean {
    return segment !== this.lastSegment() && isFullyCommitted(segment);
  }

  /** The leading segments that may be freed, oldest first. */
  private *freeablePrefix(): Generator<Segment> {
    for (const segment of this.segmentList) {
      if (!this.isFreeable(segment)) return;
      yield segment;
    }
  }

  /** The leading freeable segments that end at or before `offset`. */
  private freeableEndingBy(offset: bigint): Segment[] {
    const out: Segment[] = [];
    for (const segment of this.freeablePrefix()) {
      if (segment.info.endOffset > offset) break;
      out.push(segment);
    }
    return out;
  }

  // ---- Exclusive mode ----------------------------------------------------

  /**
   * Makes `producerKey` the only writer. It then assigns positions and offsets
   * itself, starting from the returned point, and commits with
   * `commitExclusive`. Idempotent for the current owner (renews the lease).
   * Refused while shared stages are in flight, since the owner's first commit
   * must start exactly at the watermark.
   */
  acquireExclusive(producerKey: string, nowMs: number, neededBytes = 0): ExclusiveGrant | NeedSegment {
    requireProducerKey(producerKey);
    requireTime(nowMs);
    this.checkNotExclusivelyOwned(producerKey, nowMs);
    const inFlight = this.inFlightStageCount();
    if (inFlight > 0) {
      throw new PartitionError(
        'STAGES_IN_FLIGHT',
        `${this.label} has ${inFlight} shared stages in flight; exclusive mode starts once they commit or expire`,
      );
    }
    this.exclusive = { producerKey, leaseExpiresAtMs: nowMs + this.exclusiveLeaseTimeoutMs };
    const open = this.openSegment();
    if (!open) return { kind: 'need-segment', baseOffset: this.nextReserveOffset, neededBytes };
    return {
      kind: 'acquired',
      segmentId: open.info.segmentId,
      position: open.info.commitPosition,
      nextOffset: open.info.endOffset,
      dataCapacityBytes: open.info.dataCapacityBytes,
      leaseExpiresAtMs: this.exclusive.leaseExpiresAtMs,
    };
  }

  /** Gives up exclusive ownership; returns whether `producerKey` was the owner. */
  releaseExclusive(producerKey: string): boolean {
    if (this.exclusive?.producerKey !== producerKey) return false;
    this.exclusive = null;
    return true;
  }

  /** The owner's segment is full: seals it at its committed end and asks for a new one. */
  rollExclusive(producerKey: string, nowMs: number, neededBytes = 0): NeedSegment {
    this.checkOwner(producerKey, nowMs);
    this.exclusive = { producerKey, leaseExpiresAtMs: nowMs + this.exclusiveLeaseTimeoutMs };
    const open = this.openSegment();
    if (!open) return { kind: 'need-segment', baseOffset: this.nextReserveOffset, neededBytes };
    open.info.sealed = true;
    return { kind: 'need-segment', baseOffset: this.nextReserveOffset, neededBytes, sealedSegmentId: open.info.segmentId };
  }

  /**
   * Commits a range the owner wrote (one or more batches back to back). It must
   * start exactly at the open segment's watermark (after a roll: at the new
   * segment's start) with the next offset.
   */
  commitExclusive(producerKey: string, range: ExclusiveCommit): CommitAdvance {
    const open = this.exclusiveCommitSegment(producerKey, range);
    const info = open.info;
    this.exclusive = { producerKey, leaseExpiresAtMs: range.nowMs + this.exclusiveLeaseTimeoutMs };
    this.commitRange(open, range.position, range.lengthBytes, range.baseOffset, range.recordCount, range.maxTimestamp);
    open.reservedEnd = info.commitPosition;
    this.nextReserveOffset = info.endOffset;
    return {
      advanced: true,
      segments: [{ segmentId: info.segmentId, commitPosition: info.commitPosition, endOffset: info.endOffset }],
      committedStageIds: [],
      skipped: [],
    };
  }

  /**
   * The segment watermark `commitExclusive` would reach, checked like it
   * but changing nothing: the broker commits it on storage first. `after`:
   * plan as if an earlier planned commit (not applied yet) had moved the line.
   */
  planExclusiveCommit(producerKey: string, range: ExclusiveCommit, after?: PlannedCommit): PlannedCommit {
    const info = this.exclusiveCommitSegment(producerKey, range, after).info;
    const maxTimestampBefore = after ? after.maxTimestamp : info.maxTimestamp;
    return {
      segmentId: info.segmentId,
      commitPosition: range.position + range.lengthBytes,
      endOffset: range.baseOffset + BigInt(range.recordCount),
      maxTimestamp: range.maxTimestamp > maxTimestampBefore ? range.maxTimestamp : maxTimestampBefore,
    };
  }

  /** The open segment an exclusive commit of `range` lands in; throws when the range may not be committed. */
  private exclusiveCommitSegment(producerKey: string, range: ExclusiveCommit, after?: PlannedCommit): Segment {
    requirePositiveInteger(range.lengthBytes, 'lengthBytes');
    requirePositiveInteger(range.recordCount, 'recordCount');
    requireTime(range.nowMs);
    this.checkOwner(producerKey, range.nowMs);
    if (this.inFlightStageCount() > 0) {
      throw new PartitionError('STAGES_IN_FLIGHT', `${this.label}: shared stages are in flight; exclusive commits wait for them`);
    }
    const open = this.openSegment();
    if (!open || open.info.segmentId !== range.segmentId) {
      throw new PartitionError(
        'NOT_CONTIGUOUS',
        `${this.label}: commit to segment ${range.segmentId}, but the open segment is ${open ? open.info.segmentId : 'none (roll first)'}`,
      );
    }
    const info = open.info;
    const line = after ?? info;
    if (range.position !== line.commitPosition || range.baseOffset !== line.endOffset) {
      throw new PartitionError(
        'NOT_CONTIGUOUS',
        `${this.label}: commit at position ${range.position} offset ${range.baseOffset} leaves a gap or overlap; ` +
          `segment ${info.segmentId} is committed up to position ${line.commitPosition} offset ${line.endOffset}`,
      );
    }
    if (range.position + range.lengthBytes > info.dataCapacityBytes) {
      throw new PartitionError(
        'BATCH_TOO_LARGE',
        `${this.label}: range of ${range.lengthBytes} bytes at position ${range.position} ends past segment capacity of ${info.dataCapacityBytes}`,
      );
    }
    return open;
  }

  exclusiveOwner(nowMs: number): string | null {
    return this.exclusive && nowMs < this.exclusive.leaseExpiresAtMs ? this.exclusive.producerKey : null;
  }

  private checkNotExclusivelyOwned(producerKey: string, nowMs: number): void {
    const owner = this.exclusiveOwner(nowMs);
    if (owner === null) {
      this.exclusive = null;
      return;
    }
    if (owner !== producerKey) {
      throw new PartitionError(
        'EXCLUSIVE_OWNED',
        `${this.label} is owned by exclusive producer '${owner}' until ${this.exclusive!.leaseExpiresAtMs} ms; ` +
          `another producer can write only after it releases the partition or its lease lapses`,
      );
    }
  }

  private checkOwner(producerKey: string, nowMs: number): void {
    requireTime(nowMs);
    const owner = this.exclusiveOwner(nowMs);
    if (owner === producerKey) return;
    if (this.exclusive?.producerKey === producerKey) {
      this.exclusive = null;
      throw new PartitionError(
        'LEASE_EXPIRED',
        `${this.label}: exclusive lease of '${producerKey}' lapsed; acquire the partition again and resume from the watermark`,
      );
    }
    throw new PartitionError(
      owner === null ? 'NOT_EXCLUSIVE_OWNER' : 'EXCLUSIVE_OWNED',
      owner === null
        ? `${this.label} has no exclusive owner; '${producerKey}' must acquire it first`
        : `${this.label} is owned by exclusive producer '${owner}', not '${producerKey}'`,
    );
  }

  // ---- Reading -----------------------------------------------------------

  /** Next offset after the committed (published) prefix. */
  highWatermark(): bigint {
    return this.publishedOffset;
  }

  logStartOffset(): bigint {
    return this.freedUpToOffset;
  }

  /** Where a reader starts scanning for `offset` (see the reader contract at the top); CORRUPT_RANGE inside a fenced range. */
  locate(offset: bigint): Location {
    if (offset < this.logStartOffset()) return 'below-start';
    const end = this.highWatermark();
    if (offset === end) return 'at-end';
    if (offset > end) return 'above-end';
    const fence = this.fenceContaining(offset);
    if (fence) throw this.corrupt(fence);
    const i = this.lastIndexAtOrBefore(offset);
    const entry = this.index[i];
    const segment = this.segmentContaining(offset);
    // An offset in a recovery gap belongs to no segment: start at the next one.
    if (!segment) {
      const next = this.segmentList.find((s) => s.info.baseOffset > offset && s.info.endOffset > s.info.baseOffset);
      return next ? { segmentId: next.info.segmentId, position: next.info.startPosition } : 'at-end';
    }
    if (entry && entry.segmentId === segment.info.segmentId) return { segmentId: entry.segmentId, position: entry.position };
    return { segmentId: segment.info.segmentId, position: segment.info.startPosition };
  }

  /**
   * Offset of the indexed batch where the earliest batch with maxTimestamp ≥
   * `ts` begins or precedes it: exact when every batch is indexed, otherwise a
   * lower bound within one index interval (the reader refines it by scanning
   * batch headers, which carry maxTimestamp). Null when no batch is that late.
   */
  offsetForTimestamp(ts: bigint): bigint | null {
    const found = this.locateTimestamp(ts);
    return found ? found.offset : null;
  }

  /** The largest batch maxTimestamp committed so far (null: none indexed yet). */
  maxTimestampIndexed(): bigint | null {
    const last = this.index[this.index.length - 1];
    return last && last.maxTimestampSoFar > MIN_TIMESTAMP ? last.maxTimestampSoFar : null;
  }

  /** Like `offsetForTimestamp`, with where a reader starts scanning. */
  locateTimestamp(ts: bigint): { offset: bigint; segmentId: number; position: number } | null {
    // maxTimestampSoFar is non-decreasing: binary search the first entry reaching ts.
    let lo = 0;
    let hi = this.index.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.index[mid].maxTimestampSoFar >= ts) hi = mid;
      else lo = mid + 1;
    }
    const entry = this.index[lo];
    // An entry past the published watermark is not readable yet.
    return entry && entry.offset < this.publishedOffset ? { offset: entry.offset, segmentId: entry.segmentId, position: entry.position } : null;
  }

  // ---- Fenced ranges -------------------------------------------------------

  fencedRanges(): FencedRange[] {
    return this.fenced.map((f) => ({ ...f }));
  }

  /** The fence holding `offset`, if any. */
  fenceContaining(offset: bigint): FencedRange | undefined {
    return this.fenced.find((f) => f.baseOffset <= offset && offset < f.endOffset);
  }

  /** The fences a reader of `segmentId` must stop at, lost neighbours included (zero bytes long, where it ends or starts). */
  fencesOf(segmentId: number): SegmentFence[] {
    const segment = this.segmentsById.get(segmentId);
    if (!segment) return [];
    const i = this.segmentList.indexOf(segment);
    const next = this.segmentList[i + 1];
    const out: SegmentFence[] = [];
    for (const f of this.fenced) {
      if (!f.lost && f.segmentId === segmentId) {
        out.push({ startPosition: f.startPosition, endPosition: f.endPosition, baseOffset: f.baseOffset, endOffset: f.endOffset });
      } else if (f.lost && f.baseOffset >= segment.info.endOffset && (!next || f.endOffset <= next.info.baseOffset)) {
        out.push({ startPosition: segment.info.commitPosition, endPosition: segment.info.commitPosition, baseOffset: f.baseOffset, endOffset: f.endOffset });
      } else if (f.lost && i === 0 && f.endOffset <= segment.info.baseOffset) {
        out.push({ startPosition: segment.info.startPosition, endPosition: segment.info.startPosition, baseOffset: f.baseOffset, endOffset: f.endOffset });
      }
    }
    return out;
  }

  /** The operator skipped a damaged range (a skip marker now fills it): readers step over it like any skip marker. */
  resolveFence(segmentId: number, startPosition: number): void {
    const i = this.fenced.findIndex((f) => !f.lost && f.segmentId === segmentId && f.startPosition === startPosition);
    if (i < 0) throw invalid(`${this.label}: segment ${segmentId} has no fenced range at position ${startPosition}`);
    this.fenced.splice(i, 1);
  }

  private corrupt(f: FencedRange): PartitionError {
    const where = f.lost ? `segment ${f.segmentId}, whose header is unreadable` : `segment ${f.segmentId} bytes [${f.startPosition}, ${f.endPosition})`;
    return new PartitionError(
      'CORRUPT_RANGE',
      `${this.label}: offsets [${f.baseOffset}, ${f.endOffset}) in ${where} failed their check, at recovery or by the scrubber (${f.reason}); ` +
        `they are fenced until an operator runs 'rdmq corruption skip'; seek to ${f.endOffset} to read past them`,
    );
  }

  /** An index entry in offset order (recovery adds them after the segments' own). */
  private insertIndexEntry(segment: Segment, offset: bigint, position: number): void {
    const at = this.lastIndexAtOrBefore(offset) + 1;
    const before = at > 0 ? this.index[at - 1].maxTimestampSoFar : MIN_TIMESTAMP;
    this.index.splice(at, 0, { offset, segmentId: segment.info.segmentId, position, maxTimestampSoFar: before });
  }

  private lastIndexAtOrBefore(offset: bigint): number {
    let lo = 0;
    let hi = this.index.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.index[mid].offset <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  private segmentContaining(offset: bigint): Segment | undefined {
    let lo = 0;
    let hi = this.segmentList.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segmentList[mid].info.baseOffset <= offset) lo = mid + 1;
      else hi = mid;
    }
    const segment = this.segmentList[lo - 1];
    return segment && offset < segment.info.endOffset ? segment : undefined;
  }

  // ---- Helpers -----------------------------------------------------------

  private lastSegment(): Segment | undefined {
    return this.segmentList[this.segmentList.length - 1];
  }

  private openSegment(): Segment | undefined {
    const last = this.lastSegment();
    return last && !last.info.sealed ? last : undefined;
  }

  private leaseExpired(stageId: number): PartitionError {
    return new PartitionError(
      'LEASE_EXPIRED',
      `${this.label}: stage ${stageId} outlived its lease of ${this.leaseTimeoutMs} ms and was skipped; stage the batch again`,
    );
  }
}

function isFullyCommitted(segment: Segment): boolean {
  return segment.info.sealed && segment.inFlightStages === 0 && segment.published.commitPosition === segment.info.commitPosition;
}

function publishedInfo(segment: Segment): SegmentInfo {
  return { ...segment.info, commitPosition: segment.published.commitPosition, endOffset: segment.published.endOffset };
}

function segmentBytes(segment: Segment): number {
  return segment.info.commitPosition - segment.info.startPosition;
}

function emptyAdvance(): CommitAdvance {
  return { advanced: false, segments: [], committedStageIds: [], skipped: [] };
}

function invalid(message: string): PartitionError {
  return new PartitionError('INVALID_REQUEST', message);
}

function requirePositiveInteger(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw invalid(`${name} must be a positive integer, got ${value}`);
}

function requireTime(nowMs: number): void {
  if (!Number.isFinite(nowMs)) throw invalid(`nowMs must be a finite number, got ${nowMs}`);
}

function requireProducerKey(producerKey: string): void {
  if (typeof producerKey !== 'string' || producerKey.length === 0) throw invalid('producerKey must be a non-empty string');
}

function validateSegmentInfo(info: SegmentInfo, label: string): void {
  const where = `${label} segment ${info.segmentId}`;
  if (!Number.isSafeInteger(info.segmentId) || info.segmentId < 0) throw invalid(`${where}: segmentId must be an integer ≥ 0`);
  requirePositiveInteger(info.dataCapacityBytes, 'dataCapacityBytes');
  const positionsOk =
    Number.isSafeInteger(info.startPosition) &&
    Number.isSafeInteger(info.commitPosition) &&
    0 <= info.startPosition &&
    info.startPosition <= info.commitPosition &&
    info.commitPosition <= info.dataCapacityBytes;
  if (!positionsOk) {
    throw invalid(
      `${where}: need 0 ≤ startPosition (${info.startPosition}) ≤ commitPosition (${info.commitPosition}) ≤ dataCapacityBytes (${info.dataCapacityBytes})`,
    );
  }
  if (info.baseOffset < 0n || info.endOffset < info.baseOffset) {
    throw invalid(`${where}: need 0 ≤ baseOffset (${info.baseOffset}) ≤ endOffset (${info.endOffset})`);
  }
}

function maxOf(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function maxOfAll(values: bigint[]): bigint | undefined {
  return values.reduce<bigint | undefined>((m, v) => (m === undefined || v > m ? v : m), undefined);
}

function minOf(values: bigint[]): bigint | undefined {
  return values.reduce<bigint | undefined>((m, v) => (m === undefined || v < m ? v : m), undefined);
}

function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
