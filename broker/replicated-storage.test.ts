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
import { Broker } from './broker';
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

  test('a stale copy is retired only once the durable in-sync set leaves it out, not when only the set in memory does', async () => {
    // chaos, cluster topology: a leader dropped a copy from a set, retired that copy before the record reached
    // the metadata log, and stepped down; the next leader still counted on the copy and dropped the other one.
    storage?.close();
    storage = await ReplicatedStorage.connect(nodes.map((n) => `127.0.0.1:${n.ready.controlPort}`));
    await storage.attach({ replicationFactorOf: () => 2, minInsyncOf: () => 1, onReplicasChanged: async () => undefined }, []);
    const segment = await storage.allocate({ topicId: 3, partition: 0, baseOffset: 0n });
    const [kept, dropped] = storage.replicasOf(segment.segmentId);
    storage.close();
    const direct = await RemoteStorage.connect(`127.0.0.1:${nodes[storage.nodeStates().findIndex((n) => n.nodeId === dropped)].ready.controlPort}`);
    const holds = async () => (await direct.describe()).some((s) => s.segmentId === segment.segmentId);
    try {
      /** A broker whose set in memory is [kept] while the log says `durable`. */
      const attachWith = async (durable: string[] | undefined) => {
        storage?.close();
        storage = await ReplicatedStorage.connect(nodes.map((n) => `127.0.0.1:${n.ready.controlPort}`));
        await storage.attach(
          { replicationFactorOf: () => 2, minInsyncOf: () => 1, onReplicasChanged: async () => undefined, durableReplicasOf: () => durable },
          [{ segmentId: segment.segmentId, topicId: 3, replicas: [kept] }],
        );
      };
      await attachWith([kept, dropped]);
      expect(await holds()).toBe(true);
      await attachWith(undefined); // the log does not list the segment (yet)
      expect(await holds()).toBe(true);
      await attachWith([kept]);
      expect(await holds()).toBe(false);
    } finally {
      direct.close();
    }
  });

  test('a copy whose committed bytes its scrubber found damaged leaves the set while another holds them intact, and is freed once its segment is sealed', async () => {
    storage?.close();
    let copies = 2;
    storage = await ReplicatedStorage.connect(nodes.map((n) => `127.0.0.1:${n.ready.controlPort}`));
    await storage.attach({ replicationFactorOf: () => copies, minInsyncOf: () => 1, onReplicasChanged: async () => undefined }, []);
    const segment = await storage.allocate({ topicId: 4, partition: 0, baseOffset: 0n });
    const [kept, damaged] = storage.replicasOf(segment.segmentId);
    const indexOf = (id: string): number => storage!.nodeStates().findIndex((n) => n.nodeId === id);
    const direct = await Promise.all(nodes.map((n) => RemoteStorage.connect(`127.0.0.1:${n.ready.controlPort}`)));
    const value = `scrubbed-${process.pid}-${Date.now()}`.padEnd(400, 'y');
    try {
      const batch = await buildRecordBatch({ records: [{ key: null, value }], baseOffset: 0n });
      for (const id of [kept, damaged]) await direct[indexOf(id)].writeData(segment.segmentId, 0, batch);
      await storage.commit(segment.segmentId, { commitPosition: batch.length, endOffset: 1n, maxTimestamp: 0n });
      const regionPath = path.join(dir, `storage-${indexOf(damaged)}`, 'region');
      const at = fs.readFileSync(regionPath).indexOf(value);
      expect(at).toBeGreaterThan(0);
      const fd = fs.openSync(regionPath, 'r+');
      fs.writeSync(fd, Buffer.from('!'), 0, 1, at + 100);
      fs.closeSync(fd);

      // Its node's scrubber (16 MiB/s by default) finds it; the broker's next look at the damage drops that copy, fencing nothing.
      const deadline = Date.now() + 20_000;
      while ((await direct[indexOf(damaged)].damage()).ranges.length === 0) {
        if (Date.now() > deadline) throw new Error('the scrubber did not report the damaged copy');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect((await storage.damage()).ranges.filter((r) => r.segmentId === segment.segmentId)).toEqual([]);
      expect(storage.replicasOf(segment.segmentId)).toEqual([kept]);
      // Open, the copy stays where it is (a producer may still put there); sealed, it is freed.
      copies = 1;
      await storage.reReplicate(() => false);
      const holds = async (id: string): Promise<boolean> => (await direct[indexOf(id)].describe()).some((s) => s.segmentId === segment.segmentId);
      expect(await holds(damaged)).toBe(true);
      await storage.seal(segment.segmentId, batch.length);
      await storage.reReplicate(() => true);
      expect(await holds(damaged)).toBe(false);
      expect(await holds(kept)).toBe(true);
      expect((await direct[indexOf(damaged)].damage()).ranges.filter((r) => r.segmentId === segment.segmentId)).toEqual([]);
    } finally {
      for (const d of direct) d.close();
    }
  });

  test('re-replication whose source does not answer tries again later instead of failing the probe (chaos: an unhandled rejection ended the broker)', async () => {
    storage?.close();
    let copies = 1;
    const logs: string[] = [];
    storage = await ReplicatedStorage.connect(nodes.map((n) => `127.0.0.1:${n.ready.controlPort}`));
    await storage.attach({ replicationFactorOf: () => copies, minInsyncOf: () => 1, onReplicasChanged: async () => undefined, log: (m) => logs.push(m) }, []);
    const segment = await storage.allocate({ topicId: 5, partition: 0, baseOffset: 0n });
    await storage.seal(segment.segmentId, 0);
    const [sourceId] = storage.replicasOf(segment.segmentId);
    const source = nodes[storage.nodeStates().findIndex((n) => n.nodeId === sourceId)];
    copies = 2;
    source.child.kill('SIGSTOP');
    try {
      await expect(storage.reReplicate(() => true)).resolves.toBe(0);
    } finally {
      source.child.kill('SIGCONT');
    }
    expect(logs).toEqual([expect.stringMatching(new RegExp(`^copying segment ${segment.segmentId} from ${sourceId} to \\S+ failed \\(storage node unreachable.*; trying again later$`))]);
    expect(storage.replicasOf(segment.segmentId)).toEqual([sourceId]);
  });

  test('a copy the set lists but its node does not hold leaves the set, durably, and readers get keys of the copies that exist', async () => {
    storage?.close();
    storage = await ReplicatedStorage.connect(nodes.map((n) => `127.0.0.1:${n.ready.controlPort}`));
    await storage.attach({ replicationFactorOf: () => 2, minInsyncOf: () => 1, onReplicasChanged: async () => undefined }, []);
    const first = await storage.allocate({ topicId: 4, partition: 0, baseOffset: 0n });
    const second = await storage.allocate({ topicId: 4, partition: 1, baseOffset: 0n });
    const [holder, lost] = storage.replicasOf(first.segmentId);
    expect(storage.replicasOf(second.segmentId)).toEqual([holder, lost]);
    storage.close();
    const direct = await RemoteStorage.connect(`127.0.0.1:${nodes[storage.nodeStates().findIndex((n) => n.nodeId === lost)].ready.controlPort}`);
    try {
      // Another broker freed the first segment's copy on `lost` while the log still lists it.
      await direct.free(first.segmentId);
      const persisted: [number, string[], number][] = [];
      const policy = {
        replicationFactorOf: () => 2,
        minInsyncOf: () => 1,
        onReplicasChanged: async (segmentId: number, replicas: string[], topicId: number) => void persisted.push([segmentId, replicas, topicId]),
      };
      // Found when the nodes are described (a broker opening).
      storage = await ReplicatedStorage.connect(nodes.map((n) => `127.0.0.1:${n.ready.controlPort}`));
      await storage.attach(policy, [
        { segmentId: first.segmentId, topicId: 4, replicas: [holder, lost] },
        { segmentId: second.segmentId, topicId: 4, replicas: [lost, holder] },
      ]);
      expect(storage.replicasOf(first.segmentId)).toEqual([holder]);
      expect(storage.replicasOf(second.segmentId)).toEqual([lost, holder]);
      expect(persisted).toEqual([[first.segmentId, [holder], 4]]);

      // Found when a reader asks for the keys: only the copy that exists is handed out, and the set follows.
      persisted.length = 0;
      await direct.free(second.segmentId);
      const keys = await storage.segmentKeys(second.segmentId, 'read');
      expect(keys.map((k) => k.node)).toEqual([holder]);
      await waitFor(() => persisted.length > 0);
      expect(persisted).toEqual([[second.segmentId, [holder], 4]]);
      expect(storage.replicasOf(second.segmentId)).toEqual([holder]);
    } finally {
      direct.close();
    }
  });

  test('a broker that opens and finds a listed copy missing drops it from the set in its metadata log, before any partition runtime exists', async () => {
    storage?.close();
    storage = undefined;
    const meta = path.join(dir, 'broker-meta');
    const open = async () => Broker.open(meta, await ReplicatedStorage.connect(nodes.map((n) => `127.0.0.1:${n.ready.controlPort}`)), { leaseTimeoutMs: 5000, durability: 'flush' });
    const close = async (b: Broker) => {
      await b.close();
      b.storage.close();
    };
    let broker = await open();
    const topic = await broker.createTopic('missing-copy', 1, {}, 2);
    await broker.stage(broker.partitionByName('missing-copy', 0), { lengthBytes: 100, recordCount: 1, producerKey: 'test' });
    const [segment] = broker.partitionByName('missing-copy', 0).state.segments();
    const listed = () => broker.metadata.segmentReplicas(topic.topicId, segment.segmentId, true)?.replicas;
    const [holder, lost] = listed()!;
    expect(lost).toBeDefined();
    await close(broker);

    const direct = await RemoteStorage.connect(`127.0.0.1:${nodes[(broker.storage as ReplicatedStorage).nodeStates().findIndex((n) => n.nodeId === lost)].ready.controlPort}`);
    try {
      await direct.free(segment.segmentId);
    } finally {
      direct.close();
    }
    broker = await open();
    try {
      expect(listed()).toEqual([holder]);
    } finally {
      await close(broker);
    }
    broker = await open(); // what the log says, read back
    try {
      expect(listed()).toEqual([holder]);
      expect((broker.storage as ReplicatedStorage).replicasOf(segment.segmentId)).toEqual([holder]);
    } finally {
      await close(broker);
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
