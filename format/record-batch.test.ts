import { buildRecordBatch } from './batch-builder';
import { computeBatchCrc } from './batch-crc';
import {
  CRC_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  RECORD_BATCH_OVERHEAD,
  readBatchHeader,
  readBatchMaxTimestamp,
  setBaseOffset,
  setPartitionLeaderEpoch,
  splitBatches,
  validateBatch,
} from './record-batch';
import { RecordBatchError } from './record-batch-error';

const TIMESTAMP = 1700000000000n;

// One record, key "key", value "value", written out field by field from the
// RecordBatch v2 spec. The CRC was computed with an independent bitwise
// CRC32C (polynomial 0x82F63B78) over bytes 21..end.
const HAND_BUILT_BATCH = Buffer.from(
  [
    '0000000000000000', // baseOffset 0
    '00000040', // batchLength 64 = 76 - 12
    'ffffffff', // partitionLeaderEpoch -1
    '02', // magic
    'db5e9cdd', // crc32c
    '0000', // attributes: no compression, create time
    '00000000', // lastOffsetDelta 0
    '0000018bcfe56800', // baseTimestamp 1700000000000
    '0000018bcfe56800', // maxTimestamp
    'ffffffffffffffff', // producerId -1
    'ffff', // producerEpoch -1
    'ffffffff', // baseSequence -1
    '00000001', // recordCount 1
    '1c', // record length 14 (zigzag 28)
    '00', // record attributes
    '00', // timestampDelta 0
    '00', // offsetDelta 0
    '06', // key length 3
    Buffer.from('key').toString('hex'),
    '0a', // value length 5
    Buffer.from('value').toString('hex'),
    '00', // header count 0
  ].join(''),
  'hex',
);

function expectError(action: () => unknown, code: string, message?: RegExp): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(RecordBatchError);
  expect((thrown as RecordBatchError).code).toBe(code);
  if (message) expect((thrown as RecordBatchError).message).toMatch(message);
}

function oneRecordBatch(value = 'value'): Promise<Buffer> {
  return buildRecordBatch({ records: [{ key: 'key', value, headers: [], timestamp: TIMESTAMP }] });
}

describe('record batch header', () => {
  test('the builder produces the hand-built batch byte for byte, CRC included', async () => {
    expect(HAND_BUILT_BATCH.length).toBe(76);
    const built = await oneRecordBatch();
    expect(built.toString('hex')).toBe(HAND_BUILT_BATCH.toString('hex'));
  });

  test('the hand-built batch validates and its header reads back field by field', () => {
    const header = validateBatch(HAND_BUILT_BATCH);
    expect(header).toEqual({
      baseOffset: 0n,
      batchLength: 64,
      partitionLeaderEpoch: -1,
      magic: 2,
      crc: 0xdb5e9cdd,
      attributes: 0,
      compression: 'none',
      timestampType: 'create',
      isTransactional: false,
      isControl: false,
      lastOffsetDelta: 0,
      baseTimestamp: TIMESTAMP,
      maxTimestamp: TIMESTAMP,
      producerId: -1n,
      producerEpoch: -1,
      baseSequence: -1,
      recordCount: 1,
    });
  });

  test('the CRC covers exactly attributes through the end of the batch', () => {
    expect(computeBatchCrc(HAND_BUILT_BATCH, 0, 64)).toBe(0xdb5e9cdd);
  });

  test('its MaxTimestamp alone reads as the whole header does, at an offset too, and refuses what the header refuses', () => {
    const framed = Buffer.concat([Buffer.alloc(3), HAND_BUILT_BATCH]);
    expect(readBatchMaxTimestamp(HAND_BUILT_BATCH)).toBe(readBatchHeader(HAND_BUILT_BATCH).maxTimestamp);
    expect(readBatchMaxTimestamp(framed, 3)).toBe(TIMESTAMP);
    expect(() => readBatchMaxTimestamp(HAND_BUILT_BATCH.subarray(0, RECORD_BATCH_OVERHEAD - 1))).toThrow(RecordBatchError);
    const oldMagic = Buffer.from(HAND_BUILT_BATCH);
    oldMagic[MAGIC_OFFSET] = 1;
    expect(() => readBatchMaxTimestamp(oldMagic)).toThrow(/magic/);
  });

  test('a batch can be validated in place at an offset inside a larger buffer', () => {
    const framed = Buffer.concat([Buffer.alloc(7, 0xaa), HAND_BUILT_BATCH, Buffer.alloc(5, 0xbb)]);
    expect(validateBatch(framed, 7).recordCount).toBe(1);
  });
});

