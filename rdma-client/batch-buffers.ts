// Buffers that send() encodes record batches into, used again once a batch
// is committed. A fresh large Buffer is memory the kernel has not yet given
// the process: its first write faults every page in, which on a VM with
// shadow paging costs 0.5–3 ms per MiB, more than encoding and putting the
// batch together. A small one costs too, counted per batch: every Buffer
// beyond Node's own 4 KiB pool is an ArrayBuffer of its own, which V8
// accounts as external memory and the GC must find dead and free; a producer
// with hundreds of 8 KiB batches in flight spent a quarter of its time in
// the GC. A producer has at most its staging window of batches in flight, so
// a few buffers of each size it sends serve it for good. The gateway's
// partition readers take the buffers they read Fetch answers into from one
// too, and give them back once the answer is written (rdma-client/fetcher.ts).
//
// Contract: single-threaded (JS). A buffer is given back only after the
// write of its batch succeeded: every put of it has landed, so no copy can
// still be reading it. A failed write's buffer is left to the GC, since a
// copy of it may still be under way somewhere.

/** Below this a batch comes from Node's allocator, which pools buffers this small itself (Buffer.poolSize / 2). */
export const POOLED_BATCH_BYTES_MIN = 4 * 1024;
/** Size classes: eight per power of two, so a buffer wastes at most an eighth of its capacity. */
const CLASS_STEPS_LOG2 = 3;

/** The capacity a batch of `bytes` is given: `bytes` rounded up to the next of eight steps per power of two. */
export function batchBufferCapacity(bytes: number): number {
  if (bytes < POOLED_BATCH_BYTES_MIN) return bytes;
  const step = 2 ** Math.max(0, Math.floor(Math.log2(bytes)) - CLASS_STEPS_LOG2);
  return Math.ceil(bytes / step) * step;
}

export class BatchBuffers {
  /** Idle buffers by capacity, the most recently given back last. */
  private readonly free = new Map<number, Buffer[]>();
  /** The backing stores this pool made, so a buffer it did not make is never taken in. */
  private readonly made = new WeakSet<ArrayBufferLike>();
  /** Those idle now, the least recently given back first: a buffer given back twice is kept once, never handed to two sends. */
  private readonly idle = new Map<ArrayBufferLike, number>();
  private keptBytes = 0;

  /**
   * `keptBytesMax`: the most idle buffer bytes kept for later. A buffer
   * given back beyond it makes room by letting the least recently given
   * back idle ones go (to the GC), so the sizes in use now stay pooled when
   * others were used once (a reader's answers of odd sizes at a segment's end).
   */
  constructor(private readonly keptBytesMax: number) {}

  /** A buffer of exactly `bytes` (contents undefined). */
  take(bytes: number): Buffer {
    if (bytes < POOLED_BATCH_BYTES_MIN) return Buffer.allocUnsafe(bytes);
    const capacity = batchBufferCapacity(bytes);
    const fit = this.free.get(capacity)?.length ? capacity : this.smallestIdleUpTo(capacity, 2 * capacity);
    const whole = fit === undefined ? undefined : this.free.get(fit)!.pop();
    if (whole) {
      this.idle.delete(whole.buffer);
      this.keptBytes -= whole.length;
      return whole.subarray(0, bytes);
    }
    const fresh = Buffer.allocUnsafeSlow(capacity);
    this.made.add(fresh.buffer);
    return fresh.subarray(0, bytes);
  }

  /** Takes back a buffer from take() whose contents nothing will read again. */
  give(batch: Buffer): void {
    if (batch.byteOffset !== 0 || !this.made.has(batch.buffer) || this.idle.has(batch.buffer)) return;
    const capacity = batch.buffer.byteLength;
    if (capacity > this.keptBytesMax) return;
    while (this.keptBytes + capacity > this.keptBytesMax) this.dropLeastRecent();
    let list = this.free.get(capacity);
    if (!list) this.free.set(capacity, (list = []));
    list.push(Buffer.from(batch.buffer, 0, capacity));
    this.idle.set(batch.buffer, capacity);
    this.keptBytes += capacity;
  }

  /** Idle bytes held for later sends. */
  get idleBytes(): number {
    return this.keptBytes;
  }

  /** Lets every idle buffer go. */
  clear(): void {
    this.free.clear();
    this.idle.clear();
    this.keptBytes = 0;
  }

  /**
   * The smallest capacity above `from`, up to `to`, with an idle buffer: a
   * size met once (the last read of a segment) takes a larger buffer kept
   * for the sizes in use rather than fresh memory, wasting at most half.
   */
  private smallestIdleUpTo(from: number, to: number): number | undefined {
    let best: number | undefined;
    for (const [capacity, list] of this.free) {
      if (capacity > from && capacity <= to && list.length > 0 && (best === undefined || capacity < best)) best = capacity;
    }
    return best;
  }

  /** Lets the idle buffer given back longest ago go: it is the first of its size's list. */
  private dropLeastRecent(): void {
    const [backing, capacity] = this.idle.entries().next().value as [ArrayBufferLike, number];
    this.idle.delete(backing);
    this.free.get(capacity)!.shift();
    this.keptBytes -= capacity;
  }
}
