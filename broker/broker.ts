// The broker: owns metadata (topics, segments, offsets) and, per partition,
// the stage/commit order. It never touches payload: producers put batches
// straight into storage segments and the broker only moves watermarks.
//
// Per partition, every operation that changes state runs through one serial
// queue, so a segment roll (seal, allocate, two metadata records) never
// interleaves with another stage of the same partition.
//
// Storage failures. A watermark is shown to readers only once the storage
// node has committed it (PartitionState.publish after storage.commit). When a
// storage call of a partition fails, or the node stops answering the probe,
// the partition is fenced: stage and commit answer KAFKA_STORAGE_ERROR
// (retriable) and nothing more is acknowledged. Once the node answers again,
// the partition is rebuilt from its segment headers — the durable end — and
// stages in flight are dropped, so their producers stage again; offsets above
// the durable end were never acknowledged nor shown, and are handed out anew.
import { UserStore } from './security/credentials';
import { buildSkipMarker } from '../format';
import { SegmentDescriptor, StorageError } from '../storage-node';
import { CommitAdvance, ExclusiveRange, FencedRange, NeedSegment, PartitionError, PartitionState, PlannedCommit, SegmentInfo, StageGrant } from './partition-state';
import { PartitionProducers } from './producer-state';
import { batchTooLarge, nextSegmentDataBytes, segmentDataBytesMax as segmentDataBytesMaxOf } from './segment-sizing';
import { ReplicatedStorage } from './replicated-storage';
import { StallDetector } from './stall-detector';
import { StorageBackend, StorageDamage } from './storage-backend';
import { Authorizer, AuthorizerOptions } from './security/acls';
import { batchSizeError, BrokerError, MetadataStore, MetadataStoreOptions, TOPIC_CONFIG_DEFAULTS, TopicConfig, TopicDescription } from './topics';
import { markPublish, publishId, publishTraceOn } from '../format/publish-trace';

export type Durability = 'none' | 'flush' | 'sync';

export interface BrokerOptions {
  leaseTimeoutMs: number;
  durability: Durability;
  /** How often retention (retention.ms / retention.bytes) is enforced (default 5 s). */
  retentionCheckMs?: number;
  /** Check each committed batch's CRC32C (default true); framing and offsets are always checked. */
  verifyCrc?: boolean;
  /** Called with each partition whose watermark moved (pushes to subscribers). */
  onAdvance?: (partition: PartitionRuntime, advance: CommitAdvance) => void;
  /** Called with the bytes and records of every commit (metrics). */
  onCommitted?: (topic: string, bytes: number, records: number) => void;
  /** Called when a partition gets a new segment, a segment's fenced ranges change, or its copies change; resolves once subscribers were told. */
  onSegment?: (partition: PartitionRuntime, segment: SegmentInfo) => Promise<void> | void;
  /** segment.bytes of a topic that sets none (Kafka's log.segment.bytes; default 64 MiB). */
  segmentBytesDefault?: number;
  /** Called when the storage node restarted: the segment keys handed out so far are void. */
  onStorageRestart?: () => void;
  /** How often the storage node is probed (default 500 ms). */
  storageProbeMs?: number;
  /** Kafka's default.replication.factor: copies of each segment for a topic created without one (default 1). */
  defaultReplicationFactor?: number;
  /** Where metadata records go instead of the file log in the metadata directory (an HA broker's etcd log). */
  openMetadataSink?: MetadataStoreOptions['openSink'];
  /**
   * Seal every partition's open segment at its durable end when opening: a
   * leader taking over from another broker, whose producers may still put
   * into the segments it granted, writes new batches to new segments only.
   */
  sealOpenSegmentsOnOpen?: boolean;
  /** super.users and allow.everyone.if.no.acl.found (security/acls.ts). */
  acls?: AuthorizerOptions;
  log?: (message: string) => void;
}

export type { ExclusiveRange } from './partition-state';

interface QueuedExclusiveCommit {
  producerKey: string;
  range: ExclusiveRange;
  traceId: string;
  resolve(highWatermark: bigint): void;
  reject(err: Error): void;
}

/** A shared stage's written bytes, checked before the partition's queue: `error` when they failed. */
interface StageCheck {
  grant: StageGrant;
  error?: unknown;
}

function sameGrant(a: StageGrant, b: StageGrant): boolean {
  return a.segmentId === b.segmentId && a.position === b.position && a.lengthBytes === b.lengthBytes && a.baseOffset === b.baseOffset && a.recordCount === b.recordCount;
}

/** Exclusive commits of one partition made in one turn at most (each is one storage step; all go at once). */
const EXCLUSIVE_COMMITS_PER_TURN_MAX = 256;

/** How often the broker checks that it was not stalled itself, and the lateness that counts as a stall. */
const STALL_TICK_MS = 100;
const STALL_TOLERANCE_MS = 200;
const STALL_LOGGED_MS = 1000;

/** One partition's live state and the queue that serialises changes to it. */
export class PartitionRuntime {
  private tail: Promise<unknown> = Promise.resolve();
  /** Why the partition refuses writes until it is rebuilt from the storage node (not a corrupt range: those are PartitionState fences); undefined while it serves. */
  storageFence: string | undefined;
  /** The storage node's boot id when the partition was fenced. */
  storageFenceBootId: string | undefined;
  /** The open segment lost a copy: the rebuild seals it, so new writes go to a segment with every copy. */
  sealOnRebuild = false;
  /** Commits waiting for their stage to be covered by the published watermark. */
  private readonly committedWaiters = new Map<number, { resolve(): void; reject(err: Error): void }[]>();
  /** Idempotent producers' windows, rebuilt from the committed batches when the partition is opened. */
  readonly producers = new PartitionProducers();
  /** Exclusive commits waiting for the partition's turn (Broker.commitRange). */
  readonly queuedCommits: QueuedExclusiveCommit[] = [];

  constructor(
    readonly topicName: string,
    readonly topicId: number,
    readonly partition: number,
    /** Replaced when the partition is rebuilt from the storage node: read it anew, never keep it. */
    public state: PartitionState,
  ) {}

  get key(): string {
    return partitionKey(this.topicId, this.partition);
  }

  /** Resolves once the stage is covered by the published watermark; rejects if the partition is fenced first. */
  awaitCommitted(stageId: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let list = this.committedWaiters.get(stageId);
      if (!list) this.committedWaiters.set(stageId, (list = []));
      list.push({ resolve, reject });
    });
  }

  /** The published watermark now covers these stages. */
  committed(stageIds: readonly number[]): void {
    if (this.committedWaiters.size === 0) return;
    for (const id of stageIds) {
      for (const waiter of this.committedWaiters.get(id) ?? []) waiter.resolve();
      this.committedWaiters.delete(id);
    }
  }

  /** The partition was fenced: whatever waits for a commit is refused (its producer retries). */
  failWaiters(err: Error): void {
    for (const list of this.committedWaiters.values()) for (const waiter of list) waiter.reject(err);
    this.committedWaiters.clear();
  }

  /** Runs `fn` after every earlier queued operation on this partition. */
  serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

