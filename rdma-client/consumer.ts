// The fast-path consumer. For each partition it subscribes once; the broker
// answers with the segments from the start offset (with read-only keys) and
// then pushes every commit-watermark move and every new segment. The
// consumer keeps its read position locally and pulls committed bytes with
// one-sided gets straight from the storage node: no polling of the broker.
import { batchIntact, LOG_OVERHEAD, RecordBatchError, splitBatches } from '../format';
import { Connection } from './connection';
import { RdmqError } from './errors';
import { decodeMessages } from './message-decoder';
import { CORRUPT_MESSAGE, corruptBatchError, corruptRangeError, fenceAt, PartitionView, readLimit, SegmentView } from './partition-view';

export interface ConsumerOptions {
  /** Largest single read (default 8 MiB; at most 1 MiB for eachMessage and eachBatch); grows to fit a larger batch. */
  maxBytesPerRead?: number;
}

/**
 * Key, value and header values are views of the bytes read (no copy per
 * record); they stay valid, and a kept message keeps its read's buffer
 * (at most 1 MiB, or its batch) from the garbage collector.
 */
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

interface PartitionReader {
  view: PartitionView;
  segmentId: number;
  position: number;
  /** Offsets below this were asked to be skipped (start offset inside a batch). */
  nextOffset: bigint;
  /** Largest read: maxBytesPerRead (at most DECODED_READ_BYTES_MAX when decoding), grown to fit a larger batch. */
  readBytesMax: number;
  /**
   * eachRawBatch only: the buffer reads go into, reused (its bytes are valid
   * only during the call). Each partition has its own: partitions drain
   * concurrently. Decoded messages are views of their read's bytes, so those
   * reads get fresh buffers.
   */
  rawBuffer: Buffer;
  reading: boolean;
  again: boolean;
  /** A resubscription from its position is under way. */
  resubscribing?: boolean;
  /** The fence this reader stopped at and reported, so it is reported once, not on every commit. */
  stoppedAt?: string;
  /** The running drain, awaited before the view closes (its keys must outlive its gets). */
  draining: Promise<void> | undefined;
  /** Replaced by a seek or stopped: reads nothing more and delivers nothing more. */
  retired: boolean;
  /** Bytes that cannot be read as batches stop the partition until a seek; reported once. */
  corrupt: boolean;
}

/** A get under way into `bytes` from `position` of a segment. */
interface PendingRead {
  segmentId: number;
  position: number;
  bytes: Buffer;
  done: Promise<void>;
}

/**
 * A read ahead is started only for at least this much (or a full read):
 * a tiny one, of what was committed during the last get, costs a get for
 * a few batches where waiting for the delivery would have gathered more.
 */
const READ_AHEAD_BYTES_MIN = 256 * 1024;

/**
 * Reads whose messages are handed out get fresh buffers; above about 1 MiB,
 * those cost more in page faults (the allocator returns freed ones to the
 * system when the GC frees many at once) than the extra gets of smaller reads.
 * A batch larger than this still gets a read of its size.
 */
const DECODED_READ_BYTES_MAX = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

interface Subscription {
  topic: string;
  fromBeginning: boolean;
  /** Only these partitions (default: all of the topic's). */
  partitions?: number[];
}

/** The storage node or the broker went away (not bad data, which is reported). */
function isConnectionLoss(err: unknown): boolean {
  return err instanceof RdmqError && (err.errorCode === KAFKA_STORAGE_ERROR || err.errorCode === REQUEST_TIMED_OUT);
}

const KAFKA_STORAGE_ERROR = 56;
const REQUEST_TIMED_OUT = 7;

/** How often, and how far apart, a partition is resubscribed after the connection came back. */
const RESUBSCRIBE_ATTEMPTS_MAX = 100;
const RESUBSCRIBE_DELAY_MS = 200;

