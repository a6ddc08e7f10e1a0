// The background scrubber against a real store: damage is caused by writing
// into the region file under the open store (what a stray write or the
// medium does), then the range the scrubber fences is compared with what the
// recovery check of the next open finds.
import * as fs from 'fs';
import { Scrubber } from './scrubber';
import { FencedRange, SegmentStore } from './segment-store';
import { buildTestBatch } from './testing/batches';
import { closeTestRegions, putIntoSegment, testRegion } from './testing/regions';

afterEach(closeTestRegions);

const running: Scrubber[] = [];
afterEach(() => running.splice(0).forEach((s) => s.stop()));

/** Batches of `sizes` bytes (4 records each) from the commit position, committed. */
function appendAndCommit(store: SegmentStore, segmentId: number, sizes: number[]): void {
  let { commitPosition: position, endOffset } = store.get(segmentId);
  for (const sizeBytes of sizes) {
    const batch = buildTestBatch({ baseOffset: endOffset, recordCount: 4, sizeBytes, maxTimestamp: 1000n + endOffset });
    putIntoSegment(store, segmentId, position, batch);
    position += batch.length;
    endOffset += 4n;
  }
  store.commit(segmentId, { commitPosition: position, endOffset, maxTimestamp: 1000n + endOffset - 4n });
}