export function partitionKey(topicId: number, partition: number): string {
  return `${topicId}:${partition}`;
}

/** A segment announcement that failed is tried again after this, doubling each time (250 ms, 0.5 s, ... 16 s: ~32 s in all). */
const ANNOUNCE_RETRY_MS = 250;
const ANNOUNCE_ATTEMPTS_MAX = 8;

export class Broker {
  private readonly partitions = new Map<string, PartitionRuntime>();
  private leaseTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  /** close() was called: nothing new is started (announcements are not tried again). */
  private closing = false;
  private storageBootId = '';
  private storageReachable = true;
  private readonly stall: StallDetector;
  /** The SCRAM users of the Kafka door and the fast path. */
  readonly users: UserStore;
  /** ACL decisions over the durable bindings. */
  readonly authorizer: Authorizer;

  private constructor(
    readonly metadata: MetadataStore,
    readonly storage: StorageBackend,
    private readonly options: BrokerOptions,
  ) {
    this.users = new UserStore(metadata);
    this.stall = new StallDetector(STALL_TICK_MS, STALL_TOLERANCE_MS, (stalledMs) => this.creditStall(stalledMs));
    this.authorizer = new Authorizer(() => ({ version: metadata.acls.version, bindings: metadata.acls.bindings.values() }), options.acls);
  }

  /** Opens the metadata log, reads segment headers from storage and rebuilds every partition. */
  static async open(metadataDir: string, storage: StorageBackend, options: BrokerOptions): Promise<Broker> {
    const metadata = await MetadataStore.open(metadataDir, {
      fsync: options.durability === 'sync',
      warn: options.log,
      topicConfigDefaults: topicDefaultsFor(options.segmentBytesDefault),
      openSink: options.openMetadataSink,
    });
    const broker = new Broker(metadata, storage, options);
    if (storage instanceof ReplicatedStorage) await broker.attachReplicas(storage);
    broker.storageBootId = await storage.probe();
    await broker.recover();
    broker.leaseTimer = setInterval(() => broker.expireLeases(), Math.max(5, Math.floor(options.leaseTimeoutMs / 4)));
    broker.leaseTimer.unref();
    broker.retentionTimer = setInterval(() => void broker.enforceRetention(), options.retentionCheckMs ?? 5000);
    broker.retentionTimer.unref();
    broker.probeTimer = setInterval(() => void broker.watchStorage(), options.storageProbeMs ?? 500);
    broker.probeTimer.unref();
    return broker;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.stall.close();
    await this.metadata.close();
  }

  // -- topics --

  /** `replicationFactor`: copies of each segment on distinct storage nodes (-1 or absent: the broker's default). */
  async createTopic(name: string, partitions: number, configs: Record<string, string> = {}, replicationFactor?: number): Promise<TopicDescription> {
    const factor = replicationFactor === undefined || replicationFactor === -1 ? (this.options.defaultReplicationFactor ?? 1) : replicationFactor;
    const nodes = this.storage instanceof ReplicatedStorage ? this.storage.nodeStates().length : 1;
    if (factor > nodes) {
      throw new BrokerError('INVALID_REPLICATION_FACTOR', `replication factor ${factor} is larger than the ${nodes} storage node(s) of this cluster`);
    }
    const topic = await this.metadata.createTopic(name, partitions, configs, factor);
    for (let p = 0; p < partitions; p++) this.addRuntime(topic.name, topic.topicId, p, []);
    return topic;
  }

