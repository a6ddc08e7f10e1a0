// The broker's metadata: topics, partitions and their segments, consumer group
// offsets, idempotent producer state. A deterministic reducer over typed
// records (`applyMetadataRecord`) plus `MetadataStore`, which validates a
// request, makes it durable in the MetadataLog and only then lets the visible
// state change.
//
// Commit watermarks are not here: they change on every produce and live in
// the storage node's segment headers, from which PartitionState is rebuilt.
import { applyCredentialRecord, CredentialRecord, CredentialState, isCredentialRecord } from './security/credentials';
import { z } from 'zod';
import type { ProducerBatch } from '../format';
import { MetadataLog, MetadataLogOptions, MetadataSink } from './metadata-log';
import { AclRecord, AclState, applyAclRecord, initialAclState } from './security/acls';

// ---- Errors ----------------------------------------------------------------

// One table: Kafka name → wire code and whether retrying can succeed.
export const KAFKA_ERRORS = {
  UNKNOWN_SERVER_ERROR: { code: -1, retriable: false },
  OFFSET_OUT_OF_RANGE: { code: 1, retriable: false },
  CORRUPT_MESSAGE: { code: 2, retriable: true },
  UNKNOWN_TOPIC_OR_PARTITION: { code: 3, retriable: true },
  MESSAGE_TOO_LARGE: { code: 10, retriable: false },
  OFFSET_METADATA_TOO_LARGE: { code: 12, retriable: false },
  INVALID_TOPIC_EXCEPTION: { code: 17, retriable: false },
  INVALID_GROUP_ID: { code: 24, retriable: false },
  TOPIC_ALREADY_EXISTS: { code: 36, retriable: false },
  INVALID_PARTITIONS: { code: 37, retriable: false },
  INVALID_CONFIG: { code: 40, retriable: false },
  INVALID_REQUEST: { code: 42, retriable: false },
  POLICY_VIOLATION: { code: 44, retriable: false },
  OUT_OF_ORDER_SEQUENCE_NUMBER: { code: 45, retriable: false },
  DUPLICATE_SEQUENCE_NUMBER: { code: 46, retriable: false },
  INVALID_PRODUCER_EPOCH: { code: 47, retriable: false },
  NOT_ENOUGH_REPLICAS: { code: 19, retriable: true },
  INVALID_REPLICATION_FACTOR: { code: 38, retriable: false },
  KAFKA_STORAGE_ERROR: { code: 56, retriable: true },
  UNKNOWN_PRODUCER_ID: { code: 59, retriable: false },
  GROUP_ID_NOT_FOUND: { code: 69, retriable: false },
  // Users (security/credentials.ts)
  UNSUPPORTED_SASL_MECHANISM: { code: 33, retriable: false },
  RESOURCE_NOT_FOUND: { code: 91, retriable: false },
  DUPLICATE_RESOURCE: { code: 92, retriable: false },
  UNACCEPTABLE_CREDENTIAL: { code: 93, retriable: false },
} as const;

export type KafkaErrorName = keyof typeof KAFKA_ERRORS;

export class BrokerError extends Error {
  readonly kafkaErrorCode: number;
  readonly retriable: boolean;
  constructor(
    readonly code: KafkaErrorName,
    message: string,
  ) {
    super(message);
    this.name = 'BrokerError';
    this.kafkaErrorCode = KAFKA_ERRORS[code].code;
    this.retriable = KAFKA_ERRORS[code].retriable;
  }
}

// ---- Topic configs ---------------------------------------------------------

/**
 * Kafka's common topic configs. Each is honoured, stored for a feature that
 * reads it, accepted where rdmq already does what any value asks (noted), or
 * limited to the values rdmq honours; the `allowed` text says which and why.
 */
export interface TopicConfig {
  /** -1: keep forever. */
  'retention.ms': number;
  /** -1: no size limit (per partition). */
  'retention.bytes': number;
  'segment.bytes': number;
  'max.message.bytes': number;
  'cleanup.policy': 'delete';
  /** Copies that must hold a write before it is acknowledged; fewer in sync and producers get NOT_ENOUGH_REPLICAS. */
  'min.insync.replicas': number;
  'unclean.leader.election.enable': boolean;
  'compression.type': 'producer';
  /** LogAppendTime: the Kafka gateway stamps each batch with its append time. */
  'message.timestamp.type': 'CreateTime' | 'LogAppendTime';
  /** Ignored by Kafka 3.0+ as by rdmq, which writes record batch v2 only. */
  'message.format.version': string;
  'message.downconversion.enable': boolean;
  'message.timestamp.difference.max.ms': string;
  'message.timestamp.before.max.ms': string;
  'message.timestamp.after.max.ms': string;
  'segment.ms': string;
  'segment.jitter.ms': number;
  'segment.index.bytes': number;
  'index.interval.bytes': number;
  'flush.messages': string;
  'flush.ms': string;
  'file.delete.delay.ms': number;
  preallocate: boolean;
  'delete.retention.ms': number;
  'min.compaction.lag.ms': number;
  'max.compaction.lag.ms': string;
  'min.cleanable.dirty.ratio': number;
}

export type TopicConfigName = keyof TopicConfig;

/** Kafka's Long.MAX_VALUE, the default of the "no limit" configs. */
const LONG_MAX = '9223372036854775807';

/**
 * Defaults of a broker started without settings (Kafka's, where rdmq has the
 * feature); `segment.bytes` follows the broker's --segment-size (Kafka's
 * log.segment.bytes), see MetadataStoreOptions.
 */
export const TOPIC_CONFIG_DEFAULTS: Readonly<TopicConfig> = {
  'retention.ms': 7 * 24 * 60 * 60 * 1000,
  'retention.bytes': -1,
  'segment.bytes': 64 * 1024 * 1024,
  'max.message.bytes': 1048588,
  'cleanup.policy': 'delete',
  'min.insync.replicas': 1,
  'unclean.leader.election.enable': false,
  'compression.type': 'producer',
  'message.timestamp.type': 'CreateTime',
  'message.format.version': '3.0-IV1',
  'message.downconversion.enable': true,
  'message.timestamp.difference.max.ms': LONG_MAX,
  'message.timestamp.before.max.ms': LONG_MAX,
  'message.timestamp.after.max.ms': LONG_MAX,
  'segment.ms': String(7 * 24 * 60 * 60 * 1000),
  'segment.jitter.ms': 0,
  'segment.index.bytes': 10 * 1024 * 1024,
  'index.interval.bytes': 4096,
  'flush.messages': LONG_MAX,
  'flush.ms': LONG_MAX,
  'file.delete.delay.ms': 60_000,
  preallocate: false,
  'delete.retention.ms': 24 * 60 * 60 * 1000,
  'min.compaction.lag.ms': 0,
  'max.compaction.lag.ms': LONG_MAX,
  'min.cleanable.dirty.ratio': 0.5,
};

