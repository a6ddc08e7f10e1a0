// Kafka-style random-access reads of one partition, for the gateway's Fetch:
// "bytes of complete batches from this offset, at most about this many",
// straight from the storage node with one-sided gets. The broker is asked
// only where an offset starts (LOCATE) when the fetcher has not seen it
// already; sequential readers continue from the position the last fetch
// ended at. One fetcher serves every Kafka consumer of a partition at a
// gateway, so each fetch takes the connection's next reader turn: fetches
// spread over a segment's copies instead of all reading the same one.
import { isSkipMarker, readBatchHeader, splitBatches } from '../format';
import { decodeJson, encodeJson, FastPathMessage } from '../format/fastpath-wire';
import { Connection } from './connection';
import { RdmqError, replyError } from './errors';
import { corruptRangeError, fenceAt, PartitionView, readLimit, SegmentView } from './partition-view';

const OFFSET_OUT_OF_RANGE = 1;
const POSITION_CACHE_MAX = 1024;
const MIN_READ_BYTES = 64 * 1024;

export interface FetchResult {
  /** Complete stored batches; the first may start before the requested offset. */
  records: Buffer;
  highWatermark: bigint;
  logStartOffset: bigint;
}

interface Location {
  segmentId: number;
  position: number;
}

export class PartitionFetcher {
  private view: PartitionView | undefined;
  private logStart = 0n;
  /** Next offset → where its batch starts, remembered from earlier fetches. */
  private readonly positions = new Map<string, Location>();

  constructor(
    private readonly connection: Connection,
    readonly topic: string,
    readonly partition: number,
  ) {}

  async open(): Promise<void> {
    if (this.view) return;
    this.view = await PartitionView.subscribe(this.connection, this.topic, this.partition, 'earliest');
    this.logStart = this.view.start.offset;
  }

  get highWatermark(): bigint {
    return this.opened().highWatermark;
  }

  async fetch(offset: bigint, maxBytes: number): Promise<FetchResult> {
    const view = this.opened();
    const result = (records: Buffer): FetchResult => ({ records, highWatermark: view.highWatermark, logStartOffset: this.logStart });
    if (offset === view.highWatermark) return result(Buffer.alloc(0));
    let at = this.positions.get(offset.toString()) ?? (await this.locate(offset));
    if (at === undefined) return result(Buffer.alloc(0));
    const out: Buffer[] = [];
    let outBytes = 0;
    let nextOffset = offset;
    const preferred = this.connection.readerTurn();
    while (outBytes < maxBytes || out.length === 0) {
      const segment: SegmentView | undefined = view.segments.get(at.segmentId);
      if (!segment) break;
      const fence = fenceAt(segment, at.position, nextOffset);
      if (fence) {
        // What comes before the fence is answered; a fetch that starts at it fails.
        if (out.length > 0) break;
        throw corruptRangeError(this.topic, this.partition, segment, fence);
      }
      if (at.position >= segment.commitPosition) {
        const next = view.segmentAfter(segment);
        if (!next) break;
        at = { segmentId: next.segmentId, position: next.startPosition };
        continue;
      }
      const available = readLimit(segment, at.position) - at.position;
      let want = Math.min(available, Math.max(MIN_READ_BYTES, maxBytes - outBytes));
      let bytes = Buffer.allocUnsafe(want);
      await view.read(segment, at.position, bytes, preferred);
      let split = splitBatches(bytes, { batchBytesMax: segment.dataCapacityBytes });
      if (split.batches.length === 0) {
        // The next batch is larger than what is left of maxBytes. Kafka
        // returns it only as the first batch, however large; after others
        // it waits for the next fetch.
        if (out.length > 0) break;
        // Read only the rest of it: the bytes already read are its start.
        const read = bytes.length;
        want = Math.min(available, 12 + bytes.readInt32BE(8));
        const whole = Buffer.allocUnsafe(want);
        bytes.copy(whole, 0, 0, Math.min(read, want));
        if (want > read) await view.read(segment, at.position + read, whole.subarray(read), preferred);
        bytes = whole;
        split = splitBatches(bytes, { batchBytesMax: segment.dataCapacityBytes });
        if (split.batches.length === 0) throw new RdmqError(`corrupt batch in ${this.topic}-${this.partition} segment ${segment.segmentId} at ${at.position}`, 2);
      }
      let consumed = 0;
      let full = false;
      for (const span of split.batches) {
        const header = readBatchHeader(bytes, span.offset);
        const last = header.baseOffset + BigInt(header.lastOffsetDelta);
        if (last < offset || isSkipMarker(header)) {
          consumed = span.offset + span.length;
          if (last >= nextOffset) nextOffset = last + 1n;
          continue;
        }
        // Whole batches up to maxBytes, as the gateway will send them: a batch
        // read past that would be cut from the response and read again.
        if (out.length > 0 && outBytes + span.length > maxBytes) {
          full = true;
          break;
        }
        consumed = span.offset + span.length;
        out.push(bytes.subarray(span.offset, span.offset + span.length));
        outBytes += span.length;
        nextOffset = last + 1n;
      }
      at = { segmentId: at.segmentId, position: at.position + consumed };
      if (full) break;
    }
    this.remember(nextOffset, at);
    return result(out.length === 1 ? out[0] : Buffer.concat(out, outBytes));
  }

  /** Resolves when the high watermark passes `offset`, or after `timeoutMs`. */
  waitForData(offset: bigint, timeoutMs: number): Promise<void> {
    const view = this.opened();
    if (view.highWatermark > offset || timeoutMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const off = view.onChange(() => {
        if (view.highWatermark > offset) done();
      });
    });
  }

  async close(): Promise<void> {
    await this.view?.close();
    this.view = undefined;
  }

  private opened(): PartitionView {
    if (!this.view) throw new RdmqError('call open() before fetching', 42);
    return this.view;
  }

  private remember(offset: bigint, at: Location): void {
    if (this.positions.size >= POSITION_CACHE_MAX) this.positions.delete(this.positions.keys().next().value as string);
    this.positions.set(offset.toString(), at);
  }

  private async locate(offset: bigint): Promise<Location | undefined> {
    const reply = await this.connection.request(FastPathMessage.LOCATE, (reqId) => encodeJson(reqId, { topic: this.topic, partition: this.partition, offset: offset.toString() }));
    const { body } = decodeJson<{ error?: { errorCode: number; message: string }; where: string; segmentId?: number; position?: number; logStartOffset: string; highWatermark: string }>(
      reply.header,
      'LOCATE_REPLY',
    );
    if (body.error) throw replyError(body.error.message, body.error.errorCode, { operation: 'READ', resource: this.topic });
    this.logStart = BigInt(body.logStartOffset);
    if (body.where === 'found') return { segmentId: body.segmentId!, position: body.position! };
    if (body.where === 'at-end') return undefined;
    throw new RdmqError(`offset ${offset} is outside ${body.logStartOffset}..${body.highWatermark} of ${this.topic}-${this.partition}`, OFFSET_OUT_OF_RANGE);
  }
}