  async deleteTopic(name: string): Promise<void> {
    const { topicId, partitions } = await this.metadata.deleteTopic(name);
    for (const meta of partitions) {
      const key = partitionKey(topicId, meta.partition);
      this.partitions.get(key)?.failWaiters(new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' was deleted`));
      this.partitions.delete(key);
      for (const segment of meta.segments) await this.storage.free(segment.segmentId).catch(() => undefined);
    }
  }

  async addPartitions(name: string, total: number): Promise<TopicDescription> {
    const before = this.metadata.describeTopic(name).partitions.length;
    const topic = await this.metadata.addPartitions(name, total);
    for (let p = before; p < total; p++) this.addRuntime(topic.name, topic.topicId, p, []);
    return topic;
  }

  /** The partition, or a Kafka-coded error naming what is unknown. */
  partition(topicId: number, partition: number): PartitionRuntime {
    const runtime = this.partitions.get(partitionKey(topicId, partition));
    if (!runtime) {
      const topic = this.metadata.topicById(topicId);
      const what = topic ? `topic '${topic.name}' has no partition ${partition}` : `no topic has id ${topicId}`;
      throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', what);
    }
    return runtime;
  }

  partitionByName(topic: string, partition: number): PartitionRuntime {
    // Not describeTopic: it copies every partition, and clients ask this once per partition.
    return this.partition(this.metadata.topicIdOf(topic), partition);
  }

  allPartitions(): PartitionRuntime[] {
    return [...this.partitions.values()];
  }

  // -- shared-mode producers --

  /** Reserves space and offsets for one batch, rolling the segment when it does not fit. */
  stage(runtime: PartitionRuntime, req: { lengthBytes: number; recordCount: number; producerKey: string }): Promise<StageGrant> {
    return runtime.serial(async () => {
      this.checkServing(runtime);
      this.checkBatchSize(runtime, req.lengthBytes);
      const segmentDataBytesMax = segmentDataBytesMaxOf(this.metadata.topicSegmentBytes(runtime.topicId));
      for (let attempt = 0; attempt < 3; attempt++) {
        const result = runtime.state.stage({ ...req, nowMs: this.now(), segmentDataBytesMax });
        if (result.kind === 'granted') return result.grant;
        await this.roll(runtime, result);
      }
      throw new PartitionError('INVALID_REQUEST', `could not place a ${req.lengthBytes}-byte batch after rolling the segment`);
    });
  }

  /**
   * Marks stages written; resolves once the watermark covers them durably.
   * A stage whose bytes fail the check is given up (its range is skipped, so
   * the partition goes on) and the call fails with CORRUPT_MESSAGE.
   */
  async complete(runtime: PartitionRuntime, stages: { stageId: number; maxTimestamp: bigint }[]): Promise<bigint> {
    const checked = await this.checkStages(runtime, stages);
    const waits = await this.completeStages(runtime, stages, checked);
    // Outside the partition's queue: the stages before these must get their turn to commit.
    await Promise.all(waits);
    return runtime.state.highWatermark();
  }

  /**
   * Before the partition's queue: checks the written bytes of each stage at
   * once (read-only on the node; several stages and partitions share one
   * message of the commit stream), so the queue holds the commit only. A
   * stage's outcome counts only for the grant it was checked for.
   */
  private async checkStages(runtime: PartitionRuntime, stages: { stageId: number }[]): Promise<Map<number, StageCheck>> {
    const checked = new Map<number, StageCheck>();
    await Promise.all(
      stages.map(async ({ stageId }) => {
        const grant = runtime.state.pendingGrant(stageId);
        if (!grant) return;
        try {
          await this.verifyStage(runtime, stageId, grant);
          checked.set(stageId, { grant });
        } catch (error) {
          checked.set(stageId, { grant, error });
        }
      }),
    );
    return checked;
  }

  private verifyStage(runtime: PartitionRuntime, stageId: number, grant: StageGrant): Promise<void> {
    return this.storage.verify(
      grant.segmentId,
      grant.position,
      grant.lengthBytes,
      { baseOffset: grant.baseOffset, recordCount: grant.recordCount, verifyCrc: this.options.verifyCrc },
      `${runtime.topicName}-${runtime.partition} stage ${stageId}`,
    );
  }

  /**
   * Inside the queue: completes the stages; returns a wait for each one that
   * is written but still behind an older stage in flight — acknowledging it
   * before the published watermark covers it would acknowledge bytes a
   * storage failure can still take away.
   */
  private completeStages(runtime: PartitionRuntime, stages: { stageId: number; maxTimestamp: bigint }[], checked: Map<number, StageCheck>): Promise<Promise<void>[]> {
    return runtime.serial(async () => {
      this.checkServing(runtime);
      let failure: unknown;
      for (const s of stages) {
        const grant = runtime.state.pendingGrant(s.stageId);
        if (grant) {
          try {
            const check = checked.get(s.stageId);
            // Checked for this very grant before the queue, or now.
            if (check && sameGrant(check.grant, grant)) {
              if (check.error !== undefined) throw check.error;
            } else {
              await this.verifyStage(runtime, s.stageId, grant);
            }
          } catch (err) {
            // Only bytes found wrong give the stage up; a node that did not answer fences the partition.
            if (!(err instanceof StorageError && err.code === 'INVALID_BATCH')) throw this.fence(runtime, `verify failed: ${(err as Error).message}`);
            failure ??= err;
            await this.applyAdvance(runtime, runtime.state.abort(s.stageId));
            continue;
          }
        }
        const advance = runtime.state.complete(s.stageId, { maxTimestamp: s.maxTimestamp, nowMs: this.now() });
        await this.applyAdvance(runtime, advance);
        if (grant) this.options.onCommitted?.(runtime.topicName, grant.lengthBytes, grant.recordCount);
      }
      if (failure !== undefined) throw failure;
      return stages.filter((s) => runtime.state.stageStatus(s.stageId) === 'completed').map((s) => runtime.awaitCommitted(s.stageId));
    });
  }

  /** The topic's max.message.bytes, checked here because no client is trusted to apply it. */
  private checkBatchSize(runtime: PartitionRuntime, batchBytes: number): void {
    const config = this.metadata.topicConfig(runtime.topicId);
    const error = config && batchSizeError(runtime.topicName, config, batchBytes);
    if (error) throw error;
  }

  // -- exclusive-mode producers --

  /** `neededBytes`: the batch the producer is about to write, so a new segment has room for it. */
  acquireExclusive(runtime: PartitionRuntime, producerKey: string, roll: boolean, neededBytes = 0) {
    return runtime.serial(async () => {
      this.checkServing(runtime);
      const segmentBytes = this.metadata.topicSegmentBytes(runtime.topicId);
      if (neededBytes > 0) this.checkBatchSize(runtime, neededBytes);
      if (neededBytes > segmentDataBytesMaxOf(segmentBytes)) throw batchTooLarge(neededBytes, segmentBytes);
      if (roll) await this.roll(runtime, runtime.state.rollExclusive(producerKey, this.now(), neededBytes));
      for (let attempt = 0; attempt < 3; attempt++) {
        const result = runtime.state.acquireExclusive(producerKey, this.now(), neededBytes);
        if (result.kind === 'acquired') return result;
        await this.roll(runtime, result);
      }
      throw new PartitionError('INVALID_REQUEST', `could not open a segment for exclusive producer ${producerKey}`);
    });
  }

  /**
   * Commits a range an exclusive producer wrote; resolves to the high
   * watermark once storage holds it. Commits that wait for the partition's
   * turn are made together (commitExclusiveBatch): one storage step each,
   * all sent at once.
   */
  commitRange(runtime: PartitionRuntime, producerKey: string, range: ExclusiveRange): Promise<bigint> {
    const traceId = publishTraceOn ? publishId(runtime.topicId, runtime.partition, range.baseOffset) : '';
    return new Promise<bigint>((resolve, reject) => {
      // The first to wait schedules the turn; the turn takes every commit waiting by then.
      if (runtime.queuedCommits.push({ producerKey, range, traceId, resolve, reject }) === 1) this.scheduleExclusiveCommits(runtime);
    });
  }

  private scheduleExclusiveCommits(runtime: PartitionRuntime): void {
    void runtime.serial(async () => {
      const batch = runtime.queuedCommits.splice(0, EXCLUSIVE_COMMITS_PER_TURN_MAX);
      if (runtime.queuedCommits.length > 0) this.scheduleExclusiveCommits(runtime);
      try {
        await this.commitExclusiveBatch(runtime, batch);
      } catch (err) {
        // Settled ones stay settled: this reaches only those still waiting.
        for (const c of batch) c.reject(err as Error);
      }
    });
  }

  /**
   * Inside the partition's queue. Each commit is planned against the state
   * as its predecessors will leave it, then every one goes to storage at
   * once (each node checks and commits them in order, and refuses a step
   * that does not continue its commit line), then the state follows storage
   * commit by commit. A batch whose bytes fail the check is refused (the
   * partition goes on, as do its successors' refusals: they no longer
   * continue the committed end); any other failure fences the partition.
   */
  private async commitExclusiveBatch(runtime: PartitionRuntime, batch: QueuedExclusiveCommit[]): Promise<void> {
    if (publishTraceOn) for (const c of batch) markPublish('broker-serial', c.traceId);
    this.checkServing(runtime);
    const nowMs = this.now();
    // An exclusive producer places its own batches: the one place the broker sees each of their sizes.
    const batchBytesMax = this.metadata.topicConfig(runtime.topicId)?.['max.message.bytes'];
    const planned: { c: QueuedExclusiveCommit; plan: PlannedCommit }[] = [];
    for (const c of batch) {
      try {
        planned.push({ c, plan: runtime.state.planExclusiveCommit(c.producerKey, { ...c.range, nowMs }, planned[planned.length - 1]?.plan) });
      } catch (err) {
        c.reject(err as Error);
      }
      if (publishTraceOn) markPublish('broker-verified', c.traceId);
    }
    const where = `${runtime.topicName}-${runtime.partition} exclusive commit`;
    const outcomes = await Promise.allSettled(
      planned.map(({ c, plan }) =>
        this.storage.commitChecked(c.range.segmentId, plan, {
          position: c.range.position,
          lengthBytes: c.range.lengthBytes,
          expected: { baseOffset: c.range.baseOffset, recordCount: c.range.recordCount, verifyCrc: this.options.verifyCrc, batchBytesMax },
          where,
        }),
      ),
    );
    let refused = false;
    for (let i = 0; i < planned.length; i++) {
      const { c } = planned[i];
      const outcome = outcomes[i];
      const failure = outcome.status === 'rejected' ? (outcome.reason as Error) : undefined;
      if (failure instanceof StorageError && failure.code === 'INVALID_BATCH' && !refused) {
        // Bytes found wrong were not committed: the producer is refused and the partition goes on.
        refused = true;
        c.reject(failure);
        continue;
      }
      if (refused && failure instanceof StorageError) {
        // Behind a refused batch: storage refused it too; the state says why (it leaves a gap).
        c.reject(this.replanError(runtime, c, nowMs) ?? failure);
        continue;
      }
      if (failure || refused) {
        const error = this.fence(runtime, failure ? `storage commit failed: ${failure.message}` : 'storage committed a range behind a refused one');
        for (const rest of planned.slice(i)) rest.c.reject(error);
        return;
      }
      let advance: CommitAdvance;
      try {
        advance = runtime.state.commitExclusive(c.producerKey, { ...c.range, nowMs });
      } catch (err) {
        // Storage holds a commit the state refuses now (its owner changed meanwhile): the node's headers are the truth.
        const error = this.fence(runtime, `exclusive commit changed under the storage commit: ${(err as Error).message}`);
        for (const rest of planned.slice(i)) rest.c.reject(error);
        return;
      }
      this.publishAdvance(runtime, advance);
      if (publishTraceOn) markPublish('broker-persisted', c.traceId);
      this.options.onCommitted?.(runtime.topicName, c.range.lengthBytes, c.range.recordCount);
      c.resolve(runtime.state.highWatermark());
    }
  }

  /** Why the state refuses a commit now, if it does. */
  private replanError(runtime: PartitionRuntime, c: QueuedExclusiveCommit, nowMs: number): Error | undefined {
    try {
      runtime.state.planExclusiveCommit(c.producerKey, { ...c.range, nowMs });
      return undefined;
    } catch (err) {
      return err as Error;
    }
  }

  releaseExclusive(runtime: PartitionRuntime, producerKey: string): void {
    runtime.state.releaseExclusive(producerKey);
  }

  // -- corruption --

  /** Every fenced range, by topic and partition. */
  fencedRanges(): { topic: string; partition: number; range: FencedRange }[] {
    return this.allPartitions().flatMap((p) => p.state.fencedRanges().map((range) => ({ topic: p.topicName, partition: p.partition, range })));
  }

  /**
   * The operator's command: replaces the damaged ranges of one segment (or
   * only the one starting at `startPosition`) with skip markers covering
   * exactly their offsets, so readers step over them. Their records are gone.
   */
  skipFencedRanges(topicName: string, partition: number, segmentId: number, startPosition?: number): Promise<FencedRange[]> {
    const runtime = this.partitionByName(topicName, partition);
    return runtime.serial(async () => {
      const inSegment = runtime.state.fencedRanges().filter((f) => f.segmentId === segmentId);
      const chosen = inSegment.filter((f) => startPosition === undefined || f.startPosition === startPosition);
      if (chosen.length === 0) {
        const known = runtime.state.fencedRanges().map((f) => `segment ${f.segmentId} position ${f.startPosition}`);
        throw new BrokerError('INVALID_REQUEST', `${topicName}-${partition} has no fenced range in segment ${segmentId}${startPosition === undefined ? '' : ` at position ${startPosition}`} (fenced: ${known.join(', ') || 'none'})`);
      }
      if (chosen.some((f) => f.lost)) {
        throw new BrokerError(
          'INVALID_REQUEST',
          `segment ${segmentId} of ${topicName}-${partition} is unreadable as a whole (its header is corrupt); its offsets stay fenced: readers seek past them`,
        );
      }
      for (const f of chosen) {
        await this.storage.skipFencedRange(segmentId, f.startPosition);
        runtime.state.resolveFence(segmentId, f.startPosition);
        this.options.log?.(`${topicName}-${partition}: fenced offsets [${f.baseOffset}, ${f.endOffset}) of segment ${segmentId} skipped on an operator's command`);
      }
      const info = runtime.state.segmentInfo(segmentId);
      if (info) this.announceSegment(runtime, info);
      return chosen;
    });
  }

  // -- internals --

  /**
   * The partition's next segment. Sealing the full one and allocating the
   * next go on at once: the partition's commits wait for the roll, and with
   * the storage node in another process each is a round trip. A crash
   * between allocating and recording the new segment leaves it unrecorded,
   * and `open` frees it.
   */
  private async roll(runtime: PartitionRuntime, need: NeedSegment): Promise<void> {
    const [, segment] = await Promise.all([this.sealForRoll(runtime, need), this.allocateSegment(runtime, need)]);
    const replicas = this.storage instanceof ReplicatedStorage ? this.storage.replicasOf(segment.segmentId) : undefined;
    // The producer that rolled asks for the new segment's grant next, its readers after it: asked for now, then cached.
    for (const access of ['read-write', 'read'] as const) this.storage.segmentKeys(segment.segmentId, access).catch(() => undefined);
    await this.metadata.addSegment(runtime.topicName, runtime.partition, {
      replicas,
      segmentId: segment.segmentId,
      storageNodeId: replicas?.[0] ?? this.storage.nodeId,
      baseOffset: segment.baseOffset,
      dataCapacityBytes: segment.dataCapacityBytes,
    });
    // A set that changed while the segment was being added was not persisted then (the metadata did not list it yet).
    if (this.storage instanceof ReplicatedStorage) await this.storage.persistReplicas(segment.segmentId);
    const info = toSegmentInfo(segment);
    runtime.state.addSegment(info);
    this.announceSegment(runtime, info);
  }

  /**
   * Tells the segment's readers (onSegment) without holding up the caller.
   * Telling them takes a read key from the storage node, which fails while
   * the node is unreachable: the announcement is tried again, further apart
   * each time (ANNOUNCE_RETRY_MS doubling, ANNOUNCE_ATTEMPTS_MAX in all), so a
   * reader still learns of a segment added while the node was away. After a
   * node restart its readers subscribe afresh anyway. A failure never escapes
   * as an unhandled rejection, which would end the broker's process.
   */
  private announceSegment(runtime: PartitionRuntime, segment: SegmentInfo, attempt = 1): void {
    const announce = this.options.onSegment;
    if (!announce) return;
    Promise.resolve()
      .then(() => announce(runtime, runtime.state.segmentInfo(segment.segmentId) ?? segment))
      .catch((err: Error) => {
        const what = `${runtime.topicName}-${runtime.partition}: segment ${segment.segmentId} not announced to its readers (attempt ${attempt} of ${ANNOUNCE_ATTEMPTS_MAX}): ${err.message}`;
        if (this.closing || attempt >= ANNOUNCE_ATTEMPTS_MAX || !runtime.state.segmentInfo(segment.segmentId)) {
          this.options.log?.(`${what}; given up`);
          return;
        }
        this.options.log?.(`${what}; trying again`);
        const timer = setTimeout(() => this.announceSegment(runtime, segment, attempt + 1), ANNOUNCE_RETRY_MS * 2 ** (attempt - 1));
        timer.unref();
      });
  }

  private async sealForRoll(runtime: PartitionRuntime, need: NeedSegment): Promise<void> {
    if (need.sealedSegmentId === undefined) return;
    const sealed = runtime.state.segmentInfo(need.sealedSegmentId);
    await this.metadata.sealSegment(runtime.topicName, runtime.partition, need.sealedSegmentId);
    // The storage header records the final size once every stage in it is resolved;
    // until then readers follow the broker's watermark, so sealing storage can wait.
    if (sealed && runtime.state.isFullyCommitted(sealed.segmentId)) {
      await this.storage.seal(sealed.segmentId, sealed.commitPosition).catch(() => undefined);
    }
  }

  /**
   * The next segment at its grown size; when storage has no run that long
   * left, the smallest segment that holds the waiting batch, so a fragmented
   * or nearly full region still takes writes.
   */
  private async allocateSegment(runtime: PartitionRuntime, need: NeedSegment): Promise<SegmentDescriptor> {
    const segmentBytes = this.metadata.topicSegmentBytes(runtime.topicId);
    const request = { topicId: runtime.topicId, partition: runtime.partition, baseOffset: need.baseOffset };
    const grown = nextSegmentDataBytes({ previousDataBytes: runtime.state.lastSegmentCapacityBytes(), neededBytes: need.neededBytes, segmentBytes });
    try {
      return await this.storage.allocate({ ...request, dataCapacityBytes: grown });
    } catch (err) {
      const smallest = nextSegmentDataBytes({ neededBytes: need.neededBytes, segmentBytes });
      if ((err as { code?: unknown }).code !== 'STORAGE_FULL' || smallest >= grown) throw err;
      return this.storage.allocate({ ...request, dataCapacityBytes: smallest });
    }
  }

  /**
   * Fills skipped ranges, makes the new watermark durable, then shows it to
   * readers and tells subscribers. Any failure fences the partition: what
   * the storage node holds is then known only from its headers.
   */
  private async applyAdvance(runtime: PartitionRuntime, advance: CommitAdvance): Promise<void> {
    if (!advance.advanced) return;
    try {
      for (const skip of advance.skipped) {
        if (skip.lengthBytes === 0) continue;
        await this.storage.writeSkipMarker(skip.segmentId, skip.position, buildSkipMarker(skip.lengthBytes, skip.baseOffset, skip.offsetCount));
      }
      for (const moved of advance.segments) {
        const info = runtime.state.segmentInfo(moved.segmentId);
        await this.storage.commit(moved.segmentId, {
          commitPosition: moved.commitPosition,
          endOffset: moved.endOffset,
          maxTimestamp: info?.maxTimestamp ?? -1n,
        });
      }
    } catch (err) {
      throw this.fence(runtime, `storage commit failed: ${(err as Error).message}`);
    }
    this.publishAdvance(runtime, advance);
  }

  /** Shows a watermark storage holds durably to readers and tells subscribers. */
  private publishAdvance(runtime: PartitionRuntime, advance: CommitAdvance): void {
    runtime.state.publish(advance);
    runtime.committed(advance.committedStageIds);
    this.options.onAdvance?.(runtime, advance);
  }

  // -- storage failures --

  /** The time for lease decisions, after crediting leases with any stall of this process. */
  private now(): number {
    return this.stall.check();
  }

  private creditStall(stalledMs: number): void {
    // Short stalls are common on a busy host: credited, but not worth a line each.
    if (stalledMs >= STALL_LOGGED_MS) this.options.log?.(`the broker was stalled for ${stalledMs} ms (paused or starved); leases are extended by that much`);
    for (const runtime of this.partitions.values()) runtime.state.extendLeases(stalledMs);
  }

  /** Refuses writes to a fenced partition with a retriable error. */
  private checkServing(runtime: PartitionRuntime): void {
    if (runtime.storageFence !== undefined) {
      throw new BrokerError(
        'KAFKA_STORAGE_ERROR',
        `${runtime.topicName}-${runtime.partition} is fenced (${runtime.storageFence}); it serves again once rebuilt from the storage node`,
      );
    }
  }

  /** Fences a partition; returns the error its callers get. */
  private fence(runtime: PartitionRuntime, reason: string): BrokerError {
    const error = new BrokerError('KAFKA_STORAGE_ERROR', `${runtime.topicName}-${runtime.partition}: ${reason}; the producer retries`);
    if (runtime.storageFence === undefined) {
      runtime.storageFence = reason;
      runtime.storageFenceBootId = this.storageBootId;
      this.options.log?.(`${runtime.topicName}-${runtime.partition} fenced: ${reason}`);
    }
    runtime.failWaiters(error);
    return error;
  }

  /**
   * Probes the storage node: while it does not answer every partition is
   * fenced; once it does, fenced partitions are rebuilt from its headers. A
   * new boot id (the node restarted) voids every segment key handed out.
   */
  async watchStorage(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      if (this.storage instanceof ReplicatedStorage) {
        await this.watchReplicas(this.storage);
        return;
      }
      let bootId: string;
      try {
        bootId = await this.storage.probe();
      } catch (err) {
        if (this.storageReachable) this.options.log?.(`the storage node does not answer (${(err as Error).message}); writes are refused until it does`);
        this.storageReachable = false;
        for (const runtime of this.partitions.values()) this.fence(runtime, 'the storage node does not answer');
        return;
      }
      this.storageReachable = true;
      if (bootId !== this.storageBootId) {
        this.options.log?.('the storage node restarted: every partition is rebuilt from its segment headers');
        for (const runtime of this.partitions.values()) this.fence(runtime, 'the storage node restarted');
        this.storageBootId = bootId;
        this.options.onStorageRestart?.();
      }
      await this.fenceNewDamage();
      const fenced = [...this.partitions.values()].filter((r) => r.storageFence !== undefined);
      if (fenced.length > 0) await this.rebuild(fenced);
    } finally {
      this.probing = false;
    }
  }

