import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'crypto';
import { configureControlPlane, memberClientOptions } from '../control-plane';
import { SegmentStore, startStorageGrpcServer, StorageClient, StorageError, StorageGrpcServer } from '.';
import { grpcStatusOf } from './grpc-wire';
import { STORAGE_ERROR_CODES } from './storage-error';
import { buildRecordBatch } from '../format';
import { buildTestBatch, buildTestSkipMarker } from './testing/batches';
import { closeTestNode, openTestNode } from './testing/grpc-node';
import { putIntoSegment } from './testing/regions';
import { storageRefusal } from './testing/refusal';

const MiB = 1024 * 1024;

let path: string;
let store: SegmentStore;
let server: StorageGrpcServer;
let client: StorageClient;

// The node serves the broker only: this process holds the cluster secret, as a broker would.
beforeAll(() => configureControlPlane({ clusterSecret: randomBytes(32) }));

beforeEach(async () => {
  ({ path: path, store, server, client } = await openTestNode({ segmentSizeBytes: MiB }));
});

afterEach(() => closeTestNode({ path: path, store, server, client }));

const rejection = storageRefusal;

const put = (segmentId: number, position: number, bytes: Buffer): void => putIntoSegment(store, segmentId, position, bytes);

describe('storage gRPC service', () => {
  it('reports fenced ranges and unreadable slots found at recovery, and skips a fenced range on request', async () => {
    const id = store.allocate({ topicId: 4, partition: 1, baseOffset: 10n }).segmentId;
    put(id, 0, buildTestBatch({ baseOffset: 10n, recordCount: 2, sizeBytes: 300 }));
    put(id, 300, buildTestBatch({ baseOffset: 12n, recordCount: 3, sizeBytes: 300 }));
    store.commit(id, { commitPosition: 600, endOffset: 15n, maxTimestamp: 0n });
    store.region.bytes(store.dataRange(id).regionOffset + 100, 1)[0] ^= 0xff;
    // Recovery runs on open: reopen the region under a new server.
    client.close();
    await server.close();
    store.close();
    store = SegmentStore.open({ path, regionSizeBytes: 4 * MiB, segmentSizeBytes: MiB, durability: 'flush', logger: { warn: () => {} } });
    server = await startStorageGrpcServer(store, { host: '127.0.0.1', port: 0 });
    client = new StorageClient(`127.0.0.1:${server.port}`);

    const fence = { segmentId: id, topicId: 4, partition: 1, startPosition: 0, endPosition: 300, baseOffset: 10n, endOffset: 12n };
    expect(await client.fencedRanges()).toEqual({ ranges: [{ ...fence, reason: expect.stringMatching(/CRC32C/) }], unreadableSlots: [] });
    expect((await rejection(client.skipFencedRange(id, 5))).message).toMatch(/no fenced range at position 5/);
    expect(await client.skipFencedRange(id, 0)).toMatchObject(fence);
    expect(await client.fencedRanges()).toEqual({ ranges: [], unreadableSlots: [] });
  });

  it('walks the committed batch headers and returns each idempotent producer\'s window, with 64-bit ids and offsets intact', async () => {
    const id = (await client.allocate({ topicId: 1, partition: 0, baseOffset: 9_007_199_254_740_993n })).segmentId;
    const producerId = 2n ** 60n + 5n;
    const first = await buildRecordBatch({ records: [{ key: null, value: 'a' }, { key: null, value: 'b' }], producerId, producerEpoch: 3, baseSequence: 7, baseOffset: 9_007_199_254_740_993n });
    const marker = buildTestSkipMarker(100, 9_007_199_254_740_995n, 1);
    const second = await buildRecordBatch({ records: [{ key: null, value: 'c' }], producerId, producerEpoch: 3, baseSequence: 9, baseOffset: 9_007_199_254_740_996n });
    const bytes = Buffer.concat([first, marker, second]);
    put(id, 0, bytes);
    await client.commit(id, { commitPosition: bytes.length, endOffset: 9_007_199_254_740_997n, maxTimestamp: 0n });
    expect(await client.scanProducers(id)).toEqual({
      windows: [
        {
          producerId,
          epoch: 3,
          batches: [
            { firstSequence: 7, lastSequence: 8, baseOffset: 9_007_199_254_740_993n, lastOffset: 9_007_199_254_740_994n },
            { firstSequence: 9, lastSequence: 9, baseOffset: 9_007_199_254_740_996n, lastOffset: 9_007_199_254_740_996n },
          ],
        },
      ],
      batchCount: 3,
      endPosition: bytes.length,
      stopReason: undefined,
    });
    expect((await rejection(client.scanProducers(999))).code).toBe('UNKNOWN_SEGMENT');
  });

  it('allocates, commits, fills a skip range, seals, describes and frees over the wire', async () => {
    const allocated = await client.allocate({ topicId: 7, partition: 3, baseOffset: 9_007_199_254_740_993n });
    expect(allocated).toEqual(store.get(allocated.segmentId));
    expect(allocated).toMatchObject({ state: 'OPEN', topicId: 7, partition: 3, endOffset: 9_007_199_254_740_993n, maxTimestamp: -1n });

    const id = allocated.segmentId;
    put(id, 0, buildTestBatch({ baseOffset: 9_007_199_254_740_993n, recordCount: 2, sizeBytes: 400 }));
    const committed = await client.commit(id, { commitPosition: 400, endOffset: 9_007_199_254_740_995n, maxTimestamp: 1_700_000_000_000n });
    expect(committed).toMatchObject({ commitPosition: 400, endOffset: 9_007_199_254_740_995n, maxTimestamp: 1_700_000_000_000n });

    const marker = buildTestSkipMarker(300, 9_007_199_254_740_995n, 3);
    await client.writeSkipMarker(id, 400, marker);
    expect(store.region.bytes(store.dataRange(id).regionOffset + 400, 300)).toEqual(marker);
    await client.commit(id, { commitPosition: 700, endOffset: 9_007_199_254_740_998n, maxTimestamp: 0n });

    const sealed = await client.seal(id, { finalPosition: 700 });
    expect(sealed).toMatchObject({ state: 'SEALED', sealed: true, writePosition: 700 });
    expect(sealed.sealedAtMs).toBeGreaterThan(0);
    expect(await client.get(id)).toEqual(store.get(id));

    // A size asked for is rounded up to whole 64 KiB slots, header page included.
    const other = await client.allocate({ topicId: 8, partition: 0, baseOffset: 0n, dataCapacityBytes: 100_000 });
    expect(other.dataCapacityBytes).toBe(2 * 64 * 1024 - 4096);
    expect(await client.describe()).toEqual(store.describe());
    const freeBytes = 4 * MiB - 64 * 1024 - MiB - 2 * 64 * 1024;
    expect(await client.usage()).toEqual({ segments: 2, usedBytes: 700, allocatedBytes: MiB + 2 * 64 * 1024, freeBytes, largestFreeBytes: freeBytes, segmentSizeBytes: MiB });

    await client.free(id);
    expect((await client.describe()).map((d) => d.segmentId)).toEqual([other.segmentId]);
  });

  it('fences a deposed broker: once a newer leader epoch claimed the node, mutating calls with an older epoch (or none) are refused FENCED, reads still answer', async () => {
    const address = `127.0.0.1:${server.port}`;
    const oldLeader = new StorageClient(address, { leaderEpoch: 7n });
    const newLeader = new StorageClient(address, { leaderEpoch: 9n });
    try {
      const id = (await oldLeader.allocate({ topicId: 1, partition: 0, baseOffset: 0n })).segmentId;
      put(id, 0, buildTestBatch({ baseOffset: 0n, recordCount: 1, sizeBytes: 200 }));
      // The new leader's first call, a read, claims the node.
      await newLeader.info().catch(() => undefined);
      const refused = await rejection(oldLeader.commit(id, { commitPosition: 200, endOffset: 1n, maxTimestamp: 0n }));
      expect(refused).toMatchObject({ code: 'FENCED', retriable: true, kafkaErrorName: 'NOT_LEADER_OR_FOLLOWER' });
      expect(refused.message).toMatch(/carries leader epoch 7, but a newer leader \(epoch 9\)/);
      for (const call of [() => oldLeader.allocate({ topicId: 1, partition: 1, baseOffset: 0n }), () => oldLeader.seal(id, { finalPosition: 0 }), () => oldLeader.free(id), () => client.free(id)]) {
        expect((await rejection(call())).code).toBe('FENCED');
      }
      expect(store.get(id).commitPosition).toBe(0);
      expect((await oldLeader.describe()).map((d) => d.segmentId)).toEqual([id]);
      expect((await newLeader.commit(id, { commitPosition: 200, endOffset: 1n, maxTimestamp: 0n })).commitPosition).toBe(200);
      expect(server.fence.refused).toBe(5);
      expect(server.fence.highestEpoch).toBe(9n);
    } finally {
      oldLeader.close();
      newLeader.close();
    }
  });

  it('keeps the highest leader epoch across a restart of the server (epochFile), so a restarted node still refuses the older leader', async () => {
    const epochFile = `${path}.leader-epoch`;
    client.close();
    await server.close();
    server = await startStorageGrpcServer(store, { host: '127.0.0.1', port: 0, epochFile });
    const newLeader = new StorageClient(`127.0.0.1:${server.port}`, { leaderEpoch: 9n });
    await newLeader.describe();
    newLeader.close();
    await server.close();
    server = await startStorageGrpcServer(store, { host: '127.0.0.1', port: 0, epochFile });
    client = new StorageClient(`127.0.0.1:${server.port}`);
    const oldLeader = new StorageClient(`127.0.0.1:${server.port}`, { leaderEpoch: 7n });
    try {
      expect(server.fence.highestEpoch).toBe(9n);
      expect((await rejection(oldLeader.allocate({ topicId: 1, partition: 0, baseOffset: 0n }))).code).toBe('FENCED');
    } finally {
      oldLeader.close();
    }
  });

  it('rethrows the store\'s errors with their codes, messages and retriable flags', async () => {
    const unknown = await rejection(client.get(404));
    expect(unknown).toMatchObject({ code: 'UNKNOWN_SEGMENT', retriable: false, message: 'segment 404 is not allocated on this storage node' });

    const { segmentId } = await client.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    const beyond = await rejection(client.commit(segmentId, { commitPosition: MiB, endOffset: 1n, maxTimestamp: 0n }));
    expect(beyond).toMatchObject({ code: 'INVALID_POSITION', message: expect.stringMatching(/beyond its data area/) });

    const badMarker = await rejection(client.writeSkipMarker(segmentId, 0, Buffer.alloc(100)));
    expect(badMarker.code).toBe('INVALID_BATCH');

    await client.seal(segmentId, { finalPosition: 0 });
    expect((await rejection(client.seal(segmentId, { finalPosition: 10 }))).code).toBe('INVALID_STATE');

    await client.allocate({ topicId: 1, partition: 1, baseOffset: 0n });
    await client.allocate({ topicId: 1, partition: 2, baseOffset: 0n });
    const full = await rejection(client.allocate({ topicId: 1, partition: 3, baseOffset: 0n }));
    expect(full).toMatchObject({ code: 'STORAGE_FULL', retriable: true });

    const negative = await rejection(client.allocate({ topicId: 1, partition: 3, baseOffset: -5n }));
    expect(negative).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/baseOffset -5/) });
  });

  it('sends each error code as a gRPC status that says what kind of failure it is', async () => {
    expect(grpcStatusOf('STORAGE_FULL')).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(grpcStatusOf('UNKNOWN_SEGMENT')).toBe(grpc.status.NOT_FOUND);
    expect(grpcStatusOf('INVALID_POSITION')).toBe(grpc.status.OUT_OF_RANGE);
    for (const code of STORAGE_ERROR_CODES) expect(grpcStatusOf(code)).not.toBe(grpc.status.OK);

    // A raw gRPC client sees the status and the code in the trailing metadata.
    const raw = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), memberClientOptions());
    const status = await new Promise<grpc.ServiceError>((resolve) => {
      raw.makeUnaryRequest(
        '/rdmq.storage.v1.StorageNode/Free',
        (value: Buffer) => value,
        (bytes: Buffer) => bytes,
        Buffer.from([0x08, 0x63]), // segment_id = 99
        (err) => resolve(err as grpc.ServiceError),
      );
    });
    raw.close();
    expect(status.code).toBe(grpc.status.NOT_FOUND);
    expect(status.metadata.get('rdmq-storage-error-code')).toEqual(['UNKNOWN_SEGMENT']);
  });

  it('turns a failure that is not a StorageError into INTERNAL', async () => {
    client.close();
    await server.close();
    store.close();
    store = SegmentStore.open({
      path,
      regionSizeBytes: 4 * MiB,
      segmentSizeBytes: MiB,
      durability: 'flush',
      faults: { beforeHeaderPersist: () => { throw new Error('injected: header persist failed'); } },
    });
    server = await startStorageGrpcServer(store, { host: '127.0.0.1', port: 0 });
    client = new StorageClient(`127.0.0.1:${server.port}`);
    const err = await rejection(client.allocate({ topicId: 1, partition: 0, baseOffset: 0n }));
    expect(err).toMatchObject({ code: 'INTERNAL', message: 'injected: header persist failed' });
  });

  it('reports an unreachable storage node as a retriable UNAVAILABLE', async () => {
    const lonely = new StorageClient('127.0.0.1:1', { deadlineMs: 2000 });
    const err = await rejection(lonely.usage());
    lonely.close();
    expect(err).toMatchObject({ code: 'UNAVAILABLE', retriable: true });
  });
});
