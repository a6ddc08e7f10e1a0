// The storage node's background scrubber: while the node runs, it checks
// every committed batch again (framing, magic, CRC32C, as recovery does at
// open), a bounded number of bytes per second, segment after segment, and
// starts over when it has checked them all. Committed bytes never change, so
// a batch that fails now was damaged after it was committed (the medium, a
// stray write): the scrubber fences it in the store, as recovery fences what
// it finds at open, and reports it once, with a CORRUPT log line and on
// /metrics. The broker takes the fence at its next probe of the node (it
// rebuilds the partition from the node's headers and fences, as after a
// restart): readers then get CORRUPT_MESSAGE there, and only an operator's
// 'rdmq corruption skip' replaces the range. Nothing is cut.
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
  /** A pass starts no sooner than this after the one before started (default 1 s): a store of little data is not checked over and over. */
  minPassIntervalMs?: number;
}

export interface ScrubberStats {
  /** Full passes over every segment's committed bytes. */
  passes: number;
  checkedBytes: number;
  /** Damaged ranges found (and fenced) in segments that still exist. */
  damaged: FencedRange[];
}

interface Pass {
  /** The segments when the pass began, by id; later ones wait for the next pass. */
  segmentIds: number[];
  index: number;
  /** Where the current segment's next batch starts (-1: at the segment's start), and its offset. */
  position: number;
  nextOffset: bigint;
}

const DEFAULT_TICK_MS = 100;
const DEFAULT_MIN_PASS_INTERVAL_MS = 1000;
/** Segments one step looks at, at most: thousands of nearly empty ones cost a step no more than this many lookups. */
const SEGMENTS_PER_STEP_MAX = 512;

export class Scrubber {
  private timer: NodeJS.Timeout | undefined;
  private pass: Pass | undefined;
  private lastPassStartedAt = Number.NEGATIVE_INFINITY;
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

  /** Checks about `budgetBytes` (whole batches, at least one), going on to the next segments while budget is left. */
  private step(budgetBytes: number): void {
    if (!this.pass) {
      const now = Date.now();
      if (now - this.lastPassStartedAt < (this.options.minPassIntervalMs ?? DEFAULT_MIN_PASS_INTERVAL_MS)) return;
      this.lastPassStartedAt = now;
      this.pass = { segmentIds: this.store.segmentIds(), index: 0, position: -1, nextOffset: 0n };
    }
    const pass = this.pass;
    let left = budgetBytes;
    for (let visits = 0; left > 0 && visits < SEGMENTS_PER_STEP_MAX; visits++) {
      if (pass.index >= pass.segmentIds.length) return this.endPass();
      const segmentId = pass.segmentIds[pass.index];
      const step = this.store.scrubCommitted(segmentId, pass.position, pass.nextOffset, left);
      if (step) {
        left -= step.checkedBytes;
        this.checkedBytes += step.checkedBytes;
        if (step.damaged) this.report(step.damaged);
        pass.position = step.position;
        pass.nextOffset = step.nextOffset;
        if (!step.atEnd) continue;
      }
      // Done with this segment (or it is gone): the next one from its start.
      pass.index++;
      pass.position = -1;
    }
  }

  private endPass(): void {
    this.pass = undefined;
    this.passes++;
    // Findings in segments freed since (retention, deleted topics) are gone with them.
    for (const [key, f] of this.found) if (!this.store.has(f.segmentId)) this.found.delete(key);
  }

  private report(f: FencedRange): void {
    const key = `${f.segmentId}:${f.startPosition}`;
    if (this.found.has(key)) return;
    this.found.set(key, f);
    // Stepped over from now on: the store holds the fence (false only if the segment went away meanwhile).
    const fenced = this.store.fenceDamaged(f);
    this.options.log(
      `CORRUPT committed data found by the scrubber: topic id ${f.topicId} partition ${f.partition} segment ${f.segmentId} bytes [${f.startPosition}, ${f.endPosition}) ` +
        `offsets [${f.baseOffset}, ${f.endOffset}) fail their check (${f.reason}); they were damaged after they were committed. ` +
        (fenced
          ? `The range is fenced, not cut: readers get CORRUPT_MESSAGE there once the broker has taken the fence, until an operator runs 'rdmq corruption skip'`
          : `Its segment is gone; nothing is fenced`),
    );
  }
}