describe('batch validation refuses what Kafka refuses', () => {
  test('fewer than 12 bytes is TRUNCATED', () => {
    expectError(() => validateBatch(HAND_BUILT_BATCH.subarray(0, 11)), 'TRUNCATED', /at least 12 bytes/);
  });

  test('fewer bytes than the batch length announces is TRUNCATED', () => {
    expectError(() => validateBatch(HAND_BUILT_BATCH.subarray(0, 75)), 'TRUNCATED', /announces 76 bytes but only 75/);
    expectError(() => validateBatch(HAND_BUILT_BATCH.subarray(0, 40)), 'TRUNCATED');
  });

  test('a header cut short is TRUNCATED for readBatchHeader too', () => {
    expectError(() => readBatchHeader(HAND_BUILT_BATCH.subarray(0, 60)), 'TRUNCATED', /needs 61 bytes/);
  });

  test('a magic other than 2 is UNSUPPORTED_MAGIC', () => {
    const batch = Buffer.from(HAND_BUILT_BATCH);
    batch[MAGIC_OFFSET] = 1;
    expectError(() => validateBatch(batch), 'UNSUPPORTED_MAGIC', /magic is 1; only record batch v2/);
  });

  test('a batch over the limit is MESSAGE_TOO_LARGE before its bytes arrive', () => {
    const header = Buffer.alloc(LOG_OVERHEAD);
    header.writeInt32BE(9437184 - LOG_OVERHEAD, 8);
    expectError(
      () => validateBatch(header, 0, { batchBytesMax: 8388608 }),
      'MESSAGE_TOO_LARGE',
      /batch of 9437184 bytes exceeds the limit of 8388608/,
    );
  });

  test('a batch length smaller than a header is CORRUPT_MESSAGE', () => {
    const batch = Buffer.from(HAND_BUILT_BATCH);
    batch.writeInt32BE(48, 8);
    expectError(() => validateBatch(batch), 'CORRUPT_MESSAGE', /below the minimum of 49/);
    batch.writeInt32BE(-5, 8);
    expectError(() => validateBatch(batch), 'CORRUPT_MESSAGE');
  });

  test('a wrong CRC is CORRUPT_MESSAGE and names both values', () => {
    const batch = Buffer.from(HAND_BUILT_BATCH);
    batch.writeUInt32BE(0x12345678, CRC_OFFSET);
    expectError(() => validateBatch(batch), 'CORRUPT_MESSAGE', /0x12345678 but its bytes compute to 0xdb5e9cdd/);
  });

  test('a record count that disagrees with the records is INVALID_RECORD even with a correct CRC', () => {
    const batch = Buffer.from(HAND_BUILT_BATCH);
    batch.writeInt32BE(1, 23); // lastOffsetDelta 1 so that two records would be allowed
    batch.writeInt32BE(2, 57);
    batch.writeUInt32BE(computeBatchCrc(batch, 0, 64), CRC_OFFSET);
    expectError(() => validateBatch(batch), 'INVALID_RECORD', /declares 2 records but its bytes hold only 1/);
  });

  test('bytes after the last record are INVALID_RECORD', () => {
    const batch = Buffer.concat([HAND_BUILT_BATCH, Buffer.from([0])]);
    batch.writeInt32BE(65, 8);
    batch.writeUInt32BE(computeBatchCrc(batch, 0, 65), CRC_OFFSET);
    expectError(() => validateBatch(batch), 'INVALID_RECORD', /1 bytes follow the last/);
  });

  test('a negative record count is INVALID_RECORD', () => {
    const batch = Buffer.from(HAND_BUILT_BATCH);
    batch.writeInt32BE(-1, 57);
    batch.writeUInt32BE(computeBatchCrc(batch, 0, 64), CRC_OFFSET);
    expectError(() => validateBatch(batch), 'INVALID_RECORD', /record count -1 is negative/);
  });

  test('a record whose length overruns the batch is INVALID_RECORD', () => {
    const batch = Buffer.from(HAND_BUILT_BATCH);
    batch[RECORD_BATCH_OVERHEAD] = 0x1e; // record length 15 instead of 14
    batch.writeUInt32BE(computeBatchCrc(batch, 0, 64), CRC_OFFSET);
    expectError(() => validateBatch(batch), 'INVALID_RECORD', /record length 15/);
  });

  test('compression ids 5 to 7 are UNSUPPORTED_COMPRESSION_TYPE', () => {
    const batch = Buffer.from(HAND_BUILT_BATCH);
    batch.writeInt16BE(5, 21);
    batch.writeUInt32BE(computeBatchCrc(batch, 0, 64), CRC_OFFSET);
    expectError(() => validateBatch(batch), 'UNSUPPORTED_COMPRESSION_TYPE', /id 5/);
  });

  test('errors carry the Kafka error code and whether a retry can help', () => {
    const corrupt = new RecordBatchError('CORRUPT_MESSAGE', 'x');
    expect([corrupt.kafkaErrorCode, corrupt.retriable]).toEqual([2, true]);
    const tooLarge = new RecordBatchError('MESSAGE_TOO_LARGE', 'x');
    expect([tooLarge.kafkaErrorCode, tooLarge.retriable]).toEqual([10, false]);
  });
});

