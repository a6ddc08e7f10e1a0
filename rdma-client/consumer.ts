// The fast-path consumer. For each partition it subscribes once; the broker
// answers with the segments from the start offset (with read-only keys) and
// then pushes every commit-watermark move and every new segment. The
// consumer keeps its read position locally and pulls committed bytes with
// one-sided gets straight from the storage node: no polling of the broker.
import { decodeRecordBatch, isSkipMarker, readBatchHeader, splitBatches } from '../format';
import { decodeJson, decodeWatermark, encodeJson, FastPathMessage } from '../format/fastpath-wire';
import { Connection } from './connection';
import { RdmqError } from './errors';

export interface ConsumerOptions {
  /** Largest single read (default 8 MiB); grows to fit a larger batch. */
  maxBytesPerRead?: number;
}

export interface ConsumedMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | null>;
  timestamp: string;
}

export interface EachMessagePayload {
  topic: string;
  partition: number;
  message: ConsumedMessage;
}

export interface EachBatchPayload {
  batch: { topic: string; partition: number; highWatermark: string; messages: ConsumedMessage[] };
}

export interface EachRawBatchPayload {
  topic: string;
  partition: number;
  /** Complete Kafka record batches exactly as stored; valid only during the call. */
  bytes: Buffer;
  batchCount: number;
}

export interface RunOptions {
  eachMessage?: (payload: EachMessagePayload) => Promise<void> | void;
  eachBatch?: (payload: EachBatchPayload) => Promise<void> | void;
  /** Stored bytes without decoding (for tools and benchmarks); takes precedence over the others. */
  eachRawBatch?: (payload: EachRawBatchPayload) => Promise<void> | void;
}

interface SegmentView {
  segmentId: number;
  startPosition: number;
  commitPosition: number;
  endOffset: bigint;
  sealed: boolean;
  dataCapacityBytes: number;
}

interface PartitionReader {
  topic: string;
  topicId: number;
  partition: number;
  segments: Map<number, SegmentView>;
  segmentId: number;
  position: number;
  /** Offsets below this were asked to be skipped (start offset inside a batch). */
  nextOffset: bigint;
  highWatermark: bigint;
  /** Each partition reads into its own buffer: partitions drain concurrently. */
  buffer: Buffer;
  reading: boolean;
  again: boolean;
}

interface Subscription {
  topic: string;
  fromBeginning: boolean;
}

interface SubscribeReply {
  error?: { errorCode: number; message: string };
  topicId: number;
  partition: number;
  startOffset: string;
  startSegmentId: number;
  startPosition: number;
  highWatermark: string;
  segments: { segmentId: number; startPosition: number; commitPosition: number; endOffset: string; sealed: boolean; dataCapacityBytes: number; key: string; topicId: number; partition: number }[];
}

export class Consumer {
  private readonly subscriptions: Subscription[] = [];
  private readonly readers = new Map<string, PartitionReader>();
  private readonly seeks = new Map<string, bigint>();
  private readonly maxBytesPerRead: number;
  private handlers: RunOptions = {};
  private running = false;
  private unsubscribePush: (() => void)[] = [];
  private failure: ((err: Error) => void) | undefined;
  private readonly initialBufferBytes: number;

  constructor(
    private readonly connection: Connection,
    options: ConsumerOptions = {},
  ) {
    this.maxBytesPerRead = options.maxBytesPerRead ?? 8 * 1024 * 1024;
    this.initialBufferBytes = Math.min(this.maxBytesPerRead, 1 << 20);
  }

  async subscribe(s: { topic: string; fromBeginning?: boolean }): Promise<void> {
    if (this.running) throw new RdmqError('subscribe before run()', 42);
    this.subscriptions.push({ topic: s.topic, fromBeginning: s.fromBeginning === true });
  }

  /** Starts at `offset` for a partition (before or while running). */
  seek(s: { topic: string; partition: number; offset: string | number | bigint }): void {
    this.seeks.set(`${s.topic}:${s.partition}`, BigInt(s.offset));
    if (this.running) void this.subscribePartition(s.topic, s.partition, BigInt(s.offset).toString());
  }

