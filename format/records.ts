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
  sizeOfVarlongNumber,
  writeVarint,
  writeVarlong,
  writeVarlongNumber,
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

/**
 * A timestamp delta as a number when it is exact as one (every realistic
 * batch), else as a bigint: the number path writes varlongs without BigInt.
 */
export type TimestampDelta = number | bigint;

const NULL_LENGTH = -1;

/** Bytes a key, value or header value takes as written: its UTF-8 or byte length, -1 for null. */
export function fieldBytes(data: Buffer | Uint8Array | string | null | undefined): number {
  if (data === null || data === undefined) return NULL_LENGTH;
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
}

function sizeOfField(length: number): number {
  return length === NULL_LENGTH ? 1 : sizeOfVarint(length) + length;
}

function sizeOfTimestampDelta(delta: TimestampDelta): number {
  return typeof delta === 'number' ? sizeOfVarlongNumber(delta) : sizeOfVarlong(delta);
}

/** Bytes of the record's body (everything its length prefix counts), given its key's and value's lengths. */
export function sizeOfRecordBody(input: RecordInput, offsetDelta: number, timestampDelta: TimestampDelta, keyBytes: number, valueBytes: number): number {
  let bodyBytes = 1 + sizeOfTimestampDelta(timestampDelta) + sizeOfVarint(offsetDelta) + sizeOfField(keyBytes) + sizeOfField(valueBytes);
  const headers = input.headers;
  const headerCount = headers === undefined ? 0 : headers.length;
  bodyBytes += sizeOfVarint(headerCount);
  for (let i = 0; i < headerCount; i++) bodyBytes += sizeOfField(Buffer.byteLength(headers![i].key, 'utf8')) + sizeOfField(fieldBytes(headers![i].value));
  return bodyBytes;
}

/** Bytes the record takes in a batch, its length prefix included. */
export function sizeOfRecord(bodyBytes: number): number {
  return sizeOfVarint(bodyBytes) + bodyBytes;
}

/** Writes a field whose length is known: strings are encoded in place, bytes copied once. */
function writeField(buf: Buffer, pos: number, data: Buffer | Uint8Array | string | null | undefined, length: number): number {
  pos = writeVarint(buf, pos, length);
  if (length <= 0) return pos;
  if (typeof data === 'string') buf.write(data, pos, length, 'utf8');
  else buf.set(data!, pos);
  return pos + length;
}

