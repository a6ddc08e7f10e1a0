// A client's live view of one partition: its segments (with read keys
// imported), their commit watermarks and the high watermark, kept current by
// the broker's pushes after one SUBSCRIBE. Consumers and fetchers read
// committed bytes with one-sided gets using this view, each from the copy of
// a segment its reader index points at (so readers of a partition spread
// over the copies), moving on to the next copy when one fails.
import { batchIntact, RecordBatchError } from '../format';
import { decodeJson, decodeWatermark, encodeJson, FastPathMessage, SegmentAnnouncement, SubscribeReplyBody } from '../format/fastpath-wire';
import { Connection, SegmentReplica } from './connection';
import { RdmqError, replyError } from './errors';

export interface SegmentView {
  segmentId: number;
  baseOffset: bigint;
  startPosition: number;
  commitPosition: number;
  endOffset: bigint;
  sealed: boolean;
  dataCapacityBytes: number;
  /** The segment's copies, as the broker last announced them. */
  replicas: SegmentReplica[];
  /** Ranges whose bytes failed their check at the storage node's recovery: readers stop there with CORRUPT_MESSAGE. */
  fenced: FenceView[];
}

export interface FenceView {
  startPosition: number;
  endPosition: number;
  baseOffset: bigint;
  endOffset: bigint;
}

/** Kafka's error code for stored bytes that fail their check. */
export const CORRUPT_MESSAGE = 2;

/**
 * The fence a reader at `position` of `segment`, wanting offsets from
 * `nextOffset` on, runs into. A zero-byte fence stands for a whole segment
 * next to this one that could not be read.
 */
export function fenceAt(segment: SegmentView, position: number, nextOffset: bigint): FenceView | undefined {
  return segment.fenced.find(
    (f) => nextOffset < f.endOffset && position >= f.startPosition && (position < f.endPosition || (f.startPosition === f.endPosition && position === f.startPosition)),
  );
}

/** Where a read from `position` must stop: the commit position, or the next fence. */
export function readLimit(segment: SegmentView, position: number): number {
  let limit = segment.commitPosition;
  for (const f of segment.fenced) if (f.startPosition >= position && f.startPosition < limit) limit = f.startPosition;
  return limit;
}

export function corruptRangeError(topic: string, partition: number, segment: SegmentView, f: FenceView): RdmqError {
  return new RdmqError(
    `${topic}-${partition}: offsets [${f.baseOffset}, ${f.endOffset}) (segment ${segment.segmentId} bytes [${f.startPosition}, ${f.endPosition})) ` +
      `failed their check (at recovery, or by the scrubber) and are fenced until an operator runs 'rdmq corruption skip'; seek to ${f.endOffset} to read past them`,
    CORRUPT_MESSAGE,
    'CORRUPT_MESSAGE',
    false,
  );
}

/** A stored batch that failed its check (CRC, framing, records) where it was read, with where it is. */
export function corruptBatchError(topic: string, partition: number, segmentId: number, position: number, err: Error): RdmqError {
  const code = err instanceof RecordBatchError ? `${err.code}: ` : '';
  return new RdmqError(`corrupt batch at ${topic}-${partition} segment ${segmentId} position ${position}: ${code}${err.message}`, CORRUPT_MESSAGE, 'CORRUPT_MESSAGE', false);
}

type SubscribeReply = Required<Omit<SubscribeReplyBody, 'error' | 'readerIndex'>> & Pick<SubscribeReplyBody, 'error' | 'readerIndex'>;

export class PartitionView {
  readonly segments = new Map<number, SegmentView>();
  highWatermark: bigint;
  /** Where the subscription asked to start. */
  readonly start: { offset: bigint; segmentId: number; position: number };
  /** This reader's place among the partition's readers: it reads copy `readerIndex % n` of each segment first. */
  readonly readerIndex: number;
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribePush: (() => void)[];
  /** Gets in flight; a segment's key is released only once none can use it. */
  private readsInFlight = 0;
  private readsDone: (() => void) | undefined;
  private closed = false;

  private constructor(
    private readonly connection: Connection,
    readonly topic: string,
    readonly topicId: number,
    readonly partition: number,
    reply: SubscribeReply,
  ) {
    this.highWatermark = BigInt(reply.highWatermark);
    this.start = { offset: BigInt(reply.startOffset), segmentId: reply.startSegmentId, position: reply.startPosition };
    // A broker that gives no index (an older one): readers on this connection take turns.
    this.readerIndex = reply.readerIndex ?? connection.readerTurn();
    for (const s of reply.segments) this.addSegment(s);
    connection.viewOpened(topicId, partition);
    this.unsubscribePush = [
      connection.onPush(FastPathMessage.WATERMARK, (header) => this.onWatermark(header)),
      connection.onPush(FastPathMessage.SEGMENT, (header) => this.onSegment(header)),
    ];
  }

