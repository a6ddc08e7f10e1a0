// Copies of a segment on several storage nodes, as the SDK handles them, with
// real processes and the real transport: `rdmq storage` + `rdmq broker` apart
// (node A, known to the broker) and a second `rdmq storage` (node B). Until the
// broker places copies itself, the test lists B's copy beside the broker's:
// a segment it allocates on B, whose keys it adds to what the broker sent.
import * as fs from 'fs';
import * as path from 'path';
import { freeLoopbackPort, RunningRole, startRole } from '../bench/cluster';
import { RolesApart } from '../cli/testing/apart';
import { buildRecordBatch, decodeRecordBatch, readBatchHeader, setBaseOffset, splitBatches } from '../format';
import { decodeCommitReply, decodeReplicaKeys, decodeStageReply, encodeCommit, encodeStage, FastPathMessage, ReplicaKey } from '../format/fastpath-wire';
import { configureControlPlane, ensureClusterSecret, userSecretFile } from '../control-plane';
import { StorageClient } from '../storage-node';
import { Connection } from './connection';
import { RdmqError } from './errors';
import { PartitionView } from './partition-view';
import { Producer } from './producer';

const MAIN = path.join(__dirname, '..', 'cli', 'main.js');

let roles: RolesApart;
let nodeB: RunningRole<{ controlPort: number; fastpathPort: number }>;
let dirB: string;
const portsB = { control: 0, fastpath: 0 };

async function startNodeB(): Promise<void> {
  nodeB = await startRole([
    MAIN, 'storage', '--data', dirB, '--control', `127.0.0.1:${portsB.control}`, '--fastpath', `127.0.0.1:${portsB.fastpath}`,
    '--metrics', '127.0.0.1:0', '--durability', 'flush', '--region-size', '64M', '--segment-size', '1M',
  ]);
}

beforeAll(async () => {
  // Roles apart on loopback share the user's secret (~/.rdmq/cluster-secret); this process asks node B directly, so it proves it too.
  configureControlPlane({ clusterSecret: ensureClusterSecret(userSecretFile()) });
  roles = await RolesApart.start({ segmentSize: '1M', leaseTimeoutMs: 1000 });
  dirB = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-node-b-'));
  portsB.control = await freeLoopbackPort();
  portsB.fastpath = await freeLoopbackPort();
  await startNodeB();
}, 30_000);

afterAll(async () => {
  await nodeB?.signal('SIGTERM');
  await roles?.stop();
  if (dirB) fs.rmSync(dirB, { recursive: true, force: true });
});

async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Stages, puts and commits one batch by hand; returns the grant and the copies the broker listed. */
async function writeByHand(connection: Connection, topicId: number, value: string) {
  const batch = await buildRecordBatch({ records: [{ key: null, value }] });
  const reply = await connection.request(FastPathMessage.STAGE, (reqId) => encodeStage({ reqId, topicId, partition: 0, lengthBytes: batch.length, recordCount: 1 }));
  const grant = decodeStageReply(reply.header);
  expect(grant.errorCode).toBe(0);
  const listed = decodeReplicaKeys(reply.payload);
  setBaseOffset(batch, 0, grant.baseOffset);
  const replicas = connection.segmentReplicas(grant.segmentId, 'read-write', reply.payload);
  await connection.flush(await connection.putAll(replicas, grant.segmentId, batch, grant.position));
  const commit = await connection.request(FastPathMessage.COMMIT, (reqId) =>
    encodeCommit({ reqId, topicId, partition: 0, stages: [{ stageId: grant.stageId, maxTimestamp: readBatchHeader(batch, 0).maxTimestamp }] }),
  );
  expect(decodeCommitReply(commit.header).errorCode).toBe(0);
  return { grant, listed, end: grant.position + batch.length };
}