  /**
   * A storage node's scrubber fenced committed bytes it found damaged while
   * running: the partition holding them is fenced here too and rebuilt in the
   * same probe, which brings the range into its state as a restart would
   * (writes in flight get KAFKA_STORAGE_ERROR and are retried; readers get
   * CORRUPT_MESSAGE at the range).
   */
  private async fenceNewDamage(): Promise<void> {
    let damage: StorageDamage;
    try {
      damage = await this.storage.damage();
    } catch {
      return; // the next probe says whether the node answers
    }
    for (const d of damage.ranges) {
      const runtime = this.allPartitions().find((r) => r.state.segmentInfo(d.segmentId) !== undefined);
      if (!runtime || runtime.storageFence !== undefined) continue;
      if (runtime.state.fencedRanges().some((f) => !f.lost && f.segmentId === d.segmentId && f.startPosition === d.startPosition)) continue;
      this.fence(runtime, `the storage node found committed bytes of segment ${d.segmentId} damaged (offsets [${d.baseOffset}, ${d.endOffset}))`);
    }
  }

  // -- replication --

  /** The policy the replicated storage asks, and the in-sync sets the metadata holds. */
  private async attachReplicas(storage: ReplicatedStorage): Promise<void> {
    const placements: { segmentId: number; topicId: number; replicas: string[] }[] = [];
    for (const summary of this.metadata.listTopics()) {
      const topic = this.metadata.describeTopic(summary.name);
      for (const p of topic.partitions) {
        for (const s of p.segments) placements.push({ segmentId: s.segmentId, topicId: topic.topicId, replicas: s.replicas ?? [s.storageNodeId] });
      }
    }
    await storage.attach(
      {
        replicationFactorOf: (topicId) => this.metadata.topicReplicationFactor(topicId),
        minInsyncOf: (topicId) => Number(this.metadata.topicConfig(topicId)?.['min.insync.replicas'] ?? 1),
        onReplicasChanged: (segmentId, replicas, topicId) => this.replicasChanged(segmentId, replicas, topicId),
        durableReplicasOf: (segmentId, topicId) => this.metadata.segmentReplicas(topicId, segmentId, true)?.replicas,
        // Readers learn the copies left before anything more is published: a copy out of the set may miss
        // what is written from now on (a skip marker over an expired stage, say), so no reader may read it there.
        announceReplicas: async (segmentId) => {
          const runtime = this.allPartitions().find((r) => r.state.segmentInfo(segmentId) !== undefined);
          const info = runtime?.state.segmentInfo(segmentId);
          if (runtime && info) await this.options.onSegment?.(runtime, info);
        },
        log: this.options.log,
      },
      placements,
    );
  }

