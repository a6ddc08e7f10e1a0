// The fast-path producer. A send builds one Kafka record batch per partition,
// gets a place for it (shared mode: a STAGE grant from the broker; exclusive
// mode: its own next position in a segment it owns), writes it with a
// one-sided put straight into the segment — into every copy the broker lists
// (its in-sync replicas), in parallel — and commits once every put is flushed.
// It resolves only when the broker reports the batch committed at the
// cluster's durability. A put that fails on any copy fails the attempt with a
// retriable error; the stage, never committed, is left to the broker's lease.
//
// Commit batching (commit-gate.ts): batches whose puts complete while a
// commit of their partition is on its way go together in the next one, and
// `commitEveryBatches` / `commitDelayUs` may hold a commit back for more, so
// one flush and one control message cover several batches. Sequential
// staging: at most `stagingDepth` batches, and `stagingBytes` of their bytes,
// are between stage and commit at once; the commit order is the stage order,
// which the broker's watermark enforces.
import { buildRecordBatch, buildUncompressedBatch, Compression, readBatchMaxTimestamp, RecordInput, setBaseOffset } from '../format';
import {
  decodeCommitReply,
  decodeJson,
  decodeStageReply,
  encodeCommit,
  encodeCommitRange,
  encodeJson,
  encodeStage,
  FastPathMessage,
} from '../format/fastpath-wire';
import { markPublish, publishId, publishTraceOn } from '../format/publish-trace';
import { Connection, PutReceipt, TopicInfo } from './connection';
import { RdmqError, replyError } from './errors';
import { BatchBuffers } from './batch-buffers';
import { CommitGate, CommitPolicy } from './commit-gate';
import { DefaultPartitioner } from './partitioner';

export type ProducerMode = 'shared' | 'exclusive';

export interface ProducerOptions {
  mode?: ProducerMode;
  /**
   * Commit once this many written batches of a partition are ready (default 1).
   * Batches that become ready while a commit is on its way go together in the
   * next one anyway (see `commitsInFlight`).
   */
  commitEveryBatches?: number;
  /** ... or once the first of them has waited this many microseconds (default 0: no waiting for more batches). */
  commitDelayUs?: number;
  /** Commits of one partition on their way to the broker at once (default 2). */
  commitsInFlight?: number;
  /**
   * Batches between stage and commit at once (default 256 for an exclusive
   * producer, 32 for a shared one): small batches written meanwhile go to the
   * storage node together (put gathering) and commit together, so more in
   * flight is more throughput; sends beyond it wait. A partition's shared
   * producers together may have 1024 stages in flight at the broker.
   */
  stagingDepth?: number;
  /**
   * ... and at most this many bytes of them (default 8 MiB; a larger batch
   * goes alone), so large batches keep to a few in flight: 8 of 1 MiB, 32 of
   * up to 256 KiB.
   */
  stagingBytes?: number;
}

/** Staging depth by producer mode: an exclusive producer is its partition's only writer, shared ones divide the broker's 1024 stages in flight. */
export const STAGING_DEPTH_DEFAULT: Readonly<Record<ProducerMode, number>> = { exclusive: 256, shared: 32 };
export const STAGING_BYTES_DEFAULT = 8 << 20;

export interface Message {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, Buffer | string>;
  timestamp?: number | string;
  partition?: number;
}

export interface ProducerRecord {
  topic: string;
  messages: Message[];
  compression?: Compression;
}

/** As in kafkajs: one entry per partition written. */
export interface RecordMetadata {
  topicName: string;
  partition: number;
  errorCode: number;
  baseOffset: string;
}

interface PendingCommit {
  stageId: number;
  maxTimestamp: bigint;
  /** The connection's generation when the batch was put: the flush before the commit must cover the put. */
  generation: number;
  /** The endpoints the batch was put on, flushed before the commit. */
  receipts: PutReceipt[];
  done: { resolve(hw: bigint): void; reject(err: Error): void };
}

/** A partition written in shared mode: stages whose puts are complete, waiting for their commit. */
interface SharedPartition {
  topicId: number;
  partition: number;
  commits: PendingCommit[];
  /** Stages of this partition between their grant and the end of their puts. */
  putsInFlight: number;
  gate: CommitGate;
}

