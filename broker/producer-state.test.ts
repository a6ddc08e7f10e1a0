import { PartitionProducers } from './producer-state';

const batch = (sequence: number, offset: bigint) => ({ firstSequence: sequence, lastSequence: sequence, baseOffset: offset, lastOffset: offset });

describe("a partition's idempotent producers", () => {
  it('keeps at most its bound of producers; the one whose last write is oldest goes first', () => {
    const producers = new PartitionProducers(2);
    producers.record(1n, 0, batch(0, 0n));
    producers.record(2n, 0, batch(0, 1n));
    producers.record(1n, 0, batch(1, 2n)); // producer 1 wrote last: producer 2 is now the idlest
    producers.record(3n, 0, batch(0, 3n));
    expect([...producers.all()].map((w) => w.producerId)).toEqual([1n, 3n]);
    expect(producers.window(1n)?.batches.map((b) => b.firstSequence)).toEqual([0, 1]);
  });

  it('absorbing a rescan that overlaps what is known adds only the newer batches', () => {
    const producers = new PartitionProducers();
    producers.record(1n, 0, batch(0, 0n));
    producers.absorb([{ producerId: 1n, epoch: 0, batches: [batch(0, 0n), batch(1, 5n)] }]);
    expect(producers.window(1n)?.batches).toEqual([batch(0, 0n), batch(1, 5n)]);
  });
});
