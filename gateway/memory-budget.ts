// A bound on bytes held at once by many holders (every Kafka connection's
// request frames; every Fetch's response), shared by all of them. Holders
// that cannot get what they ask for wait in one first-come-first-served
// queue, so a stream of small requests never starves a large one and a slow
// holder delays the others only by what it holds. Bytes already in memory
// (a socket read that has arrived) are counted with `force`, which may pass
// the bound; everything that can still be refused asks first.
//
// Contract: single-threaded (JS); `give` exactly what was taken or forced.

interface Waiter {
  bytes: number;
  granted: () => void;
}

export class MemoryBudget {
  private usedBytes = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly capacityBytes: number) {
    if (!Number.isInteger(capacityBytes) || capacityBytes <= 0) throw new RangeError(`capacityBytes must be a positive integer, got ${capacityBytes}`);
  }

  get used(): number {
    return this.usedBytes;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Takes `bytes` if they fit and nobody waits ahead; 0 bytes asks for room (used below the bound). */
  tryTake(bytes: number): boolean {
    if (this.waiters.length > 0 || !this.fits(bytes)) return false;
    this.usedBytes += bytes;
    return true;
  }

  /** Counts bytes that are already held, whatever the bound. */
  force(bytes: number): void {
    this.usedBytes += bytes;
  }

  give(bytes: number): void {
    if (bytes <= 0) return;
    this.usedBytes -= bytes;
    if (this.usedBytes < 0) throw new Error(`memory budget gave back ${-this.usedBytes} bytes more than it handed out`);
    this.grantWaiters();
  }

  /** Queues for `bytes`; `granted` runs once they are taken on the caller's behalf. Returns a cancel function. */
  wait(bytes: number, granted: () => void): () => void {
    const waiter: Waiter = { bytes, granted };
    this.waiters.push(waiter);
    this.grantWaiters();
    return () => {
      const at = this.waiters.indexOf(waiter);
      if (at >= 0) this.waiters.splice(at, 1);
      this.grantWaiters();
    };
  }

  /** `wait` as a Promise that is settled within `timeoutMs`: true once taken, false when the time ran out first. */
  take(bytes: number, timeoutMs: number): Promise<boolean> {
    if (this.tryTake(bytes)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const cancel = this.wait(bytes, () => {
        clearTimeout(timer);
        resolve(true);
      });
      const timer = setTimeout(() => {
        cancel();
        resolve(false);
      }, timeoutMs);
    });
  }

  /** A holder may always take something when nothing is held, so a request larger than the bound is served alone, never starved. */
  private fits(bytes: number): boolean {
    if (this.usedBytes === 0) return true;
    return bytes === 0 ? this.usedBytes < this.capacityBytes : this.usedBytes + bytes <= this.capacityBytes;
  }

  private grantWaiters(): void {
    while (this.waiters.length > 0 && this.fits(this.waiters[0].bytes)) {
      const waiter = this.waiters.shift()!;
      this.usedBytes += waiter.bytes;
      waiter.granted();
    }
  }
}