  /** Starts delivering; resolves once every partition is subscribed. Errors go to `onError`. */
  async run(handlers: RunOptions, onError: (err: Error) => void = (err) => process.emitWarning(err.message)): Promise<void> {
    if (!handlers.eachMessage && !handlers.eachBatch && !handlers.eachRawBatch) throw new RdmqError('run() needs eachMessage, eachBatch or eachRawBatch', 42);
    this.handlers = handlers;
    this.failure = onError;
    this.running = true;
    this.unsubscribePush.push(
      this.connection.onPush(FastPathMessage.WATERMARK, (header) => this.onWatermark(header)),
      this.connection.onPush(FastPathMessage.SEGMENT, (header) => this.onSegment(header)),
    );
    for (const sub of this.subscriptions) {
      const topic = await this.connection.describeTopic(sub.topic);
      for (const p of topic.partitions) {
        const seek = this.seeks.get(`${sub.topic}:${p.partition}`);
        await this.subscribePartition(sub.topic, p.partition, seek !== undefined ? seek.toString() : sub.fromBeginning ? 'earliest' : 'latest');
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const off of this.unsubscribePush) off();
    this.unsubscribePush = [];
    for (const r of this.readers.values()) {
      await this.connection.endpoint.send(FastPathMessage.UNSUBSCRIBE, encodeJson(0, { topicId: r.topicId, partition: r.partition })).catch(() => undefined);
    }
    this.readers.clear();
  }

  private async subscribePartition(topic: string, partition: number, from: string): Promise<void> {
    const reply = await this.connection.request(FastPathMessage.SUBSCRIBE, (reqId) => encodeJson(reqId, { topic, partition, from }));
    const { body } = decodeJson<SubscribeReply>(reply.header, 'SUBSCRIBE_REPLY');
    if (body.error) throw new RdmqError(`subscribe to ${topic}-${partition} from ${from}: ${body.error.message}`, body.error.errorCode);
    const reader: PartitionReader = {
      topic,
      topicId: body.topicId,
      partition,
      segments: new Map(),
      segmentId: body.startSegmentId,
      position: body.startPosition,
      nextOffset: BigInt(body.startOffset),
      highWatermark: BigInt(body.highWatermark),
      buffer: Buffer.alloc(this.initialBufferBytes),
      reading: false,
      again: false,
    };
    for (const s of body.segments) this.addSegment(reader, s);
    this.readers.set(`${body.topicId}:${partition}`, reader);
    this.schedule(reader);
  }

  private addSegment(reader: PartitionReader, s: SubscribeReply['segments'][number]): void {
    this.connection.segmentKey(s.segmentId, 'read', Buffer.from(s.key, 'base64'));
    reader.segments.set(s.segmentId, {
      segmentId: s.segmentId,
      startPosition: s.startPosition,
      commitPosition: s.commitPosition,
      endOffset: BigInt(s.endOffset),
      sealed: s.sealed,
      dataCapacityBytes: s.dataCapacityBytes,
    });
    if (reader.segmentId < 0) {
      reader.segmentId = s.segmentId;
      reader.position = s.startPosition;
    }
  }

  private onWatermark(header: Buffer): void {
    const w = decodeWatermark(header);
    const reader = this.readers.get(`${w.topicId}:${w.partition}`);
    const segment = reader?.segments.get(w.segmentId);
    if (!reader || !segment) return;
    if (w.commitPosition > segment.commitPosition) segment.commitPosition = w.commitPosition;
    if (w.endOffset > segment.endOffset) segment.endOffset = w.endOffset;
    if (w.endOffset > reader.highWatermark) reader.highWatermark = w.endOffset;
    segment.sealed = segment.sealed || w.sealed;
    this.schedule(reader);
  }

  private onSegment(header: Buffer): void {
    const { body } = decodeJson<SubscribeReply['segments'][number]>(header, 'SEGMENT');
    const reader = this.readers.get(`${body.topicId}:${body.partition}`);
    if (!reader) return;
    // A new segment means every earlier one is sealed at its final size.
    for (const s of reader.segments.values()) if (s.segmentId < body.segmentId) s.sealed = true;
    this.addSegment(reader, body);
    this.schedule(reader);
  }

  private schedule(reader: PartitionReader): void {
    if (!this.running) return;
    if (reader.reading) {
      reader.again = true;
      return;
    }
    reader.reading = true;
    this.drain(reader)
      .catch((err: Error) => this.failure?.(err))
      .finally(() => {
        reader.reading = false;
        if (reader.again) {
          reader.again = false;
          this.schedule(reader);
        }
      });
  }

  /** Reads and delivers everything committed past the reader's position. */
  private async drain(reader: PartitionReader): Promise<void> {
    while (this.running) {
      const segment = reader.segments.get(reader.segmentId);
      if (!segment) return;
      if (reader.position >= segment.commitPosition) {
        const next = [...reader.segments.keys()].filter((id) => id > segment.segmentId).sort((a, b) => a - b)[0];
        // Move on only once this segment can grow no more.
        if (next === undefined || !segment.sealed) return;
        reader.segments.delete(segment.segmentId);
        reader.segmentId = next;
        reader.position = reader.segments.get(next)!.startPosition;
        continue;
      }
      const want = Math.min(segment.commitPosition - reader.position, Math.max(this.maxBytesPerRead, reader.buffer.length));
      if (reader.buffer.length < want) reader.buffer = Buffer.alloc(want);
      const view = reader.buffer.subarray(0, want);
      await this.connection.endpoint.get(view, this.connection.segmentKey(segment.segmentId, 'read'), reader.position);
      const split = splitBatches(view, { batchBytesMax: segment.dataCapacityBytes });
      if (split.bytesConsumed === 0) {
        // One batch larger than the read: grow the buffer to fit it and read again.
        const needed = 12 + view.readInt32BE(8);
        if (needed <= want) throw new RdmqError(`corrupt batch at ${reader.topic}-${reader.partition} segment ${segment.segmentId} position ${reader.position}`, 2);
        reader.buffer = Buffer.alloc(needed);
        continue;
      }
      if (this.handlers.eachRawBatch) {
        await this.handlers.eachRawBatch({ topic: reader.topic, partition: reader.partition, bytes: view.subarray(0, split.bytesConsumed), batchCount: split.batches.length });
        reader.position += split.bytesConsumed;
        continue;
      }
      const messages: ConsumedMessage[] = [];
      for (const span of split.batches) {
        const header = readBatchHeader(view, span.offset);
        if (isSkipMarker(header) || header.isControl) continue;
        const { records } = await decodeRecordBatch(view, span.offset, { limits: { batchBytesMax: segment.dataCapacityBytes } });
        for (const r of records) {
          if (r.offset < reader.nextOffset) continue;
          messages.push({
            offset: r.offset.toString(),
            // Copy: the read buffer is reused for the next read.
            key: r.key === null ? null : Buffer.from(r.key),
            value: r.value === null ? null : Buffer.from(r.value),
            headers: Object.fromEntries(r.headers.map((h) => [h.key, h.value === null ? null : Buffer.from(h.value)])),
            timestamp: r.timestamp.toString(),
          });
        }
      }
      reader.position += split.bytesConsumed;
      if (messages.length > 0) {
        reader.nextOffset = BigInt(messages[messages.length - 1].offset) + 1n;
        await this.deliver(reader, messages);
      }
    }
  }

  private async deliver(reader: PartitionReader, messages: ConsumedMessage[]): Promise<void> {
    if (this.handlers.eachBatch) {
      await this.handlers.eachBatch({ batch: { topic: reader.topic, partition: reader.partition, highWatermark: reader.highWatermark.toString(), messages } });
      return;
    }
    for (const message of messages) await this.handlers.eachMessage!({ topic: reader.topic, partition: reader.partition, message });
  }
}
