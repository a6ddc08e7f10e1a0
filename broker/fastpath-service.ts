// The broker's side of the fast path: UCX active messages from producers and
// consumers. Replies echo the request id; errors carry a Kafka error code and
// a message, and never break the connection or the process.
import { Endpoint, Transport } from '../addon';
import {
  CommitRangeRequest,
  decodeCommit,
  decodeCommitRange,
  decodeJson,
  decodeStage,
  encodeCommitReply,
  encodeJson,
  encodeReplicaKeys,
  encodeStageReply,
  encodeWatermark,
  FastPathMessage,
  ReplicaKey,
  SegmentAnnouncement,
  SubscribeBody,
  SubscribeReplyBody,
  WireError,
} from '../format/fastpath-wire';
import { controlPlaneSecurity, fastPathMemberMethod, proofRefusal } from '../control-plane';
import { Broker, PartitionRuntime } from './broker';
import { BrokerMetrics } from './metrics';
import { aclHost, ANONYMOUS_PRINCIPAL } from './security/acls';
import { CommitAdvance, SegmentInfo } from './partition-state';
import { FastPathAuthenticator, SessionIdentity } from './security/fastpath-auth';
import { markPublish, publishId, publishTraceOn } from '../format/publish-trace';

const MESSAGE_NAMES = new Map<number, string>(Object.entries(FastPathMessage).map(([name, id]) => [id, name]));

const KAFKA_UNKNOWN_SERVER_ERROR = -1;
const KAFKA_INVALID_REQUEST = 42;

/** A Kafka error code and message for any error thrown while serving a request. */
export function errorReply(err: unknown): { errorCode: number; message: string } {
  const e = err as { kafkaErrorCode?: number; message?: string };
  if (err instanceof WireError) return { errorCode: KAFKA_INVALID_REQUEST, message: err.message };
  return { errorCode: typeof e.kafkaErrorCode === 'number' ? e.kafkaErrorCode : KAFKA_UNKNOWN_SERVER_ERROR, message: e.message ?? String(err) };
}

interface Session extends SessionIdentity {
  producerKey: string;
  keysGiven: Set<string>;
  subscriptions: Set<string>;
  exclusive: Set<string>;
}

function parseOffset(text: string): bigint {
  if (!/^\d{1,19}$/.test(text)) throw new WireError(`offset "${text}" must be 'earliest', 'latest' or a non-negative integer`);
  return BigInt(text);
}

export class FastPathService {
  private readonly sessions = new Map<Endpoint, Session>();
  private readonly subscribers = new Map<string, Set<Endpoint>>();
  /** Subscriptions ever made per partition: the next reader's index (readerIndex). */
  private readonly readersSeen = new Map<string, number>();
  private nextSession = 1;

  constructor(
    private readonly broker: Broker,
    private readonly transport: Transport,
    private readonly log: (message: string) => void = () => undefined,
    private readonly metrics?: BrokerMetrics,
    /** Who SDK sessions are (SASL with the broker's users); anonymous, and nothing required, when not given. */
    readonly authenticator = new FastPathAuthenticator({ requireAuthentication: false, credentials: async () => undefined, log }),
  ) {
    transport.on('connection', (ep: Endpoint) => this.open(ep));
    metrics?.countSessions(() => {
      let inProcess = 0;
      for (const ep of this.sessions.keys()) if (ep.inProcess) inProcess++;
      return { 'in-process': inProcess, ucx: this.sessions.size - inProcess };
    });
    this.handle(FastPathMessage.AUTHENTICATE, (ep, header) => this.authenticator.onAuthenticate(ep, header, this.session(ep)));
    this.handle(FastPathMessage.STAGE, (ep, header) => this.onStage(ep, header));
    this.handle(FastPathMessage.COMMIT, (ep, header) => this.onCommit(ep, header));
    this.handle(FastPathMessage.ACQUIRE, (ep, header) => this.onAcquire(ep, header));
    this.handle(FastPathMessage.COMMIT_RANGE, (ep, header) => this.onCommitRange(ep, header));
    this.handle(FastPathMessage.RELEASE, (ep, header) => this.onRelease(ep, header));
    this.handle(FastPathMessage.SUBSCRIBE, (ep, header) => this.onSubscribe(ep, header));
    this.handle(FastPathMessage.UNSUBSCRIBE, (ep, header) => this.onUnsubscribe(ep, header));
    this.handle(FastPathMessage.LOCATE, (ep, header) => this.onLocate(ep, header));
    this.handle(FastPathMessage.MEMBER, (ep, header) => this.onMember(ep, header));
  }