interface ExclusiveCursor {
  segmentId: number;
  position: number;
  nextOffset: bigint;
  capacity: number;
  /** End of what has been committed (or handed to a commit) in this segment. */
  committedEnd: number;
  /** Puts issued into this segment and not yet complete (waiting in `putQueue` included). */
  puts: Set<Promise<void>>;
  /** Small batches placed while SMALL_PUTS_IN_FLIGHT puts were under way: they go together in the next put. */
  putQueue: QueuedPut[];
  /** Puts of this segment on their way to the storage node now. */
  putsRunning: number;
  /** Written, not yet committed ranges, in position order (addUncommitted); their puts may complete out of order. */
  uncommitted: UncommittedRange[];
  /** How many ranges at the head of `uncommitted` are known to continue `committedEnd` without a hole, and where they end. */
  ready: { count: number; end: number };
  /** Set when the connection was re-established: ownership ended with the old broker session, and nothing more is committed from this cursor. */
  dropped?: RdmqError;
  /** Set once a put into this segment failed: nothing past the first hole (`holeAt`) can be committed from this cursor. */
  broken?: Error;
  holeAt?: number;
  /** Decides when the ready ranges go to the broker. */
  gate: CommitGate;
}

interface UncommittedRange {
  position: number;
  lengthBytes: number;
  baseOffset: bigint;
  recordCount: number;
  maxTimestamp: bigint;
  receipts: PutReceipt[];
  done: PendingCommit['done'];
}

interface QueuedPut {
  position: number;
  batch: Buffer;
  resolve(receipts: PutReceipt[]): void;
  reject(err: Error): void;
}

export interface BatchToWrite {
  /** One complete Kafka v2 record batch; its base offset is set before the put. */
  batch: Buffer;
  recordCount: number;
}

/** Batches at least this large are put from their own bytes; smaller neighbours are gathered into one put. */
const PUT_ALONE_BYTES_MIN = 64 * 1024;
/**
 * Puts of small batches of one exclusive segment under way at once; small
 * batches placed meanwhile wait and go in one put (one request, grant check
 * and copy at the storage node instead of one each), like group commit.
 */
const SMALL_PUTS_IN_FLIGHT = 2;
/**
 * A gathered put's size bound (its bytes are copied into one buffer). Smaller
 * puts keep the pipeline moving: a run's commit waits for its whole put, and
 * at 1 MiB both the producer and the roles apart moved less (8 KiB batches,
 * rdmq start: raw 551 -> 633 MB/s, send() 362 -> 472; apart 473 -> 623 and
 * 264 -> 436; medians of three alternated runs, session 31).
 */
const GATHERED_PUT_BYTES_MAX = 256 * 1024;
/** Gathered puts' buffers kept for reuse once their puts are done. */
const GATHER_BUFFERS_KEPT = 4;
/** Idle batch buffers send() keeps for its next batches: twice the default staging window, whatever the window. */
const BATCH_BUFFERS_KEPT_BYTES = 2 * STAGING_BYTES_DEFAULT;

/**
 * The puts for consecutive batches: a large batch is put as it is (no copy);
 * a run of small ones is copied into one buffer, since one put of their
 * bytes costs less than a put (grant check, request, reply) for each.
 */
export function putPieces(batches: readonly Buffer[]): { offset: number; bytes: Buffer }[] {
  const pieces: { offset: number; bytes: Buffer }[] = [];
  let offset = 0;
  let run: Buffer[] = [];
  let runOffset = 0;
  let runBytes = 0;
  const endRun = (): void => {
    if (run.length === 1) pieces.push({ offset: runOffset, bytes: run[0] });
    else if (run.length > 1) pieces.push({ offset: runOffset, bytes: Buffer.concat(run, runBytes) });
    run = [];
    runBytes = 0;
  };
  for (const batch of batches) {
    if (batch.length >= PUT_ALONE_BYTES_MIN) {
      endRun();
      pieces.push({ offset, bytes: batch });
    } else {
      if (run.length === 0) runOffset = offset;
      run.push(batch);
      runBytes += batch.length;
    }
    offset += batch.length;
  }
  endRun();
  return pieces;
}

/** How many of a cursor's written ranges continue its committed end without a hole: what one commit may take. */
function contiguousReady(cursor: ExclusiveCursor): number {
  // Counted on from where the last count stopped: a producer with hundreds of batches in
  // flight asks after every put, and a range is never added before the contiguous head.
  const list = cursor.uncommitted;
  const ready = cursor.ready;
  while (ready.count < list.length && list[ready.count].position === ready.end) ready.end += list[ready.count++].lengthBytes;
  return ready.count;
}

/** Adds a written range in position order; puts complete nearly in order, so the place is sought from the end. */
function addUncommitted(cursor: ExclusiveCursor, range: UncommittedRange): void {
  const list = cursor.uncommitted;
  let at = list.length;
  while (at > 0 && list[at - 1].position > range.position) at--;
  list.splice(at, 0, range);
  if (at < cursor.ready.count) resetReady(cursor);
}