const MAX_INT32 = 2 ** 31 - 1;
/** One storage slot: the smallest segment there is. */
export const SEGMENT_BYTES_MIN = 64 * 1024;

function integerConfig(min: number, max: number) {
  return z
    .union([z.number(), z.bigint(), z.string().regex(/^\s*-?\d+\s*$/)])
    .transform((v) => Number(v))
    .pipe(z.number().int().min(min).max(max));
}

/** Exactly one (64-bit) value, kept as its decimal string: the one rdmq honours. */
function onlyLong(value: string) {
  return z
    .union([z.number(), z.bigint(), z.string().regex(/^\s*-?\d+\s*$/)])
    .transform((v) => BigInt(typeof v === 'string' ? v.trim() : v).toString())
    .pipe(z.literal(value));
}

const booleanConfig = z
  .union([z.boolean(), z.enum(['true', 'false', 'TRUE', 'FALSE', 'True', 'False'])])
  .transform((v) => (typeof v === 'boolean' ? v : v.toLowerCase() === 'true'));

const NOT_COMPACTED = 'rdmq has no log compaction (cleanup.policy is delete), so this compaction setting has no effect';

// What each config accepts, checked by zod and explained by `allowed`.
const TOPIC_CONFIG_SCHEMAS: Record<TopicConfigName, { schema: z.ZodType<unknown>; allowed: string }> = {
  'retention.ms': { schema: integerConfig(-1, Number.MAX_SAFE_INTEGER), allowed: 'an integer number of milliseconds ≥ -1 (-1 keeps data forever)' },
  'retention.bytes': { schema: integerConfig(-1, Number.MAX_SAFE_INTEGER), allowed: 'an integer number of bytes ≥ -1 (-1 means no limit)' },
  'segment.bytes': { schema: integerConfig(SEGMENT_BYTES_MIN, MAX_INT32), allowed: `an integer number of bytes from ${SEGMENT_BYTES_MIN} to ${MAX_INT32}` },
  'max.message.bytes': { schema: integerConfig(0, MAX_INT32), allowed: `an integer number of bytes from 0 to ${MAX_INT32}` },
  'cleanup.policy': { schema: z.literal('delete'), allowed: "'delete': rdmq has no log compaction, so 'compact' cannot be honoured" },
  'min.insync.replicas': { schema: integerConfig(1, MAX_INT32), allowed: `an integer from 1 to ${MAX_INT32} (copies that must hold a write before it is acknowledged; at most the replication factor)` },
  'unclean.leader.election.enable': { schema: booleanConfig, allowed: 'true or false (rdmq elects no leaders among replicas; stored)' },
  'compression.type': {
    schema: z.literal('producer'),
    allowed: "'producer': rdmq stores batches exactly as producers compressed them and does not recompress",
  },
  'message.timestamp.type': { schema: z.enum(['CreateTime', 'LogAppendTime']), allowed: "'CreateTime' or 'LogAppendTime'" },
  'message.format.version': {
    schema: z.string().regex(/^\d+\.\d+(\.\d+)?(-IV\d+)?$/),
    allowed: "a Kafka version such as '0.10.0', '2.8-IV0' or '3.0-IV1' (ignored, as by Kafka 3.0+: rdmq writes record batch v2 only)",
  },
  'message.downconversion.enable': { schema: booleanConfig, allowed: 'true or false (no effect: rdmq serves Fetch v4+, which needs no down-conversion)' },
  'message.timestamp.difference.max.ms': { schema: onlyLong(LONG_MAX), allowed: `${LONG_MAX}: rdmq does not bound record timestamps` },
  'message.timestamp.before.max.ms': { schema: onlyLong(LONG_MAX), allowed: `${LONG_MAX}: rdmq does not bound record timestamps` },
  'message.timestamp.after.max.ms': { schema: onlyLong(LONG_MAX), allowed: `${LONG_MAX}: rdmq does not bound record timestamps` },
  'segment.ms': { schema: onlyLong(String(7 * 24 * 60 * 60 * 1000)), allowed: `${7 * 24 * 60 * 60 * 1000} (Kafka's default): rdmq rolls segments by size only` },
  'segment.jitter.ms': { schema: integerConfig(0, Number.MAX_SAFE_INTEGER), allowed: 'an integer number of milliseconds ≥ 0 (no effect: rdmq rolls segments by size)' },
  'segment.index.bytes': { schema: integerConfig(4, MAX_INT32), allowed: `an integer number of bytes from 4 to ${MAX_INT32} (no effect: the broker's offset index lives in memory)` },
  'index.interval.bytes': { schema: integerConfig(0, MAX_INT32), allowed: `an integer number of bytes from 0 to ${MAX_INT32} (no effect: the broker's index interval is its own setting)` },
  'flush.messages': { schema: onlyLong(LONG_MAX), allowed: `${LONG_MAX}: rdmq persists every commit as the broker's --durability says, not per topic` },
  'flush.ms': { schema: onlyLong(LONG_MAX), allowed: `${LONG_MAX}: rdmq persists every commit as the broker's --durability says, not per topic` },
  'file.delete.delay.ms': { schema: integerConfig(0, Number.MAX_SAFE_INTEGER), allowed: 'an integer number of milliseconds ≥ 0 (no effect: freed segments are slots in one region, not files)' },
  preallocate: { schema: booleanConfig, allowed: 'true or false (no effect: every segment is preallocated in the region)' },
  'delete.retention.ms': { schema: integerConfig(0, Number.MAX_SAFE_INTEGER), allowed: `an integer number of milliseconds ≥ 0 (${NOT_COMPACTED})` },
  'min.compaction.lag.ms': { schema: integerConfig(0, Number.MAX_SAFE_INTEGER), allowed: `an integer number of milliseconds ≥ 0 (${NOT_COMPACTED})` },
  'max.compaction.lag.ms': {
    schema: z
      .union([z.number(), z.bigint(), z.string().regex(/^\s*\d+\s*$/)])
      .transform((v) => BigInt(typeof v === 'string' ? v.trim() : v))
      .refine((v) => v >= 1n && v <= BigInt(LONG_MAX))
      .transform((v) => v.toString()),
    allowed: `an integer number of milliseconds from 1 to ${LONG_MAX} (${NOT_COMPACTED})`,
  },
  'min.cleanable.dirty.ratio': {
    schema: z.union([z.number(), z.string().regex(/^\s*\d*\.?\d+\s*$/)]).transform((v) => Number(v)).pipe(z.number().min(0).max(1)),
    allowed: `a number from 0 to 1 (${NOT_COMPACTED})`,
  },
};