  /** Whether the client on `ep` proved it is a member of the cluster. */
  isClusterMember(ep: Endpoint): boolean {
    return this.sessions.get(ep)?.clusterMember ?? false;
  }

  /** A client's proof of the cluster secret, bound to this connection; a bad one is logged and leaves the session a stranger's. */
  private async onMember(ep: Endpoint, header: Buffer): Promise<void> {
    const { body } = decodeJson<{ proof?: string }>(header, 'MEMBER');
    const refusal = proofRefusal(controlPlaneSecurity().clusterSecret, fastPathMemberMethod(ep.localId, ep.remoteId), typeof body.proof === 'string' ? body.proof : undefined);
    if (refusal) this.log(`fast-path client ${ep.remoteAddress} is not a cluster member: ${refusal}`);
    this.session(ep).clusterMember = refusal === undefined;
  }

  /** Fast-path clients connected now. */
  get clientCount(): number {
    return this.sessions.size;
  }

  /** Pushes the new watermark of every moved segment to the partition's subscribers. */
  advanced(runtime: PartitionRuntime, advance: CommitAdvance): void {
    const subs = this.subscribers.get(runtime.key);
    if (!subs || subs.size === 0) return;
    for (const moved of advance.segments) {
      const info = runtime.state.segmentInfo(moved.segmentId);
      const push = encodeWatermark({
        topicId: runtime.topicId,
        partition: runtime.partition,
        segmentId: moved.segmentId,
        commitPosition: moved.commitPosition,
        endOffset: moved.endOffset,
        sealed: info ? info.sealed && runtime.state.isFullyCommitted(info.segmentId) : false,
      });
      for (const ep of subs) void ep.send(FastPathMessage.WATERMARK, push).catch(() => undefined);
    }
  }

  /**
   * The storage node restarted: every key handed out is void. Each session gets
   * fresh keys with its next grants (clients replace a key they are given anew).
   */
  storageRestarted(): void {
    for (const session of this.sessions.values()) session.keysGiven.clear();
  }

  /** Announces a new segment (with its read key) to the partition's subscribers. */
  async segmentAdded(runtime: PartitionRuntime, segment: SegmentInfo): Promise<void> {
    const subs = this.subscribers.get(runtime.key);
    if (!subs || subs.size === 0) return;
    const body = await this.announce(runtime, segment, undefined);
    for (const ep of subs) void ep.send(FastPathMessage.SEGMENT, encodeJson(0, body)).catch(() => undefined);
  }

  private handle(id: number, fn: (ep: Endpoint, header: Buffer, payload: Buffer) => Promise<void>): void {
    const name = MESSAGE_NAMES.get(id) ?? String(id);
    this.transport.onMessage(id, (ep, header, payload) => {
      if (!this.authenticator.admits(ep, this.session(ep), id)) return;
      const end = this.metrics?.fastPathLatency.startTimer({ message: name });
      fn(ep, header, payload).then(
        () => {
          end?.();
          this.metrics?.fastPathRequests.inc({ message: name, outcome: 'ok' });
        },
        (err: Error) => {
          end?.();
          this.metrics?.fastPathRequests.inc({ message: name, outcome: 'failed' });
          this.log(`fast-path message ${name} from ${ep.remoteAddress} failed: ${err.message}`);
        },
      );
    });
  }

  /** Counts an error answered to a client. */
  private counted(err: unknown): { errorCode: number; message: string } {
    const reply = errorReply(err);
    this.metrics?.errors.inc({ code: String(reply.errorCode) });
    return reply;
  }

  private open(ep: Endpoint): void {
    const session: Session = {
      ...FastPathAuthenticator.anonymous(),
      clusterMember: false,
      producerKey: `fastpath-${this.nextSession++}`,
      keysGiven: new Set(),
      subscriptions: new Set(),
      exclusive: new Set(),
    };
    this.sessions.set(ep, session);
    ep.once('close', () => this.closeSession(ep, session));
  }

