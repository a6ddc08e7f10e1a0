// The broker's commit path to a storage node in another process: one
// long-lived gRPC stream (rdmq.storage.v1.StorageNode/Commits) instead of a
// unary call per check and per commit. Everything submitted in one turn of
// the event loop (several partitions' commits, a batch's check together with
// its commit) travels in one message and is answered by one reply, so a
// commit costs one round trip and no per-call setup (HTTP/2 stream, cluster
// proof, metadata) — those are paid once, when the stream opens. A segment's
// allocation, its seal and its grants take the same way: a partition's
// commits wait for its roll to the next segment and the producer for the new
// segment's grant, which unary calls made several times slower.
//
// Trust: the stream is opened like every control call (the cluster proof,
// checked by the server's membership interceptor; the leader epoch, fenced
// per message). The node checks a range before it commits it in the same
// entry, so bytes that fail the check are never committed. A reply that does
// not come within the deadline, or a stream that breaks, fails every entry in
// flight as UNAVAILABLE (the outcome on the node is unknown: the broker
// fences the partition and rebuilds it from the node's headers, as for a
// unary call that timed out); the next submit opens a new stream.
import * as grpc from '@grpc/grpc-js';
import { checkStoredBatches, ExpectedBatches } from './batch-check';
import { descriptorFromWire, descriptorToWire, fromServiceError, parseInt64, parseSafeInteger, WireAllocateRequest, WireCommitRequest, WireSealRequest, WireSegmentDescriptor } from './grpc-wire';
import { epochOf, LeaderEpochFence } from './leader-epoch';
import type { AllocateRequest, CommitRequest, SegmentDescriptor, SegmentStore } from './segment-store';
import type { SegmentAccess } from './storage-node';
import type { CommitSocket } from './commit-socket';
import { isStorageErrorCode, StorageError } from './storage-error';

/** Entries per message at most; more wait for the next message. */
export const COMMIT_ENTRIES_PER_MESSAGE_MAX = 1024;

/** A written range to check before its commit (what Verify checks). */
export interface RangeCheck {
  position: number;
  lengthBytes: number;
  expected: ExpectedBatches;
  where: string;
}

interface WireRangeCheck {
  position: number;
  lengthBytes: number;
  baseOffset: string;
  recordCount: number;
  verifyCrc: boolean;
  batchBytesMax: number;
  where: string;
}

interface WireCommitEntry {
  segmentId: string;
  check: WireRangeCheck | null;
  commit: WireCommitRequest | null;
  allocate?: WireAllocateRequest | null;
  seal?: WireSealRequest | null;
  grant?: { segmentId: string; readOnly: boolean } | null;
}

interface WireCommitResult {
  segment: WireSegmentDescriptor | null;
  errorCode: string;
  errorMessage: string;
  /** A grant step's packed key. */
  key?: Buffer | null;
}

interface WireCommitMessage {
  sequence: string;
  entries: WireCommitEntry[];
}

interface WireCommitReply {
  sequence: string;
  results: WireCommitResult[];
}

// ---- the node's side ----

/** What the Commits stream acts on: the store for checks, the node (or store) for commits. */
export interface CommitTarget {
  store: SegmentStore;
  commit(segmentId: number, request: CommitRequest): SegmentDescriptor;
  allocate(request: AllocateRequest): SegmentDescriptor;
  seal(segmentId: number, finalPosition: number): SegmentDescriptor;
  /** The grant the broker hands a client for the segment (StorageNode.segmentKey); absent: this node has no fast path. */
  grant?(segmentId: number, access: SegmentAccess): Buffer;
  /** Waits for puts still copying into [start, end) of the segment (StorageNode.landCopies); absent: none copy off the JS thread. */
  landCopies?(segmentId: number, start: number, end: number): void;
  /** A cheaper batch CRC for the segment's data from `position` (StorageNode.batchCrcs); absent: read. */
  batchCrcs?(segmentId: number, position: number): ((bytes: Buffer, at: number, batchLength: number) => number) | undefined;
}

