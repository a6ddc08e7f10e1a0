import fc from 'fast-check';
import {
  CommitAdvance,
  PartitionError,
  PartitionState,
  PartitionStateOptions,
  SegmentInfo,
  StageGrant,
  StageRequest,
} from './partition-state';

const LEASE_MS = 1000;

function emptySegment(segmentId: number, baseOffset: bigint, dataCapacityBytes = 1 << 20): SegmentInfo {
  return {
    segmentId,
    baseOffset,
    dataCapacityBytes,
    startPosition: 0,
    commitPosition: 0,
    endOffset: baseOffset,
    sealed: false,
    maxTimestamp: -1n,
  };
}

function freshPartition(options: Partial<PartitionStateOptions> = {}, capacityBytes = 1 << 20): PartitionState {
  const state = new PartitionState(
    { topicId: 7, partition: 0, topicName: 'orders', segments: [emptySegment(1, 0n, capacityBytes)] },
    { leaseTimeoutMs: LEASE_MS, ...options },
  );
  return state;
}

function grantOf(state: PartitionState, request: Partial<StageRequest> & { lengthBytes: number }): StageGrant {
  const result = state.stage({ recordCount: 1, producerKey: 'p', nowMs: 0, ...request });
  if (result.kind !== 'granted') throw new Error(`expected a grant, got ${JSON.stringify(result, bigintJson)}`);
  return result.grant;
}

/** Stages a batch, adding segments as the partition asks for them. */
function stageRolling(state: PartitionState, request: StageRequest, nextSegmentId: () => number, capacityBytes: number): StageGrant {
  for (let attempt = 0; attempt < 3; attempt++) {
    const result = state.stage(request);
    if (result.kind === 'granted') return result.grant;
    state.addSegment(emptySegment(nextSegmentId(), result.baseOffset, capacityBytes));
  }
  throw new Error('no grant after adding a segment');
}

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}

function caught(fn: () => unknown): PartitionError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PartitionError) return err;
    throw err;
  }
  throw new Error('expected a PartitionError');
}