const TOPIC_CONFIG_NAMES = Object.keys(TOPIC_CONFIG_SCHEMAS) as TopicConfigName[];

export type TopicConfigInput = Record<string, string | number | bigint | boolean | null | undefined>;

/** Validates config overrides (strings as on the Kafka wire, or numbers). */
export function parseTopicConfigs(input: TopicConfigInput): Partial<TopicConfig> {
  const parsed: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(input)) {
    if (raw === undefined || raw === null) continue;
    const spec = TOPIC_CONFIG_SCHEMAS[name as TopicConfigName];
    if (!spec) {
      throw new BrokerError('INVALID_CONFIG', `unknown topic config '${name}'; supported: ${TOPIC_CONFIG_NAMES.join(', ')}`);
    }
    const result = spec.schema.safeParse(raw);
    if (!result.success) {
      throw new BrokerError('INVALID_CONFIG', `invalid value ${JSON.stringify(String(raw))} for topic config ${name}: must be ${spec.allowed}`);
    }
    parsed[name] = result.data;
  }
  return parsed as Partial<TopicConfig>;
}

export function effectiveTopicConfig(overrides: Partial<TopicConfig>, defaults: Readonly<TopicConfig> = TOPIC_CONFIG_DEFAULTS): TopicConfig {
  return { ...defaults, ...overrides };
}

function checkConfigConsistency(config: TopicConfig): void {
  if (config['max.message.bytes'] > config['segment.bytes']) {
    throw new BrokerError(
      'INVALID_CONFIG',
      `max.message.bytes ${config['max.message.bytes']} exceeds segment.bytes ${config['segment.bytes']}: a batch must fit in one segment`,
    );
  }
}

/**
 * The topic rule every door applies to a produced batch, the Kafka gateway
 * and the fast path alike: a batch (BaseOffset through its last record byte)
 * may be at most max.message.bytes. Null when it fits.
 */
export function batchSizeError(topicName: string, config: Pick<TopicConfig, 'max.message.bytes'>, batchBytes: number): BrokerError | null {
  const max = config['max.message.bytes'];
  if (batchBytes <= max) return null;
  return new BrokerError('MESSAGE_TOO_LARGE', `a ${batchBytes}-byte record batch exceeds topic '${topicName}' max.message.bytes ${max}`);
}

// ---- Names -----------------------------------------------------------------

export const MAX_TOPIC_NAME_LENGTH = 249;
const LEGAL_TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;

/** Kafka's topic name rules. Throws INVALID_TOPIC_EXCEPTION saying what is allowed. */
export function validateTopicName(name: string): void {
  const illegal = (why: string) => new BrokerError('INVALID_TOPIC_EXCEPTION', `topic name ${JSON.stringify(name)} is illegal: ${why}`);
  if (typeof name !== 'string' || name.length === 0) throw illegal('it is empty');
  if (name === '.' || name === '..') throw illegal("'.' and '..' are not allowed");
  if (name.length > MAX_TOPIC_NAME_LENGTH) throw illegal(`it is ${name.length} characters long, the limit is ${MAX_TOPIC_NAME_LENGTH}`);
  if (!LEGAL_TOPIC_NAME.test(name)) throw illegal("it may contain only ASCII letters, digits, '.', '_' and '-'");
}

/** Names Kafka reserves for its own state (offsets, transactions, KRaft metadata); Kafka refuses to create them too. */
export const INTERNAL_TOPIC_NAMES: ReadonlySet<string> = new Set(['__consumer_offsets', '__transaction_state', '__cluster_metadata']);

/** Kafka treats '.' and '_' as the same in metric names, so 'a.b' and 'a_b' cannot both exist. */
function collisionKey(name: string): string {
  return name.replace(/\./g, '_');
}

// ---- State -----------------------------------------------------------------

export interface SegmentMeta {
  segmentId: number;
  storageNodeId: string;
  baseOffset: bigint;
  dataCapacityBytes: number;
  sealed: boolean;
  /** The storage nodes holding it in sync (replication); absent: only storageNodeId. */
  replicas?: string[];
}

export interface PartitionMeta {
  partition: number;
  /** Moves up when retention frees the oldest segment. */
  logStartOffset: bigint;
  /** Oldest first; only the last may be unsealed. */
  segments: SegmentMeta[];
}

export interface TopicMeta {
  topicId: number;
  name: string;
  configOverrides: Partial<TopicConfig>;
  partitions: PartitionMeta[];
  /** Copies of each segment on distinct storage nodes; absent: 1. */
  replicationFactor?: number;
}

export interface CommittedOffset {
  offset: bigint;
  metadata: string | null;
  leaderEpoch: number;
  commitTimestampMs: number;
}

/**
 * A producer id handed out by InitProducerId and its current epoch. What it
 * wrote (sequences, offsets) is not here: the broker rebuilds that from the
 * batches' own headers in the log (PartitionProducers), so the
 * acknowledgement of a produce never waits for a metadata write.
 */
export interface ProducerState {
  producerId: bigint;
  epoch: number;
}

export interface MetadataState {
  /** Topic ids are never reused. */
  nextTopicId: number;
  topics: Map<number, TopicMeta>;
  topicIdsByName: Map<string, number>;
  /** `${storageNodeId}/${segmentId}` → owner: one storage segment belongs to one partition. */
  segmentOwners: Map<string, { topicId: number; partition: number }>;
  /** group → topic name → partition → committed offset. */
  groups: Map<string, Map<string, Map<number, CommittedOffset>>>;
  /**
   * group → its protocol type ('consumer', 'connect', ...) as of its last
   * commit by a member, so ListGroups says it after a restart. Absent in
   * snapshots written before it existed.
   */
  groupProtocolTypes?: Map<string, string>;
  nextProducerId: bigint;
  producers: Map<bigint, ProducerState>;
  /** SCRAM users (security/credentials.ts); absent in snapshots written before users existed. */
  scramCredentials?: CredentialState;
  /** ACL bindings (security/acls.ts); absent in snapshots written before ACLs existed. */
  acls?: AclState;
}

export const MAX_PRODUCER_EPOCH = 32767;

export function initialMetadataState(): MetadataState {
  return {
    nextTopicId: 1,
    topics: new Map(),
    topicIdsByName: new Map(),
    segmentOwners: new Map(),
    groups: new Map(),
    nextProducerId: 0n,
    producers: new Map(),
  };
}

// ---- Records ---------------------------------------------------------------

export interface OffsetCommitEntry {
  topic: string;
  partition: number;
  offset: bigint;
  metadata: string | null;
  leaderEpoch: number;
}