/** The Commits handler: each message's entries in order, synchronously, answered by one reply. */
export function serveCommits(target: () => CommitTarget, fence: LeaderEpochFence): grpc.handleBidiStreamingCall<WireCommitMessage, WireCommitReply> {
  return (call) => {
    let epoch: bigint | undefined;
    try {
      epoch = epochOf(call.metadata);
    } catch (err) {
      const refusal = err instanceof StorageError ? err : new StorageError('INVALID_ARGUMENT', String(err));
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: refusal.message });
      return;
    }
    call.on('data', (message: WireCommitMessage) => {
      let results: WireCommitResult[];
      try {
        // Per message: a newer leader may have claimed the node since the stream opened.
        fence.admit(epoch, 'Commits');
        const t = target();
        results = message.entries.map((entry) => resultToWire(applyEntry(t, entry)));
      } catch (err) {
        results = message.entries.map(() => failed(err));
      }
      call.write({ sequence: message.sequence, results });
    });
    call.on('end', () => call.end());
    // A broker that went away: nothing to answer.
    call.on('error', () => undefined);
  };
}

function applyEntry(target: CommitTarget, entry: WireCommitEntry): StepResult {
  try {
    const segmentId = parseSafeInteger('segmentId', entry.segmentId);
    const check = entry.check && {
      position: entry.check.position,
      lengthBytes: entry.check.lengthBytes,
      expected: {
        baseOffset: parseInt64('baseOffset', entry.check.baseOffset),
        recordCount: entry.check.recordCount,
        verifyCrc: entry.check.verifyCrc,
        batchBytesMax: entry.check.batchBytesMax || undefined,
      },
      where: entry.check.where,
    };
    const commit = entry.commit && {
      commitPosition: entry.commit.commitPosition,
      endOffset: parseInt64('endOffset', entry.commit.endOffset),
      maxTimestamp: parseInt64('maxTimestamp', entry.commit.maxTimestamp),
    };
    const allocate = entry.allocate && {
      topicId: entry.allocate.topicId,
      partition: entry.allocate.partition,
      baseOffset: parseInt64('baseOffset', entry.allocate.baseOffset),
      dataCapacityBytes: entry.allocate.dataCapacityBytes || undefined,
    };
    const seal = entry.seal && { finalPosition: entry.seal.finalPosition };
    const grant: SegmentAccess | undefined = entry.grant ? (entry.grant.readOnly ? 'read' : 'read-write') : undefined;
    return applyStep(target, segmentId, { check: check ?? undefined, commit: commit ?? undefined, allocate: allocate ?? undefined, seal: seal ?? undefined, grant });
  } catch (err) {
    return { error: asStorageError(err) };
  }
}

/**
 * A step on the node, its answer or its refusal (what goes back in the
 * reply). An allocation (segment id 0: the node picks one), a seal or a
 * grant is a step of its own; anything else is a check and/or a commit.
 */
export function applyStep(target: CommitTarget, segmentId: number, step: CommitStep): StepResult {
  try {
    const { check, commit, allocate, seal, grant } = step;
    const own = [grant && 'a grant', allocate && 'an allocation', seal && 'a seal'].filter((kind) => kind);
    if (own.length > 1 || (own.length === 1 && (check || commit))) throw new StorageError('INVALID_ARGUMENT', `segment ${segmentId}: ${own[0]} is a step of its own`);
    if (grant) {
      if (!target.grant) throw new StorageError('UNAVAILABLE', 'this storage node has no fast-path transport to grant access to');
      return { key: target.grant(segmentId, grant) };
    }
    if (allocate) return { segment: target.allocate({ ...allocate, segmentId: segmentId === 0 ? undefined : segmentId }) };
    if (seal) return { segment: target.seal(segmentId, seal.finalPosition) };
    return { segment: applyCommitStep(target, segmentId, { check, commit }) };
  } catch (err) {
    return { error: asStorageError(err) };
  }
}

export function asStorageError(err: unknown): StorageError {
  return err instanceof StorageError ? err : new StorageError(err instanceof SyntaxError ? 'INVALID_ARGUMENT' : 'INTERNAL', err instanceof Error ? err.message : String(err));
}

/**
 * One step on the node: the check, then the commit. A checked commit
 * commits exactly the range it checked, starting at the commit line: when
 * an earlier step of the same producer failed, the later ones (already on
 * their way) fail too instead of committing over the refused bytes.
 */
