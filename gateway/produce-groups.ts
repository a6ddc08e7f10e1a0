// Group commit for Produce: batches waiting on one partition go to the fast
// path together. Each write (stage → put → commit) costs the broker a fixed
// amount however small the batch (its partition queue, the check of the
// bytes, the commit's persist), so clients that send many small or
// pipelined requests (kafka-python's 16 KiB batches, librdkafka's many
// requests in flight) used to queue one write per batch at the broker.
//
// Per partition at most `writesInFlight` writes are between stage and
// commit; a batch that arrives while they are busy waits, and every batch
// waiting when a write finishes goes in the next one, in arrival order, up
// to `groupBytesMax` (the topic's max.message.bytes: the broker stages the
// group as one range and bounds it like one batch). A lone batch on an idle
// partition is written at once: grouping adds no latency.
//
// Each batch keeps its own bytes, base offset and answer; a group either
// commits whole or fails whole, so no batch is acknowledged that is not
// committed. Batches are checked (framing, CRC) before they get here: a bad
// one is refused alone and never joins a group.
//
// Contract: single-threaded (JS). Bounds: the waiting batches are request
// frames already counted by the connections' request memory.
import type { BatchToWrite, Producer } from '../rdma-client';

type TopicInfo = Parameters<Producer['writeBatches']>[0];

interface Waiting extends BatchToWrite {
  resolve(baseOffset: bigint): void;
  reject(err: Error): void;
}

interface PartitionQueue {
  readonly topic: TopicInfo;
  readonly partition: number;
  /** The topic's max.message.bytes as the latest batch saw it (a change applies to the next group). */
  groupBytesMax: number;
  readonly waiting: Waiting[];
  inFlight: number;
}

export class ProduceGroups {
  private readonly queues = new Map<string, PartitionQueue>();
  /** Fast-path writes started, and the batches they carried (batches / writes = how much was folded). */
  writesStarted = 0;
  batchesStarted = 0;

  constructor(
    private readonly producer: Pick<Producer, 'writeBatches'>,
    private readonly writesInFlight: number,
  ) {
    if (!Number.isInteger(writesInFlight) || writesInFlight < 1) throw new RangeError(`writesInFlight must be a positive integer, got ${writesInFlight}`);
  }

  /** Writes one checked batch; resolves to its base offset once it is committed. */
  append(topic: TopicInfo, partition: number, batch: Buffer, recordCount: number, groupBytesMax: number): Promise<bigint> {
    const key = `${topic.topicId}:${partition}`;
    let queue = this.queues.get(key);
    if (!queue) this.queues.set(key, (queue = { topic, partition, groupBytesMax, waiting: [], inFlight: 0 }));
    queue.groupBytesMax = groupBytesMax;
    const added = new Promise<bigint>((resolve, reject) => queue.waiting.push({ batch, recordCount, resolve, reject }));
    this.startWrites(key, queue);
    return added;
  }

  /** Batches waiting, over every partition (for tests and metrics). */
  get waitingCount(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.waiting.length;
    return n;
  }

  private startWrites(key: string, queue: PartitionQueue): void {
    while (queue.inFlight < this.writesInFlight && queue.waiting.length > 0) {
      const group = takeGroup(queue.waiting, queue.groupBytesMax);
      queue.inFlight++;
      this.writesStarted++;
      this.batchesStarted += group.length;
      this.producer
        .writeBatches(queue.topic, queue.partition, group)
        .then(
          (baseOffsets) => group.forEach((w, i) => w.resolve(baseOffsets[i])),
          (err: Error) => group.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          queue.inFlight--;
          if (queue.inFlight === 0 && queue.waiting.length === 0) this.queues.delete(key);
          else this.startWrites(key, queue);
        });
    }
  }
}

/** The leading waiting batches within `groupBytesMax` (always at least one: a batch alone was checked against it already). */
export function takeGroup<T extends { batch: Buffer }>(waiting: T[], groupBytesMax: number): T[] {
  let take = 1;
  let bytes = waiting[0].batch.length;
  while (take < waiting.length && bytes + waiting[take].batch.length <= groupBytesMax) {
    bytes += waiting[take].batch.length;
    take++;
  }
  return waiting.splice(0, take);
}
