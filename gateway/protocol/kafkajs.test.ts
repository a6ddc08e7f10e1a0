// Compatibility with a real client: kafkajs's own request encoders and
// response decoders (node_modules/kafkajs/src/protocol/requests/<api>/v<N>).
// Requests kafkajs writes must decode and re-encode to the same bytes;
// responses we write must be read by kafkajs to the last byte.

import fc from 'fast-check';
import fs from 'fs';
import path from 'path';
import { allApis, apiKeys, ApiSpec, decodeRequest, encodeRequest, encodeResponse } from './index';
import { bodyArbitrary } from './test-support/arbitraries';

const kafkajsRoot = path.dirname(require.resolve('kafkajs/package.json'));
const kafkajsProtocol = path.join(kafkajsRoot, 'src/protocol');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = (rel: string) => require(path.join(kafkajsProtocol, rel));

type KafkajsRequest = { apiKey: number; apiVersion: number; encode: () => Promise<unknown> };
const createRequest: (args: { correlationId: number; clientId: string; request: KafkajsRequest }) => Promise<{ buffer: Buffer }> =
  load('request');

// Track how far kafkajs's decoder reads into each buffer, to prove it consumed every byte we wrote.
const Decoder = load('decoder');
const furthestRead = new WeakMap<Buffer, number>();
Object.defineProperty(Decoder.prototype, 'offset', {
  configurable: true,
  get(this: { trackedOffset: number }) {
    return this.trackedOffset;
  },
  set(this: { trackedOffset: number; buffer: Buffer }, v: number) {
    this.trackedOffset = v;
    if (v > (furthestRead.get(this.buffer) ?? 0)) furthestRead.set(this.buffer, v);
  },
});

const apis = allApis as readonly ApiSpec[];
const dirOf = (api: ApiSpec) => api.name[0].toLowerCase() + api.name.slice(1);

/** kafkajs versions of this API that we also implement. */
function sharedVersions(api: ApiSpec): number[] {
  const dir = path.join(kafkajsProtocol, 'requests', dirOf(api));
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((d) => /^v\d+$/.test(d))
    .map((d) => Number(d.slice(1)))
    .filter((v) => v >= api.minVersion && v <= api.maxVersion)
    .sort((a, b) => a - b);
}

const messages = [
  { key: 'k1', value: 'hello', headers: { trace: 'abc' } },
  { key: null, value: 'world' },
];

