// One partition's idempotent producers: per producer its epoch and last five
// batches (format/producer-windows.ts). In memory only: the committed log is
// its durable form. The broker rebuilds it from the batch headers when it
// opens a partition; the gateway's appender folds in each batch it writes.
//
// Bounded: at most `maxProducers` windows per partition; the producer whose
// last write is oldest goes first, as Kafka expires idle producers. A
// producer with no window may start at any sequence (Kafka's rule too).
//
// Contract: not thread-safe (JS has none); callers serialise writes per partition.
import { foldProducerBatch, mergeProducerWindows, ProducerBatch, ProducerWindow, ProducerWindows } from '../format';

export const MAX_PRODUCERS_PER_PARTITION_DEFAULT = 100_000;

export class PartitionProducers {
  private readonly windows: ProducerWindows = new Map();

  constructor(private readonly maxProducers = MAX_PRODUCERS_PER_PARTITION_DEFAULT) {}

  get size(): number {
    return this.windows.size;
  }

  window(producerId: bigint): Readonly<ProducerWindow> | undefined {
    return this.windows.get(producerId);
  }

  all(): IterableIterator<Readonly<ProducerWindow>> {
    return this.windows.values();
  }

  /** A batch of `producerId` at `epoch`, just committed at these offsets. */
  record(producerId: bigint, epoch: number, batch: ProducerBatch): void {
    foldProducerBatch(this.windows, producerId, epoch, batch);
    this.trim();
  }

  /** Windows of a stretch of the log later than everything folded so far (or overlapping it: a rescan). */
  absorb(later: Iterable<ProducerWindow>): void {
    mergeProducerWindows(this.windows, later);
    this.trim();
  }

  private trim(): void {
    while (this.windows.size > this.maxProducers) this.windows.delete(this.windows.keys().next().value as bigint);
  }
}