/** Forgets the contiguous count: `uncommitted` was changed other than at its ends. */
function resetReady(cursor: ExclusiveCursor): void {
  cursor.ready = { count: 0, end: cursor.committedEnd };
}

interface PlacedBatch {
  cursor: ExclusiveCursor;
  position: number;
  baseOffset: bigint;
}

/** Takes the cursor's next `lengthBytes` and `recordCount` offsets for one batch. */
function place(cursor: ExclusiveCursor, lengthBytes: number, recordCount: number): PlacedBatch {
  const placed = { cursor, position: cursor.position, baseOffset: cursor.nextOffset };
  cursor.position += lengthBytes;
  cursor.nextOffset += BigInt(recordCount);
  return placed;
}

function checkPartition(topic: TopicInfo, partition: number): void {
  if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitions.length) {
    throw new RdmqError(`topic '${topic.name}' has partitions 0..${topic.partitions.length - 1}, not ${partition}`, 3);
  }
}

/** A send()'s message as the batch builder takes it (the timestamp defaulting to `now`). */
function recordInput(m: Message, now: number): RecordInput {
  return {
    key: m.key === undefined ? null : m.key,
    value: m.value,
    headers: m.headers === undefined ? undefined : Object.entries(m.headers).map(([k, v]) => ({ key: k, value: v })),
    timestamp: m.timestamp === undefined ? now : Number(m.timestamp),
  };
}

function strandedError(baseOffset: bigint, cursor: ExclusiveCursor): RdmqError {
  return new RdmqError(
    `batch at offset ${baseOffset} was not committed: the put at position ${cursor.holeAt} of segment ${cursor.segmentId} before it failed (${cursor.broken?.message ?? 'put failed'}); send it again`,
    56,
    'KAFKA_STORAGE_ERROR',
    true,
  );
}

/** Writes between stage and commit: at most `depth` of them and `bytesMax` of their bytes (one alone may be larger), first come first served. */
export class StagingWindow {
  private count = 0;
  private bytes = 0;
  private readonly waiting: { bytes: number; resolve: () => void }[] = [];

  constructor(
    private readonly depth: number,
    private readonly bytesMax: number,
  ) {}

  /** Takes room for `bytes` at once (undefined) or once writes before it release theirs (a promise). */
  acquire(bytes: number): Promise<void> | undefined {
    if (this.waiting.length === 0 && this.fits(bytes)) {
      this.take(bytes);
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiting.push({ bytes, resolve }));
  }

  release(bytes: number): void {
    this.count--;
    this.bytes -= bytes;
    while (this.waiting.length > 0 && this.fits(this.waiting[0].bytes)) {
      const next = this.waiting.shift()!;
      this.take(next.bytes);
      next.resolve();
    }
  }

  /** Writes in the window now (for tests). */
  get inFlight(): { writes: number; bytes: number } {
    return { writes: this.count, bytes: this.bytes };
  }

  private fits(bytes: number): boolean {
    return this.count === 0 || (this.count < this.depth && this.bytes + bytes <= this.bytesMax);
  }

  private take(bytes: number): void {
    this.count++;
    this.bytes += bytes;
  }
}

