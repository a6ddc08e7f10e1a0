// The gateway byte for byte: a raw Kafka client (the gateway's own codec)
// against `rdmq start` in a child process. What real clients
// cannot be made to do on purpose — retries, gaps, fenced epochs, corrupt
// batches, pipelining, bad frames — is done here.
import { ATTRIBUTES_OFFSET, buildRecordBatch, CRC_OFFSET, decodeRecordBatch, LAST_OFFSET_DELTA_OFFSET, readBatchHeader, splitBatches, writeBatchCrc, BuildRecordBatchOptions } from '../format';
import { apiKeys, decodeResponse, errorCode, supportedApiVersions } from './protocol';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { RawKafkaClient } from './testing/raw-client';

const IDLE_TIMEOUT_MS = 1500;

function header(correlationId: number, apiKey: number, apiVersion: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeInt32BE(8 + 2, 0); // size: header + empty client id length
  b.writeInt16BE(apiKey, 4);
  b.writeInt16BE(apiVersion, 6);
  b.writeInt32BE(correlationId, 8);
  return Buffer.concat([b, Buffer.from([0xff, 0xff])]);
}

function produceBody(topic: string, partition: number, records: Buffer | null, acks = -1) {
  return { transactionalId: null, acks, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records }] }] };
}

function fetchBody(topic: string, partition: number, fetchOffset: bigint, opts: { maxWaitMs?: number; minBytes?: number; maxBytes?: number; partitionMaxBytes?: number } = {}) {
  return {
    replicaId: -1,
    maxWaitMs: opts.maxWaitMs ?? 0,
    minBytes: opts.minBytes ?? 1,
    maxBytes: opts.maxBytes ?? 1 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition, fetchOffset, partitionMaxBytes: opts.partitionMaxBytes ?? 1 << 20, logStartOffset: -1n }] }],
    forgottenTopicsData: [],
    rackId: '',
  };
}

const batchOf = (values: string[], extra: Partial<BuildRecordBatchOptions> = {}) =>
  buildRecordBatch({ records: values.map((v) => ({ key: null, value: v })), ...extra });

