import { checkBatch, scanBatches, scanCommitted } from './batch-scan';
import { buildTestBatch, buildTestSkipMarker } from './testing/batches';

describe('batch scan', () => {
  const a = buildTestBatch({ baseOffset: 10n, recordCount: 3, sizeBytes: 200, maxTimestamp: 50n });
  const b = buildTestSkipMarker(120, 13n, 2);
  const c = buildTestBatch({ baseOffset: 15n, recordCount: 5, sizeBytes: 333, maxTimestamp: 40n });

  it('walks valid batches and skip markers to the end, tracking the end offset and max timestamp', () => {
    const data = Buffer.concat([a, b, c, Buffer.alloc(100)]);
    expect(scanBatches(data, 0, a.length + b.length + c.length)).toEqual({
      validEndPosition: a.length + b.length + c.length,
      batchCount: 3,
      endOffset: 20n,
      maxTimestamp: 50n,
    });
  });

  it('stops at the first batch whose CRC does not match', () => {
    const bad = Buffer.from(b);
    bad[100] ^= 1;
    const data = Buffer.concat([a, bad, c]);
    const result = scanBatches(data, 0, data.length);
    expect(result).toMatchObject({ validEndPosition: a.length, batchCount: 1, endOffset: 13n });
    expect(result.stopReason).toMatch(/position 200: CRC32C/);
  });

  it('refuses a batch that runs past the end of the range', () => {
    expect(checkBatch(a.subarray(0, 150))).toMatchObject({ ok: false, reason: expect.stringMatching(/batchLength 188/) });
  });

  it('refuses a batch with the wrong magic', () => {
    const bad = Buffer.from(a);
    bad[16] = 1;
    expect(checkBatch(bad)).toMatchObject({ ok: false, reason: 'magic 1, expected 2' });
  });

  it('finds nothing valid in zeroed bytes', () => {
    expect(scanBatches(Buffer.alloc(1000), 0, 1000)).toEqual({ validEndPosition: 0, batchCount: 0, stopReason: expect.stringMatching(/position 0/) });
  });

  describe('scanCommitted', () => {
    const d = buildTestBatch({ baseOffset: 20n, recordCount: 2, sizeBytes: 150, maxTimestamp: 60n });

    it('fences exactly a batch whose CRC fails, with the offsets between its neighbours', () => {
      const bad = Buffer.from(b);
      bad[100] ^= 1;
      const data = Buffer.concat([a, bad, c]);
      expect(scanCommitted(data, 0, data.length, 10n, 20n)).toEqual({
        damaged: [{ startPosition: 200, endPosition: 320, baseOffset: 13n, endOffset: 15n, reason: expect.stringMatching(/position 200: CRC32C/) }],
        maxTimestamp: 50n,
      });
    });

    it('fences from broken framing to the next batch a byte-by-byte search finds', () => {
      const data = Buffer.concat([a, b, c, d]);
      data.fill(0, a.length + 4, a.length + 20); // the length and magic of b
      expect(scanCommitted(data, 0, data.length, 10n, 22n).damaged).toEqual([
        expect.objectContaining({ startPosition: 200, endPosition: 320, baseOffset: 13n, endOffset: 15n }),
      ]);
    });

    it('fences to the end of the committed range, with the end offset the header recorded, when nothing valid follows', () => {
      const data = Buffer.concat([a, Buffer.alloc(500, 0x33)]);
      expect(scanCommitted(data, 0, data.length, 10n, 40n).damaged).toEqual([
        expect.objectContaining({ startPosition: 200, endPosition: 700, baseOffset: 13n, endOffset: 40n }),
      ]);
    });
  });
});
