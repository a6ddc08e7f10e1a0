import { decodeRecordBatch, buildRecordBatch } from './batch-builder';
import { readBatchHeader, splitBatches, validateBatch } from './record-batch';
import { buildSkipMarker, isSkipMarker } from './skip-marker';

describe('skip marker', () => {
  test('a skip marker covers exactly the reserved bytes and offsets and validates', () => {
    const marker = buildSkipMarker(4096, 1000n, 17);
    expect(marker.length).toBe(4096);
    const header = validateBatch(marker);
    expect(header).toMatchObject({
      baseOffset: 1000n,
      batchLength: 4096 - 12,
      isControl: true,
      recordCount: 0,
      lastOffsetDelta: 16,
      producerId: -1n,
      compression: 'none',
    });
    expect(isSkipMarker(header)).toBe(true);
  });

  test('the smallest skip marker is a bare 61-byte header', () => {
    const marker = buildSkipMarker(61, 0n, 1);
    expect(isSkipMarker(validateBatch(marker))).toBe(true);
  });

  test('a length under 61 bytes or a non-positive offset count is refused', () => {
    expect(() => buildSkipMarker(60, 0n, 1)).toThrow(/from 61/);
    expect(() => buildSkipMarker(100, 0n, 0)).toThrow(/from 1/);
  });

  test('a flipped padding byte breaks the marker CRC', () => {
    const marker = buildSkipMarker(500, 0n, 3);
    marker[400] ^= 1;
    expect(() => validateBatch(marker)).toThrow(expect.objectContaining({ code: 'CORRUPT_MESSAGE' }));
  });

  test('readers step over a marker between data batches and it decodes to no records', async () => {
    const before = await buildRecordBatch({ records: [{ key: null, value: 'a', headers: [] }], baseOffset: 0n });
    const marker = buildSkipMarker(300, 1n, 5);
    const after = await buildRecordBatch({ records: [{ key: null, value: 'b', headers: [] }], baseOffset: 6n });
    const split = splitBatches(Buffer.concat([before, marker, after]));
    expect(split.batches.map((span) => isSkipMarker(span.header))).toEqual([false, true, false]);
    expect((await decodeRecordBatch(marker)).records).toEqual([]);
  });

  test('ordinary data batches are not skip markers', async () => {
    const batch = await buildRecordBatch({ records: [{ key: 'k', value: 'v', headers: [] }] });
    expect(isSkipMarker(readBatchHeader(batch))).toBe(false);
  });
});
