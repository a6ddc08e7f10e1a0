// 64-bit big-endian integers written without BigInt arithmetic. Node's
// writeBigInt64BE range-checks and splits its value with BigInt operations,
// allocating several BigInts per call; a batch header holds four such fields
// and the SDK writes one per record batch it sends, so on the send path they
// were a measurable share of the client's garbage. A value within the safe
// integer range (offsets, millisecond timestamps, -1 sentinels) is split with
// number arithmetic instead; anything larger takes Node's path, which also
// throws the RangeError for a bigint outside int64.

const TWO_TO_32 = 2 ** 32;
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Writes `value` as a signed 64-bit big-endian integer at `offset`. */
export function writeInt64BE(buf: Buffer, value: bigint | number, offset: number): void {
  const n = typeof value === 'number' ? value : value >= SAFE_MIN && value <= SAFE_MAX ? Number(value) : undefined;
  if (n === undefined || !Number.isSafeInteger(n)) {
    buf.writeBigInt64BE(typeof value === 'bigint' ? value : BigInt(value), offset);
    return;
  }
  const high = Math.floor(n / TWO_TO_32);
  buf.writeInt32BE(high, offset);
  buf.writeUInt32BE(n - high * TWO_TO_32, offset + 4);
}