describe('Kafka gateway, byte for byte', () => {
  let gateway: ClusterProcess;
  let client: RawKafkaClient;

  const produce = async (topic: string, records: Buffer | null, partition = 0, acks = -1) => {
    const res = await client.request('Produce', 9, produceBody(topic, partition, records, acks));
    return res.responses[0].partitionResponses[0] as { errorCode: number; baseOffset: bigint; errorMessage: string | null };
  };
  const highWatermark = async (topic: string) => {
    const res = await client.request('ListOffsets', 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }] });
    return res.topics[0].partitions[0].offset as bigint;
  };
  const createTopic = async (name: string, numPartitions = 1, configs: { name: string; value: string }[] = []) => {
    const res = await client.request('CreateTopics', 7, { topics: [{ name, numPartitions, replicationFactor: -1, assignments: [], configs }], timeoutMs: 5000, validateOnly: false });
    expect(res.topics[0].errorCode).toBe(0);
  };

  beforeAll(async () => {
    gateway = await startCluster({ regionSize: '256M', gatewayLimits: { maxFrameBytes: 1 << 20, idleTimeoutMs: IDLE_TIMEOUT_MS } });
    client = await RawKafkaClient.connect(gateway.kafka);
  });

  afterAll(async () => {
    client?.close();
    await gateway?.stop();
  });

  // Every test on its own: a request handler that throws is a bug even when the client copes with the closed connection.
  let failuresBefore = 0;
  beforeEach(() => {
    failuresBefore = gateway.failures().length;
  });
  afterEach(() => {
    expect(gateway.failures().slice(failuresBefore)).toEqual([]);
  });

  it('ApiVersions advertises exactly the APIs and versions the codec describes', async () => {
    for (const version of [0, 1, 2, 3]) {
      const res = await client.request('ApiVersions', version, { clientSoftwareName: 'raw', clientSoftwareVersion: '1' });
      expect(res.errorCode).toBe(0);
      expect(res.apiKeys).toEqual(supportedApiVersions.map((v) => ({ apiKey: v.apiKey, minVersion: v.minVersion, maxVersion: v.maxVersion })));
    }
  });

  it('an ApiVersions version it lacks is answered in v0 with UNSUPPORTED_VERSION and the version table', async () => {
    const id = client.takeCorrelationId();
    client.writeRaw(header(id, apiKeys.ApiVersions, 42));
    const body = decodeResponse(apiKeys.ApiVersions, 0, await client.response(id)).body as { errorCode: number; apiKeys: unknown[] };
    expect(body.errorCode).toBe(errorCode('UNSUPPORTED_VERSION'));
    expect(body.apiKeys).toHaveLength(supportedApiVersions.length);
  });

  it('an unsupported version of another API, a malformed body and an oversized frame each close only their own connection', async () => {
    for (const bad of [header(1, apiKeys.Produce, 1), header(1, apiKeys.Metadata, 1).subarray(0, 11), (() => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(2 << 20, 0);
      return b;
    })()]) {
      const victim = await RawKafkaClient.connect(gateway.kafka);
      if (bad.length === 11) {
        // A Metadata v1 frame whose body is cut short: size says 7 bytes, fewer than the header needs.
        const frame = Buffer.alloc(4 + 7);
        frame.writeInt32BE(7, 0);
        victim.writeRaw(frame);
      } else {
        victim.writeRaw(bad);
      }
      expect(await victim.waitForClose()).toBe(true);
    }
    expect((await client.request('ApiVersions', 3, {})).errorCode).toBe(0);
    expect(gateway.stderr()).toMatch(/closing Kafka connection from .*exceeds the maximum/);
  });

  it('answers pipelined requests in request order even when the first waits', async () => {
    await createTopic('pipeline');
    const started = Date.now();
    const fetchId = client.send('Fetch', 12, fetchBody('pipeline', 0, 0n, { maxWaitMs: 400 }));
    const versionsId = client.send('ApiVersions', 3, {});
    const metadataId = client.send('Metadata', 12, { topics: null, allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
    await client.response(metadataId);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    const arrivals = client.arrivals.filter((id) => id === fetchId || id === versionsId || id === metadataId);
    expect(arrivals).toEqual([fetchId, versionsId, metadataId]);
  });

  it('a long-polling fetch returns as soon as a record is committed', async () => {
    await createTopic('longpoll');
    const other = await RawKafkaClient.connect(gateway.kafka);
    const started = Date.now();
    const pending = other.request('Fetch', 12, fetchBody('longpoll', 0, 0n, { maxWaitMs: 10_000 }));
    await new Promise((r) => setTimeout(r, 200));
    expect((await produce('longpoll', await batchOf(['wake up']))).errorCode).toBe(0);
    const res = await pending;
    other.close();
    expect(Date.now() - started).toBeLessThan(5000);
    const p = res.responses[0].partitions[0];
    expect(p.highWatermark).toBe(1n);
    expect(splitBatches(p.records).batches).toHaveLength(1);
  });

  it('refuses bad batches with the error Kafka gives, per partition', async () => {
    await createTopic('strict', 1, [{ name: 'max.message.bytes', value: '10000' }]);
    const good = await batchOf(['a', 'b']);
    expect((await produce('no-such-topic', good)).errorCode).toBe(errorCode('UNKNOWN_TOPIC_OR_PARTITION'));
    expect((await produce('strict', good, 7)).errorCode).toBe(errorCode('UNKNOWN_TOPIC_OR_PARTITION'));

    const corrupt = Buffer.from(good);
    corrupt.writeUInt32BE((corrupt.readUInt32BE(CRC_OFFSET) ^ 1) >>> 0, CRC_OFFSET);
    expect((await produce('strict', corrupt)).errorCode).toBe(errorCode('CORRUPT_MESSAGE'));

    const control = await batchOf(['c']);
    control.writeInt16BE(control.readInt16BE(ATTRIBUTES_OFFSET) | 0x20, ATTRIBUTES_OFFSET);
    fixCrc(control);
    expect((await produce('strict', control)).errorCode).toBe(errorCode('INVALID_RECORD'));

    const gap = await batchOf(['d']);
    gap.writeInt32BE(3, LAST_OFFSET_DELTA_OFFSET);
    fixCrc(gap);
    expect((await produce('strict', gap)).errorCode).toBe(errorCode('INVALID_RECORD'));

    expect((await produce('strict', Buffer.concat([good, good]))).errorCode).toBe(errorCode('INVALID_RECORD'));
    expect((await produce('strict', null)).errorCode).toBe(errorCode('INVALID_RECORD'));
    expect((await produce('strict', await batchOf(['x'.repeat(20_000)], { compression: 'none' }))).errorCode).toBe(errorCode('MESSAGE_TOO_LARGE'));
    expect((await produce('strict', good, 0, 2)).errorCode).toBe(errorCode('INVALID_REQUIRED_ACKS'));
    expect(await highWatermark('strict')).toBe(0n);

    const ok = await produce('strict', good);
    expect(ok).toMatchObject({ errorCode: 0, baseOffset: 0n });
    expect(await highWatermark('strict')).toBe(2n);
  });

  it('pipelined produces to one partition are folded into shared writes, each with its own consecutive offsets; a bad CRC among them is refused alone', async () => {
    await createTopic('folded');
    const metric = async (name: string) => {
      const text = await (await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`)).text();
      return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    };
    const [writesBefore, batchesBefore] = [await metric('rdmq_gateway_produce_writes'), await metric('rdmq_gateway_produce_batches')];
    // 40 requests of 1–3 records each, written to the socket back to back; the 17th has a bad CRC.
    const batches = await Promise.all(Array.from({ length: 40 }, (_, i) => batchOf(Array.from({ length: 1 + (i % 3) }, (_, r) => `r${i}.${r}`))));
    const bad = 16;
    batches[bad].writeUInt32BE((batches[bad].readUInt32BE(CRC_OFFSET) ^ 1) >>> 0, CRC_OFFSET);
    const ids = batches.map((b) => client.send('Produce', 9, produceBody('folded', 0, b)));
    type Answer = { errorCode: number; baseOffset: bigint };
    const answerOf = (body: Record<string, any>): Answer => body.responses[0].partitionResponses[0];
    const answers = await Promise.all(ids.map(async (id) => answerOf(decodeResponse(apiKeys.Produce, 9, await client.response(id)).body as Record<string, any>)));

    expect(answers[bad].errorCode).toBe(errorCode('CORRUPT_MESSAGE'));
    let expectedOffset = 0n;
    const values: string[] = [];
    batches.forEach((b, i) => {
      if (i === bad) return;
      expect({ i, errorCode: answers[i].errorCode, baseOffset: answers[i].baseOffset }).toEqual({ i, errorCode: 0, baseOffset: expectedOffset });
      const count = 1 + (i % 3);
      expectedOffset += BigInt(count);
      values.push(...Array.from({ length: count }, (_, r) => `r${i}.${r}`));
    });
    expect(await highWatermark('folded')).toBe(expectedOffset);
    // Fewer writes than batches: the waiting ones went together.
    const writes = (await metric('rdmq_gateway_produce_writes')) - writesBefore;
    expect((await metric('rdmq_gateway_produce_batches')) - batchesBefore).toBe(39);
    expect(writes).toBeLessThan(39);

    // Read back: every record once, in order, each batch at its acknowledged offset.
    const res = await client.request('Fetch', 12, fetchBody('folded', 0, 0n, { maxBytes: 1 << 20 }));
    const records = res.responses[0].partitions[0].records as Buffer;
    const readBack: string[] = [];
    const readOffsets: bigint[] = [];
    for (const span of splitBatches(records).batches) {
      const header = readBatchHeader(records, span.offset);
      readOffsets.push(header.baseOffset);
      readBack.push(...(await decodeRecordBatch(records, span.offset)).records.map((r) => String(r.value)));
    }
    expect(readOffsets).toEqual(answers.filter((_, i) => i !== bad).map((a) => a.baseOffset));
    expect(readBack).toEqual(values);
  });

  it('acks=0 gets no response, yet the batch is stored', async () => {
    await createTopic('fire-and-forget');
    const produceId = client.send('Produce', 9, produceBody('fire-and-forget', 0, await batchOf(['quiet']), 0));
    const res = await client.request('ApiVersions', 3, {});
    expect(res.errorCode).toBe(0);
    expect(client.arrivals).not.toContain(produceId);
    expect(await highWatermark('fire-and-forget')).toBe(1n);
  });

  it('an idempotent producer: a retry is acknowledged once with its first offset, a gap and an old epoch are refused', async () => {
    await createTopic('exactly-once');
    const init = await client.request('InitProducerId', 4, { transactionalId: null, transactionTimeoutMs: 60000, producerId: -1n, producerEpoch: -1 });
    expect(init.errorCode).toBe(0);
    const producerId = init.producerId as bigint;
    const batch = (epoch: number, baseSequence: number, values: string[]) => batchOf(values, { producerId, producerEpoch: epoch, baseSequence });

    expect(await produce('exactly-once', await batch(0, 0, ['a', 'b', 'c']))).toMatchObject({ errorCode: 0, baseOffset: 0n });
    expect(await produce('exactly-once', await batch(0, 3, ['d', 'e']))).toMatchObject({ errorCode: 0, baseOffset: 3n });
    // The same two batches again: retries of what was stored.
    expect(await produce('exactly-once', await batch(0, 0, ['a', 'b', 'c']))).toMatchObject({ errorCode: 0, baseOffset: 0n });
    expect(await produce('exactly-once', await batch(0, 3, ['d', 'e']))).toMatchObject({ errorCode: 0, baseOffset: 3n });
    expect(await highWatermark('exactly-once')).toBe(5n);

    expect((await produce('exactly-once', await batch(0, 9, ['gap']))).errorCode).toBe(errorCode('OUT_OF_ORDER_SEQUENCE_NUMBER'));

    // Without a transactional id Kafka ignores the id and epoch named and hands out a new id at epoch 0.
    for (const named of [{ producerId, producerEpoch: 0 }, { producerId: 0n, producerEpoch: 0 }, { producerId: 999n, producerEpoch: 7 }]) {
      const again = await client.request('InitProducerId', 4, { transactionalId: null, transactionTimeoutMs: 60000, ...named });
      expect(again).toMatchObject({ errorCode: 0, producerEpoch: 0 });
      expect(again.producerId).not.toBe(producerId);
    }
    expect((await produce('exactly-once', await batch(1, 5, ['unknown epoch']))).errorCode).not.toBe(0);
    expect(await produce('exactly-once', await batch(0, 5, ['same producer goes on']))).toMatchObject({ errorCode: 0, baseOffset: 5n });
    expect(await highWatermark('exactly-once')).toBe(6n);
  });

  it('fetch: out of range is OFFSET_OUT_OF_RANGE, and one whole batch comes back even when larger than max bytes', async () => {
    await createTopic('sizes');
    for (let i = 0; i < 3; i++) await produce('sizes', await batchOf(Array.from({ length: 5 }, (_, j) => `${i}-${j}-${'y'.repeat(1000)}`)));
    const beyond = await client.request('Fetch', 12, fetchBody('sizes', 0, 99n));
    expect(beyond.responses[0].partitions[0].errorCode).toBe(errorCode('OFFSET_OUT_OF_RANGE'));

    const small = await client.request('Fetch', 12, fetchBody('sizes', 0, 6n, { maxBytes: 10, partitionMaxBytes: 10 }));
    const records = small.responses[0].partitions[0].records as Buffer;
    const batches = splitBatches(records).batches;
    expect(batches).toHaveLength(1);
    expect(readBatchHeader(records, 0).baseOffset).toBe(5n);

    const all = await client.request('Fetch', 12, fetchBody('sizes', 0, 0n));
    expect(splitBatches(all.responses[0].partitions[0].records).batches.map((b) => b.header.baseOffset)).toEqual([0n, 5n, 10n]);
    expect(all.responses[0].partitions[0]).toMatchObject({ highWatermark: 15n, lastStableOffset: 15n, logStartOffset: 0n });
  });

  it('fetch fills partitions in request order within max_bytes, whole batches only', async () => {
    await createTopic('budget', 2);
    for (const p of [0, 1]) await produce('budget', await batchOf([`p${p}-${'z'.repeat(5000)}`]), p);
    const both = (maxBytes: number) => ({
      ...fetchBody('budget', 0, 0n, { maxBytes }),
      topics: [{ topic: 'budget', partitions: [0, 1].map((partition) => ({ partition, fetchOffset: 0n, partitionMaxBytes: 1 << 20, logStartOffset: -1n })) }],
    });
    const tight = await client.request('Fetch', 12, both(6000));
    expect(tight.responses[0].partitions.map((p: { records: Buffer }) => splitBatches(p.records).batches.length)).toEqual([1, 0]);
    const roomy = await client.request('Fetch', 12, both(1 << 20));
    expect(roomy.responses[0].partitions.map((p: { records: Buffer }) => splitBatches(p.records).batches.length)).toEqual([1, 1]);
  });

  it('offsets by epoch and by timestamp; DeleteRecords moves the log start', async () => {
    await createTopic('epochs');
    const t0 = BigInt(Date.now() - 60_000);
    await produce('epochs', await buildRecordBatch({ records: [0, 1, 2].map((i) => ({ key: null, value: `v${i}`, timestamp: t0 + BigInt(i * 1000) })) }));
    const epoch = await client.request('OffsetForLeaderEpoch', 4, { replicaId: -1, topics: [{ topic: 'epochs', partitions: [{ partition: 0, currentLeaderEpoch: 0, leaderEpoch: 0 }] }] });
    expect(epoch.topics[0].partitions[0]).toMatchObject({ errorCode: 0, leaderEpoch: 0, endOffset: 3n });

    const byTime = async (timestamp: bigint) =>
      (await client.request('ListOffsets', 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: 'epochs', partitions: [{ partitionIndex: 0, timestamp }] }] })).topics[0].partitions[0];
    expect(await byTime(t0 + 1500n)).toMatchObject({ errorCode: 0, offset: 2n, timestamp: t0 + 2000n });
    expect(await byTime(t0 + 9000n)).toMatchObject({ errorCode: 0, offset: -1n });
    expect(await byTime(-2n)).toMatchObject({ offset: 0n });
    expect(await byTime(-3n)).toMatchObject({ offset: 2n, timestamp: t0 + 2000n });

    const deleteBefore = async (offset: bigint) =>
      (await client.request('DeleteRecords', 2, { topics: [{ name: 'epochs', partitions: [{ partitionIndex: 0, offset }] }], timeoutMs: 1000 })).topics[0].partitions[0];
    expect(await deleteBefore(2n)).toMatchObject({ errorCode: 0, lowWatermark: 2n });
    expect(await byTime(-2n)).toMatchObject({ offset: 2n });
    // Never back, never past the high watermark.
    expect(await deleteBefore(1n)).toMatchObject({ errorCode: 0, lowWatermark: 2n });
    expect(await deleteBefore(4n)).toMatchObject({ errorCode: errorCode('OFFSET_OUT_OF_RANGE') });
    const fetchAt = async (fetchOffset: bigint) => (await client.request('Fetch', 12, fetchBody('epochs', 0, fetchOffset, { maxWaitMs: 0 }))).responses[0].partitions[0];
    expect(await fetchAt(1n)).toMatchObject({ errorCode: errorCode('OFFSET_OUT_OF_RANGE') });
    expect(await fetchAt(2n)).toMatchObject({ errorCode: 0, logStartOffset: 2n, highWatermark: 3n });
    // -1 means the high watermark.
    expect(await deleteBefore(-1n)).toMatchObject({ errorCode: 0, lowWatermark: 3n });
  });

  it('CreateTopics with validate_only creates nothing; DescribeCluster names this gateway', async () => {
    const res = await client.request('CreateTopics', 7, {
      topics: [{ name: 'dry-run', numPartitions: 3, replicationFactor: 1, assignments: [], configs: [{ name: 'retention.ms', value: '1000' }] }],
      timeoutMs: 1000,
      validateOnly: true,
    });
    expect(res.topics[0]).toMatchObject({ errorCode: 0, numPartitions: 3, replicationFactor: 1 });
    const meta = await client.request('Metadata', 12, { topics: [{ topicId: Buffer.alloc(16), name: 'dry-run' }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
    expect(meta.topics[0].errorCode).toBe(errorCode('UNKNOWN_TOPIC_OR_PARTITION'));
    const rf3 = await client.request('CreateTopics', 7, { topics: [{ name: 'rf3', numPartitions: 1, replicationFactor: 3, assignments: [], configs: [] }], timeoutMs: 1000, validateOnly: false });
    expect(rf3.topics[0].errorCode).toBe(errorCode('INVALID_REPLICATION_FACTOR'));

    const cluster = await client.request('DescribeCluster', 0, { includeClusterAuthorizedOperations: false });
    expect(cluster).toMatchObject({ errorCode: 0, controllerId: 0, brokers: [{ brokerId: 0, host: '127.0.0.1', port: gateway.kafkaPort, rack: null }] });
    expect(cluster.clusterId).toEqual(meta.clusterId);
  });

  it('IncrementalAlterConfigs sets and deletes one topic config at a time', async () => {
    await createTopic('tuned', 1, [{ name: 'retention.ms', value: '60000' }]);
    const alter = (configs: { name: string; configOperation: number; value: string | null }[], validateOnly = false) =>
      client.request('IncrementalAlterConfigs', 1, { resources: [{ resourceType: 2, resourceName: 'tuned', configs }], validateOnly });
    const describe = async () => {
      const res = await client.request('DescribeConfigs', 4, { resources: [{ resourceType: 2, resourceName: 'tuned', configurationKeys: null }], includeSynonyms: false, includeDocumentation: false });
      return Object.fromEntries((res.results[0].configs as { name: string; value: string; configSource: number }[]).map((c) => [c.name, [c.value, c.configSource]]));
    };
    expect((await alter([{ name: 'retention.bytes', configOperation: 0, value: '1048576' }])).responses[0].errorCode).toBe(0);
    expect(await describe()).toMatchObject({ 'retention.ms': ['60000', 1], 'retention.bytes': ['1048576', 1], 'segment.bytes': ['16777216', 5] }); // segment.bytes: the broker's --segment-size
    expect((await alter([{ name: 'retention.ms', configOperation: 1, value: null }])).responses[0].errorCode).toBe(0);
    expect((await describe())['retention.ms']).toEqual(['604800000', 5]);
    expect((await alter([{ name: 'retention.bytes', configOperation: 0, value: '5' }], true)).responses[0].errorCode).toBe(0);
    expect((await describe())['retention.bytes']).toEqual(['1048576', 1]);
    expect((await alter([{ name: 'no.such.config', configOperation: 0, value: '1' }])).responses[0].errorCode).toBe(errorCode('INVALID_CONFIG'));
    expect((await alter([{ name: 'cleanup.policy', configOperation: 2, value: 'compact' }])).responses[0].errorCode).toBe(errorCode('INVALID_CONFIG'));
  });

  it('OffsetDelete removes some of an empty group\'s offsets and keeps the rest; SASL is refused', async () => {
    await createTopic('forgetful', 2);
    const commit = await client.request('OffsetCommit', 8, {
      groupId: 'forgetful-group',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      topics: [{ name: 'forgetful', partitions: [0, 1].map((p) => ({ partitionIndex: p, committedOffset: 0n, committedLeaderEpoch: -1, committedMetadata: 'm' })) }],
    });
    expect(commit.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode)).toEqual([0, 0]);
    const del = await client.request('OffsetDelete', 0, { groupId: 'forgetful-group', topics: [{ name: 'forgetful', partitions: [{ partitionIndex: 1 }] }] });
    expect(del.errorCode).toBe(0);
    const fetched = await client.request('OffsetFetch', 8, { groups: [{ groupId: 'forgetful-group', topics: null }], requireStable: false });
    expect(fetched.groups[0].topics).toEqual([
      { name: 'forgetful', partitions: [{ partitionIndex: 0, committedOffset: 0n, committedLeaderEpoch: -1, metadata: 'm', errorCode: 0 }] },
    ]);
    const sasl = await client.request('SaslHandshake', 1, { mechanism: 'PLAIN' });
    expect(sasl.errorCode).toBe(errorCode('UNSUPPORTED_SASL_MECHANISM'));
  });

  it('closes a connection that stays idle, and keeps one that waits on a long poll', async () => {
    const idle = await RawKafkaClient.connect(gateway.kafka);
    const polling = await RawKafkaClient.connect(gateway.kafka);
    await createTopic('idle');
    const poll = polling.request('Fetch', 12, fetchBody('idle', 0, 0n, { maxWaitMs: IDLE_TIMEOUT_MS * 2 }));
    expect(await idle.waitForClose(IDLE_TIMEOUT_MS * 3)).toBe(true);
    expect(polling.closed).toBe(false);
    await poll;
    polling.close();
  });
});

/** Recomputes a batch's CRC32C after a test edits bytes the CRC covers. */
function fixCrc(batch: Buffer): void {
  writeBatchCrc(batch, 0, batch.readInt32BE(8));
}
