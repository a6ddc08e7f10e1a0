// A fast-path consumer in a consumer group. Membership goes through the
// broker's control plane to the same group coordinator the Kafka gateway uses
// (broker/group-control.ts), with Kafka's consumer protocol and a round-robin
// assignor named as kafkajs's and the Java client's, so SDK and Kafka members
// of one group split its partitions and resume from each other's committed
// offsets. Reading is the plain Consumer's: one per generation, on the
// partitions assigned, starting at the committed offsets.
//
// Offsets are committed like kafkajs's defaults: after each batch the
// handlers finished (coalesced, one commit in flight), and before the
// partitions are given up (rebalance, stop). A record is committed only once
// its handler resolved: a member that dies re-delivers, never skips.
//
// Contract: one run() at a time; stop() and disconnect() not from inside a handler.
import { GROUP_ERRORS, GroupErrorName } from '../broker';
import { readBatchHeader } from '../format';
import { Connection } from './connection';
import { Consumer, ConsumerOptions, RunOptions } from './consumer';
import {
  assignRoundRobin,
  Assignment,
  CONSUMER_PROTOCOL_TYPE,
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  ROUND_ROBIN_PROTOCOLS,
} from './consumer-protocol';
import { AuthorizationError, RdmqError } from './errors';

export interface GroupConsumerOptions extends ConsumerOptions {
  groupId: string;
  /** Names this member to the group (default "rdmq"). */
  clientId?: string;
  /** Without a heartbeat for this long the member is dropped (default 30 s, as kafkajs). */
  sessionTimeoutMs?: number;
  /** How long a rebalance waits for members to rejoin (default 60 s, as kafkajs). */
  rebalanceTimeoutMs?: number;
  /** Default 3 s, as kafkajs; must be below the session timeout. */
  heartbeatIntervalMs?: number;
  /** Commit what the handlers finished (default true). */
  autoCommit?: boolean;
}

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  /** The next offset to read, as Kafka commits it. */
  offset: string;
}

const INVALID_REQUEST = 42;
const COORDINATOR_NOT_AVAILABLE = GROUP_ERRORS.COORDINATOR_NOT_AVAILABLE.code;
/** Waits between attempts to join while the coordinator is unavailable or the group is rebalancing. */
const REJOIN_DELAY_MS = 200;
/** Failed joins in a row before run() gives up (about a minute at REJOIN_DELAY_MS growing to 2 s). */
const JOIN_ATTEMPTS_MAX = 40;

function groupError(what: string, name: GroupErrorName | string, groupId = ''): RdmqError {
  const known = GROUP_ERRORS[name as GroupErrorName];
  if (name === 'GROUP_AUTHORIZATION_FAILED') return new AuthorizationError(`${what}: ${name}`, known.code, 'READ', groupId);
  return new RdmqError(`${what}: ${name}`, known?.code ?? -1, name, known?.retriable ?? false);
}

interface Generation {
  generationId: number;
  assignment: Assignment;
  reader: Consumer;
}

export class GroupConsumer {
  private readonly topics: string[] = [];
  private fromBeginning = false;
  private memberId = '';
  private generation: Generation | undefined;
  /** The generation whose assignment is read now; commits carry it (set before the first record is delivered). */
  private generationId = -1;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Per "topic:partition", the next offset after what the handlers finished. */
  private readonly resolved = new Map<string, { topic: string; partition: number; offset: bigint }>();
  /** Per "topic:partition", what the group has committed (from us or fetched). */
  private readonly committed = new Map<string, bigint>();
  private committing: Promise<void> | undefined;
  private commitAgain = false;
  private failure: (err: Error) => void = (err) => process.emitWarning(err.message);
  private readonly settings: Required<Omit<GroupConsumerOptions, keyof ConsumerOptions>>;

  constructor(
    private readonly connection: Connection,
    private readonly options: GroupConsumerOptions,
  ) {
    if (typeof options.groupId !== 'string' || options.groupId === '') throw new RdmqError('a group consumer needs a non-empty groupId', INVALID_REQUEST);
    this.settings = {
      groupId: options.groupId,
      clientId: options.clientId ?? 'rdmq',
      sessionTimeoutMs: options.sessionTimeoutMs ?? 30_000,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? 60_000,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 3000,
      autoCommit: options.autoCommit ?? true,
    };
    if (this.settings.heartbeatIntervalMs >= this.settings.sessionTimeoutMs) {
      throw new RdmqError(`heartbeatIntervalMs ${this.settings.heartbeatIntervalMs} must be below sessionTimeoutMs ${this.settings.sessionTimeoutMs}`, INVALID_REQUEST);
    }
  }

