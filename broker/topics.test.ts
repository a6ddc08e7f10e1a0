import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  BrokerError,
  KafkaErrorName,
  MetadataStore,
  MetadataStoreOptions,
  TOPIC_CONFIG_DEFAULTS,
  applyMetadataRecord,
  initialMetadataState,
  parseTopicConfigs,
  validateTopicName,
} from './topics';

let dir: string;
const stores: MetadataStore[] = [];
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rdmq-topics-'));
});
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  await fs.rm(dir, { recursive: true, force: true });
});

async function openStore(options: Partial<MetadataStoreOptions> = {}): Promise<MetadataStore> {
  const store = await MetadataStore.open(dir, { fsync: false, snapshotEveryRecords: 0, ...options });
  stores.push(store);
  return store;
}

async function reopen(store: MetadataStore, options: Partial<MetadataStoreOptions> = {}): Promise<MetadataStore> {
  await store.close();
  stores.splice(stores.indexOf(store), 1);
  return openStore(options);
}

async function rejection(promise: Promise<unknown> | (() => unknown)): Promise<BrokerError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    if (err instanceof BrokerError) return err;
    throw err;
  }
  throw new Error('expected a BrokerError');
}

async function expectError(promise: Promise<unknown> | (() => unknown), code: KafkaErrorName, message: RegExp): Promise<void> {
  const err = await rejection(promise);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
}