export type MetadataRecord =
  | { type: 'TopicCreated'; topicId: number; name: string; partitions: number; configOverrides: Partial<TopicConfig>; replicationFactor?: number }
  | { type: 'TopicDeleted'; topicId: number }
  | { type: 'PartitionsAdded'; topicId: number; totalPartitions: number }
  | { type: 'TopicConfigChanged'; topicId: number; configOverrides: Partial<TopicConfig> }
  | { type: 'SegmentAdded'; topicId: number; partition: number; segmentId: number; storageNodeId: string; baseOffset: bigint; dataCapacityBytes: number; replicas?: string[] }
  | { type: 'SegmentReplicasChanged'; topicId: number; partition: number; segmentId: number; replicas: string[] }
  | { type: 'SegmentSealed'; topicId: number; partition: number; segmentId: number }
  | { type: 'SegmentFreed'; topicId: number; partition: number; segmentId: number; nextOffset: bigint }
  | { type: 'LogStartMoved'; topicId: number; partition: number; offset: bigint }
  | { type: 'OffsetCommitted'; groupId: string; offsets: OffsetCommitEntry[]; commitTimestampMs: number; protocolType?: string }
  | { type: 'GroupDeleted'; groupId: string }
  | { type: 'ProducerIdAllocated'; producerId: bigint; epoch: number }
  | { type: 'ProducerEpochBumped'; producerId: bigint; epoch: number }
  /** No longer written (producer state is rebuilt from the log's batch headers); replayed from older logs for the epoch only. */
  | { type: 'ProducerStateUpdated'; producerId: bigint; epoch: number; topicId: number; partition: number; batch: ProducerBatch }
  | CredentialRecord
  | AclRecord;


function segmentOwnerKey(storageNodeId: string, segmentId: number): string {
  return `${storageNodeId}/${segmentId}`;
}

/**
 * Applies one record. Deterministic and free of I/O; updates `state` in place
 * and returns it. It copies what it keeps from the record (the same record is
 * applied to more than one state). A record that does not fit the state is a
 * bug, not user input, and throws.
 */
export function applyMetadataRecord(state: MetadataState, record: MetadataRecord): MetadataState {
  if (isCredentialRecord(record)) {
    applyCredentialRecord(state, record);
    return state;
  }
  switch (record.type) {
    case 'TopicCreated': {
      state.topics.set(record.topicId, {
        topicId: record.topicId,
        name: record.name,
        configOverrides: { ...record.configOverrides },
        partitions: Array.from({ length: record.partitions }, (_, partition) => emptyPartition(partition)),
        ...(record.replicationFactor !== undefined && record.replicationFactor > 1 ? { replicationFactor: record.replicationFactor } : {}),
      });
      state.topicIdsByName.set(record.name, record.topicId);
      state.nextTopicId = Math.max(state.nextTopicId, record.topicId + 1);
      break;
    }
    case 'TopicDeleted': {
      const topic = topicById(state, record.topicId);
      for (const p of topic.partitions) for (const s of p.segments) state.segmentOwners.delete(segmentOwnerKey(s.storageNodeId, s.segmentId));
      state.topics.delete(record.topicId);
      state.topicIdsByName.delete(topic.name);
      for (const [groupId, topics] of state.groups) {
        topics.delete(topic.name);
        if (topics.size === 0) {
          state.groups.delete(groupId);
          state.groupProtocolTypes?.delete(groupId);
        }
      }
      break;
    }
    case 'PartitionsAdded': {
      const topic = topicById(state, record.topicId);
      for (let p = topic.partitions.length; p < record.totalPartitions; p++) topic.partitions.push(emptyPartition(p));
      break;
    }
    case 'TopicConfigChanged':
      topicById(state, record.topicId).configOverrides = { ...record.configOverrides };
      break;
    case 'SegmentAdded': {
      const partition = partitionById(state, record.topicId, record.partition);
      partition.segments.push({
        segmentId: record.segmentId,
        storageNodeId: record.storageNodeId,
        baseOffset: record.baseOffset,
        dataCapacityBytes: record.dataCapacityBytes,
        sealed: false,
        ...(record.replicas ? { replicas: [...record.replicas] } : {}),
      });
      state.segmentOwners.set(segmentOwnerKey(record.storageNodeId, record.segmentId), {
        topicId: record.topicId,
        partition: record.partition,
      });
      break;
    }
    case 'SegmentReplicasChanged':
      segmentById(state, record.topicId, record.partition, record.segmentId).replicas = [...record.replicas];
      break;
    case 'SegmentSealed':
      segmentById(state, record.topicId, record.partition, record.segmentId).sealed = true;
      break;
    case 'SegmentFreed': {
      const partition = partitionById(state, record.topicId, record.partition);
      const index = partition.segments.findIndex((s) => s.segmentId === record.segmentId);
      if (index < 0) throw new Error(`segment ${record.segmentId} of topic ${record.topicId} partition ${record.partition} does not exist`);
      const [freed] = partition.segments.splice(index, 1);
      state.segmentOwners.delete(segmentOwnerKey(freed.storageNodeId, freed.segmentId));
      if (record.nextOffset > partition.logStartOffset) partition.logStartOffset = record.nextOffset;
      break;
    }
    case 'LogStartMoved': {
      const partition = partitionById(state, record.topicId, record.partition);
      if (record.offset > partition.logStartOffset) partition.logStartOffset = record.offset;
      break;
    }
    case 'OffsetCommitted': {
      let topics = state.groups.get(record.groupId);
      if (!topics) state.groups.set(record.groupId, (topics = new Map()));
      for (const entry of record.offsets) {
        let partitions = topics.get(entry.topic);
        if (!partitions) topics.set(entry.topic, (partitions = new Map()));
        partitions.set(entry.partition, {
          offset: entry.offset,
          metadata: entry.metadata,
          leaderEpoch: entry.leaderEpoch,
          commitTimestampMs: record.commitTimestampMs,
        });
      }
      if (record.protocolType) (state.groupProtocolTypes ??= new Map()).set(record.groupId, record.protocolType);
      break;
    }
    case 'GroupDeleted':
      state.groups.delete(record.groupId);
      state.groupProtocolTypes?.delete(record.groupId);
      break;
    case 'ProducerIdAllocated':
      state.producers.set(record.producerId, { producerId: record.producerId, epoch: record.epoch });
      if (record.producerId >= state.nextProducerId) state.nextProducerId = record.producerId + 1n;
      break;
    case 'ProducerEpochBumped':
      producerById(state, record.producerId).epoch = record.epoch;
      break;
    case 'ProducerStateUpdated': {
      const producer = producerById(state, record.producerId);
      if (record.epoch > producer.epoch) producer.epoch = record.epoch;
      break;
    }
    case 'AclsCreated':
    case 'AclsDeleted':
      applyAclRecord((state.acls ??= initialAclState()), record);
      break;
    default: {
      const unknown: never = record;
      throw new Error(`unknown metadata record ${JSON.stringify((unknown as { type?: unknown }).type)}`);
    }
  }
  return state;
}