describe('PartitionState shared staging', () => {
  test('a dead producer\'s range is skipped after the lease timeout', () => {
    const state = freshPartition();
    const a = grantOf(state, { lengthBytes: 100, recordCount: 3, producerKey: 'a', nowMs: 0 });
    const b = grantOf(state, { lengthBytes: 50, recordCount: 2, producerKey: 'b', nowMs: 10 });
    expect([a.position, a.baseOffset, b.position, b.baseOffset]).toEqual([0, 0n, 100, 3n]);

    const early = state.complete(b.stageId, { maxTimestamp: 5n, nowMs: 20 });
    expect(early).toEqual({ advanced: false, segments: [], committedStageIds: [], skipped: [] });
    expect(state.highWatermark()).toBe(0n);

    expect(state.expireLeases(LEASE_MS - 1).advanced).toBe(false);
    const later = state.expireLeases(LEASE_MS);
    expect(later.advanced).toBe(true);
    expect(later.skipped).toEqual([{ segmentId: 1, position: 0, lengthBytes: 100, baseOffset: 0n, offsetCount: 3 }]);
    expect(later.committedStageIds).toEqual([b.stageId]);
    expect(later.segments).toEqual([{ segmentId: 1, commitPosition: 150, endOffset: 5n }]);
    expect(state.highWatermark()).toBe(5n);
    expect(state.skippedRanges(1)).toEqual(later.skipped);
  });

  test('a producer completing after its lease ran out must stage again', () => {
    const state = freshPartition();
    const a = grantOf(state, { lengthBytes: 100, nowMs: 0 });
    expect(caught(() => state.complete(a.stageId, { maxTimestamp: 1n, nowMs: LEASE_MS })).code).toBe('LEASE_EXPIRED');
    state.expireLeases(LEASE_MS);
    const err = caught(() => state.complete(a.stageId, { maxTimestamp: 1n, nowMs: LEASE_MS }));
    expect(err.code).toBe('LEASE_EXPIRED');
    expect(err.retriable).toBe(true);
  });

  test('completing a stage twice is harmless and unknown stages are refused', () => {
    const state = freshPartition();
    const a = grantOf(state, { lengthBytes: 10 });
    expect(state.complete(a.stageId, { maxTimestamp: 1n, nowMs: 1 }).committedStageIds).toEqual([a.stageId]);
    expect(state.complete(a.stageId, { maxTimestamp: 1n, nowMs: 1 }).advanced).toBe(false);
    expect(caught(() => state.complete(999, { maxTimestamp: 1n, nowMs: 1 })).code).toBe('UNKNOWN_STAGE');
  });

  test('a batch that does not fit seals the segment and asks for a new one at the next offset', () => {
    const state = freshPartition({}, 1000);
    const a = grantOf(state, { lengthBytes: 600, recordCount: 4 });
    const roll = state.stage({ lengthBytes: 600, recordCount: 2, producerKey: 'p', nowMs: 0 });
    expect(roll).toEqual({ kind: 'need-segment', baseOffset: 4n, neededBytes: 600, sealedSegmentId: 1 });
    expect(state.segments()[0].sealed).toBe(true);
    // The sealed segment is not fully committed while its stage is in flight.
    expect(state.isFullyCommitted(1)).toBe(false);
    expect(caught(() => state.addSegment(emptySegment(2, 3n, 1000))).code).toBe('INVALID_REQUEST');
    state.addSegment(emptySegment(2, 4n, 1000));
    const b = grantOf(state, { lengthBytes: 600, recordCount: 2 });
    expect([b.segmentId, b.position, b.baseOffset]).toEqual([2, 0, 4n]);

    expect(state.complete(b.stageId, { maxTimestamp: 1n, nowMs: 1 }).advanced).toBe(false);
    const both = state.complete(a.stageId, { maxTimestamp: 1n, nowMs: 1 });
    expect(both.committedStageIds).toEqual([a.stageId, b.stageId]);
    expect(both.segments).toEqual([
      { segmentId: 1, commitPosition: 600, endOffset: 4n },
      { segmentId: 2, commitPosition: 600, endOffset: 6n },
    ]);
    expect(state.isFullyCommitted(1)).toBe(true);
  });

  test('a batch larger than the largest segment of its topic is rejected as MESSAGE_TOO_LARGE, before any roll', () => {
    const state = freshPartition({}, 64 * 1024);
    const err = caught(() => state.stage({ lengthBytes: 9437184, recordCount: 1, producerKey: 'p', nowMs: 0, segmentDataBytesMax: 8384512 }));
    expect(err.code).toBe('BATCH_TOO_LARGE');
    expect(err.kafkaErrorName).toBe('MESSAGE_TOO_LARGE');
    expect(err.retriable).toBe(false);
    expect(err.message).toBe('batch of 9437184 bytes exceeds the largest segment of orders partition 0: 8384512 bytes of batches');
    expect(state.segments()[0].sealed).toBe(false);
    // Larger than the open segment but within the largest: a new segment is asked for, with room for the batch.
    expect(state.stage({ lengthBytes: 100_000, recordCount: 1, producerKey: 'p', nowMs: 0, segmentDataBytesMax: 8384512 })).toEqual({
      kind: 'need-segment',
      baseOffset: 0n,
      neededBytes: 100_000,
      sealedSegmentId: 1,
    });
  });

  test('bad stage requests are refused with INVALID_REQUEST', () => {
    const state = freshPartition();
    for (const bad of [{ lengthBytes: 0 }, { lengthBytes: 1.5 }, { recordCount: 0 }, { producerKey: '' }, { nowMs: NaN }]) {
      const request = { lengthBytes: 10, recordCount: 1, producerKey: 'p', nowMs: 0, ...bad };
      expect(caught(() => state.stage(request)).code).toBe('INVALID_REQUEST');
    }
  });

  test('the number of stages in flight is bounded and the limit is retriable', () => {
    const state = freshPartition({ maxInFlightStages: 2 });
    const a = grantOf(state, { lengthBytes: 1 });
    grantOf(state, { lengthBytes: 1 });
    const err = caught(() => state.stage({ lengthBytes: 1, recordCount: 1, producerKey: 'p', nowMs: 0 }));
    expect(err.code).toBe('TOO_MANY_IN_FLIGHT');
    expect(err.retriable).toBe(true);
    state.complete(a.stageId, { maxTimestamp: 0n, nowMs: 0 });
    expect(state.stage({ lengthBytes: 1, recordCount: 1, producerKey: 'p', nowMs: 0 }).kind).toBe('granted');
  });

  test('with no segment at all the first stage asks for one at offset 0', () => {
    const state = new PartitionState({ topicId: 1, partition: 0, segments: [] }, { leaseTimeoutMs: LEASE_MS });
    expect(state.stage({ lengthBytes: 1, recordCount: 1, producerKey: 'p', nowMs: 0 })).toEqual({
      kind: 'need-segment',
      baseOffset: 0n,
      neededBytes: 1,
    });
    expect([state.logStartOffset(), state.highWatermark(), state.locate(0n)]).toEqual([0n, 0n, 'at-end']);
  });
});

