// Idempotent produce: each (producer, partition) continues its sequence, a
// retried batch is acknowledged with its first offsets and stored once, an
// old epoch is fenced.
//
// Appends of idempotent batches to one partition run one at a time (check →
// write → fold into the partition's producer windows), so a check always sees
// every earlier batch. Nothing is written to the metadata log per batch: the
// windows are in memory, and the broker rebuilds them from the committed
// batches' own headers when it opens a partition (broker/producer-state.ts).
// So the acknowledgement depends only on the commit of the batch itself, and
// a retry after any crash finds the batch it repeats.
//
// Contract: the only writer of idempotent batches for these partitions (the
// gateway in the broker's process; gateways of their own forward idempotent
// produces to it). Not thread-safe; JS has none.
import { Broker } from '../broker';
import { lastSequenceOf, MAX_SEQUENCE, ProducerBatch, ProducerWindow } from '../format';
import { MAX_PRODUCER_EPOCH } from './broker-view';
import { kafkaError, KafkaErrorValue } from './errors';

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

/**
 * What a batch is, given the producer's current epoch and its window on this
 * partition (undefined when the partition holds nothing of it). Pure: the
 * rules of Kafka's ProducerStateManager for non-transactional idempotent
 * producers, including that a producer with no state on the partition may
 * start at any sequence (its earlier batches may have gone with retention).
 */
export function sequenceVerdict(batch: IdempotentBatch, currentEpoch: number, window: Readonly<ProducerWindow> | undefined): SequenceVerdict {
  if (batch.epoch < currentEpoch) {
    return { kind: 'error', error: kafkaError('INVALID_PRODUCER_EPOCH', `producer ${batch.producerId} epoch ${batch.epoch} is fenced by epoch ${currentEpoch}`) };
  }
  if (!window) return { kind: 'new' };
  if (batch.epoch !== window.epoch) {
    if (batch.firstSequence === 0) return { kind: 'new' };
    return {
      kind: 'error',
      error: kafkaError('OUT_OF_ORDER_SEQUENCE_NUMBER', `producer ${batch.producerId} epoch ${batch.epoch} starts this partition at sequence ${batch.firstSequence}; expected 0`),
    };
  }
  const lastSequence = lastSequenceOf(batch.firstSequence, batch.recordCount);
  const retried = window.batches.find((b) => b.firstSequence === batch.firstSequence && b.lastSequence === lastSequence);
  if (retried) return { kind: 'duplicate', baseOffset: retried.baseOffset };
  const last = window.batches[window.batches.length - 1];
  const expected = last.lastSequence === MAX_SEQUENCE ? 0 : last.lastSequence + 1;
  if (batch.firstSequence !== expected) {
    return {
      kind: 'error',
      error: kafkaError('OUT_OF_ORDER_SEQUENCE_NUMBER', `producer ${batch.producerId} sent sequence ${batch.firstSequence}; expected ${expected}`),
    };
  }
  return { kind: 'new' };
}

export class IdempotentAppender {
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly broker: Broker,
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
    if (!Number.isInteger(batch.epoch) || batch.epoch < 0 || batch.epoch > MAX_PRODUCER_EPOCH) {
      return { error: kafkaError('INVALID_PRODUCER_EPOCH', `producer epoch must be 0..${MAX_PRODUCER_EPOCH}, got ${batch.epoch}`) };
    }
    if (batch.firstSequence < 0) {
      return { error: kafkaError('INVALID_RECORD', `an idempotent batch needs a base sequence ≥ 0, got ${batch.firstSequence}`) };
    }
    const runtime = this.broker.partition(topic.topicId, partition);
    const registered = this.broker.metadata.state.producers.get(batch.producerId);
    const window = runtime.producers.window(batch.producerId);
    if (!registered && !window) {
      return { error: kafkaError('UNKNOWN_PRODUCER_ID', `producer id ${batch.producerId} is unknown; call InitProducerId again`) };
    }
    // The log's epoch moves on InitProducerId (a bump); the window's with the first batch of a new epoch.
    const currentEpoch = Math.max(registered?.epoch ?? -1, window?.epoch ?? -1);
    const verdict = sequenceVerdict(batch, currentEpoch, window);
    if (verdict.kind === 'error') return { error: verdict.error };
    if (verdict.kind === 'duplicate') return { baseOffset: verdict.baseOffset };

    let baseOffset: bigint;
    try {
      baseOffset = await write();
    } catch (err) {
      // The commit may still have landed (a timed-out reply): learn it from the
      // log before the next batch of this partition is checked, so its retry is a duplicate.
      // The batch lies in the partition's newest segment, or the one before if it rolled meanwhile.
      await this.broker
        .rescanProducers(runtime, 2)
        .catch((e: Error) => this.log(`rescanning producers of ${topic.name}-${partition} after a failed write: ${e.message}`));
      throw err;
    }
    const written: ProducerBatch = {
      firstSequence: batch.firstSequence,
      lastSequence: lastSequenceOf(batch.firstSequence, batch.recordCount),
      baseOffset,
      lastOffset: baseOffset + BigInt(batch.lastOffsetDelta),
    };
    runtime.producers.record(batch.producerId, batch.epoch, written);
    return { baseOffset };
  }
}