export class Producer {
  private readonly mode: ProducerMode;
  private readonly commitPolicy: CommitPolicy;
  private readonly staging: StagingWindow;
  private readonly partitioner = new DefaultPartitioner();
  private readonly topics = new Map<string, TopicInfo>();
  private readonly sharedPending = new Map<string, SharedPartition>();
  private readonly cursors = new Map<string, ExclusiveCursor>();
  private readonly cursorLocks = new Map<string, Promise<unknown>>();
  /** Calls in (or waiting for) each cursor lock: placement skips the lock only when there are none. */
  private readonly cursorLockHolders = new Map<string, number>();
  /** Buffers of gathered puts no longer in flight, for the next ones (see startQueuedPuts). */
  private readonly gatherBuffers: Buffer[] = [];
  /** What send() encodes batches into, used again once they are committed. */
  private readonly batchBuffers = new BatchBuffers(BATCH_BUFFERS_KEPT_BYTES);
  private readonly commitChains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly connection: Connection,
    options: ProducerOptions = {},
  ) {
    this.mode = options.mode ?? 'shared';
    if (this.mode !== 'shared' && this.mode !== 'exclusive') throw new RdmqError(`producer mode must be 'shared' or 'exclusive', got ${String(this.mode)}`);
    this.commitPolicy = {
      everyBatches: Math.max(1, Math.floor(options.commitEveryBatches ?? 1)),
      delayUs: Math.max(0, options.commitDelayUs ?? 0),
      inFlightMax: Math.max(1, Math.floor(options.commitsInFlight ?? 2)),
    };
    const stagingBytes = options.stagingBytes ?? STAGING_BYTES_DEFAULT;
    if (!(stagingBytes > 0)) throw new RangeError(`stagingBytes must be positive, got ${options.stagingBytes}`);
    this.staging = new StagingWindow(Math.max(1, Math.floor(options.stagingDepth ?? STAGING_DEPTH_DEFAULT[this.mode])), stagingBytes);
    connection.on('reconnected', this.dropCursors);
  }

  /**
   * The connection was re-established: exclusive ownership ended with the old
   * broker session, so each cursor is dropped (the next write acquires
   * again) and its written, uncommitted ranges fail retriably.
   */
  private readonly dropCursors = (): void => {
    const err = new RdmqError('the fast-path connection was re-established; exclusive ownership must be acquired again', 56, 'KAFKA_STORAGE_ERROR', true);
    for (const cursor of this.cursors.values()) {
      cursor.dropped = err;
      cursor.gate.close();
      for (const r of cursor.uncommitted.splice(0)) r.done.reject(err);
    }
    this.cursors.clear();
  };

  /** Sends messages; resolves once every batch is committed. */
  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    const topic = this.topics.get(record.topic) ?? (await this.topic(record.topic));
    const now = Date.now();
    const messages = record.messages;
    // The usual send: every message to one partition (named, or the only one) goes as one batch, no grouping.
    const only = messages.length === 0 ? undefined : topic.partitions.length === 1 ? 0 : messages[0].partition;
    if (only !== undefined && messages.every((m) => (m.partition ?? only) === only)) {
      checkPartition(topic, only);
      const records: RecordInput[] = new Array(messages.length);
      for (let i = 0; i < messages.length; i++) records[i] = recordInput(messages[i], now);
      return [await this.sendBatch(topic, only, records, record.compression)];
    }
    const byPartition = new Map<number, RecordInput[]>();
    for (const m of messages) {
      const key = m.key === undefined ? null : m.key;
      // The key's bytes are needed only to hash it; the encoder writes a string key in place.
      const partition = m.partition ?? this.partitioner.partition(key === null || Buffer.isBuffer(key) ? key : Buffer.from(key), topic.partitions.length);
      checkPartition(topic, partition);
      let list = byPartition.get(partition);
      if (!list) byPartition.set(partition, (list = []));
      list.push(recordInput(m, now));
    }
    return Promise.all([...byPartition].map(([partition, records]) => this.sendBatch(topic, partition, records, record.compression)));
  }

  /** Encodes one partition's records of a send() into a batch and writes it. */
  private async sendBatch(topic: TopicInfo, partition: number, records: RecordInput[], compression: Compression | undefined): Promise<RecordMetadata> {
    const options = { records, compression, allocate: this.takeBatchBuffer };
    const batch = compression === undefined || compression === 'none' ? buildUncompressedBatch(options) : await buildRecordBatch(options);
    if (publishTraceOn) markPublish('encoded');
    const baseOffset = await this.write(topic, partition, batch, records.length);
    // Committed: every put of it landed and nothing reads it again. (A failed write's buffer is not reused.)
    this.batchBuffers.give(batch);
    return { topicName: topic.name, partition, errorCode: 0, baseOffset: baseOffset.toString() };
  }

  private readonly takeBatchBuffer = (bytes: number): Buffer => this.batchBuffers.take(bytes);

  /** Writes one complete record batch (Kafka v2 bytes) and resolves to its base offset once committed. */
  async write(topic: TopicInfo, partition: number, batch: Buffer, recordCount: number): Promise<bigint> {
    const room = this.staging.acquire(batch.length);
    if (room) await room;
    try {
      return this.mode === 'shared' ? (await this.writeShared(topic, partition, [{ batch, recordCount }]))[0] : await this.writeExclusive(topic, partition, batch, recordCount);
    } finally {
      this.staging.release(batch.length);
    }
  }

  /**
   * Writes consecutive record batches of one partition, in this order, as
   * one range: in shared mode one stage, their puts, one commit, so a
   * group of small batches pays the broker's per-stage cost once. Resolves
   * to each batch's base offset once all are committed; a failure fails
   * them all (none is committed alone). The range must fit one batch's
   * bounds (the topic's max.message.bytes): the broker stages it as one.
   */
  async writeBatches(topic: TopicInfo, partition: number, batches: readonly BatchToWrite[]): Promise<bigint[]> {
    if (batches.length === 0) return [];
    if (this.mode !== 'shared') return Promise.all(batches.map((b) => this.write(topic, partition, b.batch, b.recordCount)));
    const bytes = batches.reduce((n, b) => n + b.batch.length, 0);
    const room = this.staging.acquire(bytes);
    if (room) await room;
    try {
      return await this.writeShared(topic, partition, batches);
    } finally {
      this.staging.release(bytes);
    }
  }

  /** Bytes of committed batches' buffers kept for the next send()s (diagnostics). */
  get idleBatchBufferBytes(): number {
    return this.batchBuffers.idleBytes;
  }

  /** Commits whatever is waiting and releases exclusive partitions. */
  async disconnect(): Promise<void> {
    this.connection.off('reconnected', this.dropCursors);
    await Promise.all([...this.sharedPending.keys()].map((key) => this.flushShared(key)));
    await Promise.all([...this.cursors.keys()].map((key) => this.flushExclusive(key)));
    for (const key of this.cursors.keys()) {
      const [topicId, partition] = key.split(':').map(Number);
      await this.connection.endpoint.send(FastPathMessage.RELEASE, encodeJson(0, { topicId, partition })).catch(() => undefined);
    }
    for (const cursor of this.cursors.values()) cursor.gate.close();
    for (const entry of this.sharedPending.values()) entry.gate.close();
    this.cursors.clear();
    this.batchBuffers.clear();
  }

  async topic(name: string): Promise<TopicInfo> {
    let info = this.topics.get(name);
    if (!info) {
      info = await this.connection.describeTopic(name);
      this.topics.set(name, info);
    }
    return info;
  }

  // -- shared mode --

  private async writeShared(topic: TopicInfo, partition: number, batches: readonly BatchToWrite[]): Promise<bigint[]> {
    let lengthBytes = 0;
    let recordCount = 0;
    for (const b of batches) {
      lengthBytes += b.batch.length;
      recordCount += b.recordCount;
    }
    const reply = await this.connection.request(FastPathMessage.STAGE, (reqId) => encodeStage({ reqId, topicId: topic.topicId, partition, lengthBytes, recordCount }));
    const grant = decodeStageReply(reply.header);
    if (grant.errorCode !== 0) throw replyError(`stage on ${topic.name}-${partition} failed: ${reply.payload.toString()}`, grant.errorCode, { operation: 'WRITE', resource: topic.name });
    if (publishTraceOn) markPublish('placed', publishId(topic.topicId, partition, grant.baseOffset));
    const generation = this.connection.generation;
    const replicas = this.connection.segmentReplicas(grant.segmentId, 'read-write', reply.payload);
    const baseOffsets: bigint[] = [];
    let maxTimestamp = -1n;
    let nextOffset = grant.baseOffset;
    for (const b of batches) {
      setBaseOffset(b.batch, 0, nextOffset);
      baseOffsets.push(nextOffset);
      nextOffset += BigInt(b.recordCount);
      const batchMaxTimestamp = readBatchMaxTimestamp(b.batch);
      if (batchMaxTimestamp > maxTimestamp) maxTimestamp = batchMaxTimestamp;
    }
    const shared = this.sharedPartition(topic.topicId, partition);
    shared.putsInFlight++;
    let receipts: PutReceipt[];
    try {
      const puts = putPieces(batches.map((b) => b.batch)).map((piece) => this.connection.putAll(replicas, grant.segmentId, piece.bytes, grant.position + piece.offset));
      receipts = (await Promise.all(puts)).flat();
      shared.putsInFlight--;
    } catch (err) {
      shared.putsInFlight--;
      // Stages waiting for this one to join them need not wait any more.
      shared.gate.poke();
      throw err;
    }
    if (publishTraceOn) markPublish('put-done', publishId(topic.topicId, partition, grant.baseOffset));
    await new Promise<bigint>((resolve, reject) => {
      shared.commits.push({ stageId: grant.stageId, maxTimestamp, generation, receipts, done: { resolve, reject } });
      shared.gate.poke();
    });
    return baseOffsets;
  }

  private sharedPartition(topicId: number, partition: number): SharedPartition {
    const key = `${topicId}:${partition}`;
    let entry = this.sharedPending.get(key);
    if (!entry) {
      const created: SharedPartition = {
        topicId,
        partition,
        commits: [],
        putsInFlight: 0,
        gate: new CommitGate(
          this.commitPolicy,
          () => ({ ready: created.commits.length, putsInFlight: created.putsInFlight }),
          () => this.flushShared(key),
        ),
      };
      this.sharedPending.set(key, (entry = created));
    }
    return entry;
  }

  private async flushShared(key: string): Promise<void> {
    const entry = this.sharedPending.get(key);
    if (!entry || entry.commits.length === 0) return;
    const commits = entry.commits.splice(0);
    try {
      // Every put is complete at every copy before the broker hears of it; a put made on an
      // endpoint since lost, or in an earlier broker session, cannot be flushed: its commit fails (retriable).
      if (publishTraceOn) markPublish('flush-start');
      for (const generation of new Set(commits.map((c) => c.generation))) {
        await this.connection.flush(commits.filter((c) => c.generation === generation).flatMap((c) => c.receipts), generation);
      }
      if (publishTraceOn) markPublish('flush-done');
      const replied = this.connection.request(FastPathMessage.COMMIT, (reqId) =>
        encodeCommit({ reqId, topicId: entry.topicId, partition: entry.partition, stages: commits.map((c) => ({ stageId: c.stageId, maxTimestamp: c.maxTimestamp })) }),
      );
      if (publishTraceOn) markPublish('commit-sent');
      const reply = await replied;
      if (publishTraceOn) markPublish('commit-replied');
      const result = decodeCommitReply(reply.header);
      if (result.errorCode !== 0) throw new RdmqError(`commit failed: ${reply.payload.toString()}`, result.errorCode);
      for (const c of commits) c.done.resolve(result.highWatermark);
    } catch (err) {
      for (const c of commits) c.done.reject(err as Error);
    }
  }

  // -- exclusive mode --

  private async writeExclusive(topic: TopicInfo, partition: number, batch: Buffer, recordCount: number): Promise<bigint> {
    const key = `${topic.topicId}:${partition}`;
    // Positions are assigned in call order: the cursor is updated at once when nobody is in its per-partition lock, else under it.
    const placed =
      this.placeAtOnce(key, batch.length, recordCount) ??
      (await this.withCursorLock(key, async () => {
        let cursor = this.cursors.get(key) ?? (await this.acquire(topic, partition, false, batch.length));
        if (cursor.position + batch.length > cursor.capacity) {
          // The broker seals the segment at its committed end: everything written must be committed first.
          await Promise.allSettled([...cursor.puts]);
          await this.flushExclusive(key);
          cursor = await this.acquire(topic, partition, true, batch.length);
        }
        if (cursor.position + batch.length > cursor.capacity) {
          throw new RdmqError(`batch of ${batch.length} bytes exceeds segment capacity of ${cursor.capacity}`, 10);
        }
        return place(cursor, batch.length, recordCount);
      }));
    if (publishTraceOn) markPublish('placed', publishId(topic.topicId, partition, placed.baseOffset));
    setBaseOffset(batch, 0, placed.baseOffset);
    let receipts: PutReceipt[] = [];
    // putExclusive never throws (runPut is async): a missing key fails this put's promise rather than throwing past the cursor.
    const put = this.putExclusive(placed.cursor, placed.position, batch).then((r) => {
      receipts = r;
    });
    placed.cursor.puts.add(put);
    try {
      await put;
    } catch (err) {
      placed.cursor.puts.delete(put);
      await this.abandonCursor(key, placed.cursor, placed.position, err as Error);
      throw err;
    }
    placed.cursor.puts.delete(put);
    if (publishTraceOn) markPublish('put-done', publishId(topic.topicId, partition, placed.baseOffset));
    // A put that finished after the connection was re-established: its cursor is gone, the next write takes its place anew.
    if (placed.cursor.dropped) throw placed.cursor.dropped;
    // Another put failed: a range past its hole can never be committed.
    if (placed.cursor.holeAt !== undefined && placed.position > placed.cursor.holeAt) throw strandedError(placed.baseOffset, placed.cursor);
    const maxTimestamp = readBatchMaxTimestamp(batch);
    await new Promise<bigint>((resolve, reject) => {
      addUncommitted(placed.cursor, { position: placed.position, lengthBytes: batch.length, baseOffset: placed.baseOffset, recordCount, maxTimestamp, receipts, done: { resolve, reject } });
      placed.cursor.gate.poke();
    });
    return placed.baseOffset;
  }

  /**
   * Puts one placed batch into the cursor's segment: at once when it is large
   * or few puts are under way, otherwise with the small batches placed after
   * it, in one put once one under way completes (see SMALL_PUTS_IN_FLIGHT).
   * Resolves once its bytes are at every copy.
   */
  private putExclusive(cursor: ExclusiveCursor, position: number, batch: Buffer): Promise<PutReceipt[]> {
    if (batch.length >= PUT_ALONE_BYTES_MIN || cursor.putsRunning < SMALL_PUTS_IN_FLIGHT) return this.runPut(cursor, position, batch);
    return new Promise((resolve, reject) => cursor.putQueue.push({ position, batch, resolve, reject }));
  }

  private async runPut(cursor: ExclusiveCursor, position: number, bytes: Buffer): Promise<PutReceipt[]> {
    cursor.putsRunning++;
    try {
      return await this.connection.putAll(this.connection.segmentReplicas(cursor.segmentId, 'read-write'), cursor.segmentId, bytes, position);
    } finally {
      cursor.putsRunning--;
      this.startQueuedPuts(cursor);
    }
  }

  /** Puts what waits in the queue, each run of adjacent batches as one put, while there is room. */
  private startQueuedPuts(cursor: ExclusiveCursor): void {
    while (cursor.putsRunning < SMALL_PUTS_IN_FLIGHT && cursor.putQueue.length > 0) {
      const run = [cursor.putQueue.shift()!];
      let bytes = run[0].batch.length;
      while (cursor.putQueue.length > 0) {
        const next = cursor.putQueue[0];
        if (next.position !== run[0].position + bytes || bytes + next.batch.length > GATHERED_PUT_BYTES_MAX) break;
        run.push(cursor.putQueue.shift()!);
        bytes += next.batch.length;
      }
      // A fresh buffer per gathered put would cost page faults on every put (large allocations are mapped anew).
      const buffer = run.length === 1 ? undefined : (this.gatherBuffers.pop() ?? Buffer.allocUnsafeSlow(GATHERED_PUT_BYTES_MAX));
      let gathered = run[0].batch;
      if (buffer) {
        let at = 0;
        for (const q of run) at += q.batch.copy(buffer, at);
        gathered = buffer.subarray(0, bytes);
      }
      this.runPut(cursor, run[0].position, gathered)
        .finally(() => {
          // Kept for the next gathered puts, a few at most: many partitions must not pin 256 KiB each.
          if (buffer && this.gatherBuffers.length < GATHER_BUFFERS_KEPT) this.gatherBuffers.push(buffer);
        })
        .then(
          (receipts) => run.forEach((q) => q.resolve(receipts)),
          (err: Error) => run.forEach((q) => q.reject(err)),
        );
    }
  }

  /**
   * A put failed, so its range is a hole: the ranges before it are still
   * committed, every range past it fails (it was never committed, so its
   * offsets are free to be handed out again), and the next write takes its
   * place from the broker again (ACQUIRE: the partition's committed end). No
   * range is acknowledged twice, and no send waits forever for a hole to close.
   */
  private async abandonCursor(key: string, cursor: ExclusiveCursor, position: number, err: Error): Promise<void> {
    cursor.holeAt = Math.min(cursor.holeAt ?? position, position);
    if (cursor.broken) return;
    cursor.broken = err;
    await this.withCursorLock(key, async () => {
      // Placement waits here; let the puts already issued land, commit what precedes the hole, fail the rest.
      await Promise.allSettled([...cursor.puts]);
      await this.flushExclusive(key);
      const holeAt = cursor.holeAt!;
      for (const r of cursor.uncommitted.filter((u) => u.position > holeAt)) r.done.reject(strandedError(r.baseOffset, cursor));
      cursor.uncommitted = cursor.uncommitted.filter((u) => u.position < holeAt);
      resetReady(cursor);
      if (cursor.uncommitted.length > 0) await this.flushExclusive(key);
      if (this.cursors.get(key) === cursor) {
        cursor.gate.close();
        this.cursors.delete(key);
      }
    });
  }

  private withCursorLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.cursorLocks.get(key) ?? Promise.resolve();
    this.cursorLockHolders.set(key, (this.cursorLockHolders.get(key) ?? 0) + 1);
    const run = prev.then(fn, fn);
    const released = (): void => {
      const holders = this.cursorLockHolders.get(key)! - 1;
      if (holders === 0) this.cursorLockHolders.delete(key);
      else this.cursorLockHolders.set(key, holders);
    };
    this.cursorLocks.set(key, run.then(released, released));
    return run;
  }

  /**
   * Places a batch in the partition's segment at once, without the cursor
   * lock, when nothing holds or waits for the lock and the batch fits the
   * segment the producer holds: the common case, in call order like the
   * locked path. Undefined when the locked path must decide (no cursor yet,
   * a roll, a broken or dropped cursor, someone in the lock).
   */
  private placeAtOnce(key: string, lengthBytes: number, recordCount: number): PlacedBatch | undefined {
    if (this.cursorLockHolders.has(key)) return undefined;
    const cursor = this.cursors.get(key);
    if (!cursor || cursor.broken || cursor.dropped || cursor.position + lengthBytes > cursor.capacity) return undefined;
    return place(cursor, lengthBytes, recordCount);
  }

  /** `neededBytes`: the batch to write next, so a new segment has room for it (segments grow from 64 KiB). */
  private async acquire(topic: TopicInfo, partition: number, roll: boolean, neededBytes: number): Promise<ExclusiveCursor> {
    const reply = await this.connection.request(FastPathMessage.ACQUIRE, (reqId) => encodeJson(reqId, { topicId: topic.topicId, partition, roll, neededBytes }));
    const { body } = decodeJson<{ error?: { errorCode: number; message: string }; segmentId: number; position: number; nextOffset: string; dataCapacityBytes: number }>(
      reply.header,
      'ACQUIRE_REPLY',
    );
    if (body.error) throw replyError(`exclusive producer on ${topic.name}-${partition}: ${body.error.message}`, body.error.errorCode, { operation: 'WRITE', resource: topic.name });
    this.connection.segmentReplicas(body.segmentId, 'read-write', reply.payload);
    const key = `${topic.topicId}:${partition}`;
    const cursor: ExclusiveCursor = {
      segmentId: body.segmentId,
      position: body.position,
      nextOffset: BigInt(body.nextOffset),
      capacity: body.dataCapacityBytes,
      committedEnd: body.position,
      puts: new Set(),
      putQueue: [],
      putsRunning: 0,
      uncommitted: [],
      ready: { count: 0, end: body.position },
      gate: new CommitGate(
        this.commitPolicy,
        () => ({ ready: contiguousReady(cursor), putsInFlight: cursor.puts.size }),
        () => this.flushExclusive(key),
      ),
    };
    this.cursors.get(key)?.gate.close();
    this.cursors.set(key, cursor);
    return cursor;
  }

  /** Commits the written ranges of a partition, in order, one commit at a time. */
  private flushExclusive(key: string): Promise<void> {
    // Commits leave in order (each after its flush), but the next one does
    // not wait for the previous reply: the broker applies them in arrival order.
    let replied: Promise<void> = Promise.resolve();
    const sent = (this.commitChains.get(key) ?? Promise.resolve()).then(async () => {
      replied = (await this.sendContiguous(key)).reply;
    });
    this.commitChains.set(key, sent.catch(() => undefined));
    return sent.then(() => replied);
  }

  /**
   * Sends one commit for the written ranges that continue the committed end
   * without a hole; resolves once it is sent, to the promise of its reply
   * (wrapped, since promises flatten).
   */
  private async sendContiguous(key: string): Promise<{ reply: Promise<void> }> {
    const cursor = this.cursors.get(key);
    const none = { reply: Promise.resolve() };
    if (!cursor || cursor.uncommitted.length === 0) return none;
    const take = contiguousReady(cursor);
    if (take === 0) return none; // an earlier put is still in flight; its completion commits both
    const ranges = cursor.uncommitted.splice(0, take);
    cursor.committedEnd = ranges[take - 1].position + ranges[take - 1].lengthBytes;
    cursor.ready.count -= take;
    const [topicId, partition] = key.split(':').map(Number);
    const fail = (err: unknown): void => {
      for (const r of ranges) r.done.reject(err as Error);
    };
    const first = ranges[0];
    const traceId = publishTraceOn ? publishId(topicId, partition, first.baseOffset) : '';
    if (publishTraceOn) markPublish('flush-start', traceId);
    try {
      await this.connection.flush(ranges.flatMap((r) => r.receipts));
    } catch (err) {
      fail(err);
      return none;
    }
    if (publishTraceOn) markPublish('flush-done', traceId);
    const last = ranges[ranges.length - 1];
    const reply = this.connection
      .request(FastPathMessage.COMMIT_RANGE, (reqId) =>
        encodeCommitRange({
          reqId,
          topicId,
          partition,
          segmentId: cursor.segmentId,
          position: first.position,
          lengthBytes: last.position + last.lengthBytes - first.position,
          recordCount: ranges.reduce((n, r) => n + r.recordCount, 0),
          baseOffset: first.baseOffset,
          maxTimestamp: ranges.reduce((m, r) => (r.maxTimestamp > m ? r.maxTimestamp : m), -1n),
        }),
      )
      .then((reply) => {
        if (publishTraceOn) markPublish('commit-replied', traceId);
        const result = decodeCommitReply(reply.header);
        if (result.errorCode !== 0) throw new RdmqError(`commit failed: ${reply.payload.toString()}`, result.errorCode);
        for (const r of ranges) r.done.resolve(result.highWatermark);
      })
      .catch(fail);
    if (publishTraceOn) markPublish('commit-sent', traceId);
    return { reply };
  }
}
