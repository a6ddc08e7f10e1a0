// The newest versions Kafka 3.7 offers, against `rdmq start`, byte for byte
// through a raw Kafka client: Fetch v13+ names topics by the ids Metadata
// hands out (KIP-516); Produce v10, ListOffsets v8, DescribeCluster v1.
import { buildRecordBatch, splitBatches } from '../format';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { errorCode, supportedApiVersions } from './protocol';
import { RawKafkaClient } from './testing/raw-client';

function fetchById(topicId: Buffer, fetchOffset: bigint) {
  return {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topic: '', topicId, partitions: [{ partition: 0, fetchOffset, partitionMaxBytes: 1 << 20, logStartOffset: -1n }] }],
    forgottenTopicsData: [],
    rackId: '',
  };
}

describe('Fetch by topic id', () => {
  let cluster: ClusterProcess;
  let client: RawKafkaClient;

  beforeAll(async () => {
    cluster = await startCluster({ regionSize: '256M' });
    client = await RawKafkaClient.connect(`127.0.0.1:${cluster.kafkaPort}`);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('offers Fetch up to v16, as Kafka 3.7+ does', async () => {
    const offered = await client.request('ApiVersions', 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
    expect(offered.apiKeys.find((k: { apiKey: number }) => k.apiKey === 1)).toMatchObject({ minVersion: 4, maxVersion: 16 });
    expect(supportedApiVersions.find((v) => v.apiKey === 1)).toMatchObject({ minVersion: 4, maxVersion: 16 });
  });

  it.each([13, 15, 16])('v%i reads a topic by the id Metadata returned, and answers UNKNOWN_TOPIC_ID for an id no topic has', async (version) => {
    const topic = `by-id-${version}`;
    const metadata = await client.request('Metadata', 12, { topics: [{ topicId: Buffer.alloc(16), name: topic }], allowAutoTopicCreation: true, includeTopicAuthorizedOperations: false });
    const topicId = metadata.topics[0].topicId as Buffer;
    expect(topicId.equals(Buffer.alloc(16))).toBe(false);
    const batch = await buildRecordBatch({ records: [{ key: null, value: Buffer.from('a') }, { key: null, value: Buffer.from('b') }] });
    const produced = await client.request('Produce', 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] });
    expect(produced.responses[0].partitionResponses[0].errorCode).toBe(0);

    const read = await client.request('Fetch', version, fetchById(topicId, 0n));
    expect(read.responses).toHaveLength(1);
    expect((read.responses[0].topicId as Buffer).equals(topicId)).toBe(true);
    expect(read.responses[0].partitions[0]).toMatchObject({ errorCode: 0, highWatermark: 2n });
    expect(splitBatches(read.responses[0].partitions[0].records).batches).toHaveLength(1);

    const stranger = Buffer.from(topicId);
    stranger[15] ^= 0xff;
    const unknown = await client.request('Fetch', version, fetchById(stranger, 0n));
    expect(unknown.responses[0].partitions[0].errorCode).toBe(errorCode('UNKNOWN_TOPIC_ID'));
    expect((unknown.responses[0].topicId as Buffer).equals(stranger)).toBe(true);
  }, 30_000);

  it('Produce v10 acknowledges, ListOffsets v8 answers -4 (earliest local) with the log start, DescribeCluster v1 echoes the endpoint type', async () => {
    const topic = 'kafka-3-7';
    await client.request('Metadata', 12, { topics: [{ topicId: Buffer.alloc(16), name: topic }], allowAutoTopicCreation: true, includeTopicAuthorizedOperations: false });
    const batch = await buildRecordBatch({ records: [{ key: null, value: Buffer.from('x') }] });
    for (let i = 0; i < 2; i++) {
      const produced = await client.request('Produce', 10, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] });
      expect(produced.responses[0].partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: BigInt(i) });
    }
    await client.request('DeleteRecords', 2, { topics: [{ name: topic, partitions: [{ partitionIndex: 0, offset: 1n }] }], timeoutMs: 5000 });
    const listed = await client.request('ListOffsets', 8, {
      replicaId: -1,
      isolationLevel: 0,
      topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -4n }] }],
    });
    expect(listed.topics[0].partitions[0]).toMatchObject({ errorCode: 0, offset: 1n });
    const cluster1 = await client.request('DescribeCluster', 1, { includeClusterAuthorizedOperations: false, endpointType: 1 });
    expect(cluster1).toMatchObject({ errorCode: 0, endpointType: 1 });
    expect(cluster1.clusterId).toMatch(/^[A-Za-z0-9_-]{22}$/);
  }, 30_000);
});