  /**
   * Persists a segment's new in-sync set; an open segment that lost a copy is
   * sealed by a rebuild, so writes go on with every copy. The partition comes
   * from the metadata, not the runtimes: sets change while the broker opens,
   * before any partition runtime exists, and must be durable all the same
   * (a copy is retired only once the log no longer lists it).
   */
  private async replicasChanged(segmentId: number, replicas: string[], topicId: number): Promise<void> {
    const listed = this.metadata.segmentReplicas(topicId, segmentId, false);
    // Freed, or allocated and not added yet: the allocation persists the set the segment has once it is added.
    if (!listed) return;
    if (listed.replicas.length === replicas.length && listed.replicas.every((id, i) => id === replicas[i])) return;
    await this.metadata.setSegmentReplicas(listed.topicName, listed.partition, segmentId, replicas);
    const runtime = this.partitions.get(partitionKey(topicId, listed.partition));
    const segments = runtime?.state.segments() ?? [];
    const open = segments[segments.length - 1];
    if (runtime && open && open.segmentId === segmentId && !open.sealed && replicas.length < this.metadata.topicReplicationFactor(topicId)) {
      // After the current operation: a commit that just succeeded on the copies left still answers its producer.
      setImmediate(() => {
        runtime.sealOnRebuild = true;
        this.fence(runtime, `segment ${segmentId} lost a copy (in sync on ${replicas.join(', ')})`);
      });
    }
  }

