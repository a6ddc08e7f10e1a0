// 64-bit big-endian integers read and written without BigInt arithmetic. Node's
// writeBigInt64BE range-checks and splits its value with BigInt operations,
// allocating several BigInts per call; a batch header holds four such fields
// and the SDK writes one per record batch it sends, so on the send path they
// were a measurable share of the client's garbage. A value within the safe
// integer range (offsets, millisecond timestamps, -1 sentinels) is split with
// number arithmetic instead; anything larger takes Node's path, which also
// throws the RangeError for a bigint outside int64. Reading is the mirror: a
// number while the value is a safe integer, else a bigint (the storage node
// reads a base offset from every batch it commits).

const TWO_TO_32 = 2 ** 32;
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
/** Above this high word (or below its negative) an int64 is no longer a safe integer as a number. */
const SAFE_HIGH_MAX = 2 ** 21 - 1;

/** `value` as a number when it is a safe integer, else itself. */
export function toSafeNumber(value: bigint): number | bigint {
  return value >= SAFE_MIN && value <= SAFE_MAX ? Number(value) : value;
}

/** The signed 64-bit big-endian integer at `offset`: a number while it is a safe integer, else a bigint. */
export function readInt64BE(buf: Buffer, offset: number): number | bigint {
  const high = buf.readInt32BE(offset);
  if (high > SAFE_HIGH_MAX || high < -SAFE_HIGH_MAX) return buf.readBigInt64BE(offset);
  return high * TWO_TO_32 + buf.readUInt32BE(offset + 4);
}

/** Writes `value` as a signed 64-bit big-endian integer at `offset`. */
export function writeInt64BE(buf: Buffer, value: bigint | number, offset: number): void {
  const n = typeof value === 'number' ? value : toSafeNumber(value);
  if (typeof n === 'bigint' || !Number.isSafeInteger(n)) {
    buf.writeBigInt64BE(typeof value === 'bigint' ? value : BigInt(value), offset);
    return;
  }
  const high = Math.floor(n / TWO_TO_32);
  buf.writeInt32BE(high, offset);
  buf.writeUInt32BE(n - high * TWO_TO_32, offset + 4);
}