  private closeSession(ep: Endpoint, session: Session): void {
    this.sessions.delete(ep);
    for (const key of session.subscriptions) this.subscribers.get(key)?.delete(ep);
    // An exclusive owner that went away frees its partition at once; a shared
    // producer's stages are skipped when their leases run out.
    for (const key of session.exclusive) {
      const [topicId, partition] = key.split(':').map(Number);
      try {
        this.broker.releaseExclusive(this.broker.partition(topicId, partition), session.producerKey);
      } catch {
        // topic deleted meanwhile
      }
    }
  }

  private session(ep: Endpoint): Session {
    let s = this.sessions.get(ep);
    if (!s) {
      this.open(ep);
      s = this.sessions.get(ep)!;
    }
    return s;
  }

  /** Throws AuthorizationError (TOPIC_AUTHORIZATION_FAILED) unless the session's principal may do this on the topic. */
  private authorize(ep: Endpoint, operation: 'READ' | 'WRITE', topic: string): void {
    const session = this.session(ep);
    if (session.clusterMember) return;
    this.broker.authorizer.check({ principal: session.principal ?? ANONYMOUS_PRINCIPAL, host: aclHost(ep.remoteAddress.slice(0, Math.max(ep.remoteAddress.lastIndexOf(':'), 0))), operation, resourceType: 'TOPIC', resourceName: topic });
  }

  /** The segment's replica grants (encodeReplicaKeys), once per endpoint and access; empty when already given. */
  private async keyFor(ep: Endpoint, runtime: PartitionRuntime, segmentId: number, access: 'read' | 'read-write'): Promise<Buffer> {
    const session = this.session(ep);
    const tag = `${segmentId}:${access}`;
    if (session.keysGiven.has(tag)) return Buffer.alloc(0);
    const keys = encodeReplicaKeys(await this.grantSegment(session, runtime, segmentId, access));
    session.keysGiven.add(tag);
    return keys;
  }

  /**
   * THE place where the broker decides that a client gets access to a
   * segment: write for a producer's stage or exclusive acquire, read for a
   * subscription. What it returns (one grant per copy, signed by the storage
   * node holding it) is the only way a client's puts and gets get past that
   * node's check. An authorization check (ACLs on the session's principal)
   * goes in front of the storage call here. `session` is undefined for a push
   * to a partition's subscribers, each of whom was granted read at subscribe.
   */
  private grantSegment(session: Session | undefined, runtime: PartitionRuntime, segmentId: number, access: 'read' | 'read-write'): Promise<ReplicaKey[]> {
    void session;
    void runtime;
    return this.broker.storage.segmentKeys(segmentId, access);
  }

  private async onStage(ep: Endpoint, header: Buffer): Promise<void> {
    let reqId = header.length >= 4 ? header.readUInt32LE(0) : 0;
    try {
      const req = decodeStage(header);
      reqId = req.reqId;
      const runtime = this.broker.partition(req.topicId, req.partition);
      this.authorize(ep, 'WRITE', runtime.topicName);
      const grant = await this.broker.stage(runtime, {
        lengthBytes: req.lengthBytes,
        recordCount: req.recordCount,
        producerKey: this.session(ep).producerKey,
      });
      const key = await this.keyFor(ep, runtime, grant.segmentId, 'read-write');
      await ep.send(
        FastPathMessage.STAGE_REPLY,
        encodeStageReply({ reqId, errorCode: 0, stageId: grant.stageId, segmentId: grant.segmentId, position: grant.position, baseOffset: grant.baseOffset }),
        key,
      );
    } catch (err) {
      const { errorCode, message } = this.counted(err);
      await ep.send(
        FastPathMessage.STAGE_REPLY,
        encodeStageReply({ reqId, errorCode, stageId: 0, segmentId: 0, position: 0, baseOffset: -1n }),
        Buffer.from(message),
      );
    }
  }

  private async onCommit(ep: Endpoint, header: Buffer): Promise<void> {
    let reqId = header.length >= 4 ? header.readUInt32LE(0) : 0;
    try {
      const req = decodeCommit(header);
      reqId = req.reqId;
      const runtime = this.broker.partition(req.topicId, req.partition);
      const highWatermark = await this.broker.complete(runtime, req.stages);
      await ep.send(FastPathMessage.COMMIT_REPLY, encodeCommitReply({ reqId, errorCode: 0, highWatermark }));
    } catch (err) {
      await this.replyCommitError(ep, reqId, err);
    }
  }

