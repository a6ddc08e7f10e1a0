// Which bytes of a group of batches (Producer.writeBatches) are put from
// where: large batches from their own bytes, runs of small ones gathered.
import { putPieces } from './producer';

describe('putPieces', () => {
  it('puts large batches from their own bytes and gathers runs of small ones into one put each, at their offsets', () => {
    const small = (n: number) => Buffer.alloc(1000, n);
    const big = Buffer.alloc(100 * 1024, 9);
    const pieces = putPieces([small(1), small(2), big, small(3)]);
    expect(pieces.map((p) => [p.offset, p.bytes.length])).toEqual([
      [0, 2000],
      [2000, big.length],
      [2000 + big.length, 1000],
    ]);
    expect(pieces[1].bytes).toBe(big);
    expect([...pieces[0].bytes.subarray(999, 1001)]).toEqual([1, 2]);
    expect(putPieces([big]).map((p) => p.bytes)).toEqual([big]);
  });
});