  /**
   * One probe of every storage node: partitions with a segment no copy of
   * which answers are fenced until one does; fenced partitions whose copies
   * answer are rebuilt from them; sealed segments short of copies are copied.
   */
  private async watchReplicas(storage: ReplicatedStorage): Promise<void> {
    const report = await storage.probeReplicas();
    if (report.restarted) this.options.onStorageRestart?.();
    for (const runtime of this.partitions.values()) {
      const ids = runtime.state.segments().map((s) => s.segmentId);
      const gone = ids.find((id) => report.unavailable.has(id));
      if (gone !== undefined) this.fence(runtime, `no copy of segment ${gone} answers`);
      else if (ids.some((id) => report.restartedOnly.has(id))) this.fence(runtime, 'the storage node holding its only copy restarted');
    }
    await this.fenceNewDamage();
    const fenced = [...this.partitions.values()].filter(
      (r) => r.storageFence !== undefined && !r.state.segments().some((s) => report.unavailable.has(s.segmentId)),
    );
    if (fenced.length > 0) await this.rebuild(fenced);
    await storage.reReplicate((segmentId) => {
      const runtime = this.allPartitions().find((r) => r.state.segmentInfo(segmentId) !== undefined);
      const info = runtime?.state.segmentInfo(segmentId);
      return info !== undefined && info.sealed && runtime!.state.isFullyCommitted(segmentId);
    });
  }

  private async rebuild(runtimes: PartitionRuntime[]): Promise<void> {
    let headers: Map<number, SegmentDescriptor>;
    let damage: StorageDamage;
    try {
      headers = new Map((await this.storage.describe()).map((s) => [s.segmentId, s]));
      damage = await this.storage.damage();
    } catch (err) {
      this.options.log?.(`reading the storage node's segment headers failed (${(err as Error).message}); trying again`);
      return;
    }
    for (const runtime of runtimes) {
      try {
        await runtime.serial(() => this.rebuildPartition(runtime, headers, damage));
        // A commit whose reply was lost may have landed: its producers' windows come from the data.
        await this.rescanProducers(runtime, 2);
      } catch (err) {
        this.options.log?.(`rebuilding ${runtime.topicName}-${runtime.partition} failed (${(err as Error).message}); trying again`);
      }
    }
  }

