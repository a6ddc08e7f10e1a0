// Variable-size segments: space follows what is asked for, the slot walk at
// open rebuilds exactly the segments and the free space, and a crash at any
// step of allocate or free leaves a region that opens clean.
import * as fs from 'fs';
import { SegmentStore, StorageFaults } from './segment-store';
import { StorageError } from './storage-error';
import { encodeSegmentHeader, encodeSuperblock, SEGMENT_HEADER_COPY_BYTES, SegmentState, SUPERBLOCK_BYTES } from './layout';
import { buildTestBatch } from './testing/batches';
import { removeRegionDir } from './testing/temp';
import { closeTestRegions, forgetTestRegion, testRegion as region } from './testing/regions';

afterEach(closeTestRegions);

const MiB = 1024 * 1024;
const SLOT = 64 * 1024;
const SLOT_COUNT = 255; // a 16 MiB region less its superblock slot
const HEADER_PAGE = 4096;

function allocate(store: SegmentStore, dataCapacityBytes: number, partition = 0) {
  return store.allocate({ topicId: 1, partition, baseOffset: 0n, dataCapacityBytes });
}

/** What a producer may put anywhere in its data area: here, bytes that read as a valid OPEN header at every slot boundary. */
function forgeHeadersAtSlotBoundaries(store: SegmentStore, segmentId: number): void {
  const { regionOffset, lengthBytes } = store.dataRange(segmentId);
  const forged = encodeSegmentHeader({
    state: SegmentState.OPEN,
    sequence: 1,
    segmentId: 999_999,
    topicId: 66,
    partition: 6,
    baseOffset: 0n,
    startPosition: 0,
    slotCount: 1,
    createdAtMs: 1,
    sealedAtMs: 0,
    commitPosition: 0,
    writePosition: 0,
    endOffset: 0n,
    maxTimestamp: -1n,
  });
  for (let boundary = SLOT - HEADER_PAGE; boundary < lengthBytes; boundary += SLOT) {
    forged.copy(store.region.bytes(regionOffset + boundary + SEGMENT_HEADER_COPY_BYTES, SEGMENT_HEADER_COPY_BYTES));
  }
}

function commitOneBatch(store: SegmentStore, segmentId: number, sizeBytes: number): Buffer {
  const batch = buildTestBatch({ baseOffset: 0n, recordCount: 2, sizeBytes });
  batch.copy(store.region.bytes(store.dataRange(segmentId).regionOffset, batch.length));
  store.commit(segmentId, { commitPosition: batch.length, endOffset: 2n, maxTimestamp: 0n });
  return batch;
}

/** Runs `operation` with a fault that throws at the `failAt`-th probe it meets; returns how many probes it met. */
function crashAt(failAt: number, operation: (faults: StorageFaults) => void): number {
  let met = 0;
  const probe = () => {
    if (met++ === failAt) throw new Error(`injected crash at probe ${failAt}`);
  };
  operation({ beforeHeaderPersist: probe, beforeSlotClear: probe, beforeDataPersist: probe });
  return met;
}

