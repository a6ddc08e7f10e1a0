// The broker's view of replicated segments, against real `rdmq storage`
// processes. A segment whose in-sync copies do not answer while the broker
// reads the headers is not the same as a segment whose header is gone: the
// first must make the read fail (the broker tries again), never come back as
// a list without that segment — the broker fences a missing segment as lost
// and starts the partition's next offsets past its whole capacity
// (`npm run chaos`, cluster topology: offsets jumped by a million after a
// storage node was paused during a rebuild).
import * as fs from 'fs';
import * as path from 'path';
import { RunningRole, startRole } from '../bench/cluster';
import { buildRecordBatch } from '../format/batch-builder';
import { configureControlPlane, ensureClusterSecret } from '../control-plane';
import { StorageClient, StorageError } from '../storage-node';
import { buildTestBatch } from '../storage-node/testing/batches';
import { ReplicatedStorage } from './replicated-storage';
import { RemoteStorage } from './storage-backend';

jest.setTimeout(60_000);

const MAIN = path.join(__dirname, '..', 'cli', 'main.js');

describe('ReplicatedStorage against real storage nodes', () => {
  const dir = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-replicated-describe-'));
  const nodes: RunningRole<{ controlPort: number }>[] = [];
  let storage: ReplicatedStorage | undefined;

  const secretFile = path.join(dir, 'cluster-secret');

  beforeAll(async () => {
    // The storage nodes serve members of the cluster only: this process proves their secret, as a broker does.
    configureControlPlane({ clusterSecret: ensureClusterSecret(secretFile) });
    for (const i of [0, 1]) {
      nodes.push(
        await startRole([
          MAIN, 'storage', '--data', path.join(dir, `storage-${i}`), '--control', '127.0.0.1:0', '--fastpath', '127.0.0.1:0',
          '--metrics', '127.0.0.1:0', '--region-size', '32M', '--segment-size', '1M', '--cluster-secret-file', secretFile,
        ]),
      );
    }
  });

  afterAll(async () => {
    for (const n of nodes) n.child.kill('SIGCONT');
    storage?.close();
    await Promise.all(nodes.map((n) => n.signal('SIGKILL')));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('fails while a segment’s only in-sync copy does not answer, and lists it once the copy answers again', async () => {
    storage = await ReplicatedStorage.connect(nodes.map((n) => `127.0.0.1:${n.ready.controlPort}`));
    await storage.attach({ replicationFactorOf: () => 1, minInsyncOf: () => 1, onReplicasChanged: async () => undefined }, []);
    const segment = await storage.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    expect((await storage.describe()).map((s) => s.segmentId)).toEqual([segment.segmentId]);

    const [holderId] = storage.replicasOf(segment.segmentId);
    const holder = nodes[storage.nodeStates().findIndex((n) => n.nodeId === holderId)];
    holder.child.kill('SIGSTOP');
    try {
      const read = storage.describe();
      await expect(read).rejects.toBeInstanceOf(StorageError);
      await expect(read).rejects.toHaveProperty('code', 'UNAVAILABLE');
      await expect(read).rejects.toThrow(`segments ${segment.segmentId} have in-sync copies that did not answer`);
    } finally {
      holder.child.kill('SIGCONT');
    }
    await storage.probeReplicas();
    expect((await storage.describe()).map((s) => s.segmentId)).toEqual([segment.segmentId]);
  });

  test('a sealed segment copied to another node takes only its committed bytes there', async () => {
    // Every fenced partition seals a segment with little in it; copies at full capacity filled regions under chaos.
    storage?.close();
    storage = await ReplicatedStorage.connect(nodes.map((n) => `127.0.0.1:${n.ready.controlPort}`));
    let copies = 1;
    await storage.attach({ replicationFactorOf: () => copies, minInsyncOf: () => 1, onReplicasChanged: async () => undefined }, []);
    const segment = await storage.allocate({ topicId: 2, partition: 0, baseOffset: 0n });
    const direct = await Promise.all(nodes.map((n) => RemoteStorage.connect(`127.0.0.1:${n.ready.controlPort}`)));
    try {
      const [sourceId] = storage.replicasOf(segment.segmentId);
      const byId = new Map(storage.nodeStates().map((n, i) => [n.nodeId, direct[i]]));
      const batch = await buildRecordBatch({ records: [{ key: null, value: 'x'.repeat(300) }], baseOffset: 0n });
      await byId.get(sourceId)!.writeData(segment.segmentId, 0, batch);
      await storage.commit(segment.segmentId, { commitPosition: batch.length, endOffset: 1n, maxTimestamp: 0n });
      await storage.seal(segment.segmentId, batch.length);

      copies = 2;
      expect(await storage.reReplicate(() => true)).toBe(1);
      const [, copyId] = storage.replicasOf(segment.segmentId);
      const held = async (id: string) => (await byId.get(id)!.describe()).find((s) => s.segmentId === segment.segmentId)!;
      expect((await held(sourceId)).dataCapacityBytes).toBeGreaterThan(512 * 1024);
      const copy = await held(copyId);
      expect(copy.dataCapacityBytes).toBeLessThan(64 * 1024);
      expect(copy).toMatchObject({ sealed: true, commitPosition: batch.length, endOffset: 1n });
    } finally {
      for (const d of direct) d.close();
    }
  });

  test('a copy paused mid-commit (over its commit stream) leaves the in-sync set when another copy committed; below min.insync.replicas the commit is refused', async () => {
    storage?.close();
    let minInsync = 1;
    storage = await ReplicatedStorage.connect(nodes.map((n) => `127.0.0.1:${n.ready.controlPort}`));
    await storage.attach({ replicationFactorOf: () => 2, minInsyncOf: () => minInsync, onReplicasChanged: async () => undefined }, []);
    const clients = new Map(storage.nodeStates().map((n, i) => [n.nodeId, { node: nodes[i], client: new StorageClient(`127.0.0.1:${nodes[i].ready.controlPort}`) }]));
    const batch = buildTestBatch({ baseOffset: 0n, recordCount: 2, sizeBytes: 300 });
    const check = { position: 0, lengthBytes: batch.length, expected: { baseOffset: 0n, recordCount: 2 }, where: 'paused copy' };
    const commit = { commitPosition: batch.length, endOffset: 2n, maxTimestamp: 0n };
    /** A segment on both nodes holding the batch; the second copy's node paused. */
    const pausedSegment = async () => {
      const segment = await storage!.allocate({ topicId: 2, partition: 0, baseOffset: 0n });
      const replicas = storage!.replicasOf(segment.segmentId);
      expect(replicas).toHaveLength(2);
      for (const id of replicas) await clients.get(id)!.client.writeData(segment.segmentId, 0, batch);
      clients.get(replicas[1])!.node.child.kill('SIGSTOP');
      return { segmentId: segment.segmentId, kept: replicas[0], paused: replicas[1] };
    };
    try {
      const first = await pausedSegment();
      try {
        expect(await storage.commitChecked(first.segmentId, commit, check)).toMatchObject({ commitPosition: batch.length });
        expect(storage.replicasOf(first.segmentId)).toEqual([first.kept]);
      } finally {
        clients.get(first.paused)!.node.child.kill('SIGCONT');
      }
      await storage.probeReplicas();

      minInsync = 2;
      const second = await pausedSegment();
      try {
        const refused = storage.commitChecked(second.segmentId, commit, check);
        await expect(refused).rejects.toHaveProperty('code', 'NOT_ENOUGH_REPLICAS');
      } finally {
        clients.get(second.paused)!.node.child.kill('SIGCONT');
      }
    } finally {
      for (const { client } of clients.values()) client.close();
    }
  });
});