// Arguments for kafkajs's request builders: one object per API, read by every version.
const requestArgs: Record<string, unknown> = {
  produce: {
    acks: -1, timeout: 30000, transactionalId: 'tx-1',
    topicData: [{ topic: 'orders', partitions: [{ partition: 0, messages }, { partition: 1, messages: messages.slice(1) }] }],
  },
  fetch: {
    replicaId: -1, maxWaitTime: 500, minBytes: 1, maxBytes: 1048576, isolationLevel: 1, rackId: 'rack-a',
    sessionId: 7, sessionEpoch: 2,
    topics: [{ topic: 'orders', partitions: [{ partition: 0, fetchOffset: '17', maxBytes: 1048576, currentLeaderEpoch: 3 }] }],
    forgottenTopics: [{ topic: 'old', partitions: [3, 4] }],
  },
  metadata: { topics: ['orders', 'payments'], allowAutoTopicCreation: false },
  listOffsets: { replicaId: -1, isolationLevel: 1, topics: [{ topic: 'orders', partitions: [{ partition: 0, timestamp: -2 }] }] },
  findCoordinator: { groupId: 'group-1', coordinatorKey: 'group-1', coordinatorType: 0 },
  joinGroup: {
    groupId: 'group-1', sessionTimeout: 30000, rebalanceTimeout: 60000, memberId: '', groupInstanceId: null,
    protocolType: 'consumer', groupProtocols: [{ name: 'RoundRobinAssigner', metadata: Buffer.from('meta') }],
  },
  syncGroup: {
    groupId: 'group-1', generationId: 3, memberId: 'member-1', groupInstanceId: null,
    groupAssignment: [{ memberId: 'member-1', memberAssignment: Buffer.from('assignment') }],
  },
  heartbeat: { groupId: 'group-1', groupGenerationId: 3, memberId: 'member-1', groupInstanceId: null },
  leaveGroup: { groupId: 'group-1', memberId: 'member-1', members: [{ memberId: 'member-1', groupInstanceId: 'instance-1' }] },
  offsetCommit: {
    groupId: 'group-1', groupGenerationId: 3, memberId: 'member-1', retentionTime: -1,
    topics: [{ topic: 'orders', partitions: [{ partition: 0, offset: '100', metadata: null }, { partition: 1, offset: '5', metadata: 'm' }] }],
  },
  offsetFetch: { groupId: 'group-1', topics: [{ topic: 'orders', partitions: [{ partition: 0 }, { partition: 1 }] }] },
  createTopics: {
    timeout: 5000, validateOnly: false,
    topics: [{ topic: 'orders', numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      { topic: 'manual', replicaAssignment: [{ partition: 0, replicas: [1, 2] }] }],
  },
  deleteTopics: { topics: ['orders', 'payments'], timeout: 5000 },
  createPartitions: { topicPartitions: [{ topic: 'orders', count: 6 }], validateOnly: false, timeout: 5000 },
  deleteRecords: { topics: [{ topic: 'orders', partitions: [{ partition: 0, offset: '50' }] }], timeout: 5000 },
  describeConfigs: { resources: [{ type: 2, name: 'orders', configNames: ['retention.ms'] }, { type: 4, name: '1', configNames: [] }], includeSynonyms: true },
  alterConfigs: { resources: [{ type: 2, name: 'orders', configEntries: [{ name: 'retention.ms', value: '1000' }] }], validateOnly: true },
  apiVersions: undefined,
  initProducerId: { transactionalId: 'tx-1', transactionTimeout: 60000 },
  listGroups: undefined,
  describeGroups: { groupIds: ['group-1', 'group-2'] },
  deleteGroups: ['group-1', 'group-2'],
  createAcls: {
    creations: [
      { resourceType: 2, resourceName: 'orders', resourcePatternType: 3, principal: 'User:alice', host: '*', operation: 3, permissionType: 3 },
      { resourceType: 3, resourceName: 'billing-', resourcePatternType: 4, principal: 'User:*', host: '10.0.0.1', operation: 2, permissionType: 2 },
    ],
  },
  describeAcls: { resourceType: 1, resourceName: null, resourcePatternType: 2, principal: 'User:alice', host: null, operation: 1, permissionType: 1 },
  deleteAcls: {
    filters: [
      { resourceType: 2, resourceName: 'orders', resourcePatternType: 1, principal: null, host: null, operation: 1, permissionType: 3 },
      { resourceType: 4, resourceName: 'kafka-cluster', resourcePatternType: 3, principal: 'User:ops', host: '*', operation: 7, permissionType: 3 },
    ],
  },
  saslHandshake: { mechanism: 'PLAIN' },
  saslAuthenticate: { authBytes: Buffer.from([0, 0, 0, 10, 0, 117, 115, 101, 114, 0, 112, 97, 115, 115]) },
};

const requestCases = apis.flatMap((api) => sharedVersions(api).map((v) => [api.name, v, api] as const));

describe('kafkajs requests', () => {
  test('kafkajs shares many api/version pairs with us', () => {
    expect(requestCases.length).toBeGreaterThanOrEqual(60);
  });

  test.each(requestCases)('a kafkajs %s v%d request decodes and re-encodes to identical bytes', async (_name, version, api) => {
    const build = load(`requests/${dirOf(api)}/v${version}/request`);
    const request: KafkajsRequest = build(requestArgs[dirOf(api)]);
    expect(request.apiKey).toBe(api.apiKey);
    const frame = (await createRequest({ correlationId: 4242, clientId: 'kafkajs-test', request })).buffer;
    const decoded = decodeRequest(frame.subarray(4));
    expect(decoded.header).toEqual({ apiKey: api.apiKey, apiVersion: version, correlationId: 4242, clientId: 'kafkajs-test' });
    expect(encodeRequest(decoded.header, decoded.body).equals(frame)).toBe(true);
  });

  test('a kafkajs produce request yields topic, partitions and record batches as views of the frame', async () => {
    const request = load('requests/produce/v7/request')(requestArgs.produce);
    const frame = (await createRequest({ correlationId: 1, clientId: 'c', request })).buffer;
    const req = decodeRequest(frame.subarray(4));
    if (req.apiName !== 'Produce') throw new Error('expected Produce');
    expect(req.body).toMatchObject({ transactionalId: 'tx-1', acks: -1, timeoutMs: 30000 });
    const [topic] = req.body.topicData;
    expect(topic.name).toBe('orders');
    expect(topic.partitionData.map((p) => p.index)).toEqual([0, 1]);
    const batch = topic.partitionData[0].records!;
    expect(batch.buffer).toBe(frame.buffer);
    expect(batch.readInt8(16)).toBe(2); // record batch magic
  });

  test('a kafkajs fetch v11 request yields offsets as bigints and the rack id', async () => {
    const request = load('requests/fetch/v11/request')(requestArgs.fetch);
    const frame = (await createRequest({ correlationId: 1, clientId: 'c', request })).buffer;
    const req = decodeRequest(frame.subarray(4));
    if (req.apiName !== 'Fetch') throw new Error('expected Fetch');
    expect(req.body).toMatchObject({ maxWaitMs: 500, minBytes: 1, maxBytes: 1048576, isolationLevel: 1, sessionId: 7, sessionEpoch: 2, rackId: 'rack-a' });
    expect(req.body.topics[0].partitions[0]).toMatchObject({ partition: 0, fetchOffset: 17n, currentLeaderEpoch: 3, partitionMaxBytes: 1048576 });
    expect(req.body.forgottenTopicsData).toEqual([{ topic: 'old', topicId: Buffer.alloc(16), partitions: [3, 4] }]);
  });

  test('a kafkajs metadata v4 request for all topics is a null topic list', async () => {
    // kafkajs writes an empty nullable array as null (-1).
    const request = load('requests/metadata/v4/request')({ topics: [] });
    const frame = (await createRequest({ correlationId: 1, clientId: 'c', request })).buffer;
    const req = decodeRequest(frame.subarray(4));
    if (req.apiName !== 'Metadata') throw new Error('expected Metadata');
    expect(req.body.topics).toBeNull();
    expect(req.body.allowAutoTopicCreation).toBe(true);
  });
});

/** A record batch as kafkajs writes it, taken from a kafkajs produce request. */
async function kafkajsRecordBatch(): Promise<Buffer> {
  const request = load('requests/produce/v3/request')({
    acks: 1, timeout: 1000, topicData: [{ topic: 't', partitions: [{ partition: 0, messages }] }],
  });
  const frame = (await createRequest({ correlationId: 1, clientId: 'c', request })).buffer;
  const req = decodeRequest(frame.subarray(4));
  if (req.apiName !== 'Produce') throw new Error('expected Produce');
  return Buffer.from(req.body.topicData[0].partitionData[0].records!);
}

async function kafkajsDecode(api: ApiSpec, version: number, body: object): Promise<Record<string, unknown>> {
  const frame = encodeResponse(api.apiKey, version, 99, body);
  expect(frame.readInt32BE(4)).toBe(99);
  const payload = frame.subarray(8); // size prefix, correlation id (kafkajs versions all use header v0)
  const responseModule = load(`requests/${dirOf(api)}/v${version}/response`);
  // A few kafkajs response modules are factories taking the request's arguments.
  const { decode } = typeof responseModule === 'function' ? responseModule(requestArgs[dirOf(api)]) : responseModule;
  const decoded = await decode(payload);
  expect(furthestRead.get(payload) ?? 0).toBe(payload.length);
  return decoded;
}

/** Zero every error code (kafkajs throws on some) and empty record sets, so random bodies stay decodable. */
function calm(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(calm);
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, /errorCode$/i.test(k) ? 0 : k === 'records' ? null : calm(v)]),
    );
  }
  return value;
}