  private async onAcquire(ep: Endpoint, header: Buffer): Promise<void> {
    const { reqId, body } = decodeJson<{ topicId: number; partition: number; roll?: boolean; neededBytes?: number }>(header, 'ACQUIRE');
    try {
      const runtime = this.broker.partition(body.topicId, body.partition);
      this.authorize(ep, 'WRITE', runtime.topicName);
      const session = this.session(ep);
      const neededBytes = Number.isSafeInteger(body.neededBytes) && body.neededBytes! > 0 ? body.neededBytes! : 0;
      const grant = await this.broker.acquireExclusive(runtime, session.producerKey, body.roll === true, neededBytes);
      session.exclusive.add(runtime.key);
      const key = await this.keyFor(ep, runtime, grant.segmentId, 'read-write');
      await ep.send(
        FastPathMessage.ACQUIRE_REPLY,
        encodeJson(reqId, {
          segmentId: grant.segmentId,
          position: grant.position,
          nextOffset: grant.nextOffset,
          dataCapacityBytes: grant.dataCapacityBytes,
        }),
        key,
      );
    } catch (err) {
      await ep.send(FastPathMessage.ACQUIRE_REPLY, encodeJson(reqId, { error: this.counted(err) }));
    }
  }

  private async onCommitRange(ep: Endpoint, header: Buffer): Promise<void> {
    let reqId = header.length >= 4 ? header.readUInt32LE(0) : 0;
    try {
      const req: CommitRangeRequest = decodeCommitRange(header);
      reqId = req.reqId;
      const traceId = publishTraceOn ? publishId(req.topicId, req.partition, req.baseOffset) : '';
      if (publishTraceOn) markPublish('broker-received', traceId);
      const runtime = this.broker.partition(req.topicId, req.partition);
      const highWatermark = await this.broker.commitRange(runtime, this.session(ep).producerKey, req);
      if (publishTraceOn) markPublish('broker-committed', traceId);
      await ep.send(FastPathMessage.COMMIT_REPLY, encodeCommitReply({ reqId, errorCode: 0, highWatermark }));
      if (publishTraceOn) markPublish('broker-replied', traceId);
    } catch (err) {
      await this.replyCommitError(ep, reqId, err);
    }
  }

  private async onRelease(ep: Endpoint, header: Buffer): Promise<void> {
    const { body } = decodeJson<{ topicId: number; partition: number }>(header, 'RELEASE');
    const runtime = this.broker.partition(body.topicId, body.partition);
    this.broker.releaseExclusive(runtime, this.session(ep).producerKey);
    this.session(ep).exclusive.delete(runtime.key);
  }

  private async replyCommitError(ep: Endpoint, reqId: number, err: unknown): Promise<void> {
    const { errorCode, message } = this.counted(err);
    await ep.send(FastPathMessage.COMMIT_REPLY, encodeCommitReply({ reqId, errorCode, highWatermark: -1n }), Buffer.from(message));
  }

  private async onSubscribe(ep: Endpoint, header: Buffer): Promise<void> {
    const { reqId, body } = decodeJson<SubscribeBody>(header, 'SUBSCRIBE');
    let reply: SubscribeReplyBody;
    try {
      const runtime = this.broker.partitionByName(String(body.topic), Number(body.partition));
      this.authorize(ep, 'READ', runtime.topicName);
      const state = runtime.state;
      const startOffset = body.from === 'earliest' ? state.logStartOffset() : body.from === 'latest' ? state.highWatermark() : parseOffset(body.from);
      const all = state.segments();
      const found = state.locate(startOffset);
      if (found === 'below-start' || found === 'above-end') {
        throw Object.assign(new Error(`offset ${startOffset} is outside ${state.logStartOffset()}..${state.highWatermark()} of ${runtime.topicName}-${runtime.partition}`), { kafkaErrorCode: 1 });
      }
      // At the end: start at the last segment's commit position and wait for pushes.
      const last = all[all.length - 1];
      const start = found === 'at-end' ? (last ? { segmentId: last.segmentId, position: last.commitPosition } : undefined) : found;
      // Subscribed before anything is awaited, so no push made meanwhile (a new
      // segment, a commit) is missed; the client holds pushes until this reply.
      const session = this.session(ep);
      session.subscriptions.add(runtime.key);
      let subs = this.subscribers.get(runtime.key);
      if (!subs) this.subscribers.set(runtime.key, (subs = new Set()));
      subs.add(ep);
      let segments: SegmentAnnouncement[];
      try {
        segments = start === undefined ? [] : await this.announceFrom(runtime, start.segmentId, session);
      } catch (err) {
        subs.delete(ep);
        session.subscriptions.delete(runtime.key);
        throw err;
      }
      reply = {
        topicId: runtime.topicId,
        partition: runtime.partition,
        startOffset: startOffset.toString(),
        startSegmentId: start?.segmentId ?? -1,
        startPosition: start?.position ?? 0,
        highWatermark: state.highWatermark().toString(),
        segments,
        readerIndex: this.nextReaderIndex(runtime.key),
      };
    } catch (err) {
      reply = { error: this.counted(err) };
    }
    await ep.send(FastPathMessage.SUBSCRIBE_REPLY, encodeJson(reqId, reply));
  }

