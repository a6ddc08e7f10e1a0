// The broker's commit stream to a storage node in another process
// (commit-channel.ts): checks and commits of many segments share a message,
// bytes that fail the check are never committed, and only a member of the
// cluster — under the newest leader epoch — may commit through it.
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'crypto';
import { configureControlPlane, PROOF_METADATA_KEY, proveMembership } from '../control-plane';
import { SegmentStore, startStorageGrpcServer, StorageClient, StorageError, StorageGrpcServer } from '.';
import { storageService } from './grpc-wire';
import { buildTestBatch } from './testing/batches';
import { closeTestNode, openTestNode } from './testing/grpc-node';
import { putIntoSegment } from './testing/regions';
import { expectRollStepsInOneMessage } from './testing/roll-steps';
import { storageRefusal } from './testing/refusal';

const COMMITS_PATH = '/rdmq.storage.v1.StorageNode/Commits';

let path: string;
let store: SegmentStore;
let server: StorageGrpcServer;
let client: StorageClient;

beforeAll(() => configureControlPlane({ clusterSecret: randomBytes(32) }));

beforeEach(async () => {
  ({ path: path, store, server, client } = await openTestNode({ segmentSizeBytes: 256 * 1024 }));
});

afterEach(() => closeTestNode({ path: path, store, server, client }));

const put = (segmentId: number, position: number, bytes: Buffer): void => putIntoSegment(store, segmentId, position, bytes);

const rejection = storageRefusal;

function checkOf(lengthBytes: number, baseOffset: bigint, recordCount: number) {
  return { position: 0, lengthBytes, expected: { baseOffset, recordCount }, where: 'test' };
}

/** Opens the Commits stream as a caller that is not a member (no proof, or a proof made with another secret) and sends one commit. */
function strangerCommit(segmentId: number, proof: string | undefined): Promise<grpc.ServiceError | 'answered'> {
  const Service = storageService();
  const stranger = new Service(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Commits(m: grpc.Metadata): grpc.ClientDuplexStream<object, object> };
  const metadata = new grpc.Metadata();
  if (proof) metadata.set(PROOF_METADATA_KEY, proof);
  const stream = stranger.Commits(metadata);
  return new Promise((resolve) => {
    stream.on('data', () => resolve('answered'));
    stream.on('error', (err: grpc.ServiceError) => resolve(err));
    stream.write({ sequence: '1', entries: [{ segmentId: String(segmentId), commit: { segmentId: '0', commitPosition: 200, endOffset: '1', maxTimestamp: '0' } }] });
  }).finally(() => stranger.close()) as Promise<grpc.ServiceError | 'answered'>;
}

