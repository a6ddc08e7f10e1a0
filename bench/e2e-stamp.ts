// End-to-end latency needs the moment a record was produced to travel with
// the record. The bench writes it into a record's value, where every client
// carries it unchanged, and the consumer subtracts it from the moment it
// receives the record. Producer and consumer read the same wall clock (one
// process, or kcat children on the same host).
//
// Binary values (fast path, kafkajs): STAMP_MAGIC then the wall clock in ms
// as a float64, big-endian (µs resolution), at the start of the value.
// Text lines (kcat): 'T' then the wall clock in ms with three decimals,
// fixed width, at the start of the line; the rest of a bench line is 'b'.
import { performance } from 'perf_hooks';

export const STAMP_MAGIC = 0x52445154; // "RDQT"
export const STAMP_BYTES = 12;
export const TEXT_STAMP_MARK = 0x54; // 'T'
/** 13 digits of ms since 1970 (until the year 2286), '.', 3 decimals. */
export const TEXT_STAMP_DIGITS = 17;
export const TEXT_STAMP_BYTES = 1 + TEXT_STAMP_DIGITS;

/** Milliseconds since 1970 with µs resolution. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

export function writeStamp(value: Buffer, wallMs: number): void {
  if (value.length < STAMP_BYTES) throw new Error(`an end-to-end stamp needs values of at least ${STAMP_BYTES} bytes, got ${value.length}`);
  value.writeUInt32BE(STAMP_MAGIC, 0);
  value.writeDoubleBE(wallMs, 4);
}

/** The stamp at the start of `value`, or undefined if it carries none. */
export function readStamp(value: Buffer | null | undefined): number | undefined {
  if (!value || value.length < STAMP_BYTES || value.readUInt32BE(0) !== STAMP_MAGIC) return undefined;
  return value.readDoubleBE(4);
}

export function writeTextStamp(line: Buffer, at: number, wallMs: number): void {
  const text = wallMs.toFixed(3).padStart(TEXT_STAMP_DIGITS, '0');
  if (text.length !== TEXT_STAMP_DIGITS || at + TEXT_STAMP_BYTES > line.length) throw new Error(`no room for a text stamp of ${TEXT_STAMP_BYTES} bytes at ${at} in ${line.length}`);
  line[at] = TEXT_STAMP_MARK;
  line.write(text, at + 1, 'latin1');
}

/**
 * Finds text stamps in a byte stream that arrives in arbitrary chunks (a
 * pipe from kcat): a stamp split across two chunks is completed from the
 * next. Holds at most one partial stamp between chunks.
 */
export class TextStampScanner {
  private carry: Buffer | undefined;

  /** Calls `onStamp` with each complete stamp's wall clock ms. */
  push(chunk: Buffer, onStamp: (wallMs: number) => void): void {
    let data = chunk;
    if (this.carry) {
      const need = TEXT_STAMP_BYTES - this.carry.length;
      const stamp = Buffer.concat([this.carry, chunk.subarray(0, need)]);
      if (stamp.length < TEXT_STAMP_BYTES) {
        this.carry = stamp;
        return;
      }
      this.carry = undefined;
      onStamp(Number(stamp.toString('latin1', 1, TEXT_STAMP_BYTES)));
      data = chunk.subarray(need);
    }
    for (let at = data.indexOf(TEXT_STAMP_MARK); at >= 0; at = data.indexOf(TEXT_STAMP_MARK, at + TEXT_STAMP_BYTES)) {
      if (at + TEXT_STAMP_BYTES > data.length) {
        this.carry = Buffer.from(data.subarray(at));
        return;
      }
      onStamp(Number(data.toString('latin1', at + 1, at + TEXT_STAMP_BYTES)));
    }
  }
}