  /** Where the batch holding an offset starts (sparse index: at or before it). */
  private async onLocate(ep: Endpoint, header: Buffer): Promise<void> {
    const { reqId, body } = decodeJson<{ topic: string; partition: number; offset: string }>(header, 'LOCATE');
    let reply: object;
    try {
      const runtime = this.broker.partitionByName(String(body.topic), Number(body.partition));
      this.authorize(ep, 'READ', runtime.topicName);
      const state = runtime.state;
      const found = state.locate(parseOffset(String(body.offset)));
      reply = {
        logStartOffset: state.logStartOffset().toString(),
        highWatermark: state.highWatermark().toString(),
        ...(typeof found === 'string' ? { where: found } : { where: 'found', segmentId: found.segmentId, position: found.position }),
      };
    } catch (err) {
      reply = { error: this.counted(err) };
    }
    await ep.send(FastPathMessage.LOCATE_REPLY, encodeJson(reqId, reply));
  }

  private async onUnsubscribe(ep: Endpoint, header: Buffer): Promise<void> {
    const { body } = decodeJson<{ topicId: number; partition: number }>(header, 'UNSUBSCRIBE');
    const key = `${body.topicId}:${body.partition}`;
    this.subscribers.get(key)?.delete(ep);
    this.session(ep).subscriptions.delete(key);
  }

  /** Readers of a partition take turns, so each prefers a different copy of its segments. */
  private nextReaderIndex(partitionKey: string): number {
    const index = this.readersSeen.get(partitionKey) ?? 0;
    this.readersSeen.set(partitionKey, index + 1);
    return index;
  }

  /** Announcements of every segment from `firstSegmentId` on, including any added while keys were fetched. */
  private async announceFrom(runtime: PartitionRuntime, firstSegmentId: number, session: Session): Promise<SegmentAnnouncement[]> {
    const announced = new Map<number, SegmentAnnouncement>();
    for (;;) {
      const pending = runtime.state.segments().filter((s) => s.segmentId >= firstSegmentId && !announced.has(s.segmentId));
      if (pending.length === 0) break;
      for (const a of await Promise.all(pending.map((s) => this.announce(runtime, s, session)))) announced.set(a.segmentId, a);
    }
    return [...announced.values()].sort((a, b) => a.segmentId - b.segmentId);
  }

  private async announce(runtime: PartitionRuntime, segment: SegmentInfo, session: Session | undefined): Promise<SegmentAnnouncement> {
    const replicas = await this.grantSegment(session, runtime, segment.segmentId, 'read');
    // Positions as they are now, after the wait for the key, not as they were before it.
    const s = runtime.state.segmentInfo(segment.segmentId) ?? segment;
    return {
      topicId: runtime.topicId,
      partition: runtime.partition,
      segmentId: s.segmentId,
      baseOffset: s.baseOffset.toString(),
      startPosition: s.startPosition,
      commitPosition: s.commitPosition,
      endOffset: s.endOffset.toString(),
      sealed: s.sealed && runtime.state.isFullyCommitted(s.segmentId),
      dataCapacityBytes: s.dataCapacityBytes,
      replicas: replicas.map((r) => ({ node: r.node, address: r.address, key: r.key.toString('base64') })),
      fenced: runtime.state.fencesOf(s.segmentId).map((f) => ({ ...f, baseOffset: f.baseOffset.toString(), endOffset: f.endOffset.toString() })),
    };
  }
}