  /** The topics whose partitions the group shares out; `topic` or `topics`, before run(). */
  async subscribe(s: { topic?: string; topics?: string[]; fromBeginning?: boolean }): Promise<void> {
    if (this.running) throw new RdmqError('subscribe before run()', INVALID_REQUEST);
    const topics = [...(s.topic !== undefined ? [s.topic] : []), ...(s.topics ?? [])];
    if (topics.length === 0) throw new RdmqError('subscribe needs topic or topics', INVALID_REQUEST);
    for (const t of topics) if (!this.topics.includes(t)) this.topics.push(t);
    // Where a partition without a committed offset starts, as kafkajs's fromBeginning.
    this.fromBeginning = s.fromBeginning === true;
  }

  /** The partitions this member reads now. */
  assignment(): { topic: string; partitions: number[] }[] {
    return [...(this.generation?.assignment ?? new Map<string, number[]>())].map(([topic, partitions]) => ({ topic, partitions: [...partitions] }));
  }

  /** Joins the group and starts reading; resolves once the first assignment is being read. Later errors go to `onError`. */
  async run(handlers: RunOptions, onError?: (err: Error) => void): Promise<void> {
    if (this.running) throw new RdmqError('run() is already running', INVALID_REQUEST);
    if (this.topics.length === 0) throw new RdmqError('subscribe to a topic before run()', INVALID_REQUEST);
    if (!handlers.eachMessage && !handlers.eachBatch && !handlers.eachRawBatch) throw new RdmqError('run() needs eachMessage, eachBatch or eachRawBatch', INVALID_REQUEST);
    if (onError) this.failure = onError;
    this.running = true;
    const tracked = this.tracking(handlers);
    let reading = false;
    let first!: { resolve(): void; reject(err: Error): void };
    const started = new Promise<void>((resolve, reject) => (first = { resolve, reject }));
    const onFirstAssignment = { resolve: () => ((reading = true), first.resolve()) };
    this.loop = this.membership(tracked, onFirstAssignment).catch((err: Error) => {
      this.running = false;
      // Before the first assignment run() rejects with it; after, it goes to onError.
      if (reading) this.failure(err);
      else first.reject(err);
    });
    await started;
  }

