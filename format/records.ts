// One record inside a v2 batch (Kafka's DefaultRecord):
//
//   Record =>
//     Length => varint            size of everything after this field
//     Attributes => int8          unused, always 0
//     TimestampDelta => varlong   against the batch's baseTimestamp
//     OffsetDelta => varint       against the batch's baseOffset
//     Key => varint length (-1 = null), bytes
//     Value => varint length (-1 = null), bytes
//     Headers => varint count, [HeaderKey HeaderValue]
//       HeaderKey => varint length (never null), UTF-8 bytes
//       HeaderValue => varint length (-1 = null), bytes
import { RecordBatchError } from './record-batch-error';
import {
  ByteCursor,
  readVarint,
  readVarlong,
  sizeOfVarint,
  sizeOfVarlong,
  skipVarlong,
  writeVarint,
  writeVarlong,
} from './varint';

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/**
 * A decoded record with absolute offset and timestamp. `key`, `value` and
 * header values are views into the batch bytes (no copy): copy them if the
 * batch buffer is about to be reused.
 */
export interface Record {
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  timestamp: bigint;
  offset: bigint;
}

/** What a producer hands in; strings are encoded as UTF-8. */
export interface RecordInput {
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: { key: string; value: Buffer | string | null }[];
  /** Create time in ms since the epoch; defaults to the time the batch is built. */
  timestamp?: bigint | number;
}

/** A record with its bytes resolved and its size known, ready to be written. */
export interface PreparedRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: Buffer; value: Buffer | null }[];
  offsetDelta: number;
  timestampDelta: bigint;
  bodyBytes: number;
}

const NULL_LENGTH = -1;

