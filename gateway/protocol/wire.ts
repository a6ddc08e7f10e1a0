// Bounded byte reader and chunked writer for Kafka's primitive types.
//
// Reader: every read checks the bytes left before touching or allocating
// anything, so a claimed length can never make it allocate more than the
// frame it reads. Slices (bytes, records) alias the input buffer: no copy.
//
// Writer: appends into a scratch buffer; a large Buffer (record batches) is
// kept by reference as its own chunk instead of copied, so a Fetch response
// can go to the socket with writev and zero payload copies.

import { ProtocolError } from './errors';

export interface ReadLimits {
  /** Largest element count accepted for any array, before allocating. */
  readonly maxArrayLength: number;
}

export const defaultReadLimits: ReadLimits = { maxArrayLength: 1_000_000 };

export class Reader {
  private pos: number;

  constructor(
    readonly buf: Buffer,
    offset = 0,
    readonly end = buf.length,
    readonly limits: ReadLimits = defaultReadLimits,
  ) {
    this.pos = offset;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(what: string): never {
    throw new ProtocolError('INVALID_REQUEST', `${what} at byte ${this.pos}`);
  }

  need(byteCount: number, what: string): void {
    if (byteCount > this.end - this.pos) {
      this.fail(`${what} needs ${byteCount} bytes but ${this.end - this.pos} remain`);
    }
  }

  int8(): number {
    this.need(1, 'int8');
    return this.buf.readInt8(this.pos++);
  }

  int16(): number {
    this.need(2, 'int16');
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  uint16(): number {
    this.need(2, 'uint16');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4, 'int32');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4, 'uint32');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  int64(): bigint {
    this.need(8, 'int64');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  float64(): number {
    this.need(8, 'float64');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  bool(): boolean {
    return this.int8() !== 0;
  }

  /** Unsigned varint of at most 5 bytes (Kafka's limit), 0 … 2^32-1. */
  uvarint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      this.need(1, 'varint');
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (value > 0xffffffff) this.fail('unsigned varint exceeds 32 bits');
        return value;
      }
      scale *= 128;
    }
    return this.fail('varint longer than 5 bytes');
  }

  /** Zigzag-encoded signed 32-bit varint. */
  varint(): number {
    const v = this.uvarint();
    return (v >>> 1) ^ -(v & 1);
  }

  /** Zigzag-encoded signed 64-bit varint (at most 10 bytes). */
  varlong(): bigint {
    let value = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      this.need(1, 'varlong');
      const b = this.buf[this.pos++];
      value |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asIntN(64, (value >> 1n) ^ -(value & 1n));
      shift += 7n;
    }
    return this.fail('varlong longer than 10 bytes');
  }

  /** A view of the next `length` bytes (aliases the input; no copy). */
  slice(length: number): Buffer {
    this.need(length, 'byte string');
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  utf8(length: number): string {
    this.need(length, 'string');
    const out = this.buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  skip(length: number): void {
    this.need(length, 'skip');
    this.pos += length;
  }

  /** A reader over the next `length` bytes; this reader moves past them. */
  sub(length: number): Reader {
    this.need(length, 'section');
    const r = new Reader(this.buf, this.pos, this.pos + length, this.limits);
    this.pos += length;
    return r;
  }
}

/** Buffers at least this long are kept by reference rather than copied. */
const zeroCopyMinBytes = 1024;

export class Writer {
  private readonly chunks: Buffer[] = [];
  private scratch: Buffer;
  private start = 0;
  private pos = 0;
  private flushedBytes = 0;

  constructor(initialBytes = 256) {
    this.scratch = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.flushedBytes + this.pos - this.start;
  }

  private flushScratch(): void {
    if (this.pos > this.start) {
      this.chunks.push(this.scratch.subarray(this.start, this.pos));
      this.flushedBytes += this.pos - this.start;
      this.start = this.pos;
    }
  }

  /** Makes room for n bytes. Old scratch stays referenced by its chunk: nothing is copied. */
  private ensure(byteCount: number): void {
    if (this.pos + byteCount <= this.scratch.length) return;
    this.flushScratch();
    this.scratch = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, byteCount, 256));
    this.start = 0;
    this.pos = 0;
  }

  int8(v: number): void {
    this.ensure(1);
    this.pos = this.scratch.writeInt8(v, this.pos);
  }

  int16(v: number): void {
    this.ensure(2);
    this.pos = this.scratch.writeInt16BE(v, this.pos);
  }

  uint16(v: number): void {
    this.ensure(2);
    this.pos = this.scratch.writeUInt16BE(v, this.pos);
  }

  int32(v: number): void {
    this.ensure(4);
    this.pos = this.scratch.writeInt32BE(v, this.pos);
  }

  uint32(v: number): void {
    this.ensure(4);
    this.pos = this.scratch.writeUInt32BE(v, this.pos);
  }

  int64(v: bigint): void {
    this.ensure(8);
    this.pos = this.scratch.writeBigInt64BE(v, this.pos);
  }

  float64(v: number): void {
    this.ensure(8);
    this.pos = this.scratch.writeDoubleBE(v, this.pos);
  }

  bool(v: boolean): void {
    this.int8(v ? 1 : 0);
  }

  uvarint(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new RangeError(`unsigned varint out of range: ${v}`);
    }
    this.ensure(5);
    while (v >= 0x80) {
      this.scratch[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.scratch[this.pos++] = v;
  }

  varint(v: number): void {
    this.uvarint(((v << 1) ^ (v >> 31)) >>> 0);
  }

  varlong(v: bigint): void {
    let z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    this.ensure(10);
    while (z >= 0x80n) {
      this.scratch[this.pos++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    this.scratch[this.pos++] = Number(z);
  }

  utf8(s: string, byteLength: number): void {
    this.ensure(byteLength);
    this.pos += this.scratch.write(s, this.pos, byteLength, 'utf8');
  }

  /** Appends bytes; large buffers are kept by reference (caller must not mutate them). */
  raw(buf: Buffer): void {
    if (buf.length >= zeroCopyMinBytes) {
      this.flushScratch();
      this.chunks.push(buf);
      this.flushedBytes += buf.length;
      return;
    }
    this.ensure(buf.length);
    buf.copy(this.scratch, this.pos);
    this.pos += buf.length;
  }

  /** Appends everything another writer holds (by reference). */
  append(other: Writer): void {
    for (const chunk of other.toChunks()) this.raw(chunk);
  }

  /** Reserves 4 bytes now and returns a function that fills them in later. */
  reserveInt32(): (v: number) => void {
    this.ensure(4);
    const buf = this.scratch;
    const at = this.pos;
    this.pos += 4;
    return (v) => {
      buf.writeInt32BE(v, at);
    };
  }

  toChunks(): Buffer[] {
    this.flushScratch();
    return this.chunks.slice();
  }

  toBuffer(): Buffer {
    const chunks = this.toChunks();
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.length);
  }
}
