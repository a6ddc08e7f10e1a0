import { ByteCursor, readVarint, readVarlong, sizeOfVarint, sizeOfVarlong, sizeOfVarlongNumber, VARLONG_NUMBER_MAX, writeVarint, writeVarlong, writeVarlongNumber } from './varint';

function encodeVarint(value: number): string {
  const buf = Buffer.alloc(5);
  const end = writeVarint(buf, 0, value);
  expect(end).toBe(sizeOfVarint(value));
  return buf.subarray(0, end).toString('hex');
}

function encodeVarlong(value: bigint): Buffer {
  const buf = Buffer.alloc(10);
  const end = writeVarlong(buf, 0, value);
  expect(end).toBe(sizeOfVarlong(value));
  return buf.subarray(0, end);
}

describe('zigzag varints', () => {
  test('small values encode as the protobuf zigzag table says', () => {
    expect(encodeVarint(0)).toBe('00');
    expect(encodeVarint(-1)).toBe('01');
    expect(encodeVarint(1)).toBe('02');
    expect(encodeVarint(-64)).toBe('7f');
    expect(encodeVarint(64)).toBe('8001');
    expect(encodeVarint(2147483647)).toBe('feffffff0f');
    expect(encodeVarint(-2147483648)).toBe('ffffffff0f');
  });

  test('int32 extremes and neighbours round-trip through varint', () => {
    for (const value of [0, 1, -1, 63, -64, 64, 8191, -8192, 2 ** 31 - 1, -(2 ** 31)]) {
      const buf = Buffer.alloc(5);
      const end = writeVarint(buf, 0, value);
      const cursor = new ByteCursor(buf, 0, end);
      expect(readVarint(cursor)).toBe(value);
      expect(cursor.pos).toBe(end);
    }
  });

  test('int64 extremes and the 7-byte fast-path boundary round-trip through varlong', () => {
    const values = [0n, -1n, 1n, 2n ** 48n - 1n, -(2n ** 48n), 2n ** 48n, 2n ** 53n, 2n ** 63n - 1n, -(2n ** 63n), 1700000000000n];
    for (const value of values) {
      const bytes = encodeVarlong(value);
      const cursor = new ByteCursor(bytes, 0, bytes.length);
      expect(readVarlong(cursor)).toBe(value);
      expect(cursor.pos).toBe(bytes.length);
    }
    expect(encodeVarlong(2n ** 63n - 1n).toString('hex')).toBe('feffffffffffffffff01');
  });

  test('a varint that runs past its range is an INVALID_RECORD error, not a read out of bounds', () => {
    const cursor = new ByteCursor(Buffer.from([0x80, 0x80]), 0, 2);
    expect(() => readVarint(cursor)).toThrow(expect.objectContaining({ code: 'INVALID_RECORD' }));
  });

  test('a varint longer than five bytes is rejected', () => {
    const bytes = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    expect(() => readVarint(new ByteCursor(bytes, 0, bytes.length))).toThrow(/longer than 5 bytes/);
  });

  test('varlongs of numbers are byte for byte the varlongs of the same bigints, up to the largest number allowed', () => {
    const values = [0, 1, -1, 63, -64, 64, 127, 128, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 35 + 3, -(2 ** 48) - 1, 2 ** 49, 1_733_000_000_000, VARLONG_NUMBER_MAX, -VARLONG_NUMBER_MAX];
    for (const value of values) {
      const asNumber = Buffer.alloc(10);
      const asBigint = Buffer.alloc(10);
      const end = writeVarlongNumber(asNumber, 0, value);
      expect(end).toBe(sizeOfVarlongNumber(value));
      expect(asNumber.subarray(0, end)).toEqual(asBigint.subarray(0, writeVarlong(asBigint, 0, BigInt(value))));
      expect(readVarlong(new ByteCursor(asNumber, 0, end))).toBe(BigInt(value));
    }
  });
});
