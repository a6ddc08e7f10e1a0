// Buffers for request frames that arrive over several socket reads: large
// Produce requests, in practice. Assembling each 1 MiB frame in a fresh
// buffer costs more than the copy: the pages of every new buffer are
// faulted in and zeroed by the kernel, and V8 counts each as external
// memory, which drives its full GCs. Reusing the buffers of finished
// requests removes that allocation.
//
// Size classes: 8 per doubling, so a buffer is at most 1/8 larger than its
// frame, and frames of nearly equal size (a producer's batches) share one.
//
// Bounds: at most `maxFreeBytes` of buffers wait for reuse, for the whole
// gateway; anything given back beyond that (a 100 MiB frame, say) is left to
// the GC, so memory returns after big frames.
//
// Contract: shared by the connections of one listener (single-threaded JS). A buffer is given back only once
// nothing refers to it any more: `release` is for frames whose handler has
// settled and kept no view of the request (Produce copies its records into
// the log before it answers).

/** Frames below this fit a socket read or two; a fresh buffer costs little. */
export const POOLED_FRAME_BYTES_MIN = 64 * 1024;
const CLASSES_PER_DOUBLING = 8;

export class FrameBufferPool {
  private readonly free: Buffer[] = [];
  private freeBytes = 0;
  /** Backing stores lent out and not yet given back; frames that alias a socket read are not here. */
  private readonly lent = new WeakSet<ArrayBufferLike>();

  constructor(readonly maxFreeBytes: number) {
    if (!Number.isInteger(maxFreeBytes) || maxFreeBytes < 0) throw new RangeError(`maxFreeBytes must be a non-negative integer, got ${maxFreeBytes}`);
  }

  /** Bytes held for reuse. */
  get heldBytes(): number {
    return this.freeBytes;
  }

  /** A buffer of exactly `sizeBytes`, reused when one of its class is free. */
  acquire(sizeBytes: number): Buffer {
    if (sizeBytes < POOLED_FRAME_BYTES_MIN) return Buffer.allocUnsafe(sizeBytes);
    const capacity = classCapacity(sizeBytes);
    const at = this.free.findIndex((b) => b.length === capacity);
    let whole: Buffer;
    if (at >= 0) {
      whole = this.free[at];
      this.free.splice(at, 1);
      this.freeBytes -= capacity;
    } else {
      whole = Buffer.allocUnsafeSlow(capacity);
    }
    this.lent.add(whole.buffer);
    return whole.subarray(0, sizeBytes);
  }

  /** Takes back the buffer under `frame` (any view of one this pool lent); other buffers are ignored. */
  release(frame: Buffer): void {
    const backing = frame.buffer;
    if (!this.lent.has(backing)) return;
    this.lent.delete(backing);
    if (this.freeBytes + backing.byteLength > this.maxFreeBytes) return;
    this.free.push(Buffer.from(backing, 0, backing.byteLength));
    this.freeBytes += backing.byteLength;
  }
}

/** `sizeBytes` rounded up to the next of 8 classes per power of two. */
export function classCapacity(sizeBytes: number): number {
  const power = 2 ** Math.floor(Math.log2(sizeBytes));
  const step = Math.max(1, power / CLASSES_PER_DOUBLING);
  return Math.ceil(sizeBytes / step) * step;
}
