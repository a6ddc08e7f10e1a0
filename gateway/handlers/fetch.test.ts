import { buildRecordBatch } from '../../format';
import { wholeBatchesWithin } from './fetch';

describe('a Fetch answer cut to its size limit', () => {
  let batches: Buffer[];
  beforeAll(async () => {
    batches = await Promise.all([0, 1, 2, 3].map((i) => buildRecordBatch({ baseOffset: BigInt(i), records: [{ key: null, value: Buffer.alloc(1000, i), headers: [], timestamp: 1 }] })));
  });
  const size = (n: number) => batches.slice(0, n).reduce((s, b) => s + b.length, 0);

  it('keeps whole batches only, across the chunks they were read into, and never copies them', () => {
    const chunks = [Buffer.concat(batches.slice(0, 2)), Buffer.concat(batches.slice(2))];
    const all = wholeBatchesWithin(chunks, 1 << 20, true);
    expect(all).toEqual({ chunks, sizeBytes: size(4) });
    const three = wholeBatchesWithin(chunks, size(3) + 10, true);
    expect(three.sizeBytes).toBe(size(3));
    expect(three.chunks).toHaveLength(2);
    expect(three.chunks[0]).toBe(chunks[0]);
    expect(three.chunks[1].buffer).toBe(chunks[1].buffer);
    expect(Buffer.concat(three.chunks).equals(Buffer.concat(batches.slice(0, 3)))).toBe(true);
    const one = wholeBatchesWithin(chunks, size(2) - 1, true);
    expect(Buffer.concat(one.chunks).equals(batches[0])).toBe(true);
  });

  it('returns the first batch however large when asked to keep one, and nothing otherwise', () => {
    const chunks = [Buffer.concat(batches)];
    expect(wholeBatchesWithin(chunks, 10, true).sizeBytes).toBe(size(1));
    expect(wholeBatchesWithin(chunks, 10, false)).toEqual({ chunks: [], sizeBytes: 0 });
  });
});
