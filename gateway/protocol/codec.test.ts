import fc from 'fast-check';
import {
  allApis,
  apiKeys,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  encodeResponseChunks,
  ProtocolError,
  SchemaError,
  supportedApiVersions,
  ApiSpec,
  ResponseInput,
} from './index';
import { allApiVersions, bodyArbitrary } from './test-support/arbitraries';

const everyVersion = allApiVersions(allApis as readonly ApiSpec[]);

describe('the generic codec', () => {
  test.each(everyVersion.map(({ api, version }) => [api.name, version, api] as const))(
    'any %s v%d request survives encode → decode → encode byte for byte',
    (_name, version, api) => {
      fc.assert(
        fc.property(bodyArbitrary(api, version, 'request'), fc.integer(), fc.option(fc.string({ maxLength: 8 }), { nil: null }), (body, correlationId, clientId) => {
          const header = { apiKey: api.apiKey, apiVersion: version, correlationId, clientId };
          const frame = encodeRequest(header, body);
          expect(frame.readInt32BE(0)).toBe(frame.length - 4);
          const decoded = decodeRequest(frame.subarray(4));
          expect(decoded.header).toEqual(header);
          expect(decoded.apiName).toBe(api.name);
          expect(encodeRequest(decoded.header, decoded.body).equals(frame)).toBe(true);
        }),
        { numRuns: 40 },
      );
    },
  );

  test.each(everyVersion.map(({ api, version }) => [api.name, version, api] as const))(
    'any %s v%d response survives encode → decode → encode byte for byte',
    (_name, version, api) => {
      fc.assert(
        fc.property(bodyArbitrary(api, version, 'response'), fc.integer(), (body, correlationId) => {
          const frame = encodeResponse(api.apiKey, version, correlationId, body);
          expect(frame.readInt32BE(0)).toBe(frame.length - 4);
          const decoded = decodeResponse(api.apiKey, version, frame.subarray(4));
          expect(decoded.correlationId).toBe(correlationId);
          expect(encodeResponse(api.apiKey, version, correlationId, decoded.body).equals(frame)).toBe(true);
        }),
        { numRuns: 40 },
      );
    },
  );

  test('an empty response body encodes in every version, with every field at its default', () => {
    for (const { api, version } of everyVersion) {
      const frame = encodeResponse(api.apiKey, version, 1, {});
      const { body } = decodeResponse(api.apiKey, version, frame.subarray(4));
      expect(encodeResponse(api.apiKey, version, 1, body).equals(frame)).toBe(true);
    }
  });

  test('a handler writes only what it knows and the rest gets Kafka defaults', () => {
    const body: ResponseInput<'Metadata'> = {
      brokers: [{ nodeId: 1, host: 'gw-1', port: 9092 }],
      topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, leaderId: 1, replicaNodes: [1], isrNodes: [1] }] }],
    };
    const frame = encodeResponse(apiKeys.Metadata, 12, 7, body);
    const { body: decoded } = decodeResponse(apiKeys.Metadata, 12, frame.subarray(4));
    expect(decoded).toMatchObject({
      throttleTimeMs: 0,
      clusterId: null,
      controllerId: -1,
      brokers: [{ nodeId: 1, host: 'gw-1', port: 9092, rack: null }],
      clusterAuthorizedOperations: -2147483648,
    });
    const topic = (decoded.topics as Array<Record<string, unknown>>)[0];
    expect(topic).toMatchObject({ errorCode: 0, name: 'orders', isInternal: false, topicAuthorizedOperations: -2147483648 });
    expect(topic.topicId).toEqual(Buffer.alloc(16));
    expect((topic.partitions as unknown[])[0]).toEqual({
      errorCode: 0, partitionIndex: 0, leaderId: 1, leaderEpoch: -1, replicaNodes: [1], isrNodes: [1], offlineReplicas: [],
    });
  });

  test('a decoded request holds every field the API knows, with defaults for those its version lacks', () => {
    const frame = encodeRequest({ apiKey: apiKeys.Fetch, apiVersion: 4, correlationId: 1, clientId: 'c' }, {
      maxWaitMs: 500, minBytes: 1, topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: 5n, partitionMaxBytes: 100 }] }],
    });
    const req = decodeRequest(frame.subarray(4));
    if (req.apiName !== 'Fetch') throw new Error('expected Fetch');
    expect(req.body.sessionEpoch).toBe(-1);
    expect(req.body.rackId).toBe('');
    expect(req.body.clusterId).toBeNull();
    expect(req.body.topics[0].partitions[0]).toEqual({
      partition: 0, currentLeaderEpoch: -1, fetchOffset: 5n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 100,
    });
  });

  test('records come back as views of the frame, not copies', () => {
    const records = Buffer.alloc(5000, 0xab);
    for (const version of [3, 9]) {
      const frame = encodeRequest({ apiKey: 0, apiVersion: version, correlationId: 1, clientId: null }, {
        acks: -1, timeoutMs: 1000, topicData: [{ name: 't', partitionData: [{ index: 0, records }] }],
      });
      const req = decodeRequest(frame.subarray(4));
      if (req.apiName !== 'Produce') throw new Error('expected Produce');
      const got = req.body.topicData[0].partitionData[0].records!;
      expect(got.equals(records)).toBe(true);
      expect(got.buffer).toBe(frame.buffer);
    }
  });

  test('a large Fetch response keeps its record batches by reference when written as chunks', () => {
    const batch = Buffer.alloc(64 * 1024, 1);
    const chunks = encodeResponseChunks(apiKeys.Fetch, 12, 3, {
      responses: [{ topic: 't', partitions: [{ partitionIndex: 0, highWatermark: 10n, records: batch }] }],
    });
    expect(chunks).toContain(batch);
    const whole = Buffer.concat(chunks);
    expect(whole.readInt32BE(0)).toBe(whole.length - 4);
    expect(whole.equals(encodeResponse(apiKeys.Fetch, 12, 3, {
      responses: [{ topic: 't', partitions: [{ partitionIndex: 0, highWatermark: 10n, records: batch }] }],
    }))).toBe(true);
  });

  test('records given as several buffers are written by reference, back to back, as one records field (v12 compact and v4 classic)', () => {
    const a = Buffer.alloc(40_000, 1);
    const b = Buffer.alloc(30_000, 2);
    for (const version of [4, 12]) {
      const body = (records: Buffer | Buffer[]) => ({ responses: [{ topic: 't', partitions: [{ partitionIndex: 0, highWatermark: 10n, records }] }] });
      const chunks = encodeResponseChunks(apiKeys.Fetch, version, 3, body([a, b]));
      expect(chunks).toContain(a);
      expect(chunks).toContain(b);
      expect(Buffer.concat(chunks).equals(encodeResponse(apiKeys.Fetch, version, 3, body(Buffer.concat([a, b]))))).toBe(true);
    }
    expect(() => encodeResponse(apiKeys.Fetch, 12, 3, { responses: [{ topic: 't', partitions: [{ partitionIndex: 0, records: [a, 'x' as unknown as Buffer] }] }] })).toThrow(SchemaError);
  });

  test('int64 fields accept safe integers as well as bigints', () => {
    const a = encodeResponse(apiKeys.ListOffsets, 7, 1, { topics: [{ name: 't', partitions: [{ offset: 42 }] }] });
    const b = encodeResponse(apiKeys.ListOffsets, 7, 1, { topics: [{ name: 't', partitions: [{ offset: 42n }] }] });
    expect(a.equals(b)).toBe(true);
  });

  test('a body that breaks the schema is a SchemaError naming the field', () => {
    expect(() => encodeResponse(apiKeys.Metadata, 1, 1, { brokers: [{ host: null }] })).toThrow(/brokers\[\]\.host/);
    expect(() => encodeResponse(apiKeys.Metadata, 1, 1, { brokers: 'no' })).toThrow(SchemaError);
    expect(() => encodeResponse(apiKeys.ListOffsets, 7, 1, { topics: [{ partitions: [{ offset: 1.5 }] }] })).toThrow(SchemaError);
    expect(() => encodeResponse(apiKeys.Produce, 2, 1, {})).toThrow(SchemaError);
  });

  test('an unknown api key or version is UNSUPPORTED_VERSION carrying the correlation id', () => {
    const header = (apiKey: number, apiVersion: number) => {
      const b = Buffer.alloc(10);
      b.writeInt16BE(apiKey, 0);
      b.writeInt16BE(apiVersion, 2);
      b.writeInt32BE(12345, 4);
      b.writeInt16BE(-1, 8);
      return b;
    };
    for (const [key, version] of [[0, 2], [0, 11], [18, 4], [1, 17], [999, 0], [-1, 0]]) {
      let err: unknown;
      try {
        decodeRequest(header(key, version));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ProtocolError);
      const pe = err as ProtocolError;
      expect(pe.entry.name).toBe('UNSUPPORTED_VERSION');
      expect(pe.code).toBe(35);
      expect(pe.correlationId).toBe(12345);
      expect(pe.apiKey).toBe(key);
      expect(pe.apiVersion).toBe(version);
    }
  });

  test('malformed bytes are INVALID_REQUEST carrying the correlation id', () => {
    const frame = encodeRequest({ apiKey: 3, apiVersion: 1, correlationId: 77, clientId: 'c' }, { topics: [{ name: 'orders' }] });
    const truncated = frame.subarray(4, frame.length - 2);
    expect(() => decodeRequest(truncated)).toThrow(ProtocolError);
    try {
      decodeRequest(truncated);
    } catch (e) {
      expect((e as ProtocolError).entry.name).toBe('INVALID_REQUEST');
      expect((e as ProtocolError).correlationId).toBe(77);
    }
    expect(() => decodeRequest(Buffer.concat([frame.subarray(4), Buffer.from([0])]))).toThrow(/bytes left after the body/);
    expect(() => decodeRequest(Buffer.alloc(5))).toThrow(ProtocolError);
  });

  test('a null element in an array of strings is malformed, not a null in a string[]', () => {
    // DescribeGroups v0: groups => [STRING]; one element whose int16 length is -1.
    const frame = Buffer.alloc(8 + 2 + 4 + 2);
    frame.writeInt16BE(apiKeys.DescribeGroups, 0);
    frame.writeInt16BE(0, 2);
    frame.writeInt32BE(7, 4);
    frame.writeInt16BE(-1, 8); // client id: null
    frame.writeInt32BE(1, 10); // one group id
    frame.writeInt16BE(-1, 14); // ... which is null
    expect(() => decodeRequest(frame)).toThrow(/array elements cannot be null/);
  });

  test('ApiVersions advertises exactly the described APIs and versions', () => {
    expect(supportedApiVersions).toEqual(
      (allApis as readonly ApiSpec[])
        .map((a) => ({ apiKey: a.apiKey, minVersion: a.minVersion, maxVersion: a.maxVersion }))
        .sort((x, y) => x.apiKey - y.apiKey),
    );
    const byKey = new Map(supportedApiVersions.map((v) => [v.apiKey, [v.minVersion, v.maxVersion]]));
    expect(byKey.get(18)).toEqual([0, 3]);
    expect(byKey.get(3)).toEqual([0, 12]);
    expect(byKey.get(0)).toEqual([3, 10]);
    expect(byKey.get(2)).toEqual([1, 8]);
    expect(byKey.get(60)).toEqual([0, 1]);
    expect(byKey.get(1)).toEqual([4, 16]);
    expect(byKey.get(9)).toEqual([0, 8]);
    expect(byKey.get(50)).toEqual([0, 0]);
    expect(byKey.get(51)).toEqual([0, 0]);
    // DescribeAcls, CreateAcls, DeleteAcls.
    expect([29, 30, 31].map((key) => byKey.get(key))).toEqual([[0, 3], [0, 3], [0, 3]]);
    expect(supportedApiVersions).toHaveLength(33);
  });
});
