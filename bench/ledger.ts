// What the consumers of one run delivered, counted per partition by offset,
// so a run can show that every record was read exactly once between all its
// consumers (none twice, none skipped), and can wait until they have read
// what was produced. Independent readers (rdmq bench --fanout: each reads
// every partition, like separate consumer groups) are counted apart, so each
// must deliver every record once. Pure bookkeeping: the clients feed it.

export interface ConsumedCounts {
  bytes: number;
  records: number;
  /** Records delivered again at an offset already delivered (only for clients that show offsets). */
  duplicates?: number;
  /** Records skipped: offsets jumped past the next expected one (only for clients that show offsets). */
  missing?: number;
  /** Records each independent reader delivered (only when there are several). */
  recordsByReader?: number[];
}

/** Shared by all consumers of one run; each partition is read by one consumer of each reader at a time. */
export class ConsumptionLedger {
  /** Next expected offset by reader, then partition. */
  private readonly nextOffset = new Map<number, Map<number, bigint>>();
  private readonly recordsByReader: number[] = [];
  private readonly counts = { bytes: 0, records: 0, duplicates: 0, missing: 0 };
  private target: { bytes: number; resolve: () => void } | undefined;
  private failure: Error | undefined;
  private onFailure: ((err: Error) => void) | undefined;
  /** hrtime of the last delivery, for the idle bound. */
  private lastDeliveryAt = process.hrtime.bigint();

  constructor(private readonly onProgress?: (bytes: number) => void) {}

  /** Records `records` records from `baseOffset` on in `partition`, carrying `bytes`, delivered by independent reader `reader`. */
  add(partition: number, baseOffset: bigint, records: number, bytes: number, reader = 0): void {
    let offsets = this.nextOffset.get(reader);
    if (!offsets) this.nextOffset.set(reader, (offsets = new Map()));
    const next = offsets.get(partition) ?? 0n;
    const end = baseOffset + BigInt(records);
    if (baseOffset < next) this.counts.duplicates += Number((end < next ? end : next) - baseOffset);
    else if (baseOffset > next) this.counts.missing += Number(baseOffset - next);
    if (end > next) offsets.set(partition, end);
    this.recordsByReader[reader] = (this.recordsByReader[reader] ?? 0) + records;
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
    if (this.nextOffset.size === 0) return { bytes, records };
    if (this.nextOffset.size === 1 && this.nextOffset.has(0)) return { bytes, records, duplicates, missing };
    return { bytes, records, duplicates, missing, recordsByReader: Array.from(this.recordsByReader, (r) => r ?? 0) };
  }

  /** " (next offset by partition: 0 at 512, 1 at 0)", per reader when there are several, where offsets are known. */
  private describeOffsets(): string {
    if (this.nextOffset.size === 0) return '';
    const partitions = (offsets: Map<number, bigint>): string =>
      [...offsets].sort(([a], [b]) => a - b).map(([p, next]) => `${p} at ${next}`).join(', ');
    if (this.nextOffset.size === 1 && this.nextOffset.has(0)) return ` (next offset by partition: ${partitions(this.nextOffset.get(0)!)})`;
    const readers = [...this.nextOffset].sort(([a], [b]) => a - b).map(([r, offsets]) => `reader ${r}: ${partitions(offsets)}`);
    return ` (next offset by partition, ${readers.join('; ')})`;
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