export function applyCommitStep(target: CommitTarget, segmentId: number, step: { check?: RangeCheck; commit?: CommitRequest }): SegmentDescriptor | undefined {
  const { check, commit } = step;
  if (check && commit) {
    const line = target.store.get(segmentId).commitPosition;
    if (check.position !== line || check.position + check.lengthBytes !== commit.commitPosition) {
      throw new StorageError(
        'INVALID_POSITION',
        `${check.where}: a checked commit of [${check.position}, +${check.lengthBytes}) to ${commit.commitPosition} does not continue segment ${segmentId}'s commit line ${line}`,
      );
    }
  }
  // The bytes checked are the bytes committed: no put still copying may change them after the check.
  if (check) target.landCopies?.(segmentId, check.position, check.position + check.lengthBytes);
  if (check) checkStoredBatches(target.store.written(segmentId, check.position, check.lengthBytes), check.expected, check.where, target.batchCrcs?.(segmentId, check.position));
  return commit ? target.commit(segmentId, commit) : undefined;
}

/** The segment a step answered with (a commit, an allocation, a seal always has one). */
export function steppedSegment(segment: SegmentDescriptor | undefined, what: string): SegmentDescriptor {
  if (!segment) throw new StorageError('INTERNAL', `the storage node answered ${what} without the segment`);
  return segment;
}

function failed(err: unknown): WireCommitResult {
  const error = asStorageError(err);
  return { segment: null, errorCode: error.code, errorMessage: error.message };
}

function resultToWire(result: StepResult): WireCommitResult {
  if (result.error) return failed(result.error);
  return { segment: result.segment ? descriptorToWire(result.segment) : null, errorCode: '', errorMessage: '', key: result.key ?? null };
}

// ---- the broker's side ----

/** A check and/or a commit of one segment; or its allocation, or its seal. */
export interface CommitStep {
  check?: RangeCheck;
  commit?: CommitRequest;
  /** The segment id the step names is the one to give it (0: the node picks). */
  allocate?: Omit<AllocateRequest, 'segmentId'>;
  seal?: { finalPosition: number };
  /** The segment's grant with this access, signed by the node: for the broker to hand a client. */
  grant?: SegmentAccess;
}

/** How one step ended: the segment after a commit, or the node's refusal. */
export interface StepResult {
  segment?: SegmentDescriptor;
  /** A grant step's packed key. */
  key?: Buffer;
  error?: StorageError;
}

interface Pending {
  segmentId: number;
  step: CommitStep;
  resolve(result: StepResult): void;
  reject(err: Error): void;
}

interface InFlight {
  pending: Pending[];
  timer: NodeJS.Timeout;
  transport: Transport;
}

/** The client end of one Commits stream. */
export type CommitStream = grpc.ClientDuplexStream<WireCommitMessage, WireCommitReply>;

/** Either way to the node: the gRPC stream, or the commit socket (storage-node/commit-socket.ts). */
interface Transport {
  kind: 'stream' | 'socket';
  write(sequence: number, pending: Pending[]): void;
  cancel(): void;
}

/** Opens a proven commit socket to the node, when it has one (undefined: it has none). */
export type CommitSocketOpener = () => Promise<CommitSocket> | undefined;

/** How long a broken or refused commit socket is left alone before trying again. */
const SOCKET_RETRY_MS = 1000;

/** Not safe to share between processes; one per StorageClient. */
export class CommitChannel {
  private transport: Transport | undefined;
  private queued: Pending[] = [];
  private readonly inFlight = new Map<number, InFlight>();
  private nextSequence = 1;
  private flushScheduled = false;
  private closed = false;
  /** A proven socket not yet in use (taken when nothing is in flight, so steps never overtake each other). */
  private socketReady: CommitSocket | undefined;
  private socketOpening = false;
  private socketRetryAt = 0;
  /** Messages and entries sent, streams and sockets opened, since this channel was made (metrics, tests). */
  readonly sent = { messages: 0, entries: 0, streams: 0, sockets: 0 };

  constructor(
    private readonly open: (metadata: grpc.Metadata) => CommitStream,
    private readonly metadata: () => grpc.Metadata,
    private readonly deadlineMs: number,
    private readonly openSocket: CommitSocketOpener = () => undefined,
  ) {}

  /** Checks the range (when given), then commits (when given); resolves to the segment after a commit. */
  async submit(segmentId: number, step: CommitStep): Promise<SegmentDescriptor | undefined> {
    return (await this.enqueue(segmentId, step)).segment;
  }

  /** The node's grant for the segment with `access`, in order with the steps around it. */
  async grant(segmentId: number, access: SegmentAccess): Promise<Buffer> {
    const { key } = await this.enqueue(segmentId, { grant: access });
    if (!key) throw new StorageError('INTERNAL', `the storage node answered a grant of segment ${segmentId} without its key`);
    return key;
  }