  /** Commits `offsets` (next offsets to read) for the group now, as this member. */
  async commitOffsets(offsets: TopicPartitionOffset[]): Promise<void> {
    await this.commit(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: BigInt(o.offset) })));
  }

  /** Stops reading, commits what the handlers finished and leaves the group. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  /** Wraps the handlers so each finished record moves its partition's resolved offset. */
  private tracking(handlers: RunOptions): RunOptions {
    const resolve = (topic: string, partition: number, next: bigint): void => {
      this.resolved.set(`${topic}:${partition}`, { topic, partition, offset: next });
      if (this.settings.autoCommit) this.commitResolved();
    };
    if (handlers.eachRawBatch) {
      const each = handlers.eachRawBatch;
      return {
        eachRawBatch: async (payload) => {
          await each(payload);
          // The last batch's last offset, read before the buffer is reused.
          let at = 0;
          let next = -1n;
          for (let i = 0; i < payload.batchCount; i++) {
            const header = readBatchHeader(payload.bytes, at);
            next = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
            at += 12 + header.batchLength;
          }
          if (next >= 0n) resolve(payload.topic, payload.partition, next);
        },
      };
    }
    if (handlers.eachBatch) {
      const each = handlers.eachBatch;
      return {
        eachBatch: async (payload) => {
          await each(payload);
          const last = payload.batch.messages[payload.batch.messages.length - 1];
          if (last) resolve(payload.batch.topic, payload.batch.partition, BigInt(last.offset) + 1n);
        },
      };
    }
    const each = handlers.eachMessage!;
    return {
      // Not async: a handler that returns no promise is not awaited per message (the consumer does the same).
      eachMessage: (payload) => {
        const handled = each(payload);
        const next = (): void => resolve(payload.topic, payload.partition, BigInt(payload.message.offset) + 1n);
        if (handled !== undefined && typeof (handled as Promise<void>).then === 'function') return (handled as Promise<void>).then(next);
        next();
      },
    };
  }

  /** Join, sync, read and heartbeat until stopped; rejoin on every rebalance. */
  private async membership(handlers: RunOptions, first: { resolve(): void }): Promise<void> {
    let failures = 0;
    try {
      while (this.running) {
        let generation: { generationId: number; assignment: Assignment } | undefined;
        try {
          generation = await this.joinAndSync();
        } catch (err) {
          if (!(err instanceof RdmqError && err.retriable) || ++failures >= JOIN_ATTEMPTS_MAX) throw err;
          await this.sleep(Math.min(REJOIN_DELAY_MS * failures, 2000));
          continue;
        }
        if (!generation) continue;
        failures = 0;
        this.generationId = generation.generationId;
        const reader = await this.read(generation.assignment, handlers);
        this.generation = { ...generation, reader };
        first.resolve();
        await this.heartbeatUntilRebalance(generation.generationId);
        // Give the partitions up: no handler runs past here, then what they finished is committed.
        await reader.stop();
        // A failed commit was reported by commitResolved; the next owner reads those records again.
        if (this.settings.autoCommit) await this.commitResolved().catch(() => undefined);
        this.generation = undefined;
        this.generationId = -1;
      }
    } finally {
      await this.generation?.reader.stop();
      this.generation = undefined;
      if (this.memberId) {
        const memberId = this.memberId;
        this.memberId = '';
        await this.connection.call<{ error: string }>('leaveGroup', { groupId: this.settings.groupId, memberId }).catch(() => undefined);
      }
    }
  }

  /** One JoinGroup and SyncGroup; undefined when the group asks to join again. */
  private async joinAndSync(): Promise<{ generationId: number; assignment: Assignment } | undefined> {
    const { groupId, clientId, sessionTimeoutMs, rebalanceTimeoutMs } = this.settings;
    const metadata = encodeSubscription(this.topics);
    const joined = await this.connection.call<{ error: string; generationId: number; protocolName: string; leaderId: string; memberId: string; members: { memberId: string; metadata: Buffer }[] }>(
      'joinGroup',
      { groupId, memberId: this.memberId, clientId, protocolType: CONSUMER_PROTOCOL_TYPE, protocols: ROUND_ROBIN_PROTOCOLS.map((name) => ({ name, metadata })), sessionTimeoutMs, rebalanceTimeoutMs },
      rebalanceTimeoutMs + 10_000,
    );
    if (joined.error === 'UNKNOWN_MEMBER_ID') {
      this.memberId = '';
      return undefined;
    }
    if (joined.error === 'REBALANCE_IN_PROGRESS') return undefined;
    if (joined.error === 'COORDINATOR_NOT_AVAILABLE') throw new RdmqError('the group coordinator is not available', COORDINATOR_NOT_AVAILABLE, 'COORDINATOR_NOT_AVAILABLE', true);
    if (joined.error !== 'NONE') throw groupError(`joining group '${groupId}'`, joined.error, groupId);
    this.memberId = joined.memberId;
    let assignments: { memberId: string; assignment: Buffer }[] = [];
    if (joined.leaderId === joined.memberId) assignments = await this.assign(joined.members);
    const synced = await this.connection.call<{ error: string; assignment: Buffer }>(
      'syncGroup',
      { groupId, generationId: joined.generationId, memberId: this.memberId, assignments },
      rebalanceTimeoutMs + 10_000,
    );
    if (synced.error === 'UNKNOWN_MEMBER_ID') this.memberId = '';
    if (synced.error === 'REBALANCE_IN_PROGRESS' || synced.error === 'ILLEGAL_GENERATION' || synced.error === 'UNKNOWN_MEMBER_ID') return undefined;
    if (synced.error !== 'NONE') throw groupError(`syncing group '${groupId}'`, synced.error, groupId);
    return { generationId: joined.generationId, assignment: decodeAssignment(Buffer.from(synced.assignment)) };
  }

  /** As leader: every member's share, by the round-robin assignor. */
  private async assign(members: { memberId: string; metadata: Buffer }[]): Promise<{ memberId: string; assignment: Buffer }[]> {
    const subscriptions = members.map((m) => ({ memberId: m.memberId, topics: decodeSubscription(Buffer.from(m.metadata)) }));
    const partitionCounts = new Map<string, number>();
    for (const topic of new Set(subscriptions.flatMap((s) => s.topics))) {
      try {
        partitionCounts.set(topic, (await this.connection.describeTopic(topic)).partitions.length);
      } catch (err) {
        // A topic that does not exist (yet) has no partitions to hand out.
        if (!(err instanceof RdmqError && err.errorCode === 3)) throw err;
      }
    }
    const shares = assignRoundRobin(subscriptions, partitionCounts);
    return [...shares].map(([memberId, assignment]) => ({ memberId, assignment: encodeAssignment(assignment) }));
  }

  /** A plain consumer on the assigned partitions, each from the group's committed offset. */
  private async read(assignment: Assignment, handlers: RunOptions): Promise<Consumer> {
    const reader = new Consumer(this.connection, this.options);
    // What an earlier generation finished is committed; its partitions may be someone else's now.
    this.resolved.clear();
    this.committed.clear();
    const topics = [...assignment].filter(([, partitions]) => partitions.length > 0);
    if (topics.length > 0) {
      const fetched = await this.connection.call<{ offsets: { topic: string; partition: number; offset: string }[] }>('fetchOffsets', {
        groupId: this.settings.groupId,
        topics: topics.map(([topic, partitions]) => ({ topic, partitions })),
      });
      for (const [topic, partitions] of topics) await reader.subscribe({ topic, partitions, fromBeginning: this.fromBeginning });
      for (const f of fetched.offsets) {
        const key = `${f.topic}:${f.partition}`;
        if (BigInt(f.offset) < 0n) continue;
        this.committed.set(key, BigInt(f.offset));
        reader.seek({ topic: f.topic, partition: f.partition, offset: f.offset });
      }
    }
    await reader.run(handlers, this.failure);
    return reader;
  }

  /** Heartbeats every interval; returns when the group rebalances, the member is gone, or stop() was called. */
  private async heartbeatUntilRebalance(generationId: number): Promise<void> {
    while (this.running) {
      await this.sleep(this.settings.heartbeatIntervalMs);
      if (!this.running) return;
      let error: string;
      try {
        ({ error } = await this.connection.call<{ error: string }>('heartbeat', { groupId: this.settings.groupId, generationId, memberId: this.memberId }));
      } catch (err) {
        // The broker is away: keep reading; the session timeout decides whether we are still a member.
        if (err instanceof RdmqError && err.retriable) continue;
        throw err;
      }
      if (error === 'NONE') continue;
      if (error === 'UNKNOWN_MEMBER_ID') this.memberId = '';
      if (error === 'REBALANCE_IN_PROGRESS' || error === 'ILLEGAL_GENERATION' || error === 'UNKNOWN_MEMBER_ID') return;
      throw groupError(`heartbeat in group '${this.settings.groupId}'`, error);
    }
  }

  /** Commits the resolved offsets not committed yet; coalesces calls made while one is in flight. */
  private commitResolved(): Promise<void> {
    if (this.committing) {
      this.commitAgain = true;
      return this.committing;
    }
    this.committing = (async () => {
      do {
        this.commitAgain = false;
        const due = [...this.resolved.values()].filter((r) => this.committed.get(`${r.topic}:${r.partition}`) !== r.offset);
        if (due.length > 0) await this.commit(due);
      } while (this.commitAgain);
    })().finally(() => (this.committing = undefined));
    this.committing.catch((err: Error) => this.failure(err));
    return this.committing;
  }

  private async commit(offsets: { topic: string; partition: number; offset: bigint }[]): Promise<void> {
    const generationId = this.generationId;
    const reply = await this.connection.call<{ error: string; offsets: { topic: string; partition: number; error: string }[] }>('commitOffsets', {
      groupId: this.settings.groupId,
      generationId,
      memberId: generationId < 0 ? '' : this.memberId,
      offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset.toString(), metadata: '' })),
    });
    if (reply.error !== 'NONE') throw groupError(`committing offsets of group '${this.settings.groupId}'`, reply.error, this.settings.groupId);
    const failed = reply.offsets.find((o) => o.error !== 'NONE');
    if (failed) throw groupError(`committing ${failed.topic}-${failed.partition} for group '${this.settings.groupId}'`, failed.error);
    for (const o of offsets) this.committed.set(`${o.topic}:${o.partition}`, o.offset);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