  /** Subscribes from 'earliest', 'latest' or an offset (decimal string). */
  static async subscribe(connection: Connection, topic: string, partition: number, from: string): Promise<PartitionView> {
    // The broker pushes from the moment it registers the subscription, right as it replies.
    // A push can reach this process in the same delivery as the reply, before the view below
    // exists to hear it; were it the first segment of an empty partition, the view would
    // never see a commit. So pushes are held from the request until the view takes over.
    const held = new HeldPushes(connection, partition);
    try {
      const reply = await connection.request(FastPathMessage.SUBSCRIBE, (reqId) => encodeJson(reqId, { topic, partition, from }));
      const { body } = decodeJson<SubscribeReply>(reply.header, 'SUBSCRIBE_REPLY');
      if (body.error) throw replyError(`subscribe to ${topic}-${partition} from ${from}: ${body.error.message}`, body.error.errorCode, { operation: 'READ', resource: topic });
      const view = new PartitionView(connection, topic, body.topicId, partition, body);
      held.replay(view);
      return view;
    } finally {
      held.release();
    }
  }

  /** Calls `fn` whenever the view changed (new commits or segments). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The segment after `segmentId`, if the view has one. */
  nextSegment(segmentId: number): SegmentView | undefined {
    let next: SegmentView | undefined;
    for (const s of this.segments.values()) if (s.segmentId > segmentId && (!next || s.segmentId < next.segmentId)) next = s;
    return next;
  }

  /**
   * Where a reader goes once it has read everything committed in `segment`:
   * the next segment, or undefined while more may still be committed here. A
   * new segment alone does not make the one before it final (batches staged
   * there may still be committing); the broker's word that it is sealed and
   * fully committed does, and so do committed bytes in the next segment, since
   * the commit watermark only moves over a contiguous prefix.
   */
  segmentAfter(segment: SegmentView): SegmentView | undefined {
    const next = this.nextSegment(segment.segmentId);
    if (!next) return undefined;
    return segment.sealed || next.commitPosition > next.startPosition ? next : undefined;
  }

  /**
   * Reads committed bytes with a one-sided get into `into`, from copy
   * `preferred % n` of the segment (default: this reader's index), or the
   * next copies when that one fails.
   */
  async read(segment: SegmentView, position: number, into: Buffer, preferred = this.readerIndex): Promise<void> {
    if (this.closed) throw new RdmqError(`the view of ${this.topic}-${this.partition} is closed`, -1, 'CLOSED', false);
    this.readsInFlight++;
    try {
      await this.connection.get(segment.segmentId, preferred, into, position);
    } finally {
      if (--this.readsInFlight === 0) this.readsDone?.();
    }
  }

  /**
   * The batch of `lengthBytes` at `position`, which failed its CRC32C as
   * read before, read again from each copy in turn (from copy `preferred + 1`
   * on, so the copy it was read from comes last: a read ahead may have come
   * from another) until one holds it intact; undefined when none does.
   */
  async readIntact(segment: SegmentView, position: number, lengthBytes: number, preferred = this.readerIndex): Promise<Buffer | undefined> {
    for (let k = 1; k <= this.copyCount(segment); k++) {
      const other = Buffer.allocUnsafe(lengthBytes);
      try {
        await this.read(segment, position, other, preferred + k);
      } catch {
        continue;
      }
      if (batchIntact(other)) return other;
    }
    return undefined;
  }

  /** How many copies of the segment there are to read from. */
  copyCount(segment: SegmentView): number {
    return this.connection.segmentReplicas(segment.segmentId, 'read').length;
  }

  /** Whether `read` from copy `preferred % n` is a direct call into a storage node of this process. */
  readsInProcess(segment: SegmentView, preferred = this.readerIndex): boolean {
    return this.connection.readsInProcess(segment.segmentId, preferred);
  }