function emptyPartition(partition: number): PartitionMeta {
  return { partition, logStartOffset: 0n, segments: [] };
}

function topicById(state: MetadataState, topicId: number): TopicMeta {
  const topic = state.topics.get(topicId);
  if (!topic) throw new Error(`topic id ${topicId} does not exist`);
  return topic;
}

function partitionById(state: MetadataState, topicId: number, partition: number): PartitionMeta {
  const meta = topicById(state, topicId).partitions[partition];
  if (!meta) throw new Error(`topic id ${topicId} has no partition ${partition}`);
  return meta;
}

function segmentById(state: MetadataState, topicId: number, partition: number, segmentId: number): SegmentMeta {
  const segment = partitionById(state, topicId, partition).segments.find((s) => s.segmentId === segmentId);
  if (!segment) throw new Error(`segment ${segmentId} of topic id ${topicId} partition ${partition} does not exist`);
  return segment;
}

function producerById(state: MetadataState, producerId: bigint): ProducerState {
  const producer = state.producers.get(producerId);
  if (!producer) throw new Error(`producer id ${producerId} was never allocated`);
  return producer;
}

// ---- Store -----------------------------------------------------------------

export interface MetadataStoreOptions {
  fsync: boolean;
  snapshotEveryRecords?: number;
  maxPartitionsPerTopic?: number;
  maxTopics?: number;
  /** Kafka's offset.metadata.max.bytes. */
  maxOffsetMetadataBytes?: number;
  maxOffsetsPerCommit?: number;
  /** Topic configs of this broker where a topic sets none (segment.bytes: the --segment-size). */
  topicConfigDefaults?: Partial<TopicConfig>;
  warn?: (message: string) => void;
  /** Where the records go: the file log in `dir` when not given (an HA broker passes its etcd log). */
  openSink?: (options: MetadataLogOptions<MetadataState, MetadataRecord>) => Promise<MetadataSink<MetadataState, MetadataRecord>>;
}

export interface TopicSummary {
  name: string;
  topicId: number;
  partitions: number;
}

export interface TopicDescription {
  name: string;
  topicId: number;
  configs: TopicConfig;
  /** Configs set on this topic (the rest are defaults). */
  configOverrides: Partial<TopicConfig>;
  partitions: PartitionMeta[];
  replicationFactor: number;
}

export interface OffsetCommitRequest {
  topic: string;
  partition: number;
  offset: bigint;
  metadata?: string | null;
  leaderEpoch?: number;
}

export interface OffsetCommitResult {
  topic: string;
  partition: number;
  error: BrokerError | null;
}

export interface FetchedOffset {
  topic: string;
  partition: number;
  /** -1 when the group has committed nothing there. */
  offset: bigint;
  metadata: string | null;
  leaderEpoch: number;
}

const DEFAULT_LIMITS = {
  maxPartitionsPerTopic: 10_000,
  maxTopics: 100_000,
  maxOffsetMetadataBytes: 4096,
  maxOffsetsPerCommit: 10_000,
};

const MAX_GROUP_ID_LENGTH = 255;
const EMPTY_ACLS: Readonly<AclState> = initialAclState();
const MAX_STORAGE_NODE_ID_LENGTH = 255;

/**
 * Validates a request against the state including every record already on
 * its way to the log (`projected`), appends its record, and applies it to the
 * visible `state` only once durable. So concurrent requests are checked
 * against each other (two creates of one name cannot both pass) while readers
 * never see what is not durable. After a log failure every mutation fails with
 * KAFKA_STORAGE_ERROR until the broker restarts.
 */
export class MetadataStore {
  private failure: BrokerError | null = null;
  private readonly limits: typeof DEFAULT_LIMITS;
  /** What a topic's config is where it sets none. */
  readonly topicConfigDefaults: Readonly<TopicConfig>;

  private constructor(
    private readonly log: MetadataSink<MetadataState, MetadataRecord>,
    private readonly projected: MetadataState,
    options: MetadataStoreOptions,
  ) {
    this.topicConfigDefaults = effectiveTopicConfig(parseTopicConfigs(options.topicConfigDefaults ?? {}));
    this.limits = {
      maxPartitionsPerTopic: options.maxPartitionsPerTopic ?? DEFAULT_LIMITS.maxPartitionsPerTopic,
      maxTopics: options.maxTopics ?? DEFAULT_LIMITS.maxTopics,
      maxOffsetMetadataBytes: options.maxOffsetMetadataBytes ?? DEFAULT_LIMITS.maxOffsetMetadataBytes,
      maxOffsetsPerCommit: options.maxOffsetsPerCommit ?? DEFAULT_LIMITS.maxOffsetsPerCommit,
    };
  }

  static async open(dir: string, options: MetadataStoreOptions): Promise<MetadataStore> {
    const logOptions: MetadataLogOptions<MetadataState, MetadataRecord> = {
      fsync: options.fsync,
      snapshotEveryRecords: options.snapshotEveryRecords,
      initialState: initialMetadataState,
      reduce: applyMetadataRecord,
      warn: options.warn,
    };
    const log = options.openSink ? await options.openSink(logOptions) : await MetadataLog.open<MetadataState, MetadataRecord>(dir, logOptions);
    return new MetadataStore(log, structuredClone(log.state), options);
  }

  /** Durable state. Read-only for callers. */
  get state(): Readonly<MetadataState> {
    return this.log.state;
  }

  close(): Promise<void> {
    return this.log.close();
  }

  // -- Users: security/credentials.ts validates against `projectedState` and appends --

  get projectedState(): Readonly<MetadataState> {
    return this.projected;
  }

  appendCredentialRecord(record: CredentialRecord): Promise<void> {
    return this.commit(record);
  }

  snapshot(): Promise<void> {
    return this.log.snapshot();
  }

  // -- Topics --

