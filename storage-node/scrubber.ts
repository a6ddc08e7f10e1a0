// The storage node's background scrubber: while the node runs, it checks
// every committed batch again (framing, magic, CRC32C, as recovery does at
// open), a bounded number of bytes per second, segment after segment, and
// starts over when it has checked them all. Committed bytes never change, so
// a batch that fails now was damaged after it was committed (the medium, a
// stray write): the scrubber reports it, once, with a CORRUPT log line and
// on /metrics. It reads only. The range is fenced at the node's next open,
// whose recovery check finds it again; until then readers may be served its
// bytes (Kafka clients that check CRCs refuse them).
//
// Contract: runs on the node's JS thread, in steps of at most a tick's share
// of the rate; stop() before the store closes.
import { FencedRange, SegmentStore } from './segment-store';

export interface ScrubberOptions {
  /** Bytes checked per second at most; 0 leaves the scrubber off. */
  bytesPerSecond: number;
  log: (message: string) => void;
  /** How often a step runs (default 100 ms). */
  tickMs?: number;
}

export interface ScrubberStats {
  /** Full passes over every segment's committed bytes. */
  passes: number;
  checkedBytes: number;
  /** Damaged ranges found in segments that still exist, not fenced yet. */
  damaged: FencedRange[];
}

interface Cursor {
  segmentId: number;
  position: number;
  nextOffset: bigint;
}

const DEFAULT_TICK_MS = 100;

export class Scrubber {
  private timer: NodeJS.Timeout | undefined;
  private cursor: Cursor | undefined;
  private passes = 0;
  private checkedBytes = 0;
  /** By `segmentId:startPosition`: each damaged range is reported once. */
  private readonly found = new Map<string, FencedRange>();

  constructor(
    private readonly store: SegmentStore,
    private readonly options: ScrubberOptions,
  ) {
    if (!Number.isSafeInteger(options.bytesPerSecond) || options.bytesPerSecond < 0) throw new RangeError(`scrub rate must be an integer ≥ 0 bytes per second, got ${options.bytesPerSecond}`);
  }

  start(): void {
    if (this.options.bytesPerSecond === 0 || this.timer) return;
    const tickMs = this.options.tickMs ?? DEFAULT_TICK_MS;
    const budget = Math.max(1, Math.round((this.options.bytesPerSecond * tickMs) / 1000));
    this.timer = setInterval(() => {
      try {
        this.step(budget);
      } catch (err) {
        // The store closed under it (the node is stopping), or a bug: either way the node goes on without it.
        this.stop();
        this.options.log(`the scrubber stopped: ${(err as Error).message}`);
      }
    }, tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  stats(): ScrubberStats {
    return { passes: this.passes, checkedBytes: this.checkedBytes, damaged: [...this.found.values()].map((f) => ({ ...f })) };
  }

  /** Checks about `budgetBytes`, going on to the next segments while budget is left. */
  private step(budgetBytes: number): void {
    let left = budgetBytes;
    // Each segment is visited at most once a step, so a store of empty segments cannot spin here.
    for (let visited = this.store.describe().length + 1; left > 0 && visited > 0; visited--) {
      this.cursor ??= this.firstAfter(-1);
      if (!this.cursor) return this.endPass(); // no segment at all
      const { segmentId, position, nextOffset } = this.cursor;
      const step = this.store.scrubCommitted(segmentId, position, nextOffset, left);
      if (step) {
        left -= step.checkedBytes;
        this.checkedBytes += step.checkedBytes;
        if (step.damaged) this.report(step.damaged);
        this.cursor = { segmentId, position: step.position, nextOffset: step.nextOffset };
        if (!step.atEnd) continue;
      }
      this.cursor = this.firstAfter(segmentId);
      // The next pass starts with the next step.
      if (!this.cursor) return this.endPass();
    }
  }

  /** The first segment (by id) after `segmentId`, at its start. */
  private firstAfter(segmentId: number): Cursor | undefined {
    const next = this.store.describe().find((d) => d.segmentId > segmentId);
    return next && { segmentId: next.segmentId, position: next.startPosition, nextOffset: next.baseOffset };
  }

  private endPass(): void {
    this.passes++;
    // Findings in segments freed since (retention, deleted topics) are gone with them.
    for (const [key, f] of this.found) if (!this.store.has(f.segmentId)) this.found.delete(key);
  }

  private report(f: FencedRange): void {
    const key = `${f.segmentId}:${f.startPosition}`;
    if (this.found.has(key)) return;
    this.found.set(key, f);
    this.options.log(
      `CORRUPT committed data found by the scrubber: topic id ${f.topicId} partition ${f.partition} segment ${f.segmentId} bytes [${f.startPosition}, ${f.endPosition}) ` +
        `offsets [${f.baseOffset}, ${f.endOffset}) fail their check (${f.reason}); they were damaged after they were committed. ` +
        `Readers may still be served these bytes: restart the storage node to fence the range (its recovery check finds it again; readers then get CORRUPT_MESSAGE), ` +
        `then decide with 'rdmq corruption list' and 'rdmq corruption skip'`,
    );
  }
}
