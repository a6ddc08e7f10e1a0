// An exclusive producer's commits against a storage node reached over its
// commit socket (as `rdmq broker --storage` reaches `rdmq storage`): a commit
// that arrives while earlier ones are with storage goes at once, planned on
// them, instead of waiting for their round trip; and when an earlier one is
// refused for its bytes, the ones planned on it are refused too, nothing is
// committed over the refused bytes, and the partition goes on.
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { configureControlPlane } from '../control-plane';
import { buildRecordBatch, setBaseOffset } from '../format';
import { SegmentStore, startStorageGrpcServer, StorageGrpcServer, StorageNode } from '../storage-node';
import { Broker, PartitionRuntime } from './broker';
import { RemoteStorage } from './storage-backend';

describe('exclusive commits over the commit socket', () => {
  let dir: string;
  let store: SegmentStore;
  let server: StorageGrpcServer;
  let broker: Broker;
  /** Called by the node just before it persists a commit's data (in this process). */
  let onPersist: (segmentId: number) => void = () => undefined;

  beforeAll(() => configureControlPlane({ clusterSecret: randomBytes(32) }));

  beforeEach(async () => {
    dir = fs.mkdtempSync('/dev/shm/rdmq-commit-turns-');
    store = SegmentStore.open({
      path: path.join(dir, 'region'),
      regionSizeBytes: 8 << 20,
      segmentSizeBytes: 1 << 20,
      durability: 'flush',
      faults: { beforeDataPersist: ({ segmentId }) => onPersist(segmentId) },
    });
    server = await startStorageGrpcServer(store, { host: '127.0.0.1', port: 0, node: new StorageNode(store) });
    const storage = await RemoteStorage.connect(`127.0.0.1:${server.port}`);
    broker = await Broker.open(path.join(dir, 'meta'), storage, { leaseTimeoutMs: 10_000, durability: 'flush' });
    await broker.createTopic('t', 1);
  });

  afterEach(async () => {
    onPersist = () => undefined;
    await broker?.close();
    broker?.storage.close();
    await server?.close();
    store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** `count` one-record batches written where the producer's grant says, each at its offset; `corrupt`: the index of one whose CRC is wrong. */
  async function writeBatches(runtime: PartitionRuntime, count: number, corrupt?: number) {
    const grant = await broker.acquireExclusive(runtime, 'p', false, 4096);
    const ranges = [];
    let position = grant.position;
    for (let i = 0; i < count; i++) {
      const batch = await buildRecordBatch({ records: [{ key: null, value: `v-${i}` }] });
      const baseOffset = grant.nextOffset + BigInt(i);
      setBaseOffset(batch, 0, baseOffset);
      if (i === corrupt) batch[batch.length - 1] ^= 0xff;
      batch.copy(store.written(grant.segmentId, position, batch.length));
      ranges.push({ segmentId: grant.segmentId, position, lengthBytes: batch.length, baseOffset, recordCount: 1, maxTimestamp: 0n });
      position += batch.length;
    }
    return ranges;
  }

  it('a commit that arrives while the one before it is with storage is sent before that one lands', async () => {
    const runtime = broker.partitionByName('t', 0);
    const [first, second] = await writeBatches(runtime, 2);
    const storage = broker.storage as RemoteStorage;
    expect(await storage.connectCommitSocket()).toBe(true);
    let secondCommit: Promise<bigint> | undefined;
    // The second commit arrives while the node is committing the first (its reply not sent yet).
    onPersist = () => {
      onPersist = () => undefined;
      secondCommit = broker.commitRange(runtime, 'p', second);
    };
    const sentBefore = storage.commitStreamStats().messages;
    const messagesWhenFirstLanded = await broker.commitRange(runtime, 'p', first).then(() => storage.commitStreamStats().messages - sentBefore);
    expect(messagesWhenFirstLanded).toBe(2);
    expect(await secondCommit).toBe(second.baseOffset + 1n);
    expect(store.get(second.segmentId).commitPosition).toBe(second.position + second.lengthBytes);
    expect(storage.commitStreamStats().via).toBe('socket');
  });

  it('commits planned on one refused for its bytes are refused too, nothing is committed over it, and the partition goes on', async () => {
    const runtime = broker.partitionByName('t', 0);
    const [good, bad, behind] = await writeBatches(runtime, 3, 1);
    let badCommit: Promise<bigint> | undefined;
    let behindCommit: Promise<bigint> | undefined;
    // While the node commits the good batch: the corrupt one, then (a moment later, its own turn) one written behind it.
    onPersist = () => {
      onPersist = () => undefined;
      badCommit = broker.commitRange(runtime, 'p', bad);
      setImmediate(() => (behindCommit = broker.commitRange(runtime, 'p', behind)));
    };
    expect(await broker.commitRange(runtime, 'p', good)).toBe(good.baseOffset + 1n);
    await expect(badCommit).rejects.toThrow(/CRC32C/);
    await expect(behindCommit).rejects.toThrow();
    expect(store.get(good.segmentId).commitPosition).toBe(good.position + good.lengthBytes);
    expect(runtime.state.highWatermark()).toBe(good.baseOffset + 1n);
    expect(runtime.storageFence).toBeUndefined();

    // The producer writes again from the committed end: that commit lands.
    const [again] = await writeBatches(runtime, 1);
    expect(again.position).toBe(good.position + good.lengthBytes);
    expect(await broker.commitRange(runtime, 'p', again)).toBe(again.baseOffset + 1n);
    expect(store.get(again.segmentId).commitPosition).toBe(again.position + again.lengthBytes);
  });
});