/** Flips a byte of the region file at a segment's data `position`, with the store open. */
function flipInFile(regionPath: string, store: SegmentStore, segmentId: number, position: number): void {
  const fd = fs.openSync(regionPath, 'r+');
  try {
    const at = store.dataRange(segmentId).regionOffset + position;
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, at);
    byte[0] ^= 0x10;
    fs.writeSync(fd, byte, 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
}

function startScrubber(store: SegmentStore, bytesPerSecond = 256 * 1024 * 1024): { scrubber: Scrubber; log: string[] } {
  const log: string[] = [];
  const scrubber = new Scrubber(store, { bytesPerSecond, log: (m) => log.push(m), tickMs: 5, minPassIntervalMs: 0 });
  running.push(scrubber);
  scrubber.start();
  return { scrubber, log };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const withoutReason = ({ reason: _reason, ...f }: FencedRange) => f;

describe('Scrubber', () => {
  it('fences and reports a committed batch damaged while the store is open, once, as the next open fences it', async () => {
    const h = testRegion();
    const store = h.open();
    const a = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
    const b = store.allocate({ topicId: 2, partition: 7, baseOffset: 500n }).segmentId;
    appendAndCommit(store, a, [300, 400]);
    appendAndCommit(store, b, [300, 400, 500, 600]);
    const { scrubber, log } = startScrubber(store);
    await until(() => scrubber.stats().passes >= 2, 'two passes');
    expect(scrubber.stats().damaged).toEqual([]);
    expect(scrubber.stats().checkedBytes).toBeGreaterThanOrEqual(2 * (700 + 1800));

    flipInFile(h.path, store, b, 700 + 250); // inside b's third batch: bytes [700, 1200), offsets [508, 512)
    await until(() => scrubber.stats().damaged.length > 0, 'the damage found');
    const passes = scrubber.stats().passes;
    await until(() => scrubber.stats().passes >= passes + 3, 'three more passes');
    const [found] = scrubber.stats().damaged;
    expect(scrubber.stats().damaged).toHaveLength(1);
    expect(found).toEqual({ segmentId: b, topicId: 2, partition: 7, startPosition: 700, endPosition: 1200, baseOffset: 508n, endOffset: 512n, reason: expect.stringMatching(/CRC32C/) });
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(new RegExp(`^CORRUPT committed data found by the scrubber: topic id 2 partition 7 segment ${b} bytes \\[700, 1200\\) offsets \\[508, 512\\)`));
    expect(log[0]).toMatch(/The range is fenced, not cut/);
    // Fenced in the store as recovery would have fenced it; nothing cut, nothing fenced twice.
    expect(store.fencedRanges()).toEqual([found]);
    expect(store.get(b)).toMatchObject({ commitPosition: 1800, endOffset: 516n });
    expect(store.fenceDamaged({ ...found, startPosition: 1000, endPosition: 1300 })).toBe(false); // overlaps it
    expect(store.fenceDamaged({ ...found, startPosition: 1200, endPosition: 1900 })).toBe(false); // past the committed end
    expect(store.fencedRanges()).toEqual([found]);

    scrubber.stop();
    store.close();
    const reopened = h.open();
    expect(reopened.fencedRanges().map(withoutReason)).toEqual([withoutReason(found)]);
  });

  it('steps over ranges fenced at open and reports only damage found after it', async () => {
    const h = testRegion();
    const store = h.open();
    const segmentId = store.allocate({ topicId: 3, partition: 1, baseOffset: 0n }).segmentId;
    appendAndCommit(store, segmentId, [300, 400, 500]);
    flipInFile(h.path, store, segmentId, 100); // the first batch, before the next open
    store.close();
    const reopened = h.open();
    expect(reopened.fencedRanges()).toEqual([expect.objectContaining({ startPosition: 0, endPosition: 300 })]);

    const { scrubber, log } = startScrubber(reopened);
    await until(() => scrubber.stats().passes >= 2, 'two passes');
    expect(scrubber.stats().damaged).toEqual([]);
    expect(log).toEqual([]);
    flipInFile(h.path, reopened, segmentId, 900); // the third batch
    await until(() => scrubber.stats().damaged.length > 0, 'the new damage found');
    expect(scrubber.stats().damaged).toEqual([expect.objectContaining({ startPosition: 700, endPosition: 1200, baseOffset: 8n, endOffset: 12n })]);
  });

  it('checks what is committed later, and forgets what it found in a segment once the segment is freed', async () => {
    const h = testRegion();
    const store = h.open();
    const segmentId = store.allocate({ topicId: 4, partition: 0, baseOffset: 0n }).segmentId;
    appendAndCommit(store, segmentId, [300]);
    const { scrubber } = startScrubber(store);
    await until(() => scrubber.stats().passes >= 1, 'a pass');
    appendAndCommit(store, segmentId, [400, 500]);
    flipInFile(h.path, store, segmentId, 1000); // the batch committed last: bytes [700, 1200)
    await until(() => scrubber.stats().damaged.length > 0, 'the damage found');
    expect(scrubber.stats().damaged).toEqual([expect.objectContaining({ startPosition: 700, endPosition: 1200 })]);
    expect(store.fencedRanges()).toEqual(scrubber.stats().damaged);

    store.seal(segmentId, { finalPosition: 1200 });
    store.free(segmentId);
    await until(() => scrubber.stats().damaged.length === 0, 'the finding dropped with its segment');
  });

  it('checks no more than its rate allows, and nothing at rate 0', async () => {
    const h = testRegion();
    const store = h.open();
    const segmentId = store.allocate({ topicId: 5, partition: 0, baseOffset: 0n }).segmentId;
    appendAndCommit(store, segmentId, Array.from({ length: 64 }, () => 8000)); // 512,000 bytes
    const off = startScrubber(store, 0).scrubber;
    const rate = 1_000_000;
    const { scrubber } = startScrubber(store, rate);
    const started = Date.now();
    await until(() => scrubber.stats().checkedBytes >= 300_000, '300 KB checked');
    const seconds = (Date.now() - started) / 1000;
    // Each 5 ms step checks its 5,000 bytes' share, rounded up to whole 8,000-byte batches.
    expect(seconds).toBeGreaterThanOrEqual((300_000 / 8000 / 1) * 0.005 * 0.8);
    expect(scrubber.stats().checkedBytes).toBeLessThanOrEqual(Math.ceil((seconds + 0.05) / 0.005) * 8000);
    expect(off.stats()).toEqual({ passes: 0, checkedBytes: 0, damaged: [] });
    expect(() => new Scrubber(store, { bytesPerSecond: -1, log: () => undefined })).toThrow(/scrub rate must be an integer ≥ 0/);
  });
});
