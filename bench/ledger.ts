// What the consumers of one run delivered, counted per partition by offset,
// so a run can show that every record was read exactly once between all its
// consumers (none twice, none skipped), and can wait until they have read
// what was produced. Pure bookkeeping: the clients feed it.

export interface ConsumedCounts {
  bytes: number;
  records: number;
  /** Records delivered again at an offset already delivered (only for clients that show offsets). */
  duplicates?: number;
  /** Records skipped: offsets jumped past the next expected one (only for clients that show offsets). */
  missing?: number;
}

/** Shared by all consumers of one run; each partition is read by one consumer at a time. */
export class ConsumptionLedger {
  private readonly nextOffset = new Map<number, bigint>();
  private readonly counts = { bytes: 0, records: 0, duplicates: 0, missing: 0 };
  private target: { bytes: number; resolve: () => void } | undefined;
  private failure: Error | undefined;
  private onFailure: ((err: Error) => void) | undefined;
  /** hrtime of the last delivery, for the idle bound. */
  private lastDeliveryAt = process.hrtime.bigint();

  constructor(private readonly onProgress?: (bytes: number) => void) {}

  /** Records `records` records from `baseOffset` on in `partition`, carrying `bytes`. */
  add(partition: number, baseOffset: bigint, records: number, bytes: number): void {
    const next = this.nextOffset.get(partition) ?? 0n;
    const end = baseOffset + BigInt(records);
    if (baseOffset < next) this.counts.duplicates += Number((end < next ? end : next) - baseOffset);
    else if (baseOffset > next) this.counts.missing += Number(baseOffset - next);
    if (end > next) this.nextOffset.set(partition, end);
    this.addUnordered(records, bytes);
  }

  /** For clients that see no offsets (kcat's output): counts only. */
  addUnordered(records: number, bytes: number): void {
    this.counts.records += records;
    this.counts.bytes += bytes;
    this.lastDeliveryAt = process.hrtime.bigint();
    this.onProgress?.(this.counts.bytes);
    if (this.target && this.counts.bytes >= this.target.bytes) this.target.resolve();
  }

  get bytes(): number {
    return this.counts.bytes;
  }

  snapshot(): ConsumedCounts {
    const { bytes, records, duplicates, missing } = this.counts;
    return this.nextOffset.size > 0 ? { bytes, records, duplicates, missing } : { bytes, records };
  }

  /** " (next offset by partition: 0 at 512, 1 at 0)", where offsets are known. */
  private describeOffsets(): string {
    if (this.nextOffset.size === 0) return '';
    const parts = [...this.nextOffset].sort(([a], [b]) => a - b).map(([p, next]) => `${p} at ${next}`);
    return ` (next offset by partition: ${parts.join(', ')})`;
  }

  /** A consumer failed: whoever waits in reach() hears of it. */
  fail(err: Error): void {
    this.failure ??= err;
    this.onFailure?.(err);
  }

  /**
   * Resolves once `bytes` have been delivered; rejects if a consumer fails or
   * nothing arrives for `idleMs` (a bound, so a lost record cannot hang a run).
   */
  reach(bytes: number, idleMs: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.counts.bytes >= bytes) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const idle = Number(process.hrtime.bigint() - this.lastDeliveryAt) / 1e6;
        if (idle > idleMs) finish(new Error(`consumers read ${this.counts.bytes} of ${bytes} bytes${this.describeOffsets()}, then nothing for ${(idleMs / 1000).toFixed(0)} s`));
      }, Math.min(1000, idleMs));
      const finish = (err?: Error): void => {
        clearInterval(timer);
        this.target = undefined;
        this.onFailure = undefined;
        if (err) reject(err);
        else resolve();
      };
      this.target = { bytes, resolve: () => finish() };
      this.onFailure = (err) => finish(err);
    });
  }
}
