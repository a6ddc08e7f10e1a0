import * as fs from 'fs';
import { SegmentStore } from './segment-store';
import { StorageError } from './storage-error';
import { decodeSegmentHeaderCopy, encodeSegmentHeader, SEGMENT_COMMIT_LINE_OFFSET, segmentHeaderCopyOffset, SegmentState } from './layout';
import { buildTestBatch, buildTestSkipMarker } from './testing/batches';
import { closeTestRegions, testRegion as harness } from './testing/regions';

afterEach(closeTestRegions);

const MiB = 1024 * 1024;
const SLOT = 64 * 1024;
const SLOT_COUNT = 255; // (16 MiB - the superblock slot) / 64 KiB
const SEGMENT_COUNT = 15; // segments of the default size (1 MiB = 16 slots) that fit in 255 slots


/** What a producer's one-sided put does: write straight into the segment's data area. */
function put(store: SegmentStore, segmentId: number, position: number, bytes: Buffer): void {
  const { regionOffset } = store.dataRange(segmentId);
  bytes.copy(store.region.bytes(regionOffset + position, bytes.length));
}

/** Puts batches of the given sizes one after another from the commit position, and commits them. */
function appendAndCommit(store: SegmentStore, segmentId: number, sizes: number[]): Buffer[] {
  let { commitPosition: position, endOffset } = store.get(segmentId);
  const batches: Buffer[] = [];
  for (const sizeBytes of sizes) {
    const batch = buildTestBatch({ baseOffset: endOffset, recordCount: 4, sizeBytes, maxTimestamp: 1000n + endOffset });
    put(store, segmentId, position, batch);
    position += batch.length;
    endOffset += 4n;
    batches.push(batch);
  }
  store.commit(segmentId, { commitPosition: position, endOffset, maxTimestamp: 1000n + endOffset - 4n });
  return batches;
}

function caught(fn: () => unknown): StorageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StorageError);
    return err as StorageError;
  }
  throw new Error('expected a StorageError, nothing was thrown');
}

/** Flips a byte of the newest header copy, as a write torn by a crash would leave it. */
function tearNewestHeaderCopy(store: SegmentStore, segmentId: number, sequence: number): void {
  const { regionOffset } = store.dataRange(segmentId);
  const headerPage = store.region.bytes(regionOffset - 4096, 4096);
  headerPage[segmentHeaderCopyOffset(sequence) + SEGMENT_COMMIT_LINE_OFFSET + 1] ^= 0xff;
}