describe('MetadataStore topics', () => {
  test('a created topic survives a restart with its id, partitions and configs', async () => {
    const store = await openStore();
    const created = await store.createTopic('orders', 3, { 'retention.ms': '60000', 'cleanup.policy': 'delete' });
    expect(created).toMatchObject({ name: 'orders', topicId: 1, configOverrides: { 'retention.ms': 60000, 'cleanup.policy': 'delete' } });
    expect(created.configs['retention.bytes']).toBe(-1);
    expect(created.partitions.map((p) => p.partition)).toEqual([0, 1, 2]);
    await store.createTopic('payments', 1);

    const again = await reopen(store);
    expect(again.listTopics()).toEqual([
      { name: 'orders', topicId: 1, partitions: 3 },
      { name: 'payments', topicId: 2, partitions: 1 },
    ]);
    expect(again.describeTopic('orders').configs['retention.ms']).toBe(60000);
  });

  test('topic ids are never reused, even after a delete and a restart', async () => {
    const store = await openStore();
    await store.createTopic('a', 1);
    await store.deleteTopic('a');
    const again = await reopen(store);
    expect((await again.createTopic('a', 1)).topicId).toBe(2);
  });

  test('bad topic names are refused with INVALID_TOPIC_EXCEPTION saying what is allowed', async () => {
    const store = await openStore();
    await expectError(store.createTopic('', 1), 'INVALID_TOPIC_EXCEPTION', /is empty/);
    await expectError(store.createTopic('.', 1), 'INVALID_TOPIC_EXCEPTION', /'\.' and '\.\.' are not allowed/);
    await expectError(store.createTopic('..', 1), 'INVALID_TOPIC_EXCEPTION', /not allowed/);
    await expectError(store.createTopic('a b', 1), 'INVALID_TOPIC_EXCEPTION', /only ASCII letters, digits, '\.', '_' and '-'/);
    await expectError(store.createTopic('x'.repeat(250), 1), 'INVALID_TOPIC_EXCEPTION', /250 characters long, the limit is 249/);
    expect(() => validateTopicName('x'.repeat(249))).not.toThrow();
    await store.createTopic('metrics.cpu', 1);
    await expectError(store.createTopic('metrics_cpu', 1), 'INVALID_TOPIC_EXCEPTION', /collides with existing topic 'metrics.cpu'/);
    const err = await rejection(store.createTopic('a/b', 1));
    expect([err.kafkaErrorCode, err.retriable]).toEqual([17, false]);
  });

  test('creating an existing topic fails with TOPIC_ALREADY_EXISTS, also when both creates race', async () => {
    const store = await openStore();
    await store.createTopic('orders', 1);
    await expectError(store.createTopic('orders', 2), 'TOPIC_ALREADY_EXISTS', /topic 'orders' already exists/);
    const results = await Promise.allSettled([store.createTopic('race', 1), store.createTopic('race', 1)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as BrokerError).kafkaErrorCode).toBe(36);
  });

  test('partition counts outside 1..max are refused with INVALID_PARTITIONS', async () => {
    const store = await openStore({ maxPartitionsPerTopic: 100 });
    await expectError(store.createTopic('t', 0), 'INVALID_PARTITIONS', /integer from 1 to 100, got 0/);
    await expectError(store.createTopic('t', 1.5), 'INVALID_PARTITIONS', /got 1.5/);
    await expectError(store.createTopic('t', 101), 'INVALID_PARTITIONS', /got 101/);
    await store.createTopic('t', 3);
    await expectError(store.addPartitions('t', 2), 'INVALID_PARTITIONS', /has 3 partitions; the new count must be greater than that and at most 100, got 2/);
    await expectError(store.addPartitions('t', 3), 'INVALID_PARTITIONS', /got 3/);
    await expectError(store.addPartitions('nope', 5), 'UNKNOWN_TOPIC_OR_PARTITION', /topic 'nope' does not exist/);
    expect((await store.addPartitions('t', 5)).partitions).toHaveLength(5);
  });

  test('bad configs are refused with INVALID_CONFIG naming the config and what it accepts', async () => {
    const store = await openStore();
    await expectError(store.createTopic('t', 1, { 'retention.ms': 'soon' }), 'INVALID_CONFIG', /invalid value "soon" for topic config retention.ms: must be an integer number of milliseconds ≥ -1/);
    await expectError(store.createTopic('t', 1, { 'retention.bytes': -2 }), 'INVALID_CONFIG', /retention.bytes/);
    await expectError(store.createTopic('t', 1, { 'segment.bytes': '100' }), 'INVALID_CONFIG', /segment.bytes: must be an integer number of bytes from 65536/);
    await expectError(store.createTopic('t', 1, { 'cleanup.policy': 'compact' }), 'INVALID_CONFIG', /cleanup.policy: must be 'delete': rdmq has no log compaction/);
    await expectError(store.createTopic('t', 1, { 'compression.type': 'lz4' }), 'INVALID_CONFIG', /compression.type: must be 'producer': rdmq stores batches exactly as producers compressed them/);
    await expectError(store.createTopic('t', 1, { 'min.insync.replicas': 0 }), 'INVALID_CONFIG', /min.insync.replicas: must be an integer from 1/);
    await expectError(store.createTopic('t', 1, { 'local.retention.ms': 5 }), 'INVALID_CONFIG', /unknown topic config 'local.retention.ms'; supported: retention.ms, retention.bytes/);
    await expectError(
      store.createTopic('t', 1, { 'segment.bytes': 1048576, 'max.message.bytes': 2097152 }),
      'INVALID_CONFIG',
      /max.message.bytes 2097152 exceeds segment.bytes 1048576: a batch must fit in one segment/,
    );
    expect(parseTopicConfigs({ 'retention.ms': -1, 'retention.bytes': 10n })).toEqual({ 'retention.ms': -1, 'retention.bytes': 10 });
    expect(store.listTopics()).toEqual([]);
  });

  test('every default, written as DescribeConfigs shows it, is accepted back (tools that alter with everything they described)', () => {
    const described = Object.fromEntries(Object.entries(TOPIC_CONFIG_DEFAULTS).map(([name, value]) => [name, String(value)]));
    expect(parseTopicConfigs(described)).toEqual(TOPIC_CONFIG_DEFAULTS);
  });

  test('alterConfigs sets, resets and replaces overrides and validates the result', async () => {
    const store = await openStore();
    await store.createTopic('t', 1, { 'retention.ms': 1000 });
    let described = await store.alterConfigs('t', { 'retention.bytes': '5000' });
    expect(described.configOverrides).toEqual({ 'retention.ms': 1000, 'retention.bytes': 5000 });
    described = await store.alterConfigs('t', { 'retention.ms': null });
    expect(described.configs['retention.ms']).toBe(TOPIC_CONFIG_DEFAULTS['retention.ms']);
    described = await store.alterConfigs('t', { 'segment.bytes': 4194304 }, { replace: true });
    expect(described.configOverrides).toEqual({ 'segment.bytes': 4194304 });
    await expectError(store.alterConfigs('t', { 'max.message.bytes': 8388608 }), 'INVALID_CONFIG', /exceeds segment.bytes 4194304/);
    await expectError(store.alterConfigs('t', { bogus: null }), 'INVALID_CONFIG', /unknown topic config 'bogus'/);
    await expectError(store.alterConfigs('missing', {}), 'UNKNOWN_TOPIC_OR_PARTITION', /does not exist/);
    expect((await reopen(store)).describeTopic('t').configOverrides).toEqual({ 'segment.bytes': 4194304 });
  });

  test('deleting a topic returns its segments and drops its group offsets', async () => {
    const store = await openStore();
    await store.createTopic('t', 2);
    await store.addSegment('t', 1, { segmentId: 4, storageNodeId: 'node-a', baseOffset: 0n, dataCapacityBytes: 1024 });
    await store.commitOffsets('g', [{ topic: 't', partition: 0, offset: 5n }]);
    const deleted = await store.deleteTopic('t');
    expect(deleted.partitions[1].segments.map((s) => s.segmentId)).toEqual([4]);
    expect(store.fetchOffsets('g')).toEqual([]);
    await expectError(store.deleteTopic('t'), 'UNKNOWN_TOPIC_OR_PARTITION', /topic 't' does not exist/);
    expect(() => store.describeTopic('t')).toThrow(BrokerError);
    // The storage segment is free to be given to another partition.
    await store.createTopic('u', 1);
    await store.addSegment('u', 0, { segmentId: 4, storageNodeId: 'node-a', baseOffset: 0n, dataCapacityBytes: 1024 });
  });
});

