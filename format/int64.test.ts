import { readInt64BE, toSafeNumber, writeInt64BE } from './int64';

describe('writeInt64BE', () => {
  const viaNode = (value: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(value);
    return b;
  };
  const viaHelper = (value: bigint | number) => {
    const b = Buffer.alloc(8);
    writeInt64BE(b, value, 0);
    return b;
  };

  it.each([0n, 1n, -1n, 255n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 32n - 1n, 2n ** 32n, -(2n ** 32n), 1_700_000_000_123n, BigInt(Number.MAX_SAFE_INTEGER), BigInt(Number.MIN_SAFE_INTEGER)])(
    'writes %s as Node does, from a bigint and from a number',
    (value) => {
      expect(viaHelper(value)).toEqual(viaNode(value));
      expect(viaHelper(Number(value))).toEqual(viaNode(value));
    },
  );

  it('takes bigints beyond the safe integers through Node, to the ends of int64', () => {
    for (const value of [2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, -(2n ** 60n) - 3n]) expect(viaHelper(value)).toEqual(viaNode(value));
    expect(() => viaHelper(2n ** 63n)).toThrow(/out of range/);
  });

  it('writes at the offset given and nowhere else', () => {
    const b = Buffer.alloc(12, 0xee);
    writeInt64BE(b, -2, 2);
    expect(b.toString('hex')).toBe('eeeefffffffffffffffeeeee');
  });

  it('refuses a number that is not a safe integer', () => {
    expect(() => viaHelper(1.5)).toThrow(/not an integer/);
    expect(() => viaHelper(2 ** 64)).toThrow(/out of range/);
  });
});

describe('readInt64BE and toSafeNumber', () => {
  it.each([0n, 1n, -1n, 2n ** 32n - 1n, 2n ** 32n, -(2n ** 32n), 1_700_000_000_123n, BigInt(Number.MAX_SAFE_INTEGER), BigInt(Number.MIN_SAFE_INTEGER) + 2n ** 32n])(
    'reads %s back as a number',
    (value) => {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(value);
      expect(readInt64BE(b, 0)).toBe(Number(value));
      expect(toSafeNumber(value)).toBe(Number(value));
    },
  );

  it.each([2n ** 53n, 2n ** 63n - 1n, -(2n ** 63n), -(2n ** 53n) - 5n])('reads %s back as a bigint', (value) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(value);
    expect(readInt64BE(b, 0)).toBe(value);
    expect(toSafeNumber(value)).toBe(value);
  });
});