describe('PartitionState with four interleaved producers', () => {
  type Step =
    | { op: 'stage'; producer: number; lengthBytes: number; recordCount: number }
    | { op: 'complete'; pick: number }
    | { op: 'tick'; ms: number };

  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({
      op: fc.constant('stage' as const),
      producer: fc.integer({ min: 0, max: 3 }),
      lengthBytes: fc.integer({ min: 1, max: 400 }),
      recordCount: fc.integer({ min: 1, max: 5 }),
    }),
    fc.record({ op: fc.constant('complete' as const), pick: fc.nat() }),
    fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 400 }) }),
  );

  test('the watermark is a contiguous prefix, every stage commits exactly once and offsets are dense', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 200 }), (steps) => {
        const capacityBytes = 1000;
        const state = freshPartition({ indexIntervalBytes: 0 }, capacityBytes);
        let segmentId = 1;
        let nowMs = 0;
        const grants: StageGrant[] = [];
        const open: StageGrant[] = [];
        const committed = new Map<number, number>();
        const skippedOffsets: bigint[] = [];
        const record = (advance: CommitAdvance) => {
          for (const id of advance.committedStageIds) committed.set(id, (committed.get(id) ?? 0) + 1);
          for (const s of advance.skipped) skippedOffsets.push(s.baseOffset);
        };

        for (const s of steps) {
          if (s.op === 'stage') {
            const grant = stageRolling(
              state,
              { lengthBytes: s.lengthBytes, recordCount: s.recordCount, producerKey: `p${s.producer}`, nowMs },
              () => ++segmentId,
              capacityBytes,
            );
            grants.push(grant);
            open.push(grant);
          } else if (s.op === 'complete' && open.length > 0) {
            const [grant] = open.splice(s.pick % open.length, 1);
            try {
              record(state.complete(grant.stageId, { maxTimestamp: BigInt(nowMs), nowMs }));
            } catch (err) {
              if (!(err instanceof PartitionError) || err.code !== 'LEASE_EXPIRED') throw err;
              expect(nowMs).toBeGreaterThanOrEqual(grant.leaseExpiresAtMs);
            }
          } else if (s.op === 'tick') {
            nowMs += s.ms;
            record(state.expireLeases(nowMs));
          }

          // The watermark is exactly the end of the resolved prefix of stages.
          const resolvedPrefix = grants.findIndex((g) => !committed.has(g.stageId) && !skippedOffsets.includes(g.baseOffset));
          const prefix = resolvedPrefix === -1 ? grants : grants.slice(0, resolvedPrefix);
          const lastInPrefix = prefix[prefix.length - 1];
          const expected = lastInPrefix ? lastInPrefix.baseOffset + BigInt(lastInPrefix.recordCount) : 0n;
          expect(state.highWatermark()).toBe(expected);
          // Nothing beyond the prefix is resolved.
          for (const g of grants.slice(prefix.length)) expect(committed.has(g.stageId)).toBe(false);
        }

        // Let every lease lapse: the whole log is then resolved.
        record(state.expireLeases(nowMs + 10 * LEASE_MS));
        for (const n of committed.values()) expect(n).toBe(1);
        expect(committed.size + skippedOffsets.length).toBe(grants.length);
        // Offsets are dense and each byte range follows the previous one in its segment.
        let nextOffset = 0n;
        const segmentEnd = new Map<number, number>();
        for (const g of grants) {
          expect(g.baseOffset).toBe(nextOffset);
          nextOffset += BigInt(g.recordCount);
          expect(g.position).toBe(segmentEnd.get(g.segmentId) ?? 0);
          segmentEnd.set(g.segmentId, g.position + g.lengthBytes);
          expect(g.position + g.lengthBytes).toBeLessThanOrEqual(capacityBytes);
        }
        expect(state.highWatermark()).toBe(nextOffset);
        for (const info of state.segments()) {
          expect(info.commitPosition).toBe(segmentEnd.get(info.segmentId) ?? 0);
        }
        // Every offset locates to the segment whose grant holds it.
        for (const g of grants) {
          const at = state.locate(g.baseOffset);
          expect(at).toEqual({ segmentId: g.segmentId, position: g.position });
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('PartitionState exclusive mode', () => {
  test('an exclusive owner rejects a second exclusive producer with a message naming the partition', () => {
    const state = freshPartition();
    const grant = state.acquireExclusive('alpha', 0);
    expect(grant).toEqual({ kind: 'acquired', segmentId: 1, position: 0, nextOffset: 0n, dataCapacityBytes: 1 << 20, leaseExpiresAtMs: LEASE_MS });
    const err = caught(() => state.acquireExclusive('beta', 10));
    expect(err.code).toBe('EXCLUSIVE_OWNED');
    expect(err.message).toContain("orders partition 0 is owned by exclusive producer 'alpha'");
    expect(caught(() => state.stage({ lengthBytes: 1, recordCount: 1, producerKey: 'beta', nowMs: 10 })).code).toBe(
      'EXCLUSIVE_OWNED',
    );
    // After the owner releases, another producer may take over.
    expect(state.releaseExclusive('alpha')).toBe(true);
    expect(state.acquireExclusive('beta', 20).kind).toBe('acquired');
  });

  test('an exclusive lease lapses without commits and renews with each commit', () => {
    const state = freshPartition();
    state.acquireExclusive('alpha', 0);
    state.commitExclusive('alpha', { segmentId: 1, position: 0, lengthBytes: 10, baseOffset: 0n, recordCount: 1, maxTimestamp: 1n, nowMs: 900 });
    expect(state.exclusiveOwner(1500)).toBe('alpha');
    expect(state.exclusiveOwner(1900)).toBeNull();
    expect(state.acquireExclusive('beta', 1900)).toMatchObject({ kind: 'acquired', position: 10, nextOffset: 1n });
    const lapsed = caught(() =>
      state.commitExclusive('alpha', { segmentId: 1, position: 10, lengthBytes: 10, baseOffset: 1n, recordCount: 1, maxTimestamp: 1n, nowMs: 1901 }),
    );
    expect(lapsed.code).toBe('EXCLUSIVE_OWNED');
  });

  test('commitExclusive refuses a range that is not contiguous with the watermark', () => {
    const state = freshPartition({}, 100);
    state.acquireExclusive('alpha', 0);
    const commit = { segmentId: 1, position: 0, lengthBytes: 40, baseOffset: 0n, recordCount: 4, maxTimestamp: 1n, nowMs: 1 };
    const advance = state.commitExclusive('alpha', commit);
    expect(advance.segments).toEqual([{ segmentId: 1, commitPosition: 40, endOffset: 4n }]);
    expect(state.highWatermark()).toBe(4n);

    const gap = caught(() => state.commitExclusive('alpha', { ...commit, position: 50, baseOffset: 4n }));
    expect(gap.code).toBe('NOT_CONTIGUOUS');
    expect(gap.message).toContain('committed up to position 40 offset 4');
    expect(caught(() => state.commitExclusive('alpha', { ...commit, position: 40, baseOffset: 5n })).code).toBe('NOT_CONTIGUOUS');
    expect(caught(() => state.commitExclusive('alpha', { ...commit, segmentId: 9, position: 40, baseOffset: 4n })).code).toBe(
      'NOT_CONTIGUOUS',
    );
    expect(caught(() => state.commitExclusive('alpha', { ...commit, position: 40, baseOffset: 4n, lengthBytes: 61 })).code).toBe(
      'BATCH_TOO_LARGE',
    );
    expect(caught(() => state.commitExclusive('gamma', { ...commit, position: 40, baseOffset: 4n })).code).toBe('EXCLUSIVE_OWNED');

    // A roll seals the segment; the owner continues at the new segment's start.
    expect(state.rollExclusive('alpha', 2, 70)).toEqual({ kind: 'need-segment', baseOffset: 4n, neededBytes: 70, sealedSegmentId: 1 });
    state.addSegment(emptySegment(2, 4n, 100));
    expect(caught(() => state.commitExclusive('alpha', { ...commit, position: 40, baseOffset: 4n })).code).toBe('NOT_CONTIGUOUS');
    state.commitExclusive('alpha', { ...commit, segmentId: 2, position: 0, baseOffset: 4n });
    expect(state.highWatermark()).toBe(8n);
    expect(state.isFullyCommitted(1)).toBe(true);
  });

  test('exclusive mode waits for shared stages in flight', () => {
    const state = freshPartition();
    const a = grantOf(state, { lengthBytes: 10, producerKey: 'shared' });
    const err = caught(() => state.acquireExclusive('alpha', 0));
    expect([err.code, err.retriable]).toEqual(['STAGES_IN_FLIGHT', true]);
    state.complete(a.stageId, { maxTimestamp: 0n, nowMs: 1 });
    expect(state.acquireExclusive('alpha', 1)).toMatchObject({ position: 10, nextOffset: 1n });
  });

  test('acquiring a partition without an open segment asks for one', () => {
    const state = new PartitionState({ topicId: 1, partition: 3, segments: [] }, { leaseTimeoutMs: LEASE_MS });
    expect(state.acquireExclusive('alpha', 0)).toEqual({ kind: 'need-segment', baseOffset: 0n, neededBytes: 0 });
    state.addSegment(emptySegment(5, 0n));
    expect(state.acquireExclusive('alpha', 1)).toMatchObject({ kind: 'acquired', segmentId: 5, position: 0 });
  });
});

describe('PartitionState reading side', () => {
  /** Commits `count` batches of `batchBytes` each, rolling segments of `capacityBytes`. */
  function filledPartition(count: number, batchBytes: number, capacityBytes: number, indexIntervalBytes: number) {
    const state = freshPartition({ indexIntervalBytes }, capacityBytes);
    let segmentId = 1;
    const grants: StageGrant[] = [];
    for (let i = 0; i < count; i++) {
      const grant = stageRolling(
        state,
        { lengthBytes: batchBytes, recordCount: (i % 3) + 1, producerKey: 'p', nowMs: i },
        () => ++segmentId,
        capacityBytes,
      );
      state.complete(grant.stageId, { maxTimestamp: BigInt(1000 + i * 10), nowMs: i });
      grants.push(grant);
    }
    return { state, grants };
  }

  test('locate finds a position at or before the batch holding an offset across many segments', () => {
    const batchBytes = 300;
    const indexIntervalBytes = 1000;
    const { state, grants } = filledPartition(500, batchBytes, 4096, indexIntervalBytes);
    expect(state.segments().length).toBeGreaterThan(30);
    for (const g of grants) {
      for (let k = 0; k < g.recordCount; k++) {
        const at = state.locate(g.baseOffset + BigInt(k));
        if (typeof at === 'string') throw new Error(`offset ${g.baseOffset + BigInt(k)} not located: ${at}`);
        expect(at.segmentId).toBe(g.segmentId);
        expect(at.position).toBeLessThanOrEqual(g.position);
        // Sparse, but a scan never reads more than an interval plus a batch.
        expect(g.position - at.position).toBeLessThan(indexIntervalBytes + batchBytes);
      }
    }
    const end = state.highWatermark();
    expect([state.locate(end), state.locate(end + 1n), state.locate(-1n)]).toEqual(['at-end', 'above-end', 'below-start']);
  });

  test('offsetForTimestamp finds the earliest batch reaching a timestamp', () => {
    const { state, grants } = filledPartition(200, 300, 4096, 0);
    expect(state.offsetForTimestamp(0n)).toBe(0n);
    expect(state.offsetForTimestamp(1000n)).toBe(0n);
    expect(state.offsetForTimestamp(1001n)).toBe(grants[1].baseOffset);
    expect(state.offsetForTimestamp(1500n)).toBe(grants[50].baseOffset);
    expect(state.offsetForTimestamp(BigInt(1000 + 199 * 10))).toBe(grants[199].baseOffset);
    expect(state.offsetForTimestamp(BigInt(1000 + 199 * 10 + 1))).toBeNull();
  });

  test('with a sparse index offsetForTimestamp is a lower bound within one interval', () => {
    const { state, grants } = filledPartition(200, 300, 4096, 1000);
    for (let i = 0; i < grants.length; i++) {
      const found = state.locateTimestamp(BigInt(1000 + i * 10));
      if (!found) throw new Error('not found');
      expect(found.offset).toBeLessThanOrEqual(grants[i].baseOffset);
      const exact = grants[i];
      if (found.segmentId === exact.segmentId) expect(exact.position - found.position).toBeLessThan(1300);
    }
  });

  test('a skipped range has its own index entry so readers step over it', () => {
    const state = freshPartition({ indexIntervalBytes: 1 << 20 });
    const a = grantOf(state, { lengthBytes: 100, recordCount: 2 });
    const b = grantOf(state, { lengthBytes: 100, recordCount: 2 });
    const c = grantOf(state, { lengthBytes: 100, recordCount: 2, nowMs: 500 });
    state.complete(a.stageId, { maxTimestamp: 1n, nowMs: 1 });
    state.complete(c.stageId, { maxTimestamp: 3n, nowMs: 501 });
    state.expireLeases(LEASE_MS);
    expect(state.locate(1n)).toEqual({ segmentId: 1, position: 0 });
    expect(state.locate(3n)).toEqual({ segmentId: 1, position: 100 });
    expect(state.locate(5n)).toEqual({ segmentId: 1, position: 100 });
    expect(state.skippedRanges(1)).toEqual([{ segmentId: 1, position: 100, lengthBytes: 100, baseOffset: 2n, offsetCount: 2 }]);
  });
});

describe('PartitionState recovery and retention', () => {
  function recovered(): PartitionState {
    const segments: SegmentInfo[] = [
      { segmentId: 10, baseOffset: 0n, dataCapacityBytes: 1000, startPosition: 0, commitPosition: 900, endOffset: 90n, sealed: true, maxTimestamp: 1000n },
      { segmentId: 11, baseOffset: 90n, dataCapacityBytes: 1000, startPosition: 0, commitPosition: 800, endOffset: 170n, sealed: true, maxTimestamp: 2000n },
      // Stages lost in a crash after the roll: offsets 250..259 are a gap.
      { segmentId: 12, baseOffset: 170n, dataCapacityBytes: 1000, startPosition: 0, commitPosition: 950, endOffset: 250n, sealed: false, maxTimestamp: 3000n },
      { segmentId: 13, baseOffset: 260n, dataCapacityBytes: 1000, startPosition: 0, commitPosition: 100, endOffset: 270n, sealed: false, maxTimestamp: 4000n },
    ];
    return new PartitionState({ topicId: 2, partition: 1, segments }, { leaseTimeoutMs: LEASE_MS });
  }

  test('a recovered partition resumes at its last commit and treats a crash gap as skipped', () => {
    const state = recovered();
    expect([state.logStartOffset(), state.highWatermark()]).toEqual([0n, 270n]);
    expect(state.segments().map((s) => s.sealed)).toEqual([true, true, true, false]);
    expect(state.skippedRanges(12)).toEqual([{ segmentId: 12, position: 950, lengthBytes: 0, baseOffset: 250n, offsetCount: 10 }]);
    expect(state.locate(100n)).toEqual({ segmentId: 11, position: 0 });
    expect(state.locate(255n)).toEqual({ segmentId: 13, position: 0 });
    const grant = grantOf(state, { lengthBytes: 10 });
    expect([grant.segmentId, grant.position, grant.baseOffset]).toEqual([13, 100, 270n]);
  });

  test('retention frees the oldest sealed, fully committed segments and never the open one', () => {
    const state = recovered();
    expect(state.retentionCandidates({ nowMs: 2500, retentionMs: 1000, retentionBytes: -1 }).map((s) => s.segmentId)).toEqual([10]);
    expect(state.retentionCandidates({ nowMs: 1e9, retentionMs: 1000, retentionBytes: -1 }).map((s) => s.segmentId)).toEqual([10, 11, 12]);
    expect(state.retentionCandidates({ nowMs: 0, retentionMs: -1, retentionBytes: 1000 }).map((s) => s.segmentId)).toEqual([10, 11]);
    expect(state.retentionCandidates({ nowMs: 0, retentionMs: -1, retentionBytes: -1 })).toEqual([]);

    expect(caught(() => state.removeSegment(11)).code).toBe('INVALID_REQUEST');
    state.removeSegment(10);
    expect(state.logStartOffset()).toBe(90n);
    expect(state.locate(50n)).toBe('below-start');
    expect(state.dropSegmentsBefore(1000n)).toEqual([11, 12]);
    expect(state.logStartOffset()).toBe(260n);
    expect(state.segments().map((s) => s.segmentId)).toEqual([13]);
  });

  test('DeleteRecords moves the log start inside a segment, never back and never past the watermark', () => {
    const state = recovered();
    state.moveLogStart(120n);
    expect(state.logStartOffset()).toBe(120n);
    expect(state.locate(119n)).toBe('below-start');
    expect(state.locate(120n)).toEqual({ segmentId: 11, position: 0 });
    // Segment 10 holds only offsets below the start; 11 still holds readable ones.
    expect(state.segmentsBelowLogStart().map((s) => s.segmentId)).toEqual([10]);
    state.moveLogStart(50n);
    expect(state.logStartOffset()).toBe(120n);
    expect(caught(() => state.moveLogStart(271n)).code).toBe('OFFSET_OUT_OF_RANGE');
    // Freeing the segment below does not pull the start back to the next segment's base.
    state.removeSegment(10);
    expect(state.logStartOffset()).toBe(120n);
    // Up to the watermark: every sealed segment is below, never the open one.
    state.moveLogStart(270n);
    expect(state.segmentsBelowLogStart().map((s) => s.segmentId)).toEqual([11, 12]);
    expect(state.locate(270n)).toBe('at-end');
  });

  test('a recovered partition keeps the log start its metadata recorded', () => {
    const segments = [...recovered().segments()];
    const state = new PartitionState({ topicId: 2, partition: 1, segments, logStartOffset: 100n }, { leaseTimeoutMs: LEASE_MS });
    expect(state.logStartOffset()).toBe(100n);
    expect(state.locate(99n)).toBe('below-start');
  });

  test('a sealed segment with a stage in flight is not a retention candidate', () => {
    const state = freshPartition({}, 100);
    const a = grantOf(state, { lengthBytes: 80 });
    expect(state.stage({ lengthBytes: 80, recordCount: 1, producerKey: 'p', nowMs: 0 }).kind).toBe('need-segment');
    state.addSegment(emptySegment(2, 1n, 100));
    const policy = { nowMs: 1e12, retentionMs: 0, retentionBytes: -1 };
    expect(state.retentionCandidates(policy)).toEqual([]);
    state.complete(a.stageId, { maxTimestamp: 0n, nowMs: 1 });
    expect(state.retentionCandidates(policy).map((s) => s.segmentId)).toEqual([1]);
  });

  test('overlapping recovered segments are refused', () => {
    const seg = (id: number, base: bigint, end: bigint): SegmentInfo => ({ ...emptySegment(id, base), commitPosition: 10, endOffset: end, sealed: true });
    expect(
      caught(() => new PartitionState({ topicId: 1, partition: 0, segments: [seg(1, 0n, 10n), seg(2, 5n, 12n)] }, { leaseTimeoutMs: 1 })).code,
    ).toBe('INVALID_REQUEST');
  });
});

describe('PartitionState with fenced ranges', () => {
  const sealedSegment: SegmentInfo = { ...emptySegment(1, 0n), commitPosition: 3000, endOffset: 30n, sealed: true, maxTimestamp: 5n };
  const openSegment: SegmentInfo = { ...emptySegment(2, 30n), commitPosition: 1000, endOffset: 40n, maxTimestamp: 6n };
  const damaged = { segmentId: 1, lost: false, startPosition: 1000, endPosition: 2000, baseOffset: 10n, endOffset: 20n, reason: 'CRC32C mismatch' };

  function withFences(fenced: Parameters<typeof recoveredWith>[1], segments = [sealedSegment, openSegment]): PartitionState {
    return recoveredWith(segments, fenced);
  }

  function recoveredWith(segments: SegmentInfo[], fenced: { segmentId: number; lost: boolean; startPosition: number; endPosition: number; baseOffset: bigint; endOffset: bigint; reason: string }[]): PartitionState {
    return new PartitionState({ topicId: 7, partition: 0, topicName: 'orders', segments, fenced }, { leaseTimeoutMs: LEASE_MS });
  }

  test('locate refuses offsets inside a damaged range with CORRUPT_MESSAGE and starts readers past it at its end', () => {
    const state = withFences([damaged]);
    expect(state.locate(5n)).toEqual({ segmentId: 1, position: 0 });
    for (const offset of [10n, 15n, 19n]) {
      expect(() => state.locate(offset)).toThrow(expect.objectContaining({ code: 'CORRUPT_RANGE', kafkaErrorCode: 2, message: expect.stringContaining('offsets [10, 20) in segment 1 bytes [1000, 2000)') }));
    }
    expect(state.locate(20n)).toEqual({ segmentId: 1, position: 2000 });
    expect(state.locate(25n)).toEqual({ segmentId: 1, position: 2000 });
    expect(state.locate(35n)).toEqual({ segmentId: 2, position: 0 });
    expect(state.highWatermark()).toBe(40n);
    expect(state.fencesOf(1)).toEqual([{ startPosition: 1000, endPosition: 2000, baseOffset: 10n, endOffset: 20n }]);
    expect(state.fencesOf(2)).toEqual([]);
  });

  test('new stages go on after the header end offset, never over a damaged range', () => {
    const state = withFences([{ ...damaged, segmentId: 2, startPosition: 500, endPosition: 1000, baseOffset: 35n, endOffset: 40n }]);
    expect(grantOf(state, { lengthBytes: 100 })).toMatchObject({ segmentId: 2, position: 1000, baseOffset: 40n });
  });

  test('a resolved fence reads like any skip marker', () => {
    const state = withFences([damaged]);
    state.resolveFence(1, 1000);
    expect(state.locate(15n)).toEqual({ segmentId: 1, position: 0 });
    expect(state.fencedRanges()).toEqual([]);
    expect(() => state.resolveFence(1, 1000)).toThrow(/no fenced range at position 1000/);
  });

  test('a lost segment in the middle is fenced as a whole and shown to readers where its neighbour ends', () => {
    const third: SegmentInfo = { ...emptySegment(3, 50n), commitPosition: 500, endOffset: 55n };
    const lost = { segmentId: 2, lost: true, startPosition: 0, endPosition: 0, baseOffset: 30n, endOffset: 50n, reason: 'header unreadable' };
    const state = withFences([lost], [sealedSegment, third]);
    expect(() => state.locate(30n)).toThrow(expect.objectContaining({ code: 'CORRUPT_RANGE', message: expect.stringContaining('segment 2, whose header is unreadable') }));
    expect(state.locate(50n)).toEqual({ segmentId: 3, position: 0 });
    expect(state.fencesOf(1)).toEqual([{ startPosition: 3000, endPosition: 3000, baseOffset: 30n, endOffset: 50n }]);
    expect(state.highWatermark()).toBe(55n);
  });

  test('a lost last segment keeps its offsets up to their bound: new records start after it', () => {
    const lost = { segmentId: 2, lost: true, startPosition: 0, endPosition: 0, baseOffset: 30n, endOffset: 30n + BigInt(1 << 20), reason: 'header unreadable' };
    const state = withFences([lost], [sealedSegment]);
    expect(state.highWatermark()).toBe(30n + BigInt(1 << 20));
    const result = state.stage({ lengthBytes: 100, recordCount: 1, producerKey: 'p', nowMs: 0 });
    expect(result).toEqual({ kind: 'need-segment', baseOffset: 30n + BigInt(1 << 20), neededBytes: 100 });
    expect(() => state.locate(31n)).toThrow(expect.objectContaining({ code: 'CORRUPT_RANGE' }));
  });
});