it('a producer puts every batch to every copy listed; readers read the copy their index points at, and the next one when a node is gone, while the broker connection stays', async () => {
  const connection = await Connection.open({ control: roles.control });
  let reconnects = 0;
  connection.on('reconnected', () => reconnects++);
  const storageB = new StorageClient(`127.0.0.1:${portsB.control}`);
  let view: PartitionView | undefined;
  try {
    await connection.call('createTopic', { name: 'two-copies', partitions: 1, configs: {} });
    const { topicId } = await connection.describeTopic('two-copies');
    // The first stage gives this broker session the copies of the segment (only A's); later ones give none.
    const first = await writeByHand(connection, topicId, 'first');
    expect(first.listed).toHaveLength(1);
    const nodeA = first.listed[0].node;
    const segmentId = first.grant.segmentId;
    const infoB = await storageB.info();
    expect(infoB.fastpathAddress).not.toBe(first.listed[0].address);
    const onB = await storageB.allocate({ topicId, partition: 0, baseOffset: 0n });
    const copyB = async (access: 'read' | 'read-write'): Promise<ReplicaKey> => ({
      node: infoB.nodeUuid,
      address: infoB.fastpathAddress,
      key: await storageB.segmentKey(onB.segmentId, access),
    });
    connection.segmentReplicas(segmentId, 'read-write', [...first.listed, await copyB('read-write')]);

    // Shared and exclusive producers alike put to both copies, flush both, then commit.
    const sent: string[] = [];
    for (const mode of ['shared', 'exclusive'] as const) {
      const producer = new Producer(connection, { mode });
      for (let i = 0; i < 20; i++) {
        const value = `${mode}-${i}`;
        await producer.send({ topic: 'two-copies', messages: [{ value, partition: 0 }] });
        sent.push(value);
      }
      await producer.disconnect();
    }

    view = await PartitionView.subscribe(connection, 'two-copies', 0, 'earliest');
    expect([...view.segments.keys()]).toEqual([segmentId]);
    const segment = view.segments.get(segmentId)!;
    expect(segment.replicas.map((r) => r.node)).toEqual([nodeA]);
    connection.segmentReplicas(segmentId, 'read', [...connection.segmentReplicaKeys(segmentId, 'read'), await copyB('read')]);
    const length = segment.commitPosition - first.end;
    const fromA = Buffer.alloc(length);
    const fromB = Buffer.alloc(length);
    await view.read(segment, first.end, fromA, 0);
    await view.read(segment, first.end, fromB, 1);
    expect(fromB.equals(fromA)).toBe(true);
    const values: string[] = [];
    for (const span of splitBatches(fromB).batches) for (const r of (await decodeRecordBatch(fromB, span.offset)).records) values.push(r.value!.toString());
    expect(values).toEqual(sent);
    expect(connection.readBytesByNode()).toEqual(new Map([[nodeA, length], [infoB.nodeUuid, length]]));

    // Two readers of the partition get consecutive reader indexes from the broker, so each prefers another copy.
    const second = await PartitionView.subscribe(connection, 'two-copies', 0, 'earliest');
    try {
      expect(second.readerIndex).toBe(view.readerIndex + 1);
      connection.segmentReplicas(segmentId, 'read', [...connection.segmentReplicaKeys(segmentId, 'read').filter((r) => r.node === nodeA), await copyB('read')]);
      const byIndex = [nodeA, infoB.nodeUuid];
      for (const reader of [view, second]) {
        const before = connection.readBytesByNode().get(byIndex[reader.readerIndex % 2])!;
        await reader.read(reader.segments.get(segmentId)!, first.end, Buffer.alloc(length));
        expect(connection.readBytesByNode().get(byIndex[reader.readerIndex % 2])).toBe(before + length);
      }
      expect(connection.readBytesByNode()).toEqual(new Map([[nodeA, 2 * length], [infoB.nodeUuid, 2 * length]]));
    } finally {
      await second.close();
    }

    // A copy whose node is unreachable is passed over for the next one.
    const gone: ReplicaKey = { node: 'gone', address: `127.0.0.1:${await freeLoopbackPort()}`, key: Buffer.from([1, 2, 3]) };
    const readKeysA = connection.segmentReplicaKeys(segmentId, 'read').filter((r) => r.node === nodeA);
    connection.segmentReplicas(segmentId, 'read', [gone, ...readKeysA]);
    const again = Buffer.alloc(length);
    await view.read(segment, first.end, again, 0);
    expect(again.equals(fromA)).toBe(true);
    expect(connection.readBytesByNode().get(nodeA)).toBe(3 * length);
    expect(connection.readBytesByNode().has('gone')).toBe(false);

    // B first, then A; B dies: reads go on from A, writes listing B fail retriably, the broker connection stays.
    connection.segmentReplicas(segmentId, 'read', [await copyB('read'), ...readKeysA]);
    await view.read(segment, first.end, again, 0);
    expect(connection.readBytesByNode().get(infoB.nodeUuid)).toBe(3 * length);
    const endpointB = await connection.storageEndpoint(infoB.fastpathAddress);
    const lostB = new Promise((resolve) => endpointB.once('close', resolve));
    await nodeB.signal('SIGKILL');
    await lostB;
    again.fill(0);
    await view.read(segment, first.end, again, 0);
    expect(again.equals(fromA)).toBe(true);
    expect(connection.readBytesByNode().get(nodeA)).toBe(4 * length);
    expect(connection.readBytesByNode().get(infoB.nodeUuid)).toBe(3 * length);

    const producer = new Producer(connection);
    const failed = await producer.send({ topic: 'two-copies', messages: [{ value: 'to a dead copy', partition: 0 }] }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(RdmqError);
    expect((failed as RdmqError).errorCode).toBe(56);
    expect((failed as RdmqError).retriable).toBe(true);
    expect((failed as RdmqError).message).toContain(infoB.fastpathAddress);
    // With B no longer listed (the broker's call once it has one), the same producer goes on.
    connection.segmentReplicas(segmentId, 'read-write', connection.segmentReplicaKeys(segmentId, 'read-write').filter((r) => r.node === nodeA));
    const [meta] = await producer.send({ topic: 'two-copies', messages: [{ value: 'after', partition: 0 }] });
    expect(BigInt(meta.baseOffset)).toBeGreaterThan(BigInt(sent.length));
    await producer.disconnect();
    expect(reconnects).toBe(0);

    // B back at its address and reachable again: the key listed before it was lost is not used again (it may
    // name memory of the process that is gone), so B's copy is passed over until B's key of now is listed.
    await startNodeB();
    await until(() => connection.storageEndpoint(infoB.fastpathAddress).then(() => true, () => false), 'node B reachable again');
    await view.read(segment, first.end, again, 0);
    expect(connection.readBytesByNode().get(nodeA)).toBe(5 * length);
    expect(connection.readBytesByNode().get(infoB.nodeUuid)).toBe(3 * length);
    connection.segmentReplicas(segmentId, 'read', [await copyB('read'), ...readKeysA]);
    await view.read(segment, first.end, again, 0);
    expect(connection.readBytesByNode().get(infoB.nodeUuid)).toBe(4 * length);
    expect(reconnects).toBe(0);
  } finally {
    await view?.close();
    storageB.close();
    await connection.close();
  }
}, 60_000);