describe('MetadataStore segments', () => {
  test('segments are added in order, sealed and freed from the oldest, and survive a restart', async () => {
    const store = await openStore();
    await store.createTopic('t', 1);
    const seg = (segmentId: number, baseOffset: bigint) => ({ segmentId, storageNodeId: 'n1', baseOffset, dataCapacityBytes: 1 << 20 });
    await store.addSegment('t', 0, seg(1, 0n));
    await expectError(store.addSegment('t', 0, seg(2, 100n)), 'INVALID_REQUEST', /segment 1 is still open; seal it before adding another/);
    await store.sealSegment('t', 0, 1);
    await store.sealSegment('t', 0, 1); // idempotent
    await expectError(store.addSegment('t', 0, seg(2, 0n - 1n)), 'INVALID_REQUEST', /below 0/);
    await expectError(store.addSegment('t', 0, seg(1, 100n)), 'INVALID_REQUEST', /already belongs to topic id 1 partition 0/);
    await store.addSegment('t', 0, seg(2, 100n));
    await expectError(store.addSegment('t', 5, seg(3, 100n)), 'UNKNOWN_TOPIC_OR_PARTITION', /has no partition 5; its partitions are 0..0/);
    await expectError(store.addSegment('t', 0, { ...seg(3, 100n), dataCapacityBytes: 0 }), 'INVALID_REQUEST', /dataCapacityBytes must be a positive integer/);
    await expectError(store.addSegment('t', 0, { ...seg(3, 100n), storageNodeId: '' }), 'INVALID_REQUEST', /storage node id/);
    await expectError(store.sealSegment('t', 0, 99), 'UNKNOWN_TOPIC_OR_PARTITION', /has no segment 99/);

    await expectError(store.freeSegment('t', 0, 2, 150n), 'INVALID_REQUEST', /only the oldest segment \(1\) can be freed/);
    await expectError(store.freeSegment('t', 0, 1, 101n), 'INVALID_REQUEST', /end offset 101 of segment 1 must be between/);
    await store.freeSegment('t', 0, 1, 100n);
    await expectError(store.freeSegment('t', 0, 2, 150n), 'INVALID_REQUEST', /segment 2 is open/);

    const again = await reopen(store);
    const [partition] = again.describeTopic('t').partitions;
    expect(partition.logStartOffset).toBe(100n);
    expect(partition.segments).toEqual([{ segmentId: 2, storageNodeId: 'n1', baseOffset: 100n, dataCapacityBytes: 1 << 20, sealed: false }]);
  });
});

describe('MetadataStore consumer group offsets', () => {
  test('committed offsets are fetched back after a restart; partitions never committed read -1', async () => {
    const store = await openStore();
    await store.createTopic('t', 3);
    const results = await store.commitOffsets('g1', [
      { topic: 't', partition: 0, offset: 10n, metadata: 'm', leaderEpoch: 2 },
      { topic: 't', partition: 2, offset: 7n },
    ]);
    expect(results.map((r) => r.error)).toEqual([null, null]);
    const again = await reopen(store);
    expect(again.fetchOffsets('g1', [{ topic: 't', partitions: [0, 1, 2] }])).toEqual([
      { topic: 't', partition: 0, offset: 10n, metadata: 'm', leaderEpoch: 2 },
      { topic: 't', partition: 1, offset: -1n, metadata: null, leaderEpoch: -1 },
      { topic: 't', partition: 2, offset: 7n, metadata: null, leaderEpoch: -1 },
    ]);
    expect(again.fetchOffsets('g1').map((o) => o.partition)).toEqual([0, 2]);
    expect(again.fetchOffsets('nobody')).toEqual([]);
  });

  test('each bad partition in an offset commit gets its own error and the good ones still commit', async () => {
    const store = await openStore({ maxOffsetMetadataBytes: 8 });
    await store.createTopic('t', 1);
    const results = await store.commitOffsets('g', [
      { topic: 't', partition: 0, offset: 1n },
      { topic: 't', partition: 1, offset: 1n },
      { topic: 'missing', partition: 0, offset: 1n },
      { topic: 't', partition: 0, offset: -5n },
      { topic: 't', partition: 0, offset: 2n, metadata: 'way too long' },
    ]);
    expect(results.map((r) => r.error?.code ?? null)).toEqual([
      null,
      'UNKNOWN_TOPIC_OR_PARTITION',
      'UNKNOWN_TOPIC_OR_PARTITION',
      'INVALID_REQUEST',
      'OFFSET_METADATA_TOO_LARGE',
    ]);
    expect(results[4].error?.message).toMatch(/offset metadata of 12 bytes .* exceeds 8/);
    expect(store.fetchOffsets('g')).toEqual([{ topic: 't', partition: 0, offset: 1n, metadata: null, leaderEpoch: -1 }]);
    await expectError(store.commitOffsets('', []), 'INVALID_GROUP_ID', /group id must be 1..255 characters/);
  });

  test('deleting a group removes its offsets; an unknown group is GROUP_ID_NOT_FOUND', async () => {
    const store = await openStore();
    await store.createTopic('t', 1);
    await store.commitOffsets('g', [{ topic: 't', partition: 0, offset: 1n }]);
    expect(store.listGroups()).toEqual(['g']);
    await store.deleteGroup('g');
    expect(store.fetchOffsets('g')).toEqual([]);
    await expectError(store.deleteGroup('g'), 'GROUP_ID_NOT_FOUND', /group 'g' has no committed offsets/);
  });
});