describe('SegmentStore', () => {
  it('keeps committed segments, positions and bytes across close and reopen', () => {
    const h = harness();
    const store = h.open();
    const a = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    const b = store.allocate({ topicId: 2, partition: 5, baseOffset: 1000n });
    const aBatches = appendAndCommit(store, a.segmentId, [100, 2000, 70_000]);
    const bBatches = appendAndCommit(store, b.segmentId, [61, 5000]);
    store.seal(b.segmentId, { finalPosition: store.get(b.segmentId).commitPosition });
    const before = store.describe();
    store.close();

    const reopened = h.open();
    expect(reopened.describe()).toEqual(before);
    expect(reopened.recovery).toEqual({ segmentsRecovered: 2, segmentsLost: [], freesFinished: [], fencedRanges: [], headerFallbacks: [] });
    expect(reopened.read(a.segmentId, 0, before[0].commitPosition)).toEqual(Buffer.concat(aBatches));
    expect(reopened.read(b.segmentId, 0, before[1].commitPosition)).toEqual(Buffer.concat(bBatches));
    expect(reopened.get(a.segmentId)).toMatchObject({ state: 'OPEN', topicId: 1, endOffset: 12n, commitPosition: 72_100 });
    expect(reopened.get(b.segmentId)).toMatchObject({ state: 'SEALED', sealed: true, partition: 5, endOffset: 1008n });
    expect(reopened.get(b.segmentId).sealedAtMs).toBeGreaterThan(0);
    expect(h.warnings).toEqual([]);
  });

  it('initialises a zero-filled file as a new region and keeps its node uuid across reopen', () => {
    const h = harness();
    fs.writeFileSync(h.path, Buffer.alloc(0));
    fs.truncateSync(h.path, 16 * MiB);
    const store = h.open();
    const uuid = store.superblock.nodeUuid;
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(store.usage()).toEqual({
      segments: 0,
      usedBytes: 0,
      allocatedBytes: 0,
      freeBytes: SLOT_COUNT * SLOT,
      largestFreeBytes: SLOT_COUNT * SLOT,
      segmentSizeBytes: MiB,
    });
    store.close();
    expect(h.open().superblock.nodeUuid).toBe(uuid);
  });

  it('ignores a torn batch beyond the commit position', () => {
    const h = harness();
    const store = h.open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    appendAndCommit(store, segmentId, [300, 400]);
    const torn = buildTestBatch({ baseOffset: 8n, recordCount: 4, sizeBytes: 5000 });
    put(store, segmentId, 700, torn.subarray(0, 2000)); // the producer died mid-put
    store.close();

    const reopened = h.open();
    expect(reopened.get(segmentId)).toMatchObject({ commitPosition: 700, endOffset: 8n });
    expect(reopened.recovery.fencedRanges).toEqual([]);
    expect(h.warnings).toEqual([]);
  });

  it('fences a corrupt committed batch and keeps the commit position, end offset and the batches around it', () => {
    const h = harness();
    const store = h.open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 3, baseOffset: 100n });
    appendAndCommit(store, segmentId, [300, 400, 500]);
    store.read(segmentId, 300 + 200, 1)[0] ^= 0x01; // a bit flip inside the second batch
    store.close();

    const reopened = h.open();
    expect(reopened.get(segmentId)).toMatchObject({ commitPosition: 1200, endOffset: 112n });
    const fence = { segmentId, topicId: 1, partition: 3, startPosition: 300, endPosition: 700, baseOffset: 104n, endOffset: 108n };
    expect(reopened.recovery.fencedRanges).toEqual([{ ...fence, reason: expect.stringMatching(/position 300: CRC32C/) }]);
    expect(reopened.fencedRanges()).toEqual([expect.objectContaining(fence)]);
    expect(h.warnings.join('\n')).toMatch(/CORRUPT committed data: topic id 1 partition 3 segment \d+ bytes \[300, 700\) offsets \[104, 108\)/);
    // Nothing was written back: the next start finds the same fence.
    reopened.close();
    const again = h.open();
    expect(again.fencedRanges()).toEqual([expect.objectContaining(fence)]);
    expect(again.get(segmentId)).toMatchObject({ commitPosition: 1200, endOffset: 112n });
    // New commits go on after the old end, never over the fence.
    appendAndCommit(again, segmentId, [200]);
    expect(again.get(segmentId)).toMatchObject({ commitPosition: 1400, endOffset: 116n });
  });

  it('fences from a batch with broken framing to the next batch it can find, or to the end', () => {
    const h = harness();
    const store = h.open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 50n });
    appendAndCommit(store, segmentId, [300, 400, 500, 600]);
    store.read(segmentId, 300 + 8, 4).writeInt32BE(0x7ffffff0); // the second batch's length
    const { segmentId: other } = store.allocate({ topicId: 1, partition: 1, baseOffset: 0n });
    appendAndCommit(store, other, [300, 400]);
    store.read(other, 300 + 8, 4).writeInt32BE(7); // the last batch's length: nothing follows it
    store.close();

    const reopened = h.open();
    expect(reopened.fencedRanges()).toEqual([
      expect.objectContaining({ segmentId, startPosition: 300, endPosition: 700, baseOffset: 54n, endOffset: 58n }),
      expect.objectContaining({ segmentId: other, startPosition: 300, endPosition: 700, baseOffset: 4n, endOffset: 8n }),
    ]);
  });

  it('replaces a fenced range by a skip marker over exactly its bytes and offsets on command', () => {
    const h = harness();
    const store = h.open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    appendAndCommit(store, segmentId, [300, 400, 500]);
    store.read(segmentId, 300 + 100, 1)[0] ^= 0xff;
    store.close();
    const reopened = h.open();
    expect(() => reopened.skipFencedRange(segmentId, 301)).toThrow(/no fenced range at position 301 \(fenced ranges start at: 300\)/);
    expect(reopened.skipFencedRange(segmentId, 300)).toMatchObject({ startPosition: 300, endPosition: 700, baseOffset: 4n, endOffset: 8n });
    expect(reopened.fencedRanges()).toEqual([]);
    const marker = reopened.read(segmentId, 300, 400);
    expect(marker.readBigInt64BE(0)).toBe(4n);
    expect(marker.readInt32BE(23)).toBe(3); // lastOffsetDelta: 4 offsets
    reopened.close();
    const again = h.open();
    expect(again.fencedRanges()).toEqual([]);
    expect(again.get(segmentId)).toMatchObject({ commitPosition: 1200, endOffset: 12n });
  });

  it('falls back to the previous header copy when the newest one is torn', () => {
    const h = harness();
    const store = h.open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }); // header sequence 1
    appendAndCommit(store, segmentId, [300]); // sequence 2
    appendAndCommit(store, segmentId, [400]); // sequence 3
    tearNewestHeaderCopy(store, segmentId, 3);
    store.close();

    const reopened = h.open();
    expect(reopened.get(segmentId)).toMatchObject({ commitPosition: 300, endOffset: 4n });
    expect(reopened.recovery.headerFallbacks).toEqual([{ segmentId, sequence: 2 }]);
    expect(h.warnings.join('\n')).toMatch(/one header copy is invalid/);
    // The next header write goes over the torn copy and wins.
    appendAndCommit(reopened, segmentId, [500]);
    reopened.close();
    expect(h.open().get(segmentId)).toMatchObject({ commitPosition: 800, endOffset: 8n });
  });

  it('reports a segment whose header copies are both corrupt and never hands its space out again', () => {
    const h = harness();
    const store = h.open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    const survivor = store.allocate({ topicId: 1, partition: 1, baseOffset: 0n });
    appendAndCommit(store, segmentId, [300]);
    const dataBefore = Buffer.from(store.read(segmentId, 0, 300));
    tearNewestHeaderCopy(store, segmentId, 2);
    tearNewestHeaderCopy(store, segmentId, 1);
    store.close();

    const reopened = h.open();
    expect(reopened.describe().map((d) => d.segmentId)).toEqual([survivor.segmentId]);
    expect(reopened.recovery.segmentsLost).toEqual([{ index: 0, slotCount: 1, segmentId: undefined, reason: expect.stringMatching(/neither header copy/) }]);
    expect(h.warnings.join('\n')).toMatch(/CORRUPT segment header: the segment at slot 0 is unreadable.*kept out of the free pool/);
    // The survivor's 16 slots and the unreadable header slot are not free.
    expect(reopened.usage().freeBytes).toBe((SLOT_COUNT - 17) * SLOT);
    const next = reopened.allocate({ topicId: 9, partition: 0, baseOffset: 0n });
    expect(next.segmentId).toBeGreaterThan(survivor.segmentId);
    // The unreadable slot's bytes were not touched.
    expect(reopened.region.bytes(reopened.geometry.slotsOffset + 4096, 300).equals(dataBefore)).toBe(true);
    reopened.close();
    expect(h.open().get(next.segmentId)).toMatchObject({ topicId: 9 });
  });

  it('throws a retriable STORAGE_FULL once every segment is allocated', () => {
    const store = harness().open();
    const ids = Array.from({ length: SEGMENT_COUNT }, (_, p) => store.allocate({ topicId: 1, partition: p, baseOffset: 0n }).segmentId);
    expect(new Set(ids).size).toBe(SEGMENT_COUNT);
    const err = caught(() => store.allocate({ topicId: 1, partition: 99, baseOffset: 0n }));
    expect(err.code).toBe('STORAGE_FULL');
    expect(err.retriable).toBe(true);
    expect(err.message).toMatch(/no free run of 1048576 bytes is left for a new segment \(983040 bytes free, the largest run 983040\)/);
    expect(store.usage()).toMatchObject({ segments: SEGMENT_COUNT, allocatedBytes: SEGMENT_COUNT * MiB, freeBytes: 15 * SLOT });
  });

  it('never reuses a segment id, even for the highest id freed before a restart', () => {
    const h = harness();
    const store = h.open();
    const first = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    const second = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    store.free(second.segmentId);
    const third = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    expect(third.segmentId).toBeGreaterThan(second.segmentId);
    store.free(third.segmentId);
    store.close();

    const reopened = h.open();
    expect(reopened.describe().map((d) => d.segmentId)).toEqual([first.segmentId]);
    expect(reopened.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId).toBeGreaterThan(third.segmentId);
  });

  it('frees a segment so that it is gone after reopen and its space can be allocated again', () => {
    const h = harness();
    const store = h.open();
    const ids = Array.from({ length: SEGMENT_COUNT }, () => store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId);
    appendAndCommit(store, ids[3], [1000]);
    store.free(ids[3]);
    expect(store.has(ids[3])).toBe(false);
    expect(caught(() => store.get(ids[3])).code).toBe('UNKNOWN_SEGMENT');
    expect(store.usage().freeBytes).toBe(15 * SLOT + MiB);
    store.close();

    const reopened = h.open();
    expect(reopened.describe()).toHaveLength(SEGMENT_COUNT - 1);
    const again = reopened.allocate({ topicId: 1, partition: 0, baseOffset: 500n });
    expect(again).toMatchObject({ commitPosition: 0, endOffset: 500n, state: 'OPEN' });
    expect(reopened.dataRange(again.segmentId)).toEqual({ regionOffset: SLOT + 3 * MiB + 4096, lengthBytes: MiB - 4096 });
  });

  it('opens a region with another default segment size, but refuses another region size, naming both values', () => {
    const h = harness();
    const { segmentId } = h.open().allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    const wider = h.open({ segmentSizeBytes: 2 * MiB });
    expect(wider.get(segmentId).dataCapacityBytes).toBe(MiB - 4096);
    expect(wider.allocate({ topicId: 1, partition: 1, baseOffset: 0n }).dataCapacityBytes).toBe(2 * MiB - 4096);
    wider.close();
    const region = caught(() => h.open({ regionSizeBytes: 32 * MiB }));
    expect(region.code).toBe('LAYOUT_MISMATCH');
    expect(region.message).toMatch(/region size 16777216 bytes, but 33554432 bytes was requested/);
  });

  it('refuses a file that is not an rdmq region rather than overwrite it', () => {
    const h = harness();
    fs.writeFileSync(h.path, 'these are somebody else\'s bytes');
    const err = caught(() => h.open());
    expect(err.code).toBe('CORRUPT_REGION');
    expect(err.message).toMatch(/not an rdmq storage region: it does not start with the RDMQSTOR magic/);
    expect(fs.readFileSync(h.path, 'utf8')).toBe('these are somebody else\'s bytes');
  });

  it('refuses invalid options with a message saying what is allowed', () => {
    const h = harness();
    expect(caught(() => h.open({ segmentSizeBytes: 100_000 })).message).toMatch(/whole number of 4096-byte pages/);
    expect(caught(() => h.open({ durability: 'fast' as never })).message).toMatch(/durability/);
  });

  it('refuses commits that go backwards or beyond the data area, and unknown segments', () => {
    const store = harness().open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    appendAndCommit(store, segmentId, [500]);
    const back = caught(() => store.commit(segmentId, { commitPosition: 400, endOffset: 4n, maxTimestamp: 0n }));
    expect(back).toMatchObject({ code: 'INVALID_POSITION', message: expect.stringMatching(/behind its commit position 500/) });
    const beyond = caught(() => store.commit(segmentId, { commitPosition: MiB, endOffset: 4n, maxTimestamp: 0n }));
    expect(beyond).toMatchObject({ code: 'INVALID_POSITION', message: expect.stringMatching(/beyond its data area of 1044480 bytes/) });
    const offsetBack = caught(() => store.commit(segmentId, { commitPosition: 500, endOffset: 3n, maxTimestamp: 0n }));
    expect(offsetBack).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/end offsets only move forward/) });
    expect(caught(() => store.commit(12345, { commitPosition: 1, endOffset: 1n, maxTimestamp: 0n })).code).toBe('UNKNOWN_SEGMENT');
    expect(store.get(segmentId)).toMatchObject({ commitPosition: 500, endOffset: 4n });
  });

  it('lets stages granted before a seal commit up to the seal position, and no further', () => {
    const h = harness();
    const store = h.open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    appendAndCommit(store, segmentId, [500]);
    store.seal(segmentId, { finalPosition: 1500 });
    expect(store.seal(segmentId, { finalPosition: 1500 })).toMatchObject({ state: 'SEALED', writePosition: 1500 });
    expect(caught(() => store.seal(segmentId, { finalPosition: 1600 })).code).toBe('INVALID_STATE');
    appendAndCommit(store, segmentId, [1000]);
    const beyond = caught(() => store.commit(segmentId, { commitPosition: 1600, endOffset: 9n, maxTimestamp: 0n }));
    expect(beyond.message).toMatch(/beyond its seal position 1500/);
    store.close();
    expect(h.open().get(segmentId)).toMatchObject({ state: 'SEALED', commitPosition: 1500, writePosition: 1500, endOffset: 8n });
  });

  it('refuses to seal below the commit position', () => {
    const store = harness().open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    appendAndCommit(store, segmentId, [500]);
    expect(caught(() => store.seal(segmentId, { finalPosition: 499 })).message).toMatch(/must be from 500/);
  });

  it('fills a dead producer\'s range with a skip marker that survives recovery', () => {
    const h = harness();
    const store = h.open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    appendAndCommit(store, segmentId, [500]);
    // Offsets 4..9 at [500, 1300) were granted to a producer that died; the next stage completed.
    put(store, segmentId, 1300, buildTestBatch({ baseOffset: 10n, recordCount: 4, sizeBytes: 700 }));
    store.writeSkipMarker(segmentId, 500, buildTestSkipMarker(800, 4n, 6));
    store.commit(segmentId, { commitPosition: 2000, endOffset: 14n, maxTimestamp: 0n });
    store.close();

    const reopened = h.open();
    expect(reopened.get(segmentId)).toMatchObject({ commitPosition: 2000, endOffset: 14n });
    expect(reopened.recovery.fencedRanges).toEqual([]);
    expect(reopened.read(segmentId, 500, 800)).toEqual(buildTestSkipMarker(800, 4n, 6));
  });

  it('refuses a skip marker that is not one valid batch or would overwrite committed bytes', () => {
    const store = harness().open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    appendAndCommit(store, segmentId, [500]);
    const marker = buildTestSkipMarker(200, 4n, 1);
    expect(caught(() => store.writeSkipMarker(segmentId, 400, marker))).toMatchObject({
      code: 'INVALID_POSITION',
      message: expect.stringMatching(/would overwrite committed bytes/),
    });
    const broken = Buffer.from(marker);
    broken[100] = 7;
    expect(caught(() => store.writeSkipMarker(segmentId, 500, broken)).code).toBe('INVALID_BATCH');
    expect(caught(() => store.writeSkipMarker(segmentId, 500, Buffer.concat([marker, marker]))).message).toMatch(/exactly one batch/);
    expect(caught(() => store.writeSkipMarker(segmentId, MiB - 4096 - 100, marker)).message).toMatch(/ends beyond its data area/);
  });

  it('reads committed bytes as views of the region and refuses reads past the commit position', () => {
    const store = harness().open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    const [batch] = appendAndCommit(store, segmentId, [500]);
    const view = store.read(segmentId, 0, 500);
    expect(view).toEqual(batch);
    put(store, segmentId, 0, Buffer.from([0xab]));
    expect(view[0]).toBe(0xab); // aliases the mapping: no copy
    expect(caught(() => store.read(segmentId, 400, 101))).toMatchObject({
      code: 'INVALID_POSITION',
      message: expect.stringMatching(/beyond its commit position 500/),
    });
    expect(caught(() => store.read(segmentId, -1, 1)).code).toBe('INVALID_ARGUMENT');
  });

  it('reports usage as committed bytes over allocated segments', () => {
    const store = harness().open();
    const a = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    const b = store.allocate({ topicId: 1, partition: 1, baseOffset: 0n });
    appendAndCommit(store, a.segmentId, [1000]);
    appendAndCommit(store, b.segmentId, [234]);
    expect(store.usage()).toEqual({
      segments: 2,
      usedBytes: 1234,
      allocatedBytes: 2 * MiB,
      freeBytes: (SLOT_COUNT - 32) * SLOT,
      largestFreeBytes: (SLOT_COUNT - 32) * SLOT,
      segmentSizeBytes: MiB,
    });
  });

  it('hands out page-aligned, disjoint data ranges for UCX registration', () => {
    const store = harness().open();
    const ranges = [0, 1, 2].map((p) => store.dataRange(store.allocate({ topicId: 1, partition: p, baseOffset: 0n }).segmentId));
    for (const r of ranges) {
      expect(r.regionOffset % 4096).toBe(0);
      expect(r.regionOffset + r.lengthBytes).toBeLessThanOrEqual(store.region.sizeBytes);
    }
    expect(ranges[1].regionOffset - ranges[0].regionOffset).toBe(MiB);
    store.prefaultSegment(store.describe()[0].segmentId);
  });

  it('keeps the previous commit when the data persist fails, and commits on retry', () => {
    const h = harness();
    let failNext = true;
    const store = h.open({
      faults: {
        beforeDataPersist: () => {
          if (failNext) {
            failNext = false;
            throw new Error('injected: data persist failed');
          }
        },
      },
    });
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    put(store, segmentId, 0, buildTestBatch({ baseOffset: 0n, recordCount: 4, sizeBytes: 300 }));
    expect(() => store.commit(segmentId, { commitPosition: 300, endOffset: 4n, maxTimestamp: 0n })).toThrow('injected');
    expect(store.get(segmentId)).toMatchObject({ commitPosition: 0, endOffset: 0n });
    store.commit(segmentId, { commitPosition: 300, endOffset: 4n, maxTimestamp: 0n });
    expect(store.get(segmentId).commitPosition).toBe(300);
  });

  it('recovers the previous commit when a commit fails before its header is persisted', () => {
    const h = harness();
    let fail = false;
    const store = h.open({
      faults: {
        beforeHeaderPersist: ({ reason }) => {
          if (fail && reason === 'commit') throw new Error('injected: crash before header persist');
        },
      },
    });
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    appendAndCommit(store, segmentId, [300]);
    fail = true;
    expect(() => appendAndCommit(store, segmentId, [400])).toThrow('injected');
    expect(store.get(segmentId)).toMatchObject({ commitPosition: 300, endOffset: 4n });
    store.close();

    const reopened = h.open();
    expect(reopened.get(segmentId)).toMatchObject({ commitPosition: 300, endOffset: 4n });
    expect(reopened.recovery.fencedRanges).toEqual([]);
  });

  it('leaves a segment allocated when its free fails before the header is written', () => {
    const h = harness();
    const store = h.open({
      faults: {
        beforeHeaderPersist: ({ reason }) => {
          if (reason === 'free') throw new Error('injected');
        },
      },
    });
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    expect(() => store.free(segmentId)).toThrow('injected');
    expect(store.has(segmentId)).toBe(true);
    store.close();
    expect(h.open().has(segmentId)).toBe(true);
  });

  it('treats a free interrupted after its FREE copy was written as done', () => {
    const h = harness();
    const store = h.open();
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    appendAndCommit(store, segmentId, [300]); // header sequence 2
    // The crash point: free wrote its FREE copy (sequence 3) but never zeroed the old one.
    const headerPage = store.region.bytes(store.dataRange(segmentId).regionOffset - 4096, 4096);
    const freeCopy = encodeSegmentHeader({ ...decodeSegmentHeaderCopy(headerPage.subarray(0, 128))!, state: SegmentState.FREE, sequence: 3 });
    freeCopy.copy(headerPage, segmentHeaderCopyOffset(3));
    store.close();

    const reopened = h.open();
    expect(reopened.has(segmentId)).toBe(false);
    expect(reopened.usage().freeBytes).toBe(SLOT_COUNT * SLOT);
    expect(reopened.recovery.freesFinished).toEqual([{ segmentId, index: 0, slotCount: 16 }]);
    // Opening finished the free: both copies are zero, and the slot's next header starts afresh.
    const next = reopened.allocate({ topicId: 2, partition: 0, baseOffset: 0n });
    expect(next.segmentId).toBeGreaterThan(segmentId);
    reopened.close();
    expect(h.open().describe().map((d) => d.segmentId)).toEqual([next.segmentId]);
  });

  it('keeps data across reopen with durability none, since the mapping is shared', () => {
    const h = harness();
    const store = h.open({ durability: 'none' });
    const { segmentId } = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    const [batch] = appendAndCommit(store, segmentId, [300]);
    store.close();
    expect(h.open({ durability: 'none' }).read(segmentId, 0, 300)).toEqual(batch);
  });

  it('refuses every call after close', () => {
    const store = harness().open();
    store.close();
    expect(caught(() => store.describe()).code).toBe('CLOSED');
    expect(caught(() => store.region).code).toBe('CLOSED');
  });
});
