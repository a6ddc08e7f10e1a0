// Zigzag varints as Kafka's record format uses them (protobuf encoding):
// varint = 32-bit, at most 5 bytes; varlong = 64-bit, at most 10 bytes.
// Readers work on a cursor over a bounded range so a malformed length can
// never read past the end of its batch.
import { RecordBatchError } from './record-batch-error';

export const VARINT_BYTES_MAX = 5;
export const VARLONG_BYTES_MAX = 10;

/**
 * A read position inside `buf`, never allowed past `end`. `end` narrows to
 * one record's body while that record is read. Not shared between readers.
 */
export class ByteCursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    public end: number,
  ) {}

  remaining(): number {
    return this.end - this.pos;
  }
}

function overrun(what: string, cursor: ByteCursor): RecordBatchError {
  return new RecordBatchError(
    'INVALID_RECORD',
    `${what} runs past the end of its record data (at byte ${cursor.pos}, data ends at ${cursor.end})`,
  );
}

export function readVarint(cursor: ByteCursor): number {
  let unsigned = 0;
  for (let i = 0; i < VARINT_BYTES_MAX; i++) {
    if (cursor.pos >= cursor.end) throw overrun('varint', cursor);
    const byte = cursor.buf[cursor.pos++];
    unsigned |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) === 0) return (unsigned >>> 1) ^ -(unsigned & 1);
  }
  throw new RecordBatchError('INVALID_RECORD', `varint longer than ${VARINT_BYTES_MAX} bytes at byte ${cursor.pos}`);
}

// 7 bytes carry 49 bits: still exact in a double, so the common case (small
// deltas) avoids BigInt arithmetic per byte.
const VARLONG_FAST_BYTES = 7;

export function readVarlong(cursor: ByteCursor): bigint {
  let unsigned = 0;
  let scale = 1;
  for (let i = 0; i < VARLONG_FAST_BYTES; i++) {
    if (cursor.pos >= cursor.end) throw overrun('varlong', cursor);
    const byte = cursor.buf[cursor.pos++];
    unsigned += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      const magnitude = unsigned % 2 === 1 ? -(unsigned + 1) / 2 : unsigned / 2;
      return BigInt(magnitude);
    }
    scale *= 128;
  }
  return readVarlongTail(cursor, BigInt(unsigned));
}

function readVarlongTail(cursor: ByteCursor, low: bigint): bigint {
  let unsigned = low;
  for (let i = VARLONG_FAST_BYTES; i < VARLONG_BYTES_MAX; i++) {
    if (cursor.pos >= cursor.end) throw overrun('varlong', cursor);
    const byte = cursor.buf[cursor.pos++];
    unsigned |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) {
      unsigned = BigInt.asUintN(64, unsigned);
      return (unsigned >> 1n) ^ -(unsigned & 1n);
    }
  }
  throw new RecordBatchError('INVALID_RECORD', `varlong longer than ${VARLONG_BYTES_MAX} bytes at byte ${cursor.pos}`);
}

export function sizeOfVarint(value: number): number {
  let unsigned = ((value << 1) ^ (value >> 31)) >>> 0;
  let bytes = 1;
  while (unsigned >= 0x80) {
    unsigned >>>= 7;
    bytes++;
  }
  return bytes;
}

/** Writes `value` (a 32-bit signed integer) at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, value: number): number {
  let unsigned = ((value << 1) ^ (value >> 31)) >>> 0;
  while (unsigned >= 0x80) {
    buf[pos++] = (unsigned & 0x7f) | 0x80;
    unsigned >>>= 7;
  }
  buf[pos++] = unsigned;
  return pos;
}

function zigzag64(value: bigint): bigint {
  return BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
}

export function sizeOfVarlong(value: bigint): number {
  let unsigned = zigzag64(value);
  let bytes = 1;
  while (unsigned >= 0x80n) {
    unsigned >>= 7n;
    bytes++;
  }
  return bytes;
}

export function writeVarlong(buf: Buffer, pos: number, value: bigint): number {
  let unsigned = zigzag64(value);
  while (unsigned >= 0x80n) {
    buf[pos++] = Number(unsigned & 0x7fn) | 0x80;
    unsigned >>= 7n;
  }
  buf[pos++] = Number(unsigned);
  return pos;
}

// Varlongs of ordinary numbers: timestamp deltas in ms fit a double exactly,
// and doubles avoid a BigInt per shift on the encoder's hot path. Callers pass
// only integers of magnitude below 2^52 (zigzag doubles them, still exact);
// anything larger goes through the BigInt functions above.
export const VARLONG_NUMBER_MAX = 2 ** 52 - 1;

function zigzagNumber(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

export function sizeOfVarlongNumber(value: number): number {
  let unsigned = zigzagNumber(value);
  let bytes = 1;
  while (unsigned >= 0x80) {
    unsigned = Math.floor(unsigned / 128);
    bytes++;
  }
  return bytes;
}

export function writeVarlongNumber(buf: Buffer, pos: number, value: number): number {
  let unsigned = zigzagNumber(value);
  while (unsigned >= 0x80) {
    buf[pos++] = (unsigned % 128) | 0x80;
    unsigned = Math.floor(unsigned / 128);
  }
  buf[pos++] = unsigned;
  return pos;
}