describe('variable-size segments', () => {
  it('gives each segment the whole slots its data area needs, not a fixed size', () => {
    const store = region().open();
    const sizes = [1, SLOT - HEADER_PAGE, SLOT - HEADER_PAGE + 1, 5 * SLOT, MiB - HEADER_PAGE];
    const segments = sizes.map((size, p) => allocate(store, size, p));
    expect(segments.map((s) => s.dataCapacityBytes)).toEqual([SLOT, SLOT, 2 * SLOT, 6 * SLOT, 16 * SLOT].map((b) => b - HEADER_PAGE));
    expect(store.usage()).toMatchObject({ segments: 5, allocatedBytes: 26 * SLOT, freeBytes: (SLOT_COUNT - 26) * SLOT });
    // Without a size, a segment is the store's segmentSizeBytes.
    expect(store.allocate({ topicId: 1, partition: 9, baseOffset: 0n }).dataCapacityBytes).toBe(MiB - HEADER_PAGE);
  });

  it('refuses a data capacity of zero or above the largest segment', () => {
    const store = region().open();
    for (const bad of [0, -1, 1.5, 2 * 1024 * MiB]) {
      const err = (() => {
        try {
          allocate(store, bad);
        } catch (e) {
          return e as StorageError;
        }
        throw new Error('expected a refusal');
      })();
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toMatch(/data capacity .* must be an integer from 1 to 2147414016/);
    }
    expect(store.usage().segments).toBe(0);
  });

  it('holds thousands of one-slot segments where fixed 1 MiB segments held 15', () => {
    const store = region().open();
    const ids = Array.from({ length: SLOT_COUNT }, (_, p) => allocate(store, 100, p).segmentId);
    expect(new Set(ids).size).toBe(SLOT_COUNT);
    expect(() => allocate(store, 100)).toThrow(/no free run of 65536 bytes is left/);
  });

  it('rebuilds the same segments and the same free runs at open, after allocations and frees of many sizes', () => {
    const r = region();
    const store = r.open();
    const kept = [1, 3, 8, 2, 16, 1, 5].map((slots, p) => allocate(store, slots * SLOT - HEADER_PAGE, p));
    commitOneBatch(store, kept[2].segmentId, 200_000);
    store.free(kept[1].segmentId);
    store.free(kept[4].segmentId);
    store.free(kept[5].segmentId);
    const describedBefore = store.describe();
    const usageBefore = store.usage();
    store.close();

    const reopened = r.open();
    expect(reopened.describe()).toEqual(describedBefore);
    expect(reopened.usage()).toEqual(usageBefore);
    expect(reopened.recovery).toMatchObject({ segmentsLost: [], freesFinished: [] });
    // The freed 16-slot run sits between live segments; best fit puts a 16-slot segment exactly there.
    const again = allocate(reopened, 16 * SLOT - HEADER_PAGE, 20);
    expect(reopened.dataRange(again.segmentId).regionOffset).toBe(SLOT + (1 + 3 + 8 + 2) * SLOT + HEADER_PAGE);
    expect(r.warnings).toEqual([]);
  });

  it('never takes bytes a producer wrote into its data area for a segment header, while the segment lives or after it is freed', () => {
    const r = region();
    const store = r.open();
    const big = allocate(store, 8 * SLOT - HEADER_PAGE);
    const neighbour = allocate(store, 100, 1);
    forgeHeadersAtSlotBoundaries(store, big.segmentId);
    store.close();

    // Alive: the walk skips the segment's slots whole.
    const alive = r.open();
    expect(alive.describe().map((d) => d.segmentId)).toEqual([big.segmentId, neighbour.segmentId]);
    alive.free(big.segmentId);
    alive.close();

    // Freed: the boundaries were zeroed before the free completed.
    const freed = r.open();
    expect(freed.describe().map((d) => d.segmentId)).toEqual([neighbour.segmentId]);
    expect(freed.usage().freeBytes).toBe((SLOT_COUNT - 1) * SLOT);
    expect(r.warnings).toEqual([]);
  });

  it('opens clean after a crash at every step of an allocate beside an unreadable run of slots', () => {
    for (let failAt = 0; ; failAt++) {
      const r = region();
      const store = r.open();
      const neighbour = allocate(store, 100, 0);
      const doomed = allocate(store, 8 * SLOT - HEADER_PAGE, 1);
      // A lost segment's debris: its header is garbage, and so are the bytes producers left at its slot boundaries.
      const firstSlotOffset = store.dataRange(doomed.segmentId).regionOffset - HEADER_PAGE;
      for (let slot = 0; slot < 8; slot++) store.region.bytes(firstSlotOffset + slot * SLOT, 256).fill(0x5a);
      store.close();
      const withDebris = r.open();
      expect(withDebris.recovery.segmentsLost).toEqual([{ index: 1, slotCount: 8, segmentId: undefined, reason: expect.stringMatching(/neither header copy/) }]);
      withDebris.close();

      let allocated: number | undefined;
      const probes = crashAt(failAt, (faults) => {
        const s = r.open({ faults });
        try {
          allocated = allocate(s, 8 * SLOT - HEADER_PAGE, 2).segmentId;
        } catch (err) {
          expect((err as Error).message).toMatch(/injected crash/);
        }
        s.close();
      });

      r.warnings.length = 0;
      const after = r.open();
      const ids = after.describe().map((d) => d.segmentId);
      if (allocated === undefined) {
        // Crashed before the header: nothing allocated, and no forged header surfaced.
        expect(ids).toEqual([neighbour.segmentId]);
      } else {
        expect(ids).toEqual([neighbour.segmentId, allocated]);
        // The debris stays out of the free pool (it may be a segment whose header was destroyed): the new segment is elsewhere.
        expect(after.recovery.segmentsLost).toEqual([{ index: 1, slotCount: 8, segmentId: undefined, reason: expect.stringMatching(/neither header copy/) }]);
        expect(r.warnings).toEqual([expect.stringMatching(/CORRUPT segment header/)]);
      }
      expect(ids).not.toContain(999_999);
      expect(after.describe()[0]).toMatchObject({ segmentId: neighbour.segmentId, commitPosition: 0 });
      after.close();
      removeRegionDir(r.path);
      forgetTestRegion(r.path);
      if (failAt >= probes) {
        // The new run is clean free space (the debris is quarantined): only the header write is a crash point.
        expect(probes).toBe(1);
        break; // the run that met every probe without failing
      }
    }
  });

  it('keeps a lost segment whole across slot boundaries that read as zero, but frees its never-written tail', () => {
    const r = region();
    const store = r.open();
    const doomed = allocate(store, 8 * SLOT - HEADER_PAGE);
    const firstSlotOffset = store.dataRange(doomed.segmentId).regionOffset - HEADER_PAGE;
    // Its bytes reach into slot 4; the boundary of slot 2 is zero (a skip marker's padding does that) with data after it.
    store.region.bytes(firstSlotOffset, 4 * SLOT + 100).fill(0x5a);
    store.region.bytes(firstSlotOffset + 2 * SLOT, 1000).fill(0);
    store.close();

    const reopened = r.open();
    expect(reopened.recovery.segmentsLost).toEqual([{ index: 0, slotCount: 5, segmentId: undefined, reason: expect.stringMatching(/neither header copy/) }]);
    expect(r.warnings).toEqual([expect.stringMatching(/the segment at slots 0\.\.4 is unreadable/)]);
    expect(reopened.usage().freeBytes).toBe((SLOT_COUNT - 5) * SLOT);
    // A new segment the size of the lost one goes past the kept run.
    const next = allocate(reopened, 8 * SLOT - HEADER_PAGE);
    expect(reopened.dataRange(next.segmentId).regionOffset - HEADER_PAGE).toBeGreaterThanOrEqual(firstSlotOffset + 5 * SLOT);
  });

  it('opens clean after a crash at every step of a free, finishing the free when its FREE header was written', () => {
    for (let failAt = 0; ; failAt++) {
      const r = region();
      const store = r.open();
      const doomed = allocate(store, 8 * SLOT - HEADER_PAGE, 0);
      const batch = commitOneBatch(store, doomed.segmentId, 100);
      forgeHeadersAtSlotBoundaries(store, doomed.segmentId);
      const neighbour = allocate(store, 100, 1);
      const neighbourBatch = commitOneBatch(store, neighbour.segmentId, 300);
      store.close();

      let freed = false;
      const probes = crashAt(failAt, (faults) => {
        const s = r.open({ faults });
        try {
          s.free(doomed.segmentId);
          freed = true;
        } catch (err) {
          expect((err as Error).message).toMatch(/injected crash/);
        }
        s.close();
      });

      const after = r.open();
      const ids = after.describe().map((d) => d.segmentId);
      expect(after.recovery.segmentsLost).toEqual([]);
      expect(r.warnings).toEqual([]);
      expect(after.read(neighbour.segmentId, 0, 300)).toEqual(neighbourBatch);
      if (failAt === 0) {
        // Before the FREE header: the segment and its committed batch are whole.
        expect(ids).toEqual([doomed.segmentId, neighbour.segmentId]);
        expect(after.read(doomed.segmentId, 0, 100)).toEqual(batch);
      } else {
        expect(ids).toEqual([neighbour.segmentId]);
        expect(after.usage().freeBytes).toBe((SLOT_COUNT - 1) * SLOT);
        expect(after.recovery.freesFinished).toEqual(freed ? [] : [{ segmentId: doomed.segmentId, index: 0, slotCount: 8 }]);
      }
      after.close();
      // Whatever open finished, it finished for good.
      const again = r.open();
      expect(again.recovery.freesFinished).toEqual([]);
      expect(again.describe().map((d) => d.segmentId)).toEqual(ids);
      again.close();
      removeRegionDir(r.path);
      forgetTestRegion(r.path);
      if (failAt >= probes) {
        // The FREE header, 7 forged boundaries, the first slot's header copies: 9 crash points, all tried.
        expect(probes).toBe(9);
        break;
      }
    }
  });

  it('refuses a region of format version 1 (fixed-size segments) with a message saying what to do', () => {
    const r = region();
    const page = encodeSuperblock({
      formatVersion: 1,
      segmentHeaderBytes: 4096,
      regionSizeBytes: 16 * MiB,
      slotSizeBytes: MiB, // version 1 kept its segment size here
      slotCount: 15,
      slotsOffset: 4096,
      nodeUuid: '0f8fad5b-d9cb-469f-a165-70867728950e',
      createdAtMs: 1,
    });
    fs.writeFileSync(r.path, page.subarray(0, SUPERBLOCK_BYTES));
    fs.truncateSync(r.path, 16 * MiB);
    let error: StorageError | undefined;
    try {
      r.open();
    } catch (err) {
      error = err as StorageError;
    }
    expect(error?.code).toBe('UNSUPPORTED_VERSION');
    expect(error?.message).toMatch(/region format version 1; this build reads version 2: version 1 regions hold fixed-size segments/);
  });
});
