// A partition's new segment is announced to its readers with a read key from
// the storage node. When the node cannot give one (it was killed right after
// the segment was allocated), the broker must neither die of the failed
// announcement (an unhandled rejection ends a Node process) nor leave its
// readers without the segment: it tries again once the node answers. A real
// storage node and metadata log; the node's read keys fail while `away` is
// set, as they do over a broken commit channel.
import * as fs from 'fs';
import * as path from 'path';
import { Transport } from '../addon';
import { buildRecordBatch, setBaseOffset } from '../format';
import { SegmentStore, StorageError, StorageNode } from '../storage-node';
import { Broker } from './broker';
import type { ReplicaKey } from '../format/fastpath-wire';
import { EmbeddedStorage } from './storage-backend';

class NodeAway extends EmbeddedStorage {
  away = false;

  override async segmentKeys(segmentId: number, access: 'read' | 'read-write'): Promise<ReplicaKey[]> {
    if (this.away) throw new StorageError('UNAVAILABLE', 'storage node unreachable: the commit socket broke (read ECONNRESET)');
    return super.segmentKeys(segmentId, access);
  }
}

async function until(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('announcing a new segment while the storage node is away', () => {
  let dir: string;
  let transport: Transport;
  let broker: Broker | undefined;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

  beforeEach(() => {
    dir = fs.mkdtempSync('/dev/shm/rdmq-segment-announce-');
    transport = new Transport();
    process.on('unhandledRejection', onUnhandled);
  });

  afterEach(async () => {
    process.off('unhandledRejection', onUnhandled);
    await broker?.close();
    broker?.storage.close();
    broker = undefined;
    transport.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('neither ends the broker nor loses the announcement: it is made once the node answers again', async () => {
    const store = SegmentStore.open({ path: path.join(dir, 'region'), regionSizeBytes: 16 << 20, segmentSizeBytes: 1 << 20, durability: 'flush' });
    const storage = new NodeAway(new StorageNode(store));
    const announced: number[] = [];
    const logs: string[] = [];
    broker = await Broker.open(path.join(dir, 'meta'), storage, {
      leaseTimeoutMs: 5000,
      durability: 'flush',
      log: (message) => logs.push(message),
      // As the fast-path service does: each reader is sent the segment with its read key.
      onSegment: async (_runtime, segment) => {
        await storage.segmentKeys(segment.segmentId, 'read');
        announced.push(segment.segmentId);
      },
    });
    const b = broker;
    await b.createTopic('t', 1);
    const runtime = b.partitionByName('t', 0);
    const append = async (): Promise<void> => {
      const batch = await buildRecordBatch({ records: Array.from({ length: 4 }, (_, r) => ({ key: null, value: Buffer.alloc(10_000, r) })) });
      const grant = await b.stage(runtime, { lengthBytes: batch.length, recordCount: 4, producerKey: 'test' });
      setBaseOffset(batch, 0, grant.baseOffset);
      batch.copy(storage.node.store.written(grant.segmentId, grant.position, batch.length));
      await b.complete(runtime, [{ stageId: grant.stageId, maxTimestamp: 0n }]);
    };

    await append();
    await until('the first segment announced', () => announced.length === 1);
    storage.away = true;
    // ~40 KiB batches: the partition rolls to new segments while the node gives no keys.
    while (runtime.state.segments().length < 3) await append();
    const rolledTo = runtime.state.segments().slice(1).map((s) => s.segmentId);
    await until('the failed announcements logged', () => rolledTo.every((id) => logs.some((l) => l.includes(`segment ${id} not announced to its readers (attempt 1 of`))));
    expect(announced).toHaveLength(1);

    storage.away = false;
    await until('the segments announced once the node answers', () => rolledTo.every((id) => announced.includes(id)));
    expect(unhandled).toEqual([]);
    // The broker still serves the partition.
    await append();
  }, 60_000);
});
