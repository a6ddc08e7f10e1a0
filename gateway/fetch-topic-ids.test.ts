// Fetch v13+ names topics by the ids Metadata hands out (KIP-516), against
// `rdmq start`, byte for byte through a raw Kafka client.
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

  it('offers Fetch up to v16, as Kafka 3.7+ does', () => {
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
});