  private enqueue(segmentId: number, step: CommitStep): Promise<StepResult> {
    if (this.closed) return Promise.reject(new StorageError('CLOSED', 'the storage client was closed'));
    return new Promise((resolve, reject) => {
      this.queued.push({ segmentId, step, resolve, reject });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      // Nothing in flight: send once this job's other steps are in (no wait for the loop's next turn).
      // Messages in flight: whatever else is submitted in this turn of the event loop joins the next one.
      if (this.inFlight.size === 0) queueMicrotask(() => this.flush());
      else setImmediate(() => this.flush());
    });
  }

  /** Which way commits go now ('none' before the first). */
  get via(): 'stream' | 'socket' | 'none' {
    return this.transport?.kind ?? 'none';
  }

  close(): void {
    this.closed = true;
    this.fail(new StorageError('CLOSED', 'the storage client was closed'));
    for (const p of this.queued) p.reject(new StorageError('CLOSED', 'the storage client was closed'));
    this.queued = [];
    this.socketReady?.close();
    this.socketReady = undefined;
  }

  /** The node moved (restarted, new socket port): the next commits start over on a fresh connection. */
  forgetSocket(): void {
    this.socketReady?.close();
    this.socketReady = undefined;
    this.socketRetryAt = 0;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.queued.length === 0) return;
    this.maybeOpenSocket();
    while (this.queued.length > 0) {
      const pending = this.queued.splice(0, COMMIT_ENTRIES_PER_MESSAGE_MAX);
      const sequence = this.nextSequence++;
      let transport: Transport;
      try {
        transport = this.ensureTransport();
      } catch (err) {
        // The channel cannot open a stream (shut down): nothing was sent.
        for (const p of pending) p.reject(new StorageError('UNAVAILABLE', `storage node unreachable: ${(err as Error).message}`));
        continue;
      }
      const timer = setTimeout(() => this.timedOut(transport, sequence), this.deadlineMs);
      this.inFlight.set(sequence, { pending, timer, transport });
      transport.write(sequence, pending);
      this.sent.messages++;
      this.sent.entries += pending.length;
    }
  }

  /**
   * Opens and proves the node's commit socket now; resolves once the next
   * commits can take it (false: the node has none). Rejects with the node's
   * refusal or UNAVAILABLE; commits then keep going over the stream.
   */
  openSocketNow(): Promise<boolean> {
    if (this.socketReady || this.transport?.kind === 'socket') return Promise.resolve(true);
    if (this.closed) return Promise.reject(new StorageError('CLOSED', 'the storage client was closed'));
    const opening = this.openSocket();
    if (!opening) return Promise.resolve(false);
    this.socketOpening = true;
    return opening.then(
      (socket) => {
        this.socketOpening = false;
        if (this.closed) socket.close();
        else if (this.socketReady || this.transport?.kind === 'socket') socket.close();
        else this.socketReady = socket;
        return true;
      },
      (err: unknown) => {
        // Refused or unreachable: the stream carries the commits (and reports a refusal the node means).
        this.socketOpening = false;
        this.socketRetryAt = Date.now() + SOCKET_RETRY_MS;
        throw err;
      },
    );
  }

  /** Starts proving a socket in the background; commits keep going over the stream meanwhile. */
  private maybeOpenSocket(): void {
    if (this.closed || this.socketOpening || this.socketReady || this.transport?.kind === 'socket' || Date.now() < this.socketRetryAt) return;
    this.openSocketNow().catch(() => undefined);
  }

  private ensureTransport(): Transport {
    // Switch only with nothing in flight: each node applies steps in the order they arrive.
    if (this.socketReady && this.inFlight.size === 0) {
      const socket = this.socketReady;
      this.socketReady = undefined;
      if (!socket.broken) {
        this.transport?.cancel();
        this.transport = this.socketTransport(socket);
        this.sent.sockets++;
      }
    }
    if (this.transport) return this.transport;
    this.transport = this.streamTransport(this.open(this.metadata()));
    this.sent.streams++;
    return this.transport;
  }

  private socketTransport(socket: CommitSocket): Transport {
    const transport: Transport = {
      kind: 'socket',
      write: (sequence, pending) => socket.write(sequence, pending),
      cancel: () => socket.close(),
    };
    socket.attach(
      (sequence, results) => this.answered(sequence, results),
      (err) => {
        this.socketRetryAt = Date.now() + SOCKET_RETRY_MS;
        this.broken(transport, err);
      },
    );
    return transport;
  }

  private streamTransport(stream: CommitStream): Transport {
    const transport: Transport = {
      kind: 'stream',
      write: (sequence, pending) => stream.write({ sequence: String(sequence), entries: pending.map(entryToWire) }),
      cancel: () => stream.cancel(),
    };
    stream.on('data', (reply: WireCommitReply) => this.answered(Number(reply.sequence), reply.results.map(resultFromWire)));
    stream.on('error', (err: grpc.ServiceError) => this.broken(transport, streamError(err)));
    stream.on('end', () => this.broken(transport, new StorageError('UNAVAILABLE', 'the storage node closed the commit stream')));
    return transport;
  }

  private answered(sequence: number, results: StepResult[]): void {
    const flight = this.inFlight.get(sequence);
    if (!flight) return;
    this.inFlight.delete(sequence);
    clearTimeout(flight.timer);
    flight.pending.forEach((p, i) => {
      const result = results[i];
      if (!result) p.reject(new StorageError('INTERNAL', `the storage node answered ${results.length} of ${flight.pending.length} commit entries`));
      else if (result.error) p.reject(result.error);
      else p.resolve(result);
    });
  }

  private timedOut(transport: Transport, sequence: number): void {
    if (!this.inFlight.has(sequence)) return;
    this.broken(transport, new StorageError('UNAVAILABLE', `storage node unreachable: no answer to a commit within ${this.deadlineMs} ms`));
    transport.cancel();
  }

  /** The transport is gone: what is in flight has an unknown outcome. */
  private broken(transport: Transport, err: StorageError): void {
    if (this.transport !== transport) return;
    this.transport = undefined;
    this.fail(err);
  }

  private fail(err: StorageError): void {
    for (const flight of this.inFlight.values()) {
      clearTimeout(flight.timer);
      for (const p of flight.pending) p.reject(err);
    }
    this.inFlight.clear();
    this.transport?.cancel();
    this.transport = undefined;
  }
}

