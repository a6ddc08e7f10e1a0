// Bytes arriving on a stream socket, taken off in frames: headers by copy
// (small), payloads straight into their destination (no intermediate buffer).
export class ChunkQueue {
  private readonly chunks: Buffer[] = [];
  private head = 0;
  private total = 0;

  get available(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /**
   * The next `n` bytes (the caller checked `available`): a view of the chunk
   * when they lie in one (chunks are never written after they arrive), else a copy.
   */
  take(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length - this.head >= n) {
      const view = first.subarray(this.head, this.head + n);
      this.moveInto(null, 0, n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    this.moveInto(out, 0, n);
    return out;
  }

  /** Moves up to `n` bytes into `target` at `at` (or drops them when `target` is null); returns how many moved. */
  moveInto(target: Uint8Array | null, at: number, n: number): number {
    let moved = 0;
    while (moved < n && this.chunks.length > 0) {
      const first = this.chunks[0];
      const step = Math.min(n - moved, first.length - this.head);
      if (target) target.set(first.subarray(this.head, this.head + step), at + moved);
      moved += step;
      this.head += step;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.total -= moved;
    return moved;
  }
}
