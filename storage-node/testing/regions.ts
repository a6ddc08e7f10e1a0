// Test regions of 16 MiB (1 MiB default segments) in fresh /dev/shm
// directories, each opened store remembered so `closeTestRegions` (from an
// afterEach) closes them and removes their files.
import { SegmentStore, SegmentStoreOptions } from '../segment-store';
import { removeRegionDir, tempRegionPath } from './temp';

const MiB = 1024 * 1024;

export interface TestRegion {
  path: string;
  /** What the store logged, in order. */
  warnings: string[];
  open(extra?: Partial<SegmentStoreOptions>): SegmentStore;
}

const opened: SegmentStore[] = [];
const paths: string[] = [];

export function testRegion(): TestRegion {
  const path = tempRegionPath();
  paths.push(path);
  const warnings: string[] = [];
  return {
    path,
    warnings,
    open(extra = {}) {
      const store = SegmentStore.open({
        path,
        regionSizeBytes: 16 * MiB,
        segmentSizeBytes: MiB,
        durability: 'flush',
        logger: { warn: (m) => warnings.push(m) },
        ...extra,
      });
      opened.push(store);
      return store;
    },
  };
}

/** Forgets a region a test already removed itself. */
export function forgetTestRegion(path: string): void {
  const at = paths.indexOf(path);
  if (at >= 0) paths.splice(at, 1);
}

export function closeTestRegions(): void {
  for (const store of opened.splice(0)) store.close();
  for (const path of paths.splice(0)) removeRegionDir(path);
}

/** Writes `bytes` at `position` of a segment's data area, as a producer's put would. */
export function putIntoSegment(store: SegmentStore, segmentId: number, position: number, bytes: Buffer): void {
  bytes.copy(store.region.bytes(store.dataRange(segmentId).regionOffset + position, bytes.length));
}
