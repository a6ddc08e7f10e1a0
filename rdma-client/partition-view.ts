// A client's live view of one partition: its segments (with read keys
// imported), their commit watermarks and the high watermark, kept current by
// the broker's pushes after one SUBSCRIBE. Consumers and fetchers read
// committed bytes with one-sided gets using this view.
import { decodeJson, decodeWatermark, encodeJson, FastPathMessage, SegmentAnnouncement, SubscribeReplyBody } from '../format/fastpath-wire';
import { Connection } from './connection';
import { RdmqError } from './errors';

export interface SegmentView {
  segmentId: number;
  baseOffset: bigint;
  startPosition: number;
  commitPosition: number;
  endOffset: bigint;
  sealed: boolean;
  dataCapacityBytes: number;
}

type SubscribeReply = Required<Omit<SubscribeReplyBody, 'error'>> & Pick<SubscribeReplyBody, 'error'>;

export class PartitionView {
  readonly segments = new Map<number, SegmentView>();
  highWatermark: bigint;
  /** Where the subscription asked to start. */
  readonly start: { offset: bigint; segmentId: number; position: number };
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribePush: (() => void)[];

  private constructor(
    private readonly connection: Connection,
    readonly topic: string,
    readonly topicId: number,
    readonly partition: number,
    reply: SubscribeReply,
  ) {
    this.highWatermark = BigInt(reply.highWatermark);
    this.start = { offset: BigInt(reply.startOffset), segmentId: reply.startSegmentId, position: reply.startPosition };
    for (const s of reply.segments) this.addSegment(s);
    this.unsubscribePush = [
      connection.onPush(FastPathMessage.WATERMARK, (header) => this.onWatermark(header)),
      connection.onPush(FastPathMessage.SEGMENT, (header) => this.onSegment(header)),
    ];
  }

  /** Subscribes from 'earliest', 'latest' or an offset (decimal string). */
  static async subscribe(connection: Connection, topic: string, partition: number, from: string): Promise<PartitionView> {
    const reply = await connection.request(FastPathMessage.SUBSCRIBE, (reqId) => encodeJson(reqId, { topic, partition, from }));
    const { body } = decodeJson<SubscribeReply>(reply.header, 'SUBSCRIBE_REPLY');
    if (body.error) throw new RdmqError(`subscribe to ${topic}-${partition} from ${from}: ${body.error.message}`, body.error.errorCode);
    return new PartitionView(connection, topic, body.topicId, partition, body);
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

  /** Reads committed bytes with a one-sided get into `into`. */
  async read(segment: SegmentView, position: number, into: Buffer): Promise<void> {
    await this.connection.dataEndpoint.get(into, this.connection.segmentKey(segment.segmentId, 'read'), position);
  }

  async close(): Promise<void> {
    for (const off of this.unsubscribePush) off();
    this.listeners.clear();
    await this.connection.endpoint.send(FastPathMessage.UNSUBSCRIBE, encodeJson(0, { topicId: this.topicId, partition: this.partition })).catch(() => undefined);
  }

  private addSegment(s: SegmentAnnouncement): void {
    this.connection.segmentKey(s.segmentId, 'read', Buffer.from(s.key, 'base64'));
    this.segments.set(s.segmentId, {
      segmentId: s.segmentId,
      baseOffset: BigInt(s.baseOffset),
      startPosition: s.startPosition,
      commitPosition: s.commitPosition,
      endOffset: BigInt(s.endOffset),
      sealed: s.sealed,
      dataCapacityBytes: s.dataCapacityBytes,
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
    // A new segment means every earlier one is sealed at its final size.
    for (const s of this.segments.values()) if (s.segmentId < body.segmentId) s.sealed = true;
    this.addSegment(body);
    for (const fn of this.listeners) fn();
  }
}