describe('the storage node commit stream', () => {
  it('carries the checks and commits of several segments submitted at one moment in one message, each answered on its own', async () => {
    const ids = [0, 1, 2].map((partition) => store.allocate({ topicId: 1, partition, baseOffset: 0n }).segmentId);
    for (const id of ids) put(id, 0, buildTestBatch({ baseOffset: 0n, recordCount: 3, sizeBytes: 500 }));
    const before = client.commitStreamStats();
    const results = await Promise.all(ids.map((id) => client.commitStep(id, { check: checkOf(500, 0n, 3), commit: { commitPosition: 500, endOffset: 3n, maxTimestamp: 5n } })));
    expect(results.map((r) => r?.commitPosition)).toEqual([500, 500, 500]);
    expect(client.commitStreamStats()).toEqual({ messages: before.messages + 1, entries: before.entries + 3, streams: 1, sockets: 0, via: 'stream' });
    for (const id of ids) expect(store.get(id)).toMatchObject({ commitPosition: 500, endOffset: 3n });
  });

  it('allocates, seals and grants segments in the messages that carry commits, each step answered with its segment, its grant or the node\'s refusal', async () => {
    const granting = await openTestNode({ segmentSizeBytes: 256 * 1024, withNode: true });
    try {
      await expectRollStepsInOneMessage(granting.store, granting.node!, granting.client, 'stream');
    } finally {
      await closeTestNode(granting);
    }
  });

  it('refuses a batch with a wrong CRC, base offset or record count before committing it, while the other entries of the message commit', async () => {
    const [bad, wrongOffset, wrongCount, good] = [0, 1, 2, 3].map((partition) => store.allocate({ topicId: 1, partition, baseOffset: 0n }).segmentId);
    const corrupt = buildTestBatch({ baseOffset: 0n, recordCount: 2, sizeBytes: 400 });
    corrupt[300] ^= 0xff;
    put(bad, 0, corrupt);
    put(wrongOffset, 0, buildTestBatch({ baseOffset: 5n, recordCount: 2, sizeBytes: 400 }));
    put(wrongCount, 0, buildTestBatch({ baseOffset: 0n, recordCount: 2, sizeBytes: 400 }));
    put(good, 0, buildTestBatch({ baseOffset: 0n, recordCount: 2, sizeBytes: 400 }));
    const commit = { commitPosition: 400, endOffset: 2n, maxTimestamp: 0n };
    const outcomes = await Promise.allSettled([
      client.commitStep(bad, { check: checkOf(400, 0n, 2), commit }),
      client.commitStep(wrongOffset, { check: checkOf(400, 0n, 2), commit }),
      client.commitStep(wrongCount, { check: checkOf(400, 0n, 3), commit }),
      client.commitStep(good, { check: checkOf(400, 0n, 2), commit }),
    ]);
    const reasons = outcomes.slice(0, 3).map((o) => (o.status === 'rejected' ? (o.reason as StorageError) : undefined));
    expect(reasons.map((r) => r?.code)).toEqual(['INVALID_BATCH', 'INVALID_BATCH', 'INVALID_BATCH']);
    expect(reasons[0]?.message).toMatch(/CRC32C/);
    expect(reasons[1]?.message).toMatch(/base offset 5, the broker assigned 0/);
    expect(reasons[2]?.message).toMatch(/2 records were written, 3 were staged/);
    for (const id of [bad, wrongOffset, wrongCount]) expect(store.get(id).commitPosition).toBe(0);
    expect(outcomes[3]).toMatchObject({ status: 'fulfilled', value: { commitPosition: 400 } });
    expect(client.commitStreamStats().messages).toBe(1);
  });

  it('refuses the stream to a caller without the cluster proof or with a proof of another secret, and commits nothing for it', async () => {
    const id = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
    put(id, 0, buildTestBatch({ baseOffset: 0n, recordCount: 1, sizeBytes: 200 }));
    for (const proof of [undefined, proveMembership(randomBytes(32), COMMITS_PATH)]) {
      const outcome = await strangerCommit(id, proof);
      expect(outcome).not.toBe('answered');
      expect((outcome as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);
    }
    expect(store.get(id).commitPosition).toBe(0);
    // A member's commit of the same bytes goes through.
    expect((await client.commitStep(id, { commit: { commitPosition: 200, endOffset: 1n, maxTimestamp: 0n } }))?.commitPosition).toBe(200);
  });

  it('refuses FENCED the commits of a stream opened under an older leader epoch once a newer leader claimed the node', async () => {
    const address = `127.0.0.1:${server.port}`;
    const oldLeader = new StorageClient(address, { leaderEpoch: 7n });
    const newLeader = new StorageClient(address, { leaderEpoch: 9n });
    try {
      const id = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
      put(id, 0, buildTestBatch({ baseOffset: 0n, recordCount: 1, sizeBytes: 200 }));
      put(id, 200, buildTestBatch({ baseOffset: 1n, recordCount: 1, sizeBytes: 200 }));
      // The old leader's stream is open and working before the new leader appears.
      expect((await oldLeader.commitStep(id, { commit: { commitPosition: 200, endOffset: 1n, maxTimestamp: 0n } }))?.commitPosition).toBe(200);
      // Its first call, a read (this server has no fast path to describe, but the epoch is seen first), claims the node.
      await newLeader.info().catch(() => undefined);
      const refused = await rejection(oldLeader.commitStep(id, { check: { position: 200, lengthBytes: 200, expected: { baseOffset: 1n, recordCount: 1 }, where: 'test' }, commit: { commitPosition: 400, endOffset: 2n, maxTimestamp: 0n } }));
      expect(refused.code).toBe('FENCED');
      expect(store.get(id).commitPosition).toBe(200);
      expect(oldLeader.commitStreamStats().streams).toBe(1);
    } finally {
      oldLeader.close();
      newLeader.close();
    }
  });

  it('fails the commits in flight as UNAVAILABLE when the node goes away, and opens a new stream once it is back', async () => {
    const id = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
    put(id, 0, buildTestBatch({ baseOffset: 0n, recordCount: 1, sizeBytes: 200 }));
    put(id, 200, buildTestBatch({ baseOffset: 1n, recordCount: 1, sizeBytes: 200 }));
    expect((await client.commitStep(id, { commit: { commitPosition: 200, endOffset: 1n, maxTimestamp: 0n } }))?.commitPosition).toBe(200);
    const port = server.port;
    await server.close();
    const refused = await rejection(client.commitStep(id, { commit: { commitPosition: 400, endOffset: 2n, maxTimestamp: 0n } }));
    expect(refused.code).toBe('UNAVAILABLE');
    expect(store.get(id).commitPosition).toBe(200);
    server = await startStorageGrpcServer(store, { host: '127.0.0.1', port });
    let committed;
    for (let attempt = 0; attempt < 100 && !committed; attempt++) {
      committed = await client.commitStep(id, { commit: { commitPosition: 400, endOffset: 2n, maxTimestamp: 0n } }).catch(async (err: StorageError) => {
        expect(err.code).toBe('UNAVAILABLE');
        await new Promise((resolve) => setTimeout(resolve, 50));
        return undefined;
      });
    }
    expect(committed?.commitPosition).toBe(400);
    expect(client.commitStreamStats().streams).toBeGreaterThanOrEqual(2);
  });
});