function entryToWire(p: Pending): WireCommitEntry {
  const { check, commit, allocate, seal } = p.step;
  return {
    segmentId: String(p.segmentId),
    check: check ? checkToWire(check) : null,
    commit: commit ? commitToWire(commit) : null,
    allocate: allocate
      ? { topicId: allocate.topicId, partition: allocate.partition, baseOffset: allocate.baseOffset.toString(), dataCapacityBytes: allocate.dataCapacityBytes ?? 0, segmentId: String(p.segmentId) }
      : null,
    seal: seal ? { segmentId: String(p.segmentId), finalPosition: seal.finalPosition } : null,
    grant: p.step.grant ? { segmentId: String(p.segmentId), readOnly: p.step.grant === 'read' } : null,
  };
}

function resultFromWire(result: WireCommitResult): StepResult {
  if (result.errorCode !== '') return { error: new StorageError(isStorageErrorCode(result.errorCode) ? result.errorCode : 'INTERNAL', result.errorMessage) };
  return { segment: result.segment ? descriptorFromWire(result.segment) : undefined, key: result.key && result.key.length > 0 ? result.key : undefined };
}

/**
 * Why a stream ended. Application errors come per entry, so a status is the
 * node's refusal of the stream itself (not a member, a bad epoch header, a
 * node without the method) or, for anything else, a transport failure: the
 * node is unreachable, as a unary call's UNAVAILABLE says.
 */
function streamError(err: grpc.ServiceError): StorageError {
  if (err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.INVALID_ARGUMENT || err.code === grpc.status.UNIMPLEMENTED) return fromServiceError(err);
  return new StorageError('UNAVAILABLE', `storage node unreachable: the commit stream broke (${err.details || grpc.status[err.code]})`);
}

function checkToWire(check: RangeCheck): WireRangeCheck {
  return {
    position: check.position,
    lengthBytes: check.lengthBytes,
    baseOffset: check.expected.baseOffset.toString(),
    recordCount: check.expected.recordCount,
    verifyCrc: check.expected.verifyCrc !== false,
    batchBytesMax: check.expected.batchBytesMax ?? 0,
    where: check.where,
  };
}

function commitToWire(request: CommitRequest): WireCommitRequest {
  return {
    segmentId: '0',
    commitPosition: request.commitPosition,
    endOffset: request.endOffset.toString(),
    maxTimestamp: request.maxTimestamp.toString(),
  };
}
