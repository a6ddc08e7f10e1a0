// Idempotent produce: each (producer, partition) continues its sequence, a
// retried batch is acknowledged with its first offsets and stored once, an
// old epoch is fenced.
//
// Appends of idempotent batches to one partition run one at a time (check →
// write → record), so a check always sees every earlier batch. The record of
// what was written goes to the metadata store in the background, in order:
// it is not on the acknowledgement path. Until it is durable the gateway's
// own cache answers; the cache is bounded and falls back to the store.
//
// Contract: the only writer of idempotent batches for these partitions (one
// gateway per broker). Not thread-safe; JS has none.
import { MetadataStore } from '../broker';
import { MAX_PRODUCER_EPOCH, ProducerBatch } from './broker-view';
import { kafkaError, KafkaErrorValue } from './errors';

/** Kafka keeps the last five batches per producer and partition to answer retries. */
const BATCHES_REMEMBERED = 5;
const MAX_SEQUENCE = 0x7fffffff;

export interface IdempotentBatch {
  producerId: bigint;
  epoch: number;
  firstSequence: number;
  recordCount: number;
}

export type SequenceVerdict =
  | { kind: 'new' }
  | { kind: 'duplicate'; baseOffset: bigint }
  | { kind: 'error'; error: KafkaErrorValue };

interface CachedState {
  epoch: number;
  batches: ProducerBatch[];
}

/**
 * What a batch is, given the producer's current epoch and its last batches
 * on this partition (oldest first). Pure: the rules of Kafka's
 * ProducerStateManager for non-transactional idempotent producers.
 */
export function sequenceVerdict(batch: IdempotentBatch, currentEpoch: number, batches: readonly ProducerBatch[]): SequenceVerdict {
  const lastSequence = lastSequenceOf(batch);
  if (batch.epoch < currentEpoch) {
    return { kind: 'error', error: kafkaError('INVALID_PRODUCER_EPOCH', `producer ${batch.producerId} epoch ${batch.epoch} is fenced by epoch ${currentEpoch}`) };
  }
  if (batch.epoch > currentEpoch || batches.length === 0) {
    if (batch.firstSequence === 0) return { kind: 'new' };
    return {
      kind: 'error',
      error: kafkaError('OUT_OF_ORDER_SEQUENCE_NUMBER', `producer ${batch.producerId} epoch ${batch.epoch} starts this partition at sequence ${batch.firstSequence}; expected 0`),
    };
  }
  const retried = batches.find((b) => b.firstSequence === batch.firstSequence && b.lastSequence === lastSequence);
  if (retried) return { kind: 'duplicate', baseOffset: retried.baseOffset };
  const last = batches[batches.length - 1];
  const expected = last.lastSequence === MAX_SEQUENCE ? 0 : last.lastSequence + 1;
  if (batch.firstSequence !== expected) {
    return {
      kind: 'error',
      error: kafkaError('OUT_OF_ORDER_SEQUENCE_NUMBER', `producer ${batch.producerId} sent sequence ${batch.firstSequence}; expected ${expected}`),
    };
  }
  return { kind: 'new' };
}

/** Sequences wrap at 2^31-1 like Kafka's. */
function lastSequenceOf(batch: IdempotentBatch): number {
  return (batch.firstSequence + batch.recordCount - 1) % (MAX_SEQUENCE + 1);
}

export class IdempotentAppender {
  private readonly chains = new Map<string, Promise<unknown>>();
  /** `${producerId}:${topicId}:${partition}` → state newer than (or equal to) the store's. Insertion order = age. */
  private readonly cache = new Map<string, CachedState>();

  constructor(
    private readonly metadata: MetadataStore,
    private readonly maxCached: number,
    private readonly log: (message: string) => void,
  ) {}

  /**
   * Appends one idempotent batch with `write` unless it is a retry of one of
   * the producer's last batches; resolves to the batch's base offset.
   */
  append(
    topic: { name: string; topicId: number },
    partition: number,
    batch: IdempotentBatch & { lastOffsetDelta: number },
    write: () => Promise<bigint>,
  ): Promise<{ baseOffset: bigint } | { error: KafkaErrorValue }> {
    const chainKey = `${topic.topicId}:${partition}`;
    const previous = this.chains.get(chainKey) ?? Promise.resolve();
    const run = previous.then(() => this.appendNow(topic, partition, batch, write));
    const tail = run.catch(() => undefined);
    this.chains.set(chainKey, tail);
    void tail.then(() => {
      if (this.chains.get(chainKey) === tail) this.chains.delete(chainKey);
    });
    return run;
  }

  private async appendNow(
    topic: { name: string; topicId: number },
    partition: number,
    batch: IdempotentBatch & { lastOffsetDelta: number },
    write: () => Promise<bigint>,
  ): Promise<{ baseOffset: bigint } | { error: KafkaErrorValue }> {
    const stored = this.metadata.state.producers.get(batch.producerId);
    if (!stored) {
      return { error: kafkaError('UNKNOWN_PRODUCER_ID', `producer id ${batch.producerId} is unknown; call InitProducerId again`) };
    }
    if (!Number.isInteger(batch.epoch) || batch.epoch < 0 || batch.epoch > MAX_PRODUCER_EPOCH) {
      return { error: kafkaError('INVALID_PRODUCER_EPOCH', `producer epoch must be 0..${MAX_PRODUCER_EPOCH}, got ${batch.epoch}`) };
    }
    if (batch.firstSequence < 0) {
      return { error: kafkaError('INVALID_RECORD', `an idempotent batch needs a base sequence ≥ 0, got ${batch.firstSequence}`) };
    }
    const cacheKey = `${batch.producerId}:${topic.topicId}:${partition}`;
    const cached = this.cache.get(cacheKey);
    const storedBatches = stored.partitions.get(`${topic.topicId}:${partition}`) ?? [];
    // The store's epoch moves on InitProducerId (a bump); the cache's on the first batch of a new epoch.
    const currentEpoch = Math.max(stored.epoch, cached?.epoch ?? -1);
    const batches = cached && cached.epoch === currentEpoch ? cached.batches : stored.epoch === currentEpoch ? storedBatches : [];
    const verdict = sequenceVerdict(batch, currentEpoch, batches);
    if (verdict.kind === 'error') return { error: verdict.error };
    if (verdict.kind === 'duplicate') return { baseOffset: verdict.baseOffset };

    const baseOffset = await write();
    const written: ProducerBatch = {
      firstSequence: batch.firstSequence,
      lastSequence: lastSequenceOf(batch),
      baseOffset,
      lastOffset: baseOffset + BigInt(batch.lastOffsetDelta),
    };
    const next = batch.epoch === currentEpoch ? [...batches, written].slice(-BATCHES_REMEMBERED) : [written];
    this.remember(cacheKey, { epoch: batch.epoch, batches: next });
    this.metadata
      .updateProducerState(batch.producerId, batch.epoch, topic.name, partition, written)
      .catch((err: Error) => this.log(`recording producer ${batch.producerId} state for ${topic.name}-${partition}: ${err.message}`));
    return { baseOffset };
  }

  private remember(key: string, state: CachedState): void {
    this.cache.delete(key);
    this.cache.set(key, state);
    // The oldest entries are long since durable in the store, which answers for them.
    while (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value as string);
  }
}
