// Turning one read of stored batches into the messages eachMessage and
// eachBatch hand out. Each batch's CRC and framing are checked first (the
// fast path's broker does not read payload: consumers are where corruption
// shows), then its records are walked once; key, value and header values are
// views of the read's bytes, so a read's buffer must be the messages' own
// (never reused for another read). Offsets and timestamps are computed with
// numbers where they are exact, BigInt only where they are not.
import { BatchSpan, fieldView, forEachRecord, isSkipMarker, readRecordHeaders, RecordBatchHeader, RecordLayout } from '../format';
import type { ConsumedMessage } from './consumer';

export interface DecodedRead {
  messages: ConsumedMessage[];
  /** Bytes from the read's start covered by the batches decoded; short of the spans' end only when `error` is set. */
  bytesDecoded: number;
  /** The batch at `bytesDecoded` failed its check: delivered what precedes it, then report this. */
  error?: Error;
}

/** Largest base at which base + an int32 delta is still an exact number. */
const EXACT_BASE_MAX = Number.MAX_SAFE_INTEGER - 2 ** 31;

/** Makes each record's offset and timestamp strings from its batch's bases. */
class BatchBase {
  private readonly baseOffsetNumber: number | undefined;
  private readonly baseTimestampNumber: number | undefined;
  private readonly logAppendTime: string | undefined;

  constructor(private readonly header: RecordBatchHeader) {
    this.baseOffsetNumber = header.baseOffset <= BigInt(EXACT_BASE_MAX) ? Number(header.baseOffset) : undefined;
    const baseTimestamp = header.baseTimestamp;
    this.baseTimestampNumber = baseTimestamp <= BigInt(EXACT_BASE_MAX) && baseTimestamp >= -BigInt(EXACT_BASE_MAX) ? Number(baseTimestamp) : undefined;
    this.logAppendTime = header.timestampType === 'log-append' ? header.maxTimestamp.toString() : undefined;
  }

  offset(delta: number): string {
    return this.baseOffsetNumber !== undefined ? String(this.baseOffsetNumber + delta) : (this.header.baseOffset + BigInt(delta)).toString();
  }

  timestamp(delta: number | bigint): string {
    if (this.logAppendTime !== undefined) return this.logAppendTime;
    if (this.baseTimestampNumber !== undefined && typeof delta === 'number') {
      const timestamp = this.baseTimestampNumber + delta;
      if (Number.isSafeInteger(timestamp)) return String(timestamp);
    }
    return (this.header.baseTimestamp + BigInt(delta)).toString();
  }
}

function headersOf(bytes: Buffer, layout: RecordLayout): Record<string, Buffer | null> {
  const headers: Record<string, Buffer | null> = {};
  if (layout.headerCount === 0) return headers;
  for (const h of readRecordHeaders(bytes, layout)) headers[h.key] = h.value;
  return headers;
}

/**
 * The messages at offsets `fromOffset` and later of the complete batches
 * `spans` in `bytes`; skip markers and control batches carry none. Stops at
 * the first batch that fails its check and returns it as `error`, with the
 * messages before it, so nothing is cut silently and nothing good is held back.
 */
export async function decodeMessages(bytes: Buffer, spans: readonly BatchSpan[], fromOffset: bigint, batchBytesMax: number): Promise<DecodedRead> {
  const messages: ConsumedMessage[] = [];
  for (const span of spans) {
    const header = span.header;
    if (isSkipMarker(header) || header.isControl) continue;
    // Offsets below fromOffset (a start inside a batch) are not delivered.
    const skipBelowDelta = fromOffset > header.baseOffset ? Number(fromOffset - header.baseOffset) : 0;
    if (skipBelowDelta > header.lastOffsetDelta) continue;
    const base = new BatchBase(header);
    const before = messages.length;
    try {
      await forEachRecord(bytes, span.offset, { limits: { batchBytesMax } }, (recordBytes, layout) => {
        if (layout.offsetDelta < skipBelowDelta) return;
        messages.push({
          offset: base.offset(layout.offsetDelta),
          key: fieldView(recordBytes, layout.keyStart, layout.keyLength),
          value: fieldView(recordBytes, layout.valueStart, layout.valueLength),
          headers: headersOf(recordBytes, layout),
          timestamp: base.timestamp(layout.timestampDelta),
        });
      });
    } catch (err) {
      // Records of this batch pushed before a bad one are not delivered: the batch fails as a whole.
      messages.length = before;
      return { messages, bytesDecoded: span.offset, error: err as Error };
    }
  }
  const last = spans[spans.length - 1];
  return { messages, bytesDecoded: last === undefined ? 0 : last.offset + last.length };
}
