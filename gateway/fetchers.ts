// Open partition readers shared by every Kafka connection of the gateway.
// Each PartitionFetcher holds a watermark subscription at the broker, so the
// pool is bounded: the least recently used reader closes when it is full.
// Readers are keyed by topic id, so a topic deleted and created again under
// the same name never reads through a stale reader.
//
// Contract: single-threaded (JS); `get` may be called concurrently, and
// concurrent calls for one partition share one open().
import { Connection, PartitionFetcher, ReadAheadBudget } from '../rdma-client';
import { BatchBuffers } from '../rdma-client/batch-buffers';

export class FetcherPool {
  /** Insertion order is recency order: a hit moves the entry to the end. */
  private readonly open = new Map<string, Promise<PartitionFetcher>>();

  constructor(
    private readonly connection: Connection,
    private readonly maxOpen: number,
    private readonly log: (message: string) => void,
    /** Shared by every reader: bytes read ahead for consumers that will fetch them next. */
    private readonly readAheadBudget?: ReadAheadBudget & { readonly used: number },
    /** Shared by every reader: the buffers reads go into, given back once their answer is written (FetchChunks.release). */
    private readonly buffers?: BatchBuffers,
  ) {
    // A new broker session holds none of the readers' subscriptions: open them afresh on demand.
    connection.on('reconnected', () => void this.closeAll());
  }

  get(topic: string, topicId: number, partition: number): Promise<PartitionFetcher> {
    const key = `${topicId}:${partition}`;
    const found = this.open.get(key);
    if (found) {
      this.open.delete(key);
      this.open.set(key, found);
      return found;
    }
    while (this.open.size >= this.maxOpen) this.evictOldest();
    const fetcher = new PartitionFetcher(this.connection, topic, partition, this.readAheadBudget, this.log, this.buffers);
    const opened = fetcher.open().then(() => fetcher);
    this.open.set(key, opened);
    opened.catch(() => {
      if (this.open.get(key) === opened) this.open.delete(key);
    });
    return opened;
  }

  /** Closes the reader of a partition (after an error, or when its topic is deleted). */
  drop(topicId: number, partition?: number): void {
    for (const key of [...this.open.keys()]) {
      const [id, p] = key.split(':').map(Number);
      if (id === topicId && (partition === undefined || p === partition)) this.close(key);
    }
  }

  get size(): number {
    return this.open.size;
  }

  /** Bytes the readers hold read ahead (being read, or read and not yet taken). */
  get readAheadBytes(): number {
    return this.readAheadBudget?.used ?? 0;
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((p) => p.then((f) => f.close()).catch(() => undefined)));
  }

  private evictOldest(): void {
    const oldest = this.open.keys().next().value as string;
    this.close(oldest);
  }

  private close(key: string): void {
    const entry = this.open.get(key);
    this.open.delete(key);
    entry?.then((f) => f.close()).catch((err: Error) => this.log(`closing partition reader ${key}: ${err.message}`));
  }
}