  /** Inside runtime.serial: a new PartitionState from the durable segment headers. */
  private async rebuildPartition(runtime: PartitionRuntime, headers: Map<number, SegmentDescriptor>, damage: StorageDamage): Promise<void> {
    if (runtime.storageFence === undefined || this.partitions.get(runtime.key) !== runtime) return;
    const meta = this.metadata.describeTopic(runtime.topicName).partitions.find((p) => p.partition === runtime.partition);
    if (!meta) return;
    const old = runtime.state;
    const { segments, fenced } = await this.joinSegments(runtime.topicName, meta, headers, damage);
    // A node that kept running may still receive a late put of a dropped stage
    // into its open segment: seal that at its durable end, so new stages go elsewhere.
    const last = segments[segments.length - 1];
    const mayReceiveLatePuts =
      runtime.sealOnRebuild || (runtime.storageFenceBootId === this.storageBootId && (old.inFlightStageCount() > 0 || !old.isPublished() || old.exclusiveOwner(Date.now()) !== null));
    if (last && !last.sealed && mayReceiveLatePuts) {
      await this.metadata.sealSegment(runtime.topicName, runtime.partition, last.segmentId);
      await this.storage.seal(last.segmentId, last.commitPosition);
      last.sealed = true;
    }
    runtime.state = new PartitionState(
      { topicId: runtime.topicId, partition: runtime.partition, topicName: runtime.topicName, segments, logStartOffset: meta.logStartOffset, fenced },
      { leaseTimeoutMs: this.options.leaseTimeoutMs, firstStageId: old.nextStageIdToGrant() },
    );
    runtime.storageFence = undefined;
    runtime.sealOnRebuild = false;
    const before = old.highWatermark();
    const after = runtime.state.highWatermark();
    const lost = after < before ? ` — ${before - after} offsets readers saw are not on the storage node` : '';
    this.options.log?.(`${runtime.topicName}-${runtime.partition} rebuilt from the storage node at high watermark ${after} (readers saw ${before})${lost}`);
    if (last && after > before) {
      // A commit the node made before its reply was lost: readers learn of it now.
      const info = runtime.state.segmentInfo(last.segmentId)!;
      this.options.onAdvance?.(runtime, {
        advanced: true,
        segments: [{ segmentId: info.segmentId, commitPosition: info.commitPosition, endOffset: info.endOffset }],
        committedStageIds: [],
        skipped: [],
      });
    }
  }

  /**
   * A partition's segments as the metadata lists them, with watermarks from
   * the storage headers, and its fenced ranges: what the storage node's
   * recovery found damaged, and every segment whose header is unreadable
   * (fenced as a whole, never forgotten: its offsets run to the next
   * segment's base, or, for the last one, to an upper bound — every record
   * takes at least one byte of the data area — so none is handed out again).
   */
  private async joinSegments(
    topicName: string,
    meta: TopicDescription['partitions'][number],
    stored: Map<number, SegmentDescriptor>,
    damage: StorageDamage,
  ): Promise<{ segments: SegmentInfo[]; fenced: FencedRange[] }> {
    const segments: SegmentInfo[] = [];
    const fenced: FencedRange[] = [];
    for (const [i, seg] of meta.segments.entries()) {
      const header = stored.get(seg.segmentId);
      if (!header) {
        const next = meta.segments[i + 1];
        const endOffset = next ? next.baseOffset : seg.baseOffset + BigInt(seg.dataCapacityBytes);
        const reason = `segment ${seg.segmentId} is missing from storage (its header is unreadable)`;
        this.options.log?.(
          `CORRUPT: ${topicName}-${meta.partition}: ${reason}; offsets [${seg.baseOffset}, ${endOffset}) are fenced: readers get CORRUPT_MESSAGE there, new offsets start at ${endOffset} or later`,
        );
        fenced.push({ segmentId: seg.segmentId, lost: true, startPosition: 0, endPosition: 0, baseOffset: seg.baseOffset, endOffset, reason });
        // Nothing is written there again; the next segment starts past its bound.
        if (!seg.sealed) await this.metadata.sealSegment(topicName, meta.partition, seg.segmentId);
        continue;
      }
      segments.push(toSegmentInfo(header, seg.sealed));
      for (const d of damage.ranges.filter((r) => r.segmentId === seg.segmentId)) {
        this.options.log?.(
          `CORRUPT: ${topicName}-${meta.partition} offsets [${d.baseOffset}, ${d.endOffset}) (segment ${d.segmentId} bytes [${d.startPosition}, ${d.endPosition})) are fenced: ${d.reason}`,
        );
        fenced.push({ segmentId: d.segmentId, lost: false, startPosition: d.startPosition, endPosition: d.endPosition, baseOffset: d.baseOffset, endOffset: d.endOffset, reason: d.reason });
      }
    }
    return { segments, fenced };
  }

  /**
   * Frees the oldest sealed, fully committed segments of each partition that
   * are past its topic's retention.ms or beyond its retention.bytes; the log
   * start offset moves up to the end of the last freed segment.
   */
  async enforceRetention(nowMs = Date.now()): Promise<number> {
    let freed = 0;
    for (const runtime of this.partitions.values()) {
      // Not topicById: it copies every partition of the topic, for each of its partitions.
      const config = this.metadata.topicConfig(runtime.topicId);
      if (!config || runtime.storageFence !== undefined) continue;
      const policy = { nowMs, retentionMs: Number(config['retention.ms']), retentionBytes: Number(config['retention.bytes']) };
      freed += await runtime.serial(() => this.freeLeading(runtime, runtime.state.retentionCandidates(policy))).catch((err: Error) => {
        this.options.log?.(`retention on ${runtime.topicName}-${runtime.partition} failed: ${err.message}`);
        return 0;
      });
    }
    return freed;
  }

  /**
   * Kafka's DeleteRecords: moves the partition's log start offset up to
   * `offset` (at most the high watermark) and frees the segments that now lie
   * wholly below it. Durable before it returns. Returns the new log start.
   */
  async deleteRecordsBefore(topicName: string, partition: number, offset: bigint): Promise<bigint> {
    const runtime = this.partitionByName(topicName, partition);
    return runtime.serial(async () => {
      const state = runtime.state;
      if (offset > state.highWatermark() || offset < 0n) {
        throw new PartitionError('OFFSET_OUT_OF_RANGE', `${topicName}-${partition}: offset ${offset} is outside 0..${state.highWatermark()}`);
      }
      if (offset > state.logStartOffset()) {
        await this.metadata.moveLogStart(topicName, partition, offset);
        state.moveLogStart(offset);
        await this.freeLeading(runtime, state.segmentsBelowLogStart());
      }
      return state.logStartOffset();
    });
  }

