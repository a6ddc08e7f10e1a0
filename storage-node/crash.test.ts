import { spawn } from 'child_process';
import * as path from 'path';
import { SegmentStore } from '.';
import { buildTestBatch } from './testing/batches';
import { removeRegionDir, tempRegionPath } from './testing/temp';

const MiB = 1024 * 1024;
const LAYOUT = { regionSizeBytes: 16 * MiB, segmentSizeBytes: MiB };

interface ChildReport {
  /** Last reported commit per segment. */
  commits: Map<number, { commitPosition: number; endOffset: bigint }>;
  sealed: Map<number, number>;
  freeing: Set<number>;
  lines: number;
}

/** Runs the commit loop until it has reported `linesBeforeKill` steps, then SIGKILLs it. */
function runAndKill(regionPath: string, durability: string, seed: number, linesBeforeKill: number): Promise<ChildReport> {
  const child = spawn(
    process.execPath,
    [path.join(__dirname, 'testing', 'commit-loop.js'), JSON.stringify({ path: regionPath, ...LAYOUT, durability, seed })],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const report: ChildReport = { commits: new Map(), sealed: new Map(), freeing: new Set(), lines: 0 };
  let pending = '';
  let stderr = '';
  let killed = false;
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!; // a line cut by the kill is not a report
    for (const line of lines) {
      const [kind, id, a, b] = line.split(' ');
      const segmentId = Number(id);
      if (kind === 'commit') report.commits.set(segmentId, { commitPosition: Number(a), endOffset: BigInt(b) });
      else if (kind === 'sealed') report.sealed.set(segmentId, Number(a));
      else if (kind === 'freeing') report.freeing.add(segmentId);
      else throw new Error(`unexpected line from the child: ${line}`);
      report.lines++;
    }
    if (!killed && report.lines >= linesBeforeKill) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(report);
      else reject(new Error(`child exited with ${code ?? signal} before the kill:\n${stderr}`));
    });
  });
}

/** Walks a segment's committed batches, checking each against the bytes the child wrote for it. */
function verifyBatches(store: SegmentStore, segmentId: number): void {
  const segment = store.get(segmentId);
  let position = segment.startPosition;
  let offset = segment.baseOffset;
  while (position < segment.commitPosition) {
    const header = store.read(segmentId, position, 61);
    expect(header.readBigInt64BE(0)).toBe(offset);
    const sizeBytes = 12 + header.readInt32BE(8);
    const recordCount = header.readInt32BE(57);
    const expected = buildTestBatch({ baseOffset: offset, recordCount, sizeBytes });
    expect(store.read(segmentId, position, sizeBytes).equals(expected)).toBe(true);
    position += sizeBytes;
    offset += BigInt(recordCount);
  }
  expect(position).toBe(segment.commitPosition);
  expect(offset).toBe(segment.endOffset);
}

describe('a storage node killed with SIGKILL', () => {
  const paths: string[] = [];
  afterEach(() => paths.splice(0).forEach(removeRegionDir));

  it.each([
    ['flush', 1, 400],
    ['flush', 2, 3000], // long enough to wrap around: segments are freed and reused
    ['none', 3, 1500],
  ])('keeps every commit it reported, and a consistent rest (durability %s, seed %d)', async (durability, seed, lines) => {
    const regionPath = tempRegionPath();
    paths.push(regionPath);
    const report = await runAndKill(regionPath, durability, seed, lines);
    const warnings: string[] = [];
    const store = SegmentStore.open({ path: regionPath, ...LAYOUT, durability: 'flush', logger: { warn: (m) => warnings.push(m) } });
    try {
      expect(warnings).toEqual([]);
      expect(store.recovery).toMatchObject({ segmentsLost: [], fencedRanges: [], headerFallbacks: [] });
      for (const [segmentId, reported] of report.commits) {
        if (!store.has(segmentId)) {
          expect(report.freeing.has(segmentId)).toBe(true);
          continue;
        }
        const segment = store.get(segmentId);
        expect(segment.commitPosition).toBeGreaterThanOrEqual(reported.commitPosition);
        expect(segment.endOffset >= reported.endOffset).toBe(true);
      }
      for (const [segmentId, finalPosition] of report.sealed) {
        if (store.has(segmentId)) expect(store.get(segmentId)).toMatchObject({ state: 'SEALED', writePosition: finalPosition });
      }
      // The surviving segments hold one contiguous run of offsets, every batch intact.
      const segments = store.describe().sort((a, b) => (a.baseOffset < b.baseOffset ? -1 : 1));
      expect(segments.filter((s) => s.state === 'OPEN').length).toBeLessThanOrEqual(1);
      for (let i = 0; i < segments.length; i++) {
        verifyBatches(store, segments[i].segmentId);
        if (i > 0) expect(segments[i].baseOffset).toBe(segments[i - 1].endOffset);
      }
      if (store.usage().freeSegments === 0) store.free(segments[0].segmentId);
      const highestReported = Math.max(...report.commits.keys(), ...report.freeing);
      expect(store.allocate({ topicId: 2, partition: 0, baseOffset: 0n }).segmentId).toBeGreaterThan(highestReported);
      if (lines >= 3000) expect(report.freeing.size).toBeGreaterThan(0);
    } finally {
      store.close();
    }
  });
});