export class Consumer {
  private readonly subscriptions: Subscription[] = [];
  private readonly readers = new Map<string, PartitionReader>();
  private readonly seeks = new Map<string, bigint>();
  /** Per partition, the last seek asked for: seeks run one after another, in order. */
  private readonly seeksInFlight = new Map<string, Promise<void>>();
  private readonly maxBytesPerRead: number;
  private handlers: RunOptions = {};
  private running = false;
  private failure: ((err: Error) => void) | undefined;

  constructor(
    private readonly connection: Connection,
    options: ConsumerOptions = {},
  ) {
    this.maxBytesPerRead = options.maxBytesPerRead ?? 8 * 1024 * 1024;
  }

  private readonly onReconnected = (): void => void this.resubscribeAll();

  /** A new broker session has none of the old subscriptions: each partition resumes at its next offset. */
  private async resubscribeAll(): Promise<void> {
    if (!this.running) return;
    await Promise.all([...this.readers.values()].map((reader) => this.resubscribe(reader)));
  }

  /** Replaces `reader` by a subscription from its next offset, retrying while the cluster is coming back. */
  private async resubscribe(reader: PartitionReader): Promise<void> {
    if (reader.resubscribing) return;
    reader.resubscribing = true;
    try {
      for (let attempt = 0; this.running && !reader.retired; attempt++) {
        try {
          await this.subscribePartition(reader.view.topic, reader.view.partition, reader.nextOffset.toString(), reader);
          return;
        } catch (err) {
          if (!(err instanceof RdmqError && err.retriable) || attempt >= RESUBSCRIBE_ATTEMPTS_MAX) {
            this.failure?.(err as Error);
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, RESUBSCRIBE_DELAY_MS));
        }
      }
    } finally {
      reader.resubscribing = false;
    }
  }

  /** Bytes this consumer's connection read from each storage node (by node id): how its reads spread over the copies. */
  readBytesByNode(): Map<string, number> {
    return this.connection.readBytesByNode();
  }

  readBytesByAddress(): Map<string, number> {
    return this.connection.readBytesByAddress();
  }

  /**
   * Reads `topic` from run() on. `partitions` splits a topic between consumers
   * by hand (the fast path has no group coordinator): each reads only those.
   */
  async subscribe(s: { topic: string; fromBeginning?: boolean; partitions?: number[] }): Promise<void> {
    if (this.running) throw new RdmqError('subscribe before run()', 42);
    for (const p of s.partitions ?? []) {
      if (!Number.isInteger(p) || p < 0) throw new RdmqError(`subscribe to ${s.topic}: partitions are non-negative integers, got ${p}`, 42);
    }
    this.subscriptions.push({ topic: s.topic, fromBeginning: s.fromBeginning === true, partitions: s.partitions });
  }

  /**
   * Starts at `offset` for a partition (before or while running). While
   * running, a seek that fails (an offset out of range, say) goes to run()'s
   * `onError`; the partition is then not read until the next seek.
   */
  seek(s: { topic: string; partition: number; offset: string | number | bigint }): void {
    let offset: bigint;
    try {
      offset = BigInt(s.offset);
    } catch {
      throw new RdmqError(`seek ${s.topic}-${s.partition}: offset must be an integer, got ${String(s.offset)}`, 42);
    }
    if (offset < 0n) throw new RdmqError(`seek ${s.topic}-${s.partition}: offset must not be negative, got ${offset}`, 42);
    const key = `${s.topic}:${s.partition}`;
    this.seeks.set(key, offset);
    if (!this.running) return;
    const previous = this.seeksInFlight.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => (this.running ? this.subscribePartition(s.topic, s.partition, offset.toString()) : undefined))
      .catch((err: Error) => this.failure?.(err));
    this.seeksInFlight.set(key, next);
    void next.finally(() => {
      if (this.seeksInFlight.get(key) === next) this.seeksInFlight.delete(key);
    });
  }

  /** Starts delivering; resolves once every partition is subscribed. Errors go to `onError`. */
  async run(handlers: RunOptions, onError: (err: Error) => void = (err) => process.emitWarning(err.message)): Promise<void> {
    if (!handlers.eachMessage && !handlers.eachBatch && !handlers.eachRawBatch) throw new RdmqError('run() needs eachMessage, eachBatch or eachRawBatch', 42);
    this.handlers = handlers;
    this.failure = onError;
    this.running = true;
    this.connection.off('reconnected', this.onReconnected);
    this.connection.on('reconnected', this.onReconnected);
    for (const sub of this.subscriptions) {
      const topic = await this.connection.describeTopic(sub.topic);
      const missing = (sub.partitions ?? []).filter((p) => !topic.partitions.some((tp) => tp.partition === p));
      if (missing.length > 0) throw new RdmqError(`topic '${sub.topic}' has partitions 0..${topic.partitions.length - 1}, not ${missing.join(', ')}`, 3);
      for (const p of topic.partitions) {
        if (sub.partitions && !sub.partitions.includes(p.partition)) continue;
        const seek = this.seeks.get(`${sub.topic}:${p.partition}`);
        await this.subscribePartition(sub.topic, p.partition, seek !== undefined ? seek.toString() : sub.fromBeginning ? 'earliest' : 'latest');
      }
    }
  }

  /** Stops delivering; resolves once every read in flight is done (so not from inside a handler, which it would wait for). */
  async stop(): Promise<void> {
    this.running = false;
    this.connection.off('reconnected', this.onReconnected);
    await Promise.all([...this.seeksInFlight.values()]);
    for (const r of this.readers.values()) await this.retire(r);
    this.readers.clear();
  }

  /** Stops a reader and closes its view once its last get is done. */
  private async retire(reader: PartitionReader): Promise<void> {
    reader.retired = true;
    await reader.draining;
    await reader.view.close();
  }

  /** Subscribes a partition from `from`; with `replacing`, only if that reader is still the partition's. */
  private async subscribePartition(topic: string, partition: number, from: string, replacing?: PartitionReader): Promise<void> {
    const key = `${topic}:${partition}`;
    const old = this.readers.get(key);
    if (replacing && old !== replacing) return;
    if (old) {
      this.readers.delete(key);
      await this.retire(old);
    }
    const view = await PartitionView.subscribe(this.connection, topic, partition, from);
    if (!this.running) {
      await view.close();
      return;
    }
    const reader: PartitionReader = {
      view,
      segmentId: view.start.segmentId,
      position: view.start.position,
      nextOffset: view.start.offset,
      readBytesMax: this.handlers.eachRawBatch ? this.maxBytesPerRead : Math.min(this.maxBytesPerRead, DECODED_READ_BYTES_MAX),
      rawBuffer: EMPTY,
      reading: false,
      again: false,
      draining: undefined,
      retired: false,
      corrupt: false,
    };
    view.onChange(() => {
      // A first segment may arrive after subscribing to an empty partition.
      if (reader.segmentId < 0) {
        const first = view.nextSegment(-1);
        if (first) {
          reader.segmentId = first.segmentId;
          reader.position = first.startPosition;
        }
      }
      this.schedule(reader);
    });
    this.readers.set(key, reader);
    this.schedule(reader);
  }

  private schedule(reader: PartitionReader): void {
    if (!this.running || reader.retired || reader.corrupt) return;
    if (reader.reading) {
      reader.again = true;
      return;
    }
    reader.reading = true;
    reader.draining = this.drain(reader)
      .catch((err: Error) => {
        if (reader.retired) return;
        // The storage node or broker went away: read on from the next offset once the cluster is back.
        if (isConnectionLoss(err)) {
          setTimeout(() => void this.resubscribe(reader), RESUBSCRIBE_DELAY_MS);
          return;
        }
        // Reading the same bytes again gives the same answer: wait for a seek rather than try on every push.
        if ((err instanceof RdmqError && err.errorCode === CORRUPT_MESSAGE) || err instanceof RecordBatchError) reader.corrupt = true;
        this.failure?.(err);
      })
      .finally(() => {
        reader.reading = false;
        reader.draining = undefined;
        if (reader.again) {
          reader.again = false;
          this.schedule(reader);
        }
      });
  }

  /**
   * Starts a get of `lengthBytes` at `position` of `segment`: with
   * eachRawBatch into the reader's reused buffer, otherwise into a buffer of
   * its own, which the messages decoded from it keep.
   */
  private startRead(reader: PartitionReader, segment: SegmentView, position: number, lengthBytes: number): PendingRead {
    let bytes: Buffer;
    if (this.handlers.eachRawBatch) {
      if (reader.rawBuffer.length < lengthBytes) reader.rawBuffer = Buffer.alloc(lengthBytes);
      bytes = reader.rawBuffer.subarray(0, lengthBytes);
    } else {
      // Unzeroed is safe: the get fills every byte or fails, and each batch's CRC is checked before any record is handed out.
      bytes = Buffer.allocUnsafe(lengthBytes);
    }
    const done = reader.view.read(segment, position, bytes);
    done.catch(() => undefined); // a read ahead that is dropped is awaited, not reported
    return { segmentId: segment.segmentId, position, bytes, done };
  }

  /**
   * Reads and delivers everything committed past the reader's position. While
   * one read's messages are being decoded and delivered, the next (what is
   * committed after it, up to the read size) is already in flight: at most
   * two reads per partition. Raw batches, which cost little to deliver, are
   * read one get at a time into one reused buffer.
   */
  private async drain(reader: PartitionReader): Promise<void> {
    let ahead: PendingRead | undefined;
    try {
      await this.drainReads(reader, (next) => {
        const previous = ahead;
        ahead = next;
        return previous;
      });
    } finally {
      // Its get must be done before the view (and its keys) close.
      if (ahead) await ahead.done.catch(() => undefined);
    }
  }

  /** The drain loop; `swapAhead(next)` sets the read ahead and returns the one before it. */
  private async drainReads(reader: PartitionReader, swapAhead: (next: PendingRead | undefined) => PendingRead | undefined): Promise<void> {
    const view = reader.view;
    while (this.running && !reader.retired) {
      const segment = view.segments.get(reader.segmentId);
      if (!segment) return;
      const fence = fenceAt(segment, reader.position, reader.nextOffset);
      if (fence) {
        // Stops here until the range is skipped (a new announcement) or the consumer seeks past it.
        const key = `${segment.segmentId}:${fence.startPosition}`;
        if (reader.stoppedAt === key) return;
        reader.stoppedAt = key;
        // Reported, not thrown: unlike unreadable bytes (reader.corrupt), a fence can be lifted by a new announcement.
        this.failure?.(corruptRangeError(view.topic, view.partition, segment, fence));
        return;
      }
      if (reader.position >= segment.commitPosition) {
        // Move on only once this segment can grow no more.
        const next = view.segmentAfter(segment);
        if (!next) return;
        view.dropSegment(segment.segmentId);
        reader.segmentId = next.segmentId;
        reader.position = next.startPosition;
        continue;
      }
      const want = Math.min(readLimit(segment, reader.position) - reader.position, reader.readBytesMax);
      // The read ahead is used if it starts here and reads nothing the limit now excludes (a fence announced since).
      let read = swapAhead(undefined);
      if (read && (read.segmentId !== segment.segmentId || read.position !== reader.position || read.bytes.length > want)) {
        await read.done.catch(() => undefined);
        read = undefined;
      }
      read ??= this.startRead(reader, segment, reader.position, want);
      await read.done;
      const bytes = read.bytes;
      const corrupt = (why?: string): RdmqError =>
        new RdmqError(
          `corrupt batch at ${view.topic}-${view.partition} segment ${segment.segmentId} position ${reader.position}: ` +
            `its length says ${LOG_OVERHEAD + bytes.readInt32BE(8)} bytes, ${segment.commitPosition - reader.position} are committed from there` +
            (why ? ` (${why})` : ''),
          CORRUPT_MESSAGE,
        );
      let split: ReturnType<typeof splitBatches>;
      try {
        split = splitBatches(bytes, { batchBytesMax: segment.dataCapacityBytes });
      } catch (err) {
        throw err instanceof RecordBatchError ? corrupt(err.message) : err;
      }
      if (split.bytesConsumed === 0) {
        // One batch larger than the read: grow the read to fit it and read again. The commit
        // watermark covers whole batches only, so a batch running past it is corrupt (or someone
        // else's bytes): growing for it would read the same bytes again forever.
        const needed = LOG_OVERHEAD + bytes.readInt32BE(8);
        const readable = readLimit(segment, reader.position) - reader.position;
        if (needed <= bytes.length || needed > readable) throw corrupt();
        reader.readBytesMax = Math.max(reader.readBytesMax, needed);
        continue;
      }
      if (reader.retired) return;
      const after = reader.position + split.bytesConsumed;
      const aheadBytes = Math.min(readLimit(segment, after) - after, reader.readBytesMax);
      // Only with a backlog: a reader caught up with its producers reads more per get by waiting for the delivery.
      if (!this.handlers.eachRawBatch && aheadBytes >= Math.min(reader.readBytesMax, READ_AHEAD_BYTES_MIN)) swapAhead(this.startRead(reader, segment, after, aheadBytes));
      if (this.handlers.eachRawBatch) {
        await this.handlers.eachRawBatch({ topic: view.topic, partition: view.partition, bytes: bytes.subarray(0, split.bytesConsumed), batchCount: split.batches.length });
        reader.position = after;
        continue;
      }
      const decoded = await decodeMessages(bytes, split.batches, reader.nextOffset, segment.dataCapacityBytes);
      reader.position += decoded.bytesDecoded;
      if (reader.retired) return;
      if (decoded.messages.length > 0) {
        reader.nextOffset = BigInt(decoded.messages[decoded.messages.length - 1].offset) + 1n;
        await this.deliver(reader, decoded.messages);
      }
      if (decoded.error) {
        // A batch that fails its CRC here may be intact on another copy: delivered from there.
        const span = split.batches.find((b) => b.offset === decoded.bytesDecoded);
        const damaged = span && bytes.subarray(span.offset, span.offset + span.length);
        const intact = damaged && !batchIntact(damaged) ? await view.readIntact(segment, reader.position, damaged.length) : undefined;
        if (intact && !reader.retired) {
          const again = await decodeMessages(intact, splitBatches(intact, { batchBytesMax: segment.dataCapacityBytes }).batches, reader.nextOffset, segment.dataCapacityBytes);
          if (!again.error) {
            reader.position += intact.length;
            if (again.messages.length > 0) {
              reader.nextOffset = BigInt(again.messages[again.messages.length - 1].offset) + 1n;
              await this.deliver(reader, again.messages);
            }
            continue;
          }
        }
        // Reported once what precedes it is delivered; the partition then waits for a seek.
        throw corruptBatchError(view.topic, view.partition, segment.segmentId, reader.position, decoded.error);
      }
    }
  }

  private async deliver(reader: PartitionReader, messages: ConsumedMessage[]): Promise<void> {
    const { topic, partition, highWatermark } = reader.view;
    if (this.handlers.eachBatch) {
      await this.handlers.eachBatch({ batch: { topic, partition, highWatermark: highWatermark.toString(), messages } });
      return;
    }
    const each = this.handlers.eachMessage!;
    for (const message of messages) {
      // A handler that returns no promise is not awaited: one microtask per message was most of a small message's cost.
      const handled = each({ topic, partition, message });
      if (handled !== undefined && typeof (handled as Promise<void>).then === 'function') await handled;
    }
  }
}