  /** Frees `segments`, the oldest of the partition in order: metadata first, then the runtime, then storage. Inside runtime.serial. */
  private async freeLeading(runtime: PartitionRuntime, segments: SegmentInfo[]): Promise<number> {
    for (const segment of segments) {
      await this.metadata.freeSegment(runtime.topicName, runtime.partition, segment.segmentId, segment.endOffset);
      runtime.state.removeSegment(segment.segmentId);
      await this.storage.free(segment.segmentId);
    }
    return segments.length;
  }

  private expireLeases(): void {
    const now = this.now();
    for (const runtime of this.partitions.values()) {
      const due = runtime.state.nextLeaseExpiryMs();
      if (due === null || due > now || runtime.storageFence !== undefined) continue;
      void runtime
        .serial(async () => (runtime.storageFence === undefined ? this.applyAdvance(runtime, runtime.state.expireLeases(this.now())) : undefined))
        .catch((err: Error) => this.options.log?.(`lease expiry on ${runtime.topicName}-${runtime.partition} failed: ${err.message}`));
    }
  }

  private addRuntime(topicName: string, topicId: number, partition: number, segments: SegmentInfo[], logStartOffset?: bigint, fenced?: FencedRange[]): PartitionRuntime {
    const state = new PartitionState({ topicId, partition, topicName, segments, logStartOffset, fenced }, { leaseTimeoutMs: this.options.leaseTimeoutMs });
    const runtime = new PartitionRuntime(topicName, topicId, partition, state);
    this.partitions.set(runtime.key, runtime);
    return runtime;
  }

  /**
   * Rebuilds every partition's idempotent producer windows from its committed
   * batch headers (the storage node walks them where the data is), then makes
   * the metadata log know every producer id and epoch seen in the data, so an
   * id is never handed out twice even if the log lost its tail.
   */
  private async recoverProducers(): Promise<void> {
    const startedMs = Date.now();
    const seen = new Map<bigint, number>();
    let batches = 0;
    for (const runtime of this.partitions.values()) {
      batches += await this.scanProducers(runtime, runtime.state.segments().map((s) => s.segmentId));
      for (const window of runtime.producers.all()) {
        if ((seen.get(window.producerId) ?? -1) < window.epoch) seen.set(window.producerId, window.epoch);
      }
    }
    const adopted = await this.metadata.adoptProducers([...seen].map(([producerId, epoch]) => ({ producerId, epoch })));
    if (adopted > 0) this.options.log?.(`${adopted} producer id(s) seen in the data were missing from the metadata log; recorded them`);
    if (seen.size > 0) this.options.log?.(`rebuilt the state of ${seen.size} idempotent producer(s) from ${batches} batch headers in ${Date.now() - startedMs} ms`);
  }

  /**
   * Folds the windows of `segmentIds` (oldest first) into the partition's
   * producers; returns the batches walked. A walk that stops early (a header
   * it cannot step over) is logged: producers past that point are not known.
   */
  private async scanProducers(runtime: PartitionRuntime, segmentIds: number[]): Promise<number> {
    let batches = 0;
    for (const segmentId of segmentIds) {
      const scan = await this.storage.scanProducers(segmentId);
      runtime.producers.absorb(scan.windows);
      batches += scan.batchCount;
      if (scan.stopReason) {
        this.options.log?.(`${runtime.topicName}-${runtime.partition} segment ${segmentId}: producer scan stopped at position ${scan.endPosition}: ${scan.stopReason}`);
      }
    }
    return batches;
  }

  /**
   * Folds in what the partition's committed batches say about its producers
   * (every segment, or only the newest `lastSegments`), once every operation
   * already queued on the partition is done. Batches already known change
   * nothing. For a partition rebuilt from storage, and after a write whose
   * outcome is unknown (it failed, but its commit may still have landed).
   */
  rescanProducers(runtime: PartitionRuntime, lastSegments = Number.POSITIVE_INFINITY): Promise<void> {
    return runtime.serial(async () => {
      const segments = runtime.state.segments();
      await this.scanProducers(runtime, segments.slice(Math.max(0, segments.length - lastSegments)).map((s) => s.segmentId));
    });
  }

  /**
   * Joins the metadata's segment lists with the storage headers (watermarks
   * live there) and with what the storage node's recovery found damaged. A
   * segment the metadata knows but storage does not (its header unreadable)
   * is fenced as a whole, never forgotten: its offsets run to the next
   * segment's base, or, for the last one, to an upper bound (every record
   * takes at least one byte of the data area), so none is handed out again.
   */
  private async recover(): Promise<void> {
    const stored = new Map((await this.storage.describe()).map((s) => [s.segmentId, s]));
    const damage = await this.storage.damage();
    const referenced = new Set<number>();
    for (const summary of this.metadata.listTopics()) {
      const topic = this.metadata.describeTopic(summary.name);
      for (const meta of topic.partitions) {
        const { segments, fenced } = await this.joinSegments(topic.name, meta, stored, damage);
        for (const s of segments) referenced.add(s.segmentId);
        const last = segments[segments.length - 1];
        if (this.options.sealOpenSegmentsOnOpen && last && !last.sealed) {
          await this.metadata.sealSegment(topic.name, meta.partition, last.segmentId);
          if (!stored.get(last.segmentId)?.sealed) await this.storage.seal(last.segmentId, last.commitPosition);
          last.sealed = true;
        }
        this.addRuntime(topic.name, topic.topicId, meta.partition, segments, meta.logStartOffset, fenced);
      }
    }
    await this.recoverProducers();
    // Segments allocated but never recorded (a crash between the two) hold no acknowledged data.
    for (const id of stored.keys()) {
      if (!referenced.has(id)) await this.storage.free(id);
    }
  }
}

/**
 * segment.bytes from --segment-size; max.message.bytes (Kafka's 1048588) no
 * larger than such a segment holds, so a small --segment-size still lets
 * topics be created with their defaults.
 */
function topicDefaultsFor(segmentBytes: number | undefined): Partial<TopicConfig> {
  if (segmentBytes === undefined) return {};
  return {
    'segment.bytes': segmentBytes,
    'max.message.bytes': Math.min(TOPIC_CONFIG_DEFAULTS['max.message.bytes'], segmentDataBytesMaxOf(segmentBytes)),
  };
}

function toSegmentInfo(segment: SegmentDescriptor, sealed = segment.sealed): SegmentInfo {
  return {
    segmentId: segment.segmentId,
    baseOffset: segment.baseOffset,
    dataCapacityBytes: segment.dataCapacityBytes,
    startPosition: segment.startPosition,
    commitPosition: segment.commitPosition,
    endOffset: segment.endOffset,
    sealed,
    maxTimestamp: segment.maxTimestamp,
  };
}
