// Flexible (compact + tagged field) versions, checked against frames built
// byte by byte here, independently of the codec's own writer.

import { apiKeys, decodeRequest, decodeResponse, encodeRequest, encodeResponse, ProtocolError } from './index';

const i8 = (v: number) => Buffer.from([v & 0xff]);
const i16 = (v: number) => { const b = Buffer.alloc(2); b.writeInt16BE(v); return b; };
const i32 = (v: number) => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b; };
const i64 = (v: bigint) => { const b = Buffer.alloc(8); b.writeBigInt64BE(v); return b; };
function uvarint(v: number): Buffer {
  const out: number[] = [];
  while (v >= 0x80) { out.push((v & 0x7f) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
  return Buffer.from(out);
}
const classicString = (s: string | null) => (s === null ? i16(-1) : Buffer.concat([i16(Buffer.byteLength(s)), Buffer.from(s)]));
const compactString = (s: string | null) => (s === null ? uvarint(0) : Buffer.concat([uvarint(Buffer.byteLength(s) + 1), Buffer.from(s)]));
const compactBytes = (b: Buffer | null) => (b === null ? uvarint(0) : Buffer.concat([uvarint(b.length + 1), b]));
const compactArray = (items: Buffer[]) => Buffer.concat([uvarint(items.length + 1), ...items]);
const tags = (...fields: Array<[number, Buffer]>) =>
  Buffer.concat([uvarint(fields.length), ...fields.flatMap(([tag, data]) => [uvarint(tag), uvarint(data.length), data])]);
const noTags = tags();

function requestHeaderV2(apiKey: number, apiVersion: number, correlationId: number, clientId: string | null, headerTags = noTags) {
  // client_id keeps its classic int16 length even in the flexible header.
  return Buffer.concat([i16(apiKey), i16(apiVersion), i32(correlationId), classicString(clientId), headerTags]);
}

describe('flexible versions', () => {
  test('an ApiVersions v3 request from librdkafka decodes, keeping an unknown tagged field for re-encoding', () => {
    const frame = Buffer.concat([
      requestHeaderV2(18, 3, 7, 'rdkafka'),
      compactString('librdkafka'), compactString('2.3.0'),
      tags([5, Buffer.from('xyz')]),
    ]);
    const req = decodeRequest(frame);
    expect(req.header).toEqual({ apiKey: 18, apiVersion: 3, correlationId: 7, clientId: 'rdkafka' });
    expect(req.body).toEqual({
      clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.3.0',
      _unknownTaggedFields: [{ tag: 5, data: Buffer.from('xyz') }],
    });
    const again = encodeRequest(req.header, req.body);
    expect(again.subarray(4).equals(frame)).toBe(true);
  });

  test('tagged fields in the request header are skipped', () => {
    const frame = Buffer.concat([
      requestHeaderV2(18, 3, 8, null, tags([0, Buffer.from([1, 2, 3])], [7, Buffer.alloc(0)])),
      compactString('x'), compactString('1'), noTags,
    ]);
    const req = decodeRequest(frame);
    expect(req.header.clientId).toBeNull();
    expect(req.body).toMatchObject({ clientSoftwareName: 'x', clientSoftwareVersion: '1' });
  });

  test('an ApiVersions v3 response uses response header v0: no tagged fields after the correlation id', () => {
    const frame = encodeResponse(18, 3, 11, { apiKeys: [{ apiKey: 0, minVersion: 3, maxVersion: 9 }], throttleTimeMs: 0 });
    const expected = Buffer.concat([
      i32(11), // header v0
      i16(0), compactArray([Buffer.concat([i16(0), i16(3), i16(9), noTags])]), i32(0),
      noTags, // finalizedFeaturesEpoch -1 and empty feature lists are defaults: not written
    ]);
    expect(frame.subarray(4).equals(expected)).toBe(true);
    expect(frame.readInt32BE(0)).toBe(expected.length);
  });

  test('an ApiVersions v3 response writes non-default tagged fields in tag order', () => {
    const frame = encodeResponse(18, 3, 1, { finalizedFeaturesEpoch: 5n, zkMigrationReady: true, supportedFeatures: [{ name: 'f', minVersion: 0, maxVersion: 1 }] });
    const body = frame.subarray(4 + 4 + 2 + 1 + 4); // size, header v0, error code, empty compact array, throttle
    expect(body.equals(tags(
      [0, compactArray([Buffer.concat([compactString('f'), i16(0), i16(1), noTags])])],
      [1, i64(5n)],
      [3, i8(1)],
    ))).toBe(true);
    const decoded = decodeResponse(18, 3, frame.subarray(4)).body;
    expect(decoded).toMatchObject({ finalizedFeaturesEpoch: 5n, zkMigrationReady: true, finalizedFeatures: [] });
  });

  test('a Metadata v9 request with compact topic names decodes', () => {
    const frame = Buffer.concat([
      requestHeaderV2(3, 9, 21, 'c'),
      compactArray([Buffer.concat([compactString('orders'), noTags]), Buffer.concat([compactString('payments'), noTags])]),
      i8(1), i8(0), i8(1), noTags,
    ]);
    const req = decodeRequest(frame);
    if (req.apiName !== 'Metadata') throw new Error('expected Metadata');
    expect(req.body.topics!.map((t) => t.name)).toEqual(['orders', 'payments']);
    expect(req.body).toMatchObject({ allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: true });
    expect(encodeRequest(req.header, req.body).subarray(4).equals(frame)).toBe(true);
  });

  test('a Metadata v12 request has topic ids, nullable names, a null topic list for all topics, and no cluster-operations flag', () => {
    const id = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const some = Buffer.concat([
      requestHeaderV2(3, 12, 1, 'c'),
      compactArray([Buffer.concat([id, compactString(null), noTags])]),
      i8(0), i8(0), noTags,
    ]);
    const req = decodeRequest(some);
    if (req.apiName !== 'Metadata') throw new Error('expected Metadata');
    expect(req.body.topics).toEqual([{ topicId: id, name: null }]);
    const all = Buffer.concat([requestHeaderV2(3, 12, 1, 'c'), uvarint(0), i8(1), i8(0), noTags]);
    const allReq = decodeRequest(all);
    expect(allReq.body).toMatchObject({ topics: null, allowAutoTopicCreation: true });
  });

  test('a Metadata v12 response uses response header v1 and compact, nullable fields', () => {
    const frame = encodeResponse(3, 12, 5, {
      brokers: [{ nodeId: 1, host: 'h', port: 9092 }],
      clusterId: 'k',
      controllerId: 1,
      topics: [{ name: 'orders', partitions: [] }],
    });
    const expected = Buffer.concat([
      i32(5), noTags, // header v1
      i32(0), // throttle
      compactArray([Buffer.concat([i32(1), compactString('h'), i32(9092), compactString(null), noTags])]),
      compactString('k'), i32(1),
      compactArray([Buffer.concat([i16(0), compactString('orders'), Buffer.alloc(16), i8(0), compactArray([]), i32(-2147483648), noTags])]),
      noTags,
    ]);
    expect(frame.subarray(4).equals(expected)).toBe(true);
  });

  test('a Produce v9 request carries records as compact bytes, and nested unknown tags survive', () => {
    const records = Buffer.from('pretend-record-batch');
    const partition = Buffer.concat([i32(2), compactBytes(records), tags([42, Buffer.from([9])])]);
    const frame = Buffer.concat([
      requestHeaderV2(0, 9, 3, 'p'),
      compactString(null), i16(-1), i32(1500),
      compactArray([Buffer.concat([compactString('orders'), compactArray([partition]), noTags])]),
      noTags,
    ]);
    const req = decodeRequest(frame);
    if (req.apiName !== 'Produce') throw new Error('expected Produce');
    expect(req.body).toMatchObject({ transactionalId: null, acks: -1, timeoutMs: 1500 });
    const p = req.body.topicData[0].partitionData[0];
    expect(p.index).toBe(2);
    expect(p.records!.equals(records)).toBe(true);
    expect(p._unknownTaggedFields).toEqual([{ tag: 42, data: Buffer.from([9]) }]);
    expect(encodeRequest(req.header, req.body).subarray(4).equals(frame)).toBe(true);
  });

  test('a Fetch v12 request reads the tagged cluster id and the last fetched epoch', () => {
    const partition = Buffer.concat([i32(0), i32(5), i64(100n), i32(4), i64(-1n), i32(65536), noTags]);
    const frame = Buffer.concat([
      requestHeaderV2(1, 12, 9, 'f'),
      i32(-1), i32(500), i32(1), i32(1 << 20), i8(0), i32(0), i32(-1),
      compactArray([Buffer.concat([compactString('orders'), compactArray([partition]), noTags])]),
      compactArray([]),
      compactString(''),
      tags([0, compactString('cluster-a')], [9, Buffer.from('later')]),
    ]);
    const req = decodeRequest(frame);
    if (req.apiName !== 'Fetch') throw new Error('expected Fetch');
    expect(req.body.clusterId).toBe('cluster-a');
    expect(req.body.topics[0].partitions[0]).toEqual({
      partition: 0, currentLeaderEpoch: 5, fetchOffset: 100n, lastFetchedEpoch: 4, logStartOffset: -1n, partitionMaxBytes: 65536,
    });
    expect(req.body._unknownTaggedFields).toEqual([{ tag: 9, data: Buffer.from('later') }]);
    expect(encodeRequest(req.header, req.body).subarray(4).equals(frame)).toBe(true);
  });

  test('a Fetch v12 response writes tagged structs only when they differ from their defaults', () => {
    const records = Buffer.from('batch');
    const plain = { partitionIndex: 0, highWatermark: 10n, records };
    const withLeader = { ...plain, currentLeader: { leaderId: 2, leaderEpoch: 7 } };
    const encode = (p: object) => encodeResponse(apiKeys.Fetch, 12, 1, { responses: [{ topic: 't', partitions: [p] }] });
    const head = Buffer.concat([i32(1), noTags, i32(0), i16(0), i32(0)]);
    const wrap = (p: Buffer) => Buffer.concat([head, compactArray([Buffer.concat([compactString('t'), compactArray([p]), noTags])]), noTags]);
    // abortedTransactions is nullable, but its default is the empty array, not null.
    const plainFrame = encode(plain).subarray(4);
    const expectedPlain = wrap(Buffer.concat([
      i32(0), i16(0), i64(10n), i64(-1n), i64(-1n), compactArray([]), i32(-1), compactBytes(records), noTags,
    ]));
    expect(plainFrame.equals(expectedPlain)).toBe(true);
    const leaderFrame = encode(withLeader).subarray(4);
    const expectedLeader = wrap(Buffer.concat([
      i32(0), i16(0), i64(10n), i64(-1n), i64(-1n), compactArray([]), i32(-1), compactBytes(records),
      tags([1, Buffer.concat([i32(2), i32(7), noTags])]),
    ]));
    expect(leaderFrame.equals(expectedLeader)).toBe(true);
    const decoded = decodeResponse(apiKeys.Fetch, 12, leaderFrame).body as { responses: Array<{ partitions: Array<Record<string, unknown>> }> };
    expect(decoded.responses[0].partitions[0]).toMatchObject({
      currentLeader: { leaderId: 2, leaderEpoch: 7 },
      divergingEpoch: { epoch: -1, endOffset: -1n },
      snapshotId: { endOffset: -1n, epoch: -1 },
    });
  });

  test('a compact length that runs past the frame is INVALID_REQUEST', () => {
    const frame = Buffer.concat([requestHeaderV2(18, 3, 1, 'c'), uvarint(1000), Buffer.from('short')]);
    expect(() => decodeRequest(frame)).toThrow(ProtocolError);
    expect(() => decodeRequest(frame)).toThrow(/exceeds/);
  });

  test('a tagged field whose size runs past the frame is INVALID_REQUEST', () => {
    const frame = Buffer.concat([requestHeaderV2(18, 3, 1, 'c'), compactString('a'), compactString('b'), uvarint(1), uvarint(3), uvarint(50), Buffer.from('xy')]);
    expect(() => decodeRequest(frame)).toThrow(ProtocolError);
  });
});