  async createTopic(name: string, partitions: number, configs: TopicConfigInput = {}, replicationFactor = 1): Promise<TopicDescription> {
    validateTopicName(name);
    if (INTERNAL_TOPIC_NAMES.has(name)) {
      throw new BrokerError('INVALID_REQUEST', `creation of internal topic ${name} is prohibited: it is Kafka's internal topic, and rdmq keeps that state in its metadata log`);
    }
    const s = this.projected;
    if (s.topicIdsByName.has(name)) throw new BrokerError('TOPIC_ALREADY_EXISTS', `topic '${name}' already exists`);
    const collides = [...s.topicIdsByName.keys()].find((other) => collisionKey(other) === collisionKey(name));
    if (collides) {
      throw new BrokerError('INVALID_TOPIC_EXCEPTION', `topic '${name}' collides with existing topic '${collides}': '.' and '_' count as the same character`);
    }
    this.checkPartitionCount(partitions, 1, `topic '${name}'`);
    if (s.topics.size >= this.limits.maxTopics) {
      throw new BrokerError('POLICY_VIOLATION', `this broker holds ${s.topics.size} topics, the limit is ${this.limits.maxTopics}`);
    }
    const configOverrides = parseTopicConfigs(configs);
    checkConfigConsistency(effectiveTopicConfig(configOverrides, this.topicConfigDefaults));
    if (!Number.isInteger(replicationFactor) || replicationFactor < 1 || replicationFactor > 255) {
      throw new BrokerError('INVALID_REPLICATION_FACTOR', `replication factor ${replicationFactor} must be an integer from 1 to 255`);
    }
    await this.commit({ type: 'TopicCreated', topicId: s.nextTopicId, name, partitions, configOverrides, ...(replicationFactor > 1 ? { replicationFactor } : {}) });
    return this.describeTopic(name);
  }

  /** Deletes a topic; returns its segments, which the caller frees on the storage nodes. */
  async deleteTopic(name: string): Promise<{ topicId: number; partitions: PartitionMeta[] }> {
    const topic = this.projectedTopic(name);
    const partitions = structuredClone(topic.partitions);
    await this.commit({ type: 'TopicDeleted', topicId: topic.topicId });
    return { topicId: topic.topicId, partitions };
  }

  async addPartitions(name: string, totalPartitions: number): Promise<TopicDescription> {
    const topic = this.projectedTopic(name);
    const current = topic.partitions.length;
    this.checkPartitionCount(totalPartitions, current + 1, `topic '${name}'`);
    await this.commit({ type: 'PartitionsAdded', topicId: topic.topicId, totalPartitions });
    return this.describeTopic(name);
  }

  /**
   * Changes config overrides: a value sets one, null resets it to the default.
   * With `replace`, overrides not named are reset too (Kafka's AlterConfigs;
   * without it, IncrementalAlterConfigs).
   */
  async alterConfigs(name: string, changes: TopicConfigInput, options: { replace?: boolean } = {}): Promise<TopicDescription> {
    const topic = this.projectedTopic(name);
    const overrides: Record<string, unknown> = options.replace ? {} : { ...topic.configOverrides };
    for (const [key, value] of Object.entries(changes)) {
      if (!(key in TOPIC_CONFIG_SCHEMAS)) parseTopicConfigs({ [key]: value ?? '' }); // throws: unknown config
      if (value === null || value === undefined) delete overrides[key];
    }
    Object.assign(overrides, parseTopicConfigs(changes));
    const configOverrides = overrides as Partial<TopicConfig>;
    checkConfigConsistency(effectiveTopicConfig(configOverrides, this.topicConfigDefaults));
    await this.commit({ type: 'TopicConfigChanged', topicId: topic.topicId, configOverrides });
    return this.describeTopic(name);
  }

