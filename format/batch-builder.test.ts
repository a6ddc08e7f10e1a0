import fc from 'fast-check';
import { buildRecordBatch, decodeRecordBatch, peekFirstRecord } from './batch-builder';
import { Compression } from './compression';
import { RECORD_BATCH_OVERHEAD, validateBatch } from './record-batch';
import { RecordInput } from './records';

const CODECS: Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

const MIXED_RECORDS: RecordInput[] = [
  { key: 'key', value: 'value', headers: [], timestamp: 1700000000000n },
  { key: null, value: null, headers: [], timestamp: 1700000000005n },
  { key: Buffer.alloc(0), value: Buffer.alloc(0), headers: [], timestamp: 1699999999990n },
  {
    key: 'ключ 🔑',
    value: '値 ✓ ünïcödé',
    headers: [
      { key: 'trace-id', value: 'abc' },
      { key: 'nullable', value: null },
      { key: 'trace-id', value: 'repeated keys are kept in order' },
      { key: 'émoji 🎉', value: Buffer.from([0, 255, 1]) },
    ],
    timestamp: 1700000000001n,
  },
  { key: 'big', value: Buffer.alloc(40 * 1024, 'x'), headers: [], timestamp: 1700000000002n },
];

function bytes(data: Buffer | string | null): Buffer | null {
  return data === null ? null : Buffer.from(data);
}

function expected(records: RecordInput[], baseOffset: bigint) {
  return records.map((record, index) => ({
    key: bytes(record.key),
    value: bytes(record.value),
    headers: (record.headers ?? []).map((header) => ({ key: header.key, value: bytes(header.value) })),
    timestamp: BigInt(record.timestamp!),
    offset: baseOffset + BigInt(index),
  }));
}

describe('building and decoding record batches', () => {
  test.each(CODECS)('records with keys, values, nulls, headers and unicode round-trip through %s', async (codec) => {
    const batch = await buildRecordBatch({ records: MIXED_RECORDS, compression: codec, baseOffset: 500n });
    const header = validateBatch(batch);
    expect(header.compression).toBe(codec);
    expect(header.recordCount).toBe(5);
    expect(header.lastOffsetDelta).toBe(4);
    expect(header.baseTimestamp).toBe(1700000000000n);
    expect(header.maxTimestamp).toBe(1700000000005n);
    const decoded = await decodeRecordBatch(batch);
    expect(decoded.records).toEqual(expected(MIXED_RECORDS, 500n));
  });

  test('producer id, epoch, sequence, transactional flag and leader epoch land in the header', async () => {
    const batch = await buildRecordBatch({
      records: [{ key: null, value: 'v', headers: [] }],
      producerId: 4242n,
      producerEpoch: 7,
      baseSequence: 99,
      isTransactional: true,
      partitionLeaderEpoch: 3,
    });
    expect(validateBatch(batch)).toMatchObject({
      producerId: 4242n,
      producerEpoch: 7,
      baseSequence: 99,
      isTransactional: true,
      isControl: false,
      partitionLeaderEpoch: 3,
    });
  });

  test('without ids the batch is non-idempotent: producer id -1, epoch -1, sequence -1', async () => {
    const batch = await buildRecordBatch({ records: [{ key: null, value: 'v' }] });
    expect(validateBatch(batch)).toMatchObject({ producerId: -1n, producerEpoch: -1, baseSequence: -1 });
  });

  test('records without a timestamp get the build time', async () => {
    const before = BigInt(Date.now());
    const decoded = await decodeRecordBatch(await buildRecordBatch({ records: [{ key: null, value: 'v' }] }));
    expect(decoded.records[0].timestamp).toBeGreaterThanOrEqual(before);
    expect(decoded.records[0].timestamp).toBeLessThanOrEqual(BigInt(Date.now()));
  });

  test('a log-append-time batch gives every record the batch max timestamp', async () => {
    const batch = await buildRecordBatch({
      records: [
        { key: null, value: 'a', timestamp: 10 },
        { key: null, value: 'b', timestamp: 20 },
      ],
    });
    batch.writeInt16BE(0x08, 21);
    batch.writeBigInt64BE(999n, 35);
    const { writeBatchCrc } = await import('./batch-crc');
    writeBatchCrc(batch, 0, batch.length - 12);
    const decoded = await decodeRecordBatch(batch);
    expect(decoded.header.timestampType).toBe('log-append');
    expect(decoded.records.map((record) => record.timestamp)).toEqual([999n, 999n]);
  });

  test('an empty record list is refused', async () => {
    await expect(buildRecordBatch({ records: [] })).rejects.toThrow(/1 to/);
  });

  test('a corrupt compressed payload with a valid CRC fails to decode with CORRUPT_MESSAGE', async () => {
    const batch = await buildRecordBatch({ records: [{ key: null, value: 'v'.repeat(1000) }], compression: 'zstd' });
    batch[RECORD_BATCH_OVERHEAD + 6] ^= 0xff;
    const { writeBatchCrc } = await import('./batch-crc');
    writeBatchCrc(batch, 0, batch.length - 12);
    await expect(decodeRecordBatch(batch)).rejects.toMatchObject({ code: 'CORRUPT_MESSAGE' });
  });

  test('peeking at the first record of an uncompressed batch gives what decoding gives, and nothing for a compressed one', async () => {
    const plain = await buildRecordBatch({ records: MIXED_RECORDS, baseOffset: 500n });
    const [first] = (await decodeRecordBatch(plain)).records;
    // A batch further into a larger buffer, as a consumer reads several at once.
    const twoBatches = Buffer.concat([plain, plain]);
    expect(peekFirstRecord(twoBatches, plain.length)).toEqual(first);
    const zstd = await buildRecordBatch({ records: MIXED_RECORDS, compression: 'zstd' });
    expect(peekFirstRecord(zstd)).toBeUndefined();
  });
});

const arbitraryBytes = fc.option(fc.uint8Array({ maxLength: 300 }).map((array) => Buffer.from(array)), { nil: null });
const arbitraryRecord = fc.record({
  key: arbitraryBytes,
  value: arbitraryBytes,
  headers: fc.array(fc.record({ key: fc.string({ unit: 'grapheme', maxLength: 20 }), value: arbitraryBytes }), { maxLength: 4 }),
  timestamp: fc.bigInt({ min: -1n, max: 2n ** 53n }),
});
const arbitraryBatch = fc.record({
  records: fc.array(arbitraryRecord, { minLength: 1, maxLength: 20 }),
  compression: fc.constantFrom<Compression>(...CODECS),
  baseOffset: fc.bigInt({ min: 0n, max: 2n ** 62n }),
  producerId: fc.bigInt({ min: -1n, max: 2n ** 62n }),
});

describe('properties', () => {
  test('any records built into a batch validate and decode to the same records', async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryBatch, async (options) => {
        const batch = await buildRecordBatch(options);
        const header = validateBatch(batch);
        expect(header.recordCount).toBe(options.records.length);
        const decoded = await decodeRecordBatch(batch);
        expect(decoded.records).toEqual(expected(options.records, options.baseOffset));
      }),
      { numRuns: 150 },
    );
  });

  test('any single flipped byte inside the CRC range makes validation fail with CORRUPT_MESSAGE', async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryBatch, fc.nat(), fc.integer({ min: 1, max: 255 }), async (options, position, mask) => {
        const batch = await buildRecordBatch(options);
        const index = 21 + (position % (batch.length - 21));
        batch[index] ^= mask;
        expect(() => validateBatch(batch)).toThrow(expect.objectContaining({ code: 'CORRUPT_MESSAGE' }));
      }),
      { numRuns: 300 },
    );
  });
});