describe('patching a stored batch', () => {
  test('setBaseOffset keeps the CRC valid because baseOffset is outside it', async () => {
    const batch = await oneRecordBatch();
    const crcBefore = batch.readUInt32BE(CRC_OFFSET);
    setBaseOffset(batch, 0, 123456789012345n);
    expect(batch.readUInt32BE(CRC_OFFSET)).toBe(crcBefore);
    expect(validateBatch(batch).baseOffset).toBe(123456789012345n);
  });

  test('setPartitionLeaderEpoch keeps the CRC valid because the epoch is outside it', async () => {
    const batch = await oneRecordBatch();
    setPartitionLeaderEpoch(batch, 0, 42);
    expect(validateBatch(batch).partitionLeaderEpoch).toBe(42);
  });
});

describe('splitting a record set', () => {
  test('three concatenated batches and a partial tail split into three spans and the tail is reported', async () => {
    const batches = [await oneRecordBatch('a'), await oneRecordBatch('bb'), await oneRecordBatch('ccc')];
    batches.forEach((batch, index) => setBaseOffset(batch, 0, BigInt(index * 10)));
    const tail = (await oneRecordBatch('dddd')).subarray(0, 30);
    const recordSet = Buffer.concat([...batches, tail]);

    const split = splitBatches(recordSet);

    expect(split.batches.map((span) => [span.offset, span.length, span.header.baseOffset])).toEqual([
      [0, 72, 0n],
      [72, 73, 10n],
      [145, 74, 20n],
    ]);
    expect(split.bytesConsumed).toBe(219);
    expect(split.partialTailBytes).toBe(30);
    for (const span of split.batches) expect(() => validateBatch(recordSet, span.offset)).not.toThrow();
  });

  test('a tail shorter than the length field is also a clean stop', async () => {
    const batch = await oneRecordBatch();
    const split = splitBatches(Buffer.concat([batch, Buffer.alloc(5)]));
    expect(split.batches).toHaveLength(1);
    expect(split.partialTailBytes).toBe(5);
  });

  test('an empty range holds no batches', () => {
    expect(splitBatches(Buffer.alloc(0))).toEqual({ batches: [], bytesConsumed: 0, partialTailBytes: 0 });
  });
});