describe('kafkajs reads our responses', () => {
  test.each(requestCases)('kafkajs reads any %s v%d response we write to its last byte', async (_name, version, api) => {
    await fc.assert(
      fc.asyncProperty(bodyArbitrary(api, version, 'response'), async (body) => {
        await kafkajsDecode(api, version, calm(body) as object);
      }),
      { numRuns: 25 },
    );
  });

  const byName = (name: string) => apis.find((a) => a.name === name)!;

  test('kafkajs sees our metadata: brokers, cluster, topics and leaders', async () => {
    for (const version of [0, 1, 2, 5, 6]) {
      const decoded = await kafkajsDecode(byName('Metadata'), version, {
        brokers: [{ nodeId: 1, host: 'gw-1.local', port: 9092, rack: 'rack-a' }],
        clusterId: 'rdmq', controllerId: 1,
        topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, leaderId: 1, leaderEpoch: 4, replicaNodes: [1], isrNodes: [1] }] }],
      });
      expect(decoded.brokers).toEqual([expect.objectContaining({ nodeId: 1, host: 'gw-1.local', port: 9092 })]);
      const topic = (decoded.topicMetadata as Array<Record<string, unknown>>)[0];
      expect(topic).toMatchObject({ topicErrorCode: 0, topic: 'orders' });
      expect((topic.partitionMetadata as unknown[])[0]).toMatchObject({ partitionErrorCode: 0, partitionId: 0, leader: 1, replicas: [1], isr: [1] });
      if (version >= 2) expect(decoded.clusterId).toBe('rdmq');
    }
  });

  test('kafkajs reads the records of our fetch response', async () => {
    const records = await kafkajsRecordBatch();
    for (const version of [4, 7, 11]) {
      const decoded = await kafkajsDecode(byName('Fetch'), version, {
        responses: [{ topic: 'orders', partitions: [{ partitionIndex: 0, highWatermark: 2n, lastStableOffset: 2n, logStartOffset: 0n, records }] }],
      });
      const partition = (decoded.responses as Array<{ topicName: string; partitions: Array<Record<string, unknown>> }>)[0];
      expect(partition.topicName).toBe('orders');
      expect(partition.partitions[0]).toMatchObject({ partition: 0, errorCode: 0, highWatermark: '2' });
      const got = partition.partitions[0].messages as Array<{ key: Buffer | null; value: Buffer; headers: Record<string, Buffer> }>;
      expect(got.map((m) => m.value.toString())).toEqual(['hello', 'world']);
      expect(got[0].headers.trace.toString()).toBe('abc');
    }
  });

  test('kafkajs sees our produce acknowledgements with base offsets', async () => {
    for (const version of [3, 5, 7]) {
      const decoded = await kafkajsDecode(byName('Produce'), version, {
        responses: [{ name: 'orders', partitionResponses: [{ index: 1, baseOffset: 1234n, logStartOffset: 0n }] }],
      });
      expect(decoded.topics).toEqual([{ topicName: 'orders', partitions: [expect.objectContaining({ partition: 1, errorCode: 0, baseOffset: '1234' })] }]);
    }
  });

  test('kafkajs sees our ApiVersions table', async () => {
    for (const version of [0, 1, 2]) {
      const { supportedApiVersions } = await import('./index');
      const decoded = await kafkajsDecode(byName('ApiVersions'), version, { apiKeys: supportedApiVersions });
      expect(decoded.apiVersions).toEqual(supportedApiVersions);
    }
  });

  test('kafkajs sees our group coordination answers', async () => {
    const coordinator = await kafkajsDecode(byName('FindCoordinator'), 2, { nodeId: 3, host: 'gw-3', port: 9093 });
    expect(coordinator.coordinator).toEqual({ nodeId: 3, host: 'gw-3', port: 9093 });
    const join = await kafkajsDecode(byName('JoinGroup'), 5, {
      generationId: 2, protocolName: 'RoundRobinAssigner', leader: 'm-1', memberId: 'm-1',
      members: [{ memberId: 'm-1', groupInstanceId: null, metadata: Buffer.from('meta') }],
    });
    expect(join).toMatchObject({ generationId: 2, groupProtocol: 'RoundRobinAssigner', leaderId: 'm-1', memberId: 'm-1' });
    expect((join.members as Array<{ memberMetadata: Buffer }>)[0].memberMetadata.toString()).toBe('meta');
    const sync = await kafkajsDecode(byName('SyncGroup'), 3, { assignment: Buffer.from('assigned') });
    expect((sync.memberAssignment as Buffer).toString()).toBe('assigned');
    const fetched = await kafkajsDecode(byName('OffsetFetch'), 4, {
      topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 100n, metadata: 'm' }] }],
    });
    expect(fetched.responses).toEqual([{ topic: 'orders', partitions: [{ partition: 0, offset: '100', metadata: 'm', errorCode: 0 }] }]);
  });

  test('apiKeys agree with kafkajs', () => {
    const kafkajsKeys: Record<string, number> = load('requests/apiKeys');
    for (const [name, key] of Object.entries(apiKeys)) {
      if (name in kafkajsKeys) expect([name, kafkajsKeys[name]]).toEqual([name, key]);
    }
    expect(kafkajsKeys.GroupCoordinator).toBe(apiKeys.FindCoordinator);
  });
});