  listTopics(): TopicSummary[] {
    return [...this.state.topics.values()]
      .map((t) => ({ name: t.name, topicId: t.topicId, partitions: t.partitions.length }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  describeTopic(name: string): TopicDescription {
    const topic = this.visibleTopic(name);
    return {
      name: topic.name,
      topicId: topic.topicId,
      configs: effectiveTopicConfig(topic.configOverrides, this.topicConfigDefaults),
      configOverrides: { ...topic.configOverrides },
      partitions: structuredClone(topic.partitions),
      replicationFactor: topic.replicationFactor ?? 1,
    };
  }

  /** The topic's replication factor by id (1 for a topic unknown here). */
  topicReplicationFactor(topicId: number): number {
    return this.state.topics.get(topicId)?.replicationFactor ?? 1;
  }

  /** The topic's id, without copying its description; throws UNKNOWN_TOPIC_OR_PARTITION. */
  topicIdOf(name: string): number {
    return this.visibleTopic(name).topicId;
  }

  /** The topic's effective configs, without copying its partitions (retention asks for every partition). */
  topicConfig(topicId: number): TopicConfig | undefined {
    const topic = this.state.topics.get(topicId);
    return topic ? effectiveTopicConfig(topic.configOverrides, this.topicConfigDefaults) : undefined;
  }

  /** The topic's segment.bytes, without copying its description (the produce path asks). */
  topicSegmentBytes(topicId: number): number {
    return this.state.topics.get(topicId)?.configOverrides['segment.bytes'] ?? this.topicConfigDefaults['segment.bytes'];
  }

  topicById(topicId: number): TopicDescription | undefined {
    const topic = this.state.topics.get(topicId);
    return topic ? this.describeTopic(topic.name) : undefined;
  }

  // -- Segments --

  async addSegment(
    name: string,
    partition: number,
    segment: { segmentId: number; storageNodeId: string; baseOffset: bigint; dataCapacityBytes: number; replicas?: string[] },
  ): Promise<void> {
    const topic = this.projectedTopic(name);
    const meta = this.projectedPartition(topic, partition);
    const where = `topic '${name}' partition ${partition}`;
    if (!Number.isSafeInteger(segment.segmentId) || segment.segmentId < 0) {
      throw new BrokerError('INVALID_REQUEST', `${where}: segment id must be an integer ≥ 0, got ${segment.segmentId}`);
    }
    if (typeof segment.storageNodeId !== 'string' || segment.storageNodeId.length === 0 || segment.storageNodeId.length > MAX_STORAGE_NODE_ID_LENGTH) {
      throw new BrokerError('INVALID_REQUEST', `${where}: storage node id must be 1..${MAX_STORAGE_NODE_ID_LENGTH} characters`);
    }
    if (!Number.isSafeInteger(segment.dataCapacityBytes) || segment.dataCapacityBytes <= 0) {
      throw new BrokerError('INVALID_REQUEST', `${where}: dataCapacityBytes must be a positive integer, got ${segment.dataCapacityBytes}`);
    }
    const owner = this.projected.segmentOwners.get(segmentOwnerKey(segment.storageNodeId, segment.segmentId));
    if (owner) {
      throw new BrokerError(
        'INVALID_REQUEST',
        `segment ${segment.segmentId} on storage node '${segment.storageNodeId}' already belongs to topic id ${owner.topicId} partition ${owner.partition}`,
      );
    }
    const last = meta.segments[meta.segments.length - 1];
    if (last && !last.sealed) {
      throw new BrokerError('INVALID_REQUEST', `${where}: segment ${last.segmentId} is still open; seal it before adding another`);
    }
    const floor = last ? last.baseOffset : meta.logStartOffset;
    if (typeof segment.baseOffset !== 'bigint' || segment.baseOffset < floor) {
      throw new BrokerError('INVALID_REQUEST', `${where}: new segment base offset ${segment.baseOffset} is below ${floor}`);
    }
    await this.commit({
      type: 'SegmentAdded',
      topicId: topic.topicId,
      partition,
      segmentId: segment.segmentId,
      storageNodeId: segment.storageNodeId,
      baseOffset: segment.baseOffset,
      dataCapacityBytes: segment.dataCapacityBytes,
      ...(segment.replicas && segment.replicas.length > 0 ? { replicas: [...segment.replicas] } : {}),
    });
  }

  /** A segment's new in-sync set of storage nodes (replication). */
  async setSegmentReplicas(name: string, partition: number, segmentId: number, replicas: string[]): Promise<void> {
    const topic = this.projectedTopic(name);
    this.projectedSegment(topic, partition, segmentId);
    if (replicas.length === 0) throw new BrokerError('INVALID_REQUEST', `segment ${segmentId} must keep at least one replica`);
    await this.commit({ type: 'SegmentReplicasChanged', topicId: topic.topicId, partition, segmentId, replicas: [...replicas] });
  }

  /**
   * The partition segment `segmentId` of topic `topicId` belongs to and its
   * in-sync copies: as the log holds them durably (`durable`), or with the
   * records on their way to it. Undefined if the metadata does not list it
   * (freed, or not added yet).
   */
  segmentReplicas(topicId: number, segmentId: number, durable: boolean): { topicName: string; partition: number; replicas: string[] } | undefined {
    const topic = (durable ? this.state : this.projected).topics.get(topicId);
    for (const p of topic?.partitions ?? []) {
      const segment = p.segments.find((s) => s.segmentId === segmentId);
      if (segment) return { topicName: topic!.name, partition: p.partition, replicas: [...(segment.replicas ?? [segment.storageNodeId])] };
    }
    return undefined;
  }

  /** Seals a segment (idempotent). */
  async sealSegment(name: string, partition: number, segmentId: number): Promise<void> {
    const topic = this.projectedTopic(name);
    const segment = this.projectedSegment(topic, partition, segmentId);
    if (segment.sealed) return;
    await this.commit({ type: 'SegmentSealed', topicId: topic.topicId, partition, segmentId });
  }

  /** Frees the oldest segment (retention); the log start offset moves to `nextOffset`, its end. */
  async freeSegment(name: string, partition: number, segmentId: number, nextOffset: bigint): Promise<void> {
    const topic = this.projectedTopic(name);
    const meta = this.projectedPartition(topic, partition);
    const segment = this.projectedSegment(topic, partition, segmentId);
    const where = `topic '${name}' partition ${partition}`;
    if (meta.segments[0] !== segment) {
      throw new BrokerError('INVALID_REQUEST', `${where}: only the oldest segment (${meta.segments[0].segmentId}) can be freed, not ${segmentId}`);
    }
    if (!segment.sealed) throw new BrokerError('INVALID_REQUEST', `${where}: segment ${segmentId} is open; only sealed segments can be freed`);
    const next = meta.segments[1];
    if (typeof nextOffset !== 'bigint' || nextOffset < segment.baseOffset || (next && nextOffset > next.baseOffset)) {
      throw new BrokerError(
        'INVALID_REQUEST',
        `${where}: end offset ${nextOffset} of segment ${segmentId} must be between its base offset ${segment.baseOffset} and ${next ? `the next segment's ${next.baseOffset}` : 'the log end'}`,
      );
    }
    await this.commit({ type: 'SegmentFreed', topicId: topic.topicId, partition, segmentId, nextOffset });
  }

  /**
   * Moves the log start offset up to `offset` (Kafka's DeleteRecords): records
   * below it are gone for readers, though their segment stays until every
   * record in it is below the start. The caller checks `offset` against the
   * high watermark, which the metadata does not know.
   */
  async moveLogStart(name: string, partition: number, offset: bigint): Promise<void> {
    const topic = this.projectedTopic(name);
    const meta = this.projectedPartition(topic, partition);
    if (typeof offset !== 'bigint' || offset < 0n) throw new BrokerError('INVALID_REQUEST', `log start offset must be a non-negative integer, got ${offset}`);
    if (offset <= meta.logStartOffset) return;
    await this.commit({ type: 'LogStartMoved', topicId: topic.topicId, partition, offset });
  }

  // -- Consumer group offsets --

  /** Commits offsets; each partition gets its own result, as in Kafka's OffsetCommit. */
  async commitOffsets(groupId: string, offsets: OffsetCommitRequest[], nowMs = Date.now(), protocolType: string | null = null): Promise<OffsetCommitResult[]> {
    this.checkGroupId(groupId);
    if (offsets.length > this.limits.maxOffsetsPerCommit) {
      throw new BrokerError('INVALID_REQUEST', `an offset commit may name at most ${this.limits.maxOffsetsPerCommit} partitions, got ${offsets.length}`);
    }
    const accepted: OffsetCommitEntry[] = [];
    const results = offsets.map((o): OffsetCommitResult => {
      const error = this.offsetCommitError(o);
      if (!error) {
        accepted.push({ topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata ?? null, leaderEpoch: o.leaderEpoch ?? -1 });
      }
      return { topic: o.topic, partition: o.partition, error };
    });
    if (accepted.length > 0) {
      const known = this.projected.groupProtocolTypes?.get(groupId);
      const record: MetadataRecord = { type: 'OffsetCommitted', groupId, offsets: accepted, commitTimestampMs: nowMs };
      // Written only when it changes: one string per group, not per commit.
      if (protocolType && protocolType !== known) record.protocolType = protocolType;
      await this.commit(record);
    }
    return results;
  }

  private offsetCommitError(o: OffsetCommitRequest): BrokerError | null {
    const topicId = this.projected.topicIdsByName.get(o.topic);
    const topic = topicId === undefined ? undefined : this.projected.topics.get(topicId);
    if (!topic || !Number.isInteger(o.partition) || o.partition < 0 || o.partition >= topic.partitions.length) {
      return new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${o.topic}' partition ${o.partition} does not exist`);
    }
    if (typeof o.offset !== 'bigint' || o.offset < 0n) {
      return new BrokerError('INVALID_REQUEST', `offset ${o.offset} for topic '${o.topic}' partition ${o.partition} must be ≥ 0`);
    }
    const metadataBytes = o.metadata ? Buffer.byteLength(o.metadata, 'utf8') : 0;
    if (metadataBytes > this.limits.maxOffsetMetadataBytes) {
      return new BrokerError(
        'OFFSET_METADATA_TOO_LARGE',
        `offset metadata of ${metadataBytes} bytes for topic '${o.topic}' partition ${o.partition} exceeds ${this.limits.maxOffsetMetadataBytes}`,
      );
    }
    return null;
  }

  /** Committed offsets of a group: for the named topics/partitions, or all it has. */
  fetchOffsets(groupId: string, topics?: { topic: string; partitions?: number[] }[]): FetchedOffset[] {
    const committed = this.state.groups.get(groupId);
    const entry = (topic: string, partition: number): FetchedOffset => {
      const c = committed?.get(topic)?.get(partition);
      return c
        ? { topic, partition, offset: c.offset, metadata: c.metadata, leaderEpoch: c.leaderEpoch }
        : { topic, partition, offset: -1n, metadata: null, leaderEpoch: -1 };
    };
    if (!topics) {
      return [...(committed ?? new Map<string, Map<number, CommittedOffset>>()).entries()].flatMap(([topic, partitions]) =>
        [...partitions.keys()].sort((a, b) => a - b).map((p) => entry(topic, p)),
      );
    }
    return topics.flatMap(({ topic, partitions }) => {
      const all = partitions ?? [...(committed?.get(topic)?.keys() ?? [])].sort((a, b) => a - b);
      return all.map((p) => entry(topic, p));
    });
  }

  /** Removes a group's committed offsets. Membership (NON_EMPTY_GROUP) is the coordinator's check. */
  async deleteGroup(groupId: string): Promise<void> {
    this.checkGroupId(groupId);
    if (!this.projected.groups.has(groupId)) throw new BrokerError('GROUP_ID_NOT_FOUND', `group '${groupId}' has no committed offsets`);
    await this.commit({ type: 'GroupDeleted', groupId });
  }

  listGroups(): string[] {
    return [...this.state.groups.keys()].sort();
  }

  /** The protocol type a group last committed under ('' when only simple commits were made). */
  groupProtocolType(groupId: string): string {
    return this.state.groupProtocolTypes?.get(groupId) ?? '';
  }

  // -- Idempotent producers --

  async allocateProducerId(): Promise<{ producerId: bigint; epoch: number }> {
    const producerId = this.projected.nextProducerId;
    await this.commit({ type: 'ProducerIdAllocated', producerId, epoch: 0 });
    return { producerId, epoch: 0 };
  }

  /** A producer re-initialises: bump its epoch (fencing the old one), or a fresh id once epochs run out. */
  async bumpProducerEpoch(producerId: bigint): Promise<{ producerId: bigint; epoch: number }> {
    const producer = this.projected.producers.get(producerId);
    if (!producer) throw new BrokerError('UNKNOWN_PRODUCER_ID', `producer id ${producerId} is unknown`);
    if (producer.epoch >= MAX_PRODUCER_EPOCH) return this.allocateProducerId();
    const epoch = producer.epoch + 1;
    await this.commit({ type: 'ProducerEpochBumped', producerId, epoch });
    return { producerId, epoch };
  }

  /**
   * Makes the log agree with producers seen in the data (the log may have lost
   * its tail where the data did not): an id the log does not know is recorded
   * at the epoch its batches carry, a newer epoch is recorded too. Recording
   * an id also moves nextProducerId past it, so no id seen in the data is ever
   * handed out again. Returns how many producers were recorded.
   */
  async adoptProducers(seen: Iterable<{ producerId: bigint; epoch: number }>): Promise<number> {
    let adopted = 0;
    for (const { producerId, epoch } of seen) {
      if (producerId < 0n || !Number.isInteger(epoch) || epoch < 0 || epoch > MAX_PRODUCER_EPOCH) continue;
      const known = this.projected.producers.get(producerId);
      if (!known) await this.commit({ type: 'ProducerIdAllocated', producerId, epoch });
      else if (known.epoch < epoch) await this.commit({ type: 'ProducerEpochBumped', producerId, epoch });
      else continue;
      adopted++;
    }
    return adopted;
  }

  // -- ACLs (security/acls.ts builds the records) --

  /** The durable ACL bindings. */
  get acls(): Readonly<AclState> {
    return this.state.acls ?? EMPTY_ACLS;
  }

  /**
   * Appends the ACL record `build` makes from the bindings as they will be
   * once every record on its way is durable (null: nothing changes).
   */
  async changeAcls<T>(build: (projected: Readonly<AclState>) => { record: AclRecord | null; result: T }): Promise<T> {
    if (this.failure) throw this.failure;
    const { record, result } = build(this.projected.acls ?? EMPTY_ACLS);
    if (record) await this.commit(record);
    return result;
  }

  private async commit(record: MetadataRecord): Promise<void> {
    if (this.failure) throw this.failure;
    applyMetadataRecord(this.projected, record);
    try {
      await this.log.append(record);
    } catch (err) {
      // `projected` now holds a record the log does not: refuse everything until restart.
      this.failure ??= new BrokerError(
        'KAFKA_STORAGE_ERROR',
        `the metadata log failed (${err instanceof Error ? err.message : String(err)}); restart the broker to recover`,
      );
      throw this.failure;
    }
  }

  private checkPartitionCount(count: number, min: number, what: string): void {
    const max = this.limits.maxPartitionsPerTopic;
    if (!Number.isInteger(count) || count < min || count > max) {
      throw new BrokerError(
        'INVALID_PARTITIONS',
        min > 1
          ? `${what} has ${min - 1} partitions; the new count must be greater than that and at most ${max}, got ${count}`
          : `${what}: partition count must be an integer from 1 to ${max}, got ${count}`,
      );
    }
  }

  private checkGroupId(groupId: string): void {
    if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > MAX_GROUP_ID_LENGTH) {
      throw new BrokerError('INVALID_GROUP_ID', `group id must be 1..${MAX_GROUP_ID_LENGTH} characters, got ${JSON.stringify(groupId)}`);
    }
  }

  private projectedTopic(name: string): TopicMeta {
    return this.lookupTopic(this.projected, name);
  }

  private visibleTopic(name: string): TopicMeta {
    return this.lookupTopic(this.state, name);
  }

  private lookupTopic(state: Readonly<MetadataState>, name: string): TopicMeta {
    const topicId = state.topicIdsByName.get(name);
    const topic = topicId === undefined ? undefined : state.topics.get(topicId);
    if (!topic) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' does not exist`);
    return topic;
  }

  private projectedPartition(topic: TopicMeta, partition: number): PartitionMeta {
    const meta = Number.isInteger(partition) ? topic.partitions[partition] : undefined;
    if (!meta) {
      throw new BrokerError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `topic '${topic.name}' has no partition ${partition}; its partitions are 0..${topic.partitions.length - 1}`,
      );
    }
    return meta;
  }

  private projectedSegment(topic: TopicMeta, partition: number, segmentId: number): SegmentMeta {
    const segment = this.projectedPartition(topic, partition).segments.find((s) => s.segmentId === segmentId);
    if (!segment) {
      throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${topic.name}' partition ${partition} has no segment ${segmentId}`);
    }
    return segment;
  }
}