function toBytes(data: Buffer | string | null): Buffer | null {
  if (data === null || data === undefined) return null;
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

function sizeOfNullableBytes(bytes: Buffer | null): number {
  return bytes === null ? sizeOfVarint(NULL_LENGTH) : sizeOfVarint(bytes.length) + bytes.length;
}

export function prepareRecord(input: RecordInput, offsetDelta: number, timestampDelta: bigint): PreparedRecord {
  const key = toBytes(input.key);
  const value = toBytes(input.value);
  const headers = (input.headers ?? []).map((header) => ({
    key: Buffer.from(header.key, 'utf8'),
    value: toBytes(header.value),
  }));
  let bodyBytes =
    1 + sizeOfVarlong(timestampDelta) + sizeOfVarint(offsetDelta) + sizeOfNullableBytes(key) + sizeOfNullableBytes(value);
  bodyBytes += sizeOfVarint(headers.length);
  for (const header of headers) bodyBytes += sizeOfNullableBytes(header.key) + sizeOfNullableBytes(header.value);
  return { key, value, headers, offsetDelta, timestampDelta, bodyBytes };
}

/** Bytes the record takes in a batch, including its length prefix. */
export function sizeOfRecord(record: PreparedRecord): number {
  return sizeOfVarint(record.bodyBytes) + record.bodyBytes;
}

function writeNullableBytes(buf: Buffer, pos: number, bytes: Buffer | null): number {
  if (bytes === null) return writeVarint(buf, pos, NULL_LENGTH);
  pos = writeVarint(buf, pos, bytes.length);
  return pos + bytes.copy(buf, pos);
}

/** Writes the record at `pos`; returns the position after it. */
export function writeRecord(buf: Buffer, pos: number, record: PreparedRecord): number {
  pos = writeVarint(buf, pos, record.bodyBytes);
  buf[pos++] = 0; // attributes: unused in v2
  pos = writeVarlong(buf, pos, record.timestampDelta);
  pos = writeVarint(buf, pos, record.offsetDelta);
  pos = writeNullableBytes(buf, pos, record.key);
  pos = writeNullableBytes(buf, pos, record.value);
  pos = writeVarint(buf, pos, record.headers.length);
  for (const header of record.headers) {
    pos = writeNullableBytes(buf, pos, header.key);
    pos = writeNullableBytes(buf, pos, header.value);
  }
  return pos;
}

/** Where the record's body ends, after checking its length prefix fits the data. */
function readBodyEnd(cursor: ByteCursor): number {
  const bodyBytes = readVarint(cursor);
  if (bodyBytes < 0 || bodyBytes > cursor.remaining()) {
    throw new RecordBatchError(
      'INVALID_RECORD',
      `record length ${bodyBytes} at byte ${cursor.pos} does not fit the ${cursor.remaining()} bytes left in the batch`,
    );
  }
  return cursor.pos + bodyBytes;
}

/** Reads a length (-1 allowed when nullable) and checks that many bytes follow. */
function readLength(cursor: ByteCursor, field: string, nullable: boolean): number {
  const length = readVarint(cursor);
  const minimum = nullable ? NULL_LENGTH : 0;
  if (length < minimum || length > cursor.remaining()) {
    throw new RecordBatchError(
      'INVALID_RECORD',
      `${field} length ${length} at byte ${cursor.pos} is outside [${minimum}, ${cursor.remaining()}]`,
    );
  }
  return length;
}

function readNullableBytes(cursor: ByteCursor, field: string): Buffer | null {
  const length = readLength(cursor, field, true);
  if (length === NULL_LENGTH) return null;
  const bytes = cursor.buf.subarray(cursor.pos, cursor.pos + length);
  cursor.pos += length;
  return bytes;
}

function skipBytes(cursor: ByteCursor, field: string, nullable: boolean): void {
  const length = readLength(cursor, field, nullable);
  if (length > 0) cursor.pos += length;
}

export interface RecordBase {
  baseOffset: bigint;
  baseTimestamp: bigint;
  /** Set for log-append-time batches: every record carries the batch's maxTimestamp. */
  logAppendTime: bigint | null;
}

/**
 * Runs `readFields` with the cursor bounded by one record's length, so no
 * field can read into the next record, and checks the fields fill the body.
 */
function withinRecordBody<T>(cursor: ByteCursor, readFields: () => T): T {
  const outerEnd = cursor.end;
  const bodyEnd = enterRecordBody(cursor);
  try {
    const result = readFields();
    checkRecordBodyFilled(cursor, bodyEnd);
    return result;
  } finally {
    cursor.end = outerEnd;
  }
}

/** Reads the record's length prefix and narrows the cursor to its body; returns the body's end. */
function enterRecordBody(cursor: ByteCursor): number {
  const bodyEnd = readBodyEnd(cursor);
  cursor.end = bodyEnd;
  return bodyEnd;
}

function checkRecordBodyFilled(cursor: ByteCursor, bodyEnd: number): void {
  if (cursor.pos !== bodyEnd) {
    throw new RecordBatchError(
      'INVALID_RECORD',
      `record fields end at byte ${cursor.pos} but its length says ${bodyEnd}`,
    );
  }
}

function readAttributes(cursor: ByteCursor): void {
  if (cursor.pos >= cursor.end) {
    throw new RecordBatchError('INVALID_RECORD', `empty record at byte ${cursor.pos}: attributes are missing`);
  }
  cursor.pos++; // unused in v2
}

export function readRecord(cursor: ByteCursor, base: RecordBase): Record {
  return withinRecordBody(cursor, () => {
    readAttributes(cursor);
    const timestampDelta = readVarlong(cursor);
    const offsetDelta = readVarint(cursor);
    const key = readNullableBytes(cursor, 'key');
    const value = readNullableBytes(cursor, 'value');
    const headerCount = readLength(cursor, 'header count', false);
    const headers: RecordHeader[] = [];
    for (let i = 0; i < headerCount; i++) {
      const keyLength = readLength(cursor, 'header key', false);
      const headerKey = cursor.buf.toString('utf8', cursor.pos, cursor.pos + keyLength);
      cursor.pos += keyLength;
      headers.push({ key: headerKey, value: readNullableBytes(cursor, 'header value') });
    }
    return {
      key,
      value,
      headers,
      timestamp: base.logAppendTime ?? base.baseTimestamp + timestampDelta,
      offset: base.baseOffset + BigInt(offsetDelta),
    };
  });
}

/**
 * Walks one record's structure without allocating and returns its offset
 * delta, so a whole uncompressed batch can be checked at memory speed.
 */
export function skipRecord(cursor: ByteCursor): number {
  // withinRecordBody written out: its closure, one per record, was the
  // gateway's largest allocation (about 55 bytes per record, so 55 MB per GB
  // of 1 KiB records), and the GC work it caused cost more than the walk.
  const outerEnd = cursor.end;
  const bodyEnd = enterRecordBody(cursor);
  try {
    readAttributes(cursor);
    skipVarlong(cursor);
    const offsetDelta = readVarint(cursor);
    skipBytes(cursor, 'key', true);
    skipBytes(cursor, 'value', true);
    const headerCount = readLength(cursor, 'header count', false);
    for (let i = 0; i < headerCount; i++) {
      skipBytes(cursor, 'header key', false);
      skipBytes(cursor, 'header value', true);
    }
    checkRecordBodyFilled(cursor, bodyEnd);
    return offsetDelta;
  } finally {
    cursor.end = outerEnd;
  }
}

/** One record's timestamp delta; the cursor moves past the whole record. */
export function readRecordTimestampDelta(cursor: ByteCursor): bigint {
  const outerEnd = cursor.end;
  const bodyEnd = enterRecordBody(cursor);
  try {
    readAttributes(cursor);
    const timestampDelta = readVarlong(cursor);
    cursor.pos = bodyEnd;
    return timestampDelta;
  } finally {
    cursor.end = outerEnd;
  }
}