describe('MetadataStore idempotent producers', () => {
  test('producer ids are allocated once each, also across a restart', async () => {
    const store = await openStore();
    const ids = await Promise.all([store.allocateProducerId(), store.allocateProducerId(), store.allocateProducerId()]);
    expect(ids.map((i) => i.producerId)).toEqual([0n, 1n, 2n]);
    const again = await reopen(store);
    expect(await again.allocateProducerId()).toEqual({ producerId: 3n, epoch: 0 });
  });

  test('a bumped epoch is recorded; an unknown producer cannot be bumped', async () => {
    const store = await openStore();
    const { producerId } = await store.allocateProducerId();
    expect(await store.bumpProducerEpoch(producerId)).toEqual({ producerId, epoch: 1 });
    expect((await reopen(store)).state.producers.get(producerId)).toEqual({ producerId, epoch: 1 });
    await expectError(store.bumpProducerEpoch(99n), 'UNKNOWN_PRODUCER_ID', /unknown/);
  });

  test('producers seen in the data but lost from the log are recorded, and their ids are never handed out again', async () => {
    const store = await openStore();
    await store.allocateProducerId(); // 0
    const adopted = await store.adoptProducers([
      { producerId: 0n, epoch: 3 }, // known, newer epoch in the data
      { producerId: 7n, epoch: 2 }, // unknown to the log
      { producerId: 0n, epoch: 1 }, // older than what is known: nothing to do
    ]);
    expect(adopted).toBe(2);
    const again = await reopen(store);
    expect(again.state.producers.get(0n)?.epoch).toBe(3);
    expect(again.state.producers.get(7n)?.epoch).toBe(2);
    expect(await again.allocateProducerId()).toEqual({ producerId: 8n, epoch: 0 });
  });
});

describe('MetadataStore durability', () => {
  test('state is rebuilt from a snapshot plus later records, with fsync on', async () => {
    const store = await openStore({ fsync: true, snapshotEveryRecords: 5 });
    for (let i = 0; i < 12; i++) await store.createTopic(`t${i}`, 1);
    await store.commitOffsets('g', [{ topic: 't3', partition: 0, offset: 42n }]);
    const again = await reopen(store, { fsync: true });
    expect(again.listTopics()).toHaveLength(12);
    expect(again.fetchOffsets('g')).toEqual([{ topic: 't3', partition: 0, offset: 42n, metadata: null, leaderEpoch: -1 }]);
    expect((await again.createTopic('next', 1)).topicId).toBe(13);
  });

  test('the reducer is deterministic: replaying the same records gives the same state', () => {
    const records = [
      { type: 'TopicCreated', topicId: 1, name: 'a', partitions: 2, configOverrides: {} },
      { type: 'SegmentAdded', topicId: 1, partition: 0, segmentId: 1, storageNodeId: 'n', baseOffset: 0n, dataCapacityBytes: 10 },
      { type: 'SegmentSealed', topicId: 1, partition: 0, segmentId: 1 },
      { type: 'ProducerIdAllocated', producerId: 0n, epoch: 0 },
      { type: 'OffsetCommitted', groupId: 'g', offsets: [{ topic: 'a', partition: 1, offset: 3n, metadata: null, leaderEpoch: -1 }], commitTimestampMs: 5 },
    ] as const;
    const run = () => records.reduce((state, r) => applyMetadataRecord(state, structuredClone(r) as never), initialMetadataState());
    expect(run()).toEqual(run());
    expect(() => applyMetadataRecord(initialMetadataState(), { type: 'TopicDeleted', topicId: 9 })).toThrow(/topic id 9 does not exist/);
  });
});