/** Writes the record at `pos` from its input and the sizes computed for it; returns the position after it. */
export function writeRecord(
  buf: Buffer,
  pos: number,
  input: RecordInput,
  offsetDelta: number,
  timestampDelta: TimestampDelta,
  bodyBytes: number,
  keyBytes: number,
  valueBytes: number,
): number {
  pos = writeVarint(buf, pos, bodyBytes);
  buf[pos++] = 0; // attributes: unused in v2
  pos = typeof timestampDelta === 'number' ? writeVarlongNumber(buf, pos, timestampDelta) : writeVarlong(buf, pos, timestampDelta);
  pos = writeVarint(buf, pos, offsetDelta);
  pos = writeField(buf, pos, input.key, keyBytes);
  pos = writeField(buf, pos, input.value, valueBytes);
  const headers = input.headers;
  const headerCount = headers === undefined ? 0 : headers.length;
  pos = writeVarint(buf, pos, headerCount);
  for (let i = 0; i < headerCount; i++) {
    const header = headers![i];
    pos = writeField(buf, pos, header.key, Buffer.byteLength(header.key, 'utf8'));
    pos = writeField(buf, pos, header.value, fieldBytes(header.value));
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

/**
 * Where one record's fields lie in the bytes it was read from. One walk
 * fills it in place and checks the record's structure on the way; readers
 * reuse one layout from record to record, so the walk allocates nothing.
 * Key and value are (start, length) with length -1 for null.
 */
export class RecordLayout {
  offsetDelta = 0;
  timestampDelta: TimestampDelta = 0;
  keyStart = 0;
  keyLength = NULL_LENGTH;
  valueStart = 0;
  valueLength = NULL_LENGTH;
  headersStart = 0;
  headerCount = 0;
  /** Where the record ends (the next one starts). */
  end = 0;
}

/** A timestamp delta as a number when it is exact as one (7 varlong bytes or fewer), else a bigint. */
function readTimestampDelta(cursor: ByteCursor): TimestampDelta {
  const start = cursor.pos;
  let unsigned = 0;
  let scale = 1;
  for (let i = 0; i < 7 && cursor.pos < cursor.end; i++) {
    const byte = cursor.buf[cursor.pos++];
    unsigned += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return unsigned % 2 === 1 ? -(unsigned + 1) / 2 : unsigned / 2;
    scale *= 128;
  }
  cursor.pos = start;
  return readVarlong(cursor);
}

/**
 * Reads the record at the cursor into `layout` and moves past it. Throws
 * INVALID_RECORD when a length runs past the record or the batch, or the
 * fields do not fill the record exactly: no field can reach into the next.
 */
export function readRecordLayout(cursor: ByteCursor, layout: RecordLayout): void {
  // No closure per record: one was the gateway's largest allocation once
  // (about 55 bytes per record), and its GC work cost more than the walk.
  const outerEnd = cursor.end;
  const bodyEnd = enterRecordBody(cursor);
  try {
    readAttributes(cursor);
    layout.timestampDelta = readTimestampDelta(cursor);
    layout.offsetDelta = readVarint(cursor);
    layout.keyLength = readLength(cursor, 'key', true);
    layout.keyStart = cursor.pos;
    if (layout.keyLength > 0) cursor.pos += layout.keyLength;
    layout.valueLength = readLength(cursor, 'value', true);
    layout.valueStart = cursor.pos;
    if (layout.valueLength > 0) cursor.pos += layout.valueLength;
    const headerCount = readLength(cursor, 'header count', false);
    layout.headersStart = cursor.pos;
    layout.headerCount = headerCount;
    for (let i = 0; i < headerCount; i++) {
      skipBytes(cursor, 'header key', false);
      skipBytes(cursor, 'header value', true);
    }
    checkRecordBodyFilled(cursor, bodyEnd);
    layout.end = bodyEnd;
  } finally {
    cursor.end = outerEnd;
  }
}

/** The headers of a record whose layout was read (and so checked) from `buf`. */
export function readRecordHeaders(buf: Buffer, layout: RecordLayout): RecordHeader[] {
  const headers: RecordHeader[] = [];
  const cursor = new ByteCursor(buf, layout.headersStart, layout.end);
  for (let i = 0; i < layout.headerCount; i++) {
    const keyLength = readLength(cursor, 'header key', false);
    const key = buf.toString('utf8', cursor.pos, cursor.pos + keyLength);
    cursor.pos += keyLength;
    headers.push({ key, value: readNullableBytes(cursor, 'header value') });
  }
  return headers;
}

/** A view of `length` bytes at `start` of `buf`, or null for length -1. */
export function fieldView(buf: Buffer, start: number, length: number): Buffer | null {
  return length === NULL_LENGTH ? null : buf.subarray(start, start + length);
}

function addDelta(base: bigint, delta: TimestampDelta): bigint {
  return base + (typeof delta === 'number' ? BigInt(delta) : delta);
}

/** The record a layout describes, with absolute offset and timestamp; key, value and header values are views into `buf`. */
export function recordFromLayout(buf: Buffer, layout: RecordLayout, base: RecordBase): Record {
  return {
    key: fieldView(buf, layout.keyStart, layout.keyLength),
    value: fieldView(buf, layout.valueStart, layout.valueLength),
    headers: layout.headerCount === 0 ? [] : readRecordHeaders(buf, layout),
    timestamp: base.logAppendTime ?? addDelta(base.baseTimestamp, layout.timestampDelta),
    offset: base.baseOffset + BigInt(layout.offsetDelta),
  };
}

/** One record's timestamp delta; the cursor moves past the whole record. */
export function readRecordTimestampDelta(cursor: ByteCursor): TimestampDelta {
  const outerEnd = cursor.end;
  const bodyEnd = enterRecordBody(cursor);
  try {
    readAttributes(cursor);
    const timestampDelta = readTimestampDelta(cursor);
    cursor.pos = bodyEnd;
    return timestampDelta;
  } finally {
    cursor.end = outerEnd;
  }
}
