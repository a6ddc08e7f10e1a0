import { sequenceVerdict } from './idempotence';

const batch = (firstSequence: number, recordCount: number, epoch = 0) => ({ producerId: 7n, epoch, firstSequence, recordCount });
const stored = (firstSequence: number, lastSequence: number, baseOffset: bigint) => ({ firstSequence, lastSequence, baseOffset, lastOffset: baseOffset + BigInt(lastSequence - firstSequence) });
const windowOf = (epoch: number, ...batches: ReturnType<typeof stored>[]) => ({ producerId: 7n, epoch, batches });

describe('which idempotent batches are new, retries or refused', () => {
  const history = windowOf(0, stored(0, 4, 100n), stored(5, 9, 105n));

  it('a batch that continues the sequence is new', () => {
    expect(sequenceVerdict(batch(10, 3), 0, history)).toEqual({ kind: 'new' });
  });

  it('a retry of one of the last batches is answered with its original offset', () => {
    expect(sequenceVerdict(batch(0, 5), 0, history)).toEqual({ kind: 'duplicate', baseOffset: 100n });
    expect(sequenceVerdict(batch(5, 5), 0, history)).toEqual({ kind: 'duplicate', baseOffset: 105n });
  });

  it('a gap and an overlap that is not a retry are out of order', () => {
    for (const b of [batch(11, 1), batch(3, 4), batch(5, 2)]) {
      expect(sequenceVerdict(b, 0, history)).toMatchObject({ kind: 'error', error: { name: 'OUT_OF_ORDER_SEQUENCE_NUMBER' } });
    }
  });

  it('a producer with nothing on the partition may start at any sequence, as in Kafka', () => {
    expect(sequenceVerdict(batch(4, 1), 0, undefined)).toEqual({ kind: 'new' });
    expect(sequenceVerdict(batch(0, 1), 0, undefined)).toEqual({ kind: 'new' });
  });

  it('an older epoch is fenced; a newer one starts again at sequence 0', () => {
    expect(sequenceVerdict(batch(10, 1, 0), 1, history)).toMatchObject({ kind: 'error', error: { name: 'INVALID_PRODUCER_EPOCH' } });
    expect(sequenceVerdict(batch(0, 1, 2), 2, history)).toEqual({ kind: 'new' });
    expect(sequenceVerdict(batch(10, 1, 2), 2, history)).toMatchObject({ kind: 'error', error: { name: 'OUT_OF_ORDER_SEQUENCE_NUMBER' } });
  });

  it("sequences wrap after 2^31-1 like Kafka's", () => {
    const top = 0x7fffffff;
    expect(sequenceVerdict(batch(0, 2), 0, windowOf(0, stored(top - 1, top, 5n)))).toEqual({ kind: 'new' });
    expect(sequenceVerdict(batch(top - 1, 2), 0, windowOf(0, stored(top - 1, top, 5n)))).toEqual({ kind: 'duplicate', baseOffset: 5n });
  });
});
