// Child process for the crash test: allocates, writes and commits batches in
// a loop until killed, printing each completed step to stdout (synchronously,
// so a printed line means the step finished):
//   commit <segmentId> <commitPosition> <endOffset>
//   sealed <segmentId> <finalPosition>
//   freeing <segmentId>          (printed before the free starts)
// Argument: JSON { path, regionSizeBytes, segmentSizeBytes, durability, seed }.
import * as fs from 'fs';
import { SegmentStore, StorageError } from '..';
import { buildTestBatch } from './batches';

const RECORDS_PER_BATCH = 3;
const options = JSON.parse(process.argv[2]) as {
  path: string;
  regionSizeBytes: number;
  segmentSizeBytes: number;
  durability: 'none' | 'flush' | 'sync';
  seed: number;
};

const store = SegmentStore.open({ ...options, logger: { warn: (m) => fs.writeSync(2, `${m}\n`) } });
const say = (line: string) => fs.writeSync(1, `${line}\n`);
let random = options.seed >>> 0;
const nextRandom = () => (random = (Math.imul(random, 1103515245) + 12345) >>> 0);

const owned: number[] = []; // oldest first
let nextOffset = 0n;
let open: number | undefined;

for (;;) {
  if (open === undefined) {
    try {
      // Segments of many sizes, so a kill can land in allocate or free of any extent.
      const dataCapacityBytes = 20_000 + (nextRandom() % (options.segmentSizeBytes - 4096 - 20_000));
      open = store.allocate({ topicId: 1, partition: 0, baseOffset: nextOffset, dataCapacityBytes }).segmentId;
      owned.push(open);
    } catch (err) {
      if (!(err instanceof StorageError) || err.code !== 'STORAGE_FULL') throw err;
      const oldest = owned.shift()!;
      say(`freeing ${oldest}`);
      store.free(oldest);
    }
    continue;
  }
  const segment = store.get(open);
  const sizeBytes = 61 + (nextRandom() % 20_000);
  if (segment.commitPosition + sizeBytes > segment.dataCapacityBytes) {
    store.seal(open, { finalPosition: segment.commitPosition });
    say(`sealed ${open} ${segment.commitPosition}`);
    open = undefined;
    continue;
  }
  const batch = buildTestBatch({ baseOffset: nextOffset, recordCount: RECORDS_PER_BATCH, sizeBytes });
  const { regionOffset } = store.dataRange(open);
  batch.copy(store.region.bytes(regionOffset + segment.commitPosition, batch.length));
  nextOffset += BigInt(RECORDS_PER_BATCH);
  store.commit(open, { commitPosition: segment.commitPosition + sizeBytes, endOffset: nextOffset, maxTimestamp: 1_700_000_000_000n });
  say(`commit ${open} ${segment.commitPosition + sizeBytes} ${nextOffset}`);
}