  /** Forgets a segment the reader is done with and lets go of its key. No read of it may be in flight. */
  dropSegment(segmentId: number): void {
    if (!this.segments.delete(segmentId)) return;
    this.connection.releaseSegmentKey(segmentId, 'read');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const off of this.unsubscribePush) off();
    this.listeners.clear();
    if (this.readsInFlight > 0) await new Promise<void>((resolve) => (this.readsDone = resolve));
    for (const segmentId of [...this.segments.keys()]) this.dropSegment(segmentId);
    // Another view of the partition on this connection still needs the pushes.
    if (!this.connection.viewClosed(this.topicId, this.partition)) return;
    await this.connection.endpoint.send(FastPathMessage.UNSUBSCRIBE, encodeJson(0, { topicId: this.topicId, partition: this.partition })).catch(() => undefined);
  }

  private addSegment(s: SegmentAnnouncement): void {
    const listed = (s.replicas ?? []).map((r) => ({ node: r.node, address: r.address, key: Buffer.from(r.key, 'base64') }));
    // Retained once per segment; a later announcement (copies added or lost) updates the copies.
    const replicas = this.segments.has(s.segmentId)
      ? this.connection.segmentReplicas(s.segmentId, 'read', listed)
      : this.connection.retainSegmentKey(s.segmentId, 'read', listed);
    this.segments.set(s.segmentId, {
      segmentId: s.segmentId,
      baseOffset: BigInt(s.baseOffset),
      startPosition: s.startPosition,
      commitPosition: s.commitPosition,
      endOffset: BigInt(s.endOffset),
      sealed: s.sealed,
      dataCapacityBytes: s.dataCapacityBytes,
      replicas,
      fenced: (s.fenced ?? []).map((f) => ({ startPosition: f.startPosition, endPosition: f.endPosition, baseOffset: BigInt(f.baseOffset), endOffset: BigInt(f.endOffset) })),
    });
  }

  private onWatermark(header: Buffer): void {
    const w = decodeWatermark(header);
    if (w.topicId !== this.topicId || w.partition !== this.partition) return;
    const segment = this.segments.get(w.segmentId);
    if (!segment) return;
    if (w.commitPosition > segment.commitPosition) segment.commitPosition = w.commitPosition;
    if (w.endOffset > segment.endOffset) segment.endOffset = w.endOffset;
    if (w.endOffset > this.highWatermark) this.highWatermark = w.endOffset;
    segment.sealed = segment.sealed || w.sealed;
    for (const fn of this.listeners) fn();
  }

  private onSegment(header: Buffer): void {
    const { body } = decodeJson<SegmentAnnouncement>(header, 'SEGMENT');
    if (body.topicId !== this.topicId || body.partition !== this.partition) return;
    const known = this.segments.get(body.segmentId);
    this.addSegment(body);
    if (known) {
      // A held announcement may be older than the subscribe reply: positions only move forward.
      const segment = this.segments.get(body.segmentId)!;
      segment.commitPosition = Math.max(segment.commitPosition, known.commitPosition);
      segment.endOffset = segment.endOffset > known.endOffset ? segment.endOffset : known.endOffset;
      segment.sealed = segment.sealed || known.sealed;
    }
    for (const fn of this.listeners) fn();
  }

  /** Applies pushes that arrived before the view existed. */
  applyHeld(id: number, header: Buffer): void {
    if (id === FastPathMessage.WATERMARK) this.onWatermark(header);
    else this.onSegment(header);
  }
}

/**
 * Pushes for one partition number, held while a subscription is set up.
 * Bounded: a watermark push carries absolute positions, so only the latest
 * per segment is kept; segment announcements are one per new segment.
 */
class HeldPushes {
  private readonly pushes: { id: number; header: Buffer; segmentKey?: string }[] = [];
  private readonly offs: (() => void)[];

  constructor(connection: Connection, private readonly partition: number) {
    this.offs = [
      connection.onPush(FastPathMessage.WATERMARK, (header) => this.holdWatermark(header)),
      connection.onPush(FastPathMessage.SEGMENT, (header) => this.pushes.push({ id: FastPathMessage.SEGMENT, header: Buffer.from(header) })),
    ];
  }

  replay(view: PartitionView): void {
    for (const p of this.pushes) view.applyHeld(p.id, p.header);
  }

  release(): void {
    for (const off of this.offs) off();
    this.pushes.length = 0;
  }

  private holdWatermark(header: Buffer): void {
    const w = decodeWatermark(header);
    if (w.partition !== this.partition) return;
    const segmentKey = `${w.topicId}:${w.segmentId}`;
    const earlier = this.pushes.findIndex((p) => p.segmentKey === segmentKey);
    if (earlier >= 0) this.pushes.splice(earlier, 1);
    this.pushes.push({ id: FastPathMessage.WATERMARK, header: Buffer.from(header), segmentKey });
  }
}
