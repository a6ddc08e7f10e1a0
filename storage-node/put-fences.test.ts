// Large puts on the node's Unix socket are copied on libuv's thread pool, not
// on the JS thread where every fence (skip marker, seal, free, commit) runs.
// Each fence waits for the copies already checked into its range: a put in
// flight when a fence happens lands entirely before it (its bytes are all
// there the moment the fence returns, and nothing changes afterwards) or comes
// after it and is refused. The client is this very process (CMA with itself),
// so the test can fence while the node's copy is under way.
import { DataLink, DataRefusedError } from '../rdma-client/data-link';
import type { StorageNode } from './storage-node';
import { buildTestSkipMarker } from './testing/batches';
import { SocketNode, startSocketNode } from './testing/socket-node';

const MiB = 1024 * 1024;
const PUT_BYTES = 32 * MiB;

let node: StorageNode;
let link: DataLink;
let started: SocketNode | undefined;

beforeEach(async () => {
  started = await startSocketNode();
  ({ node, link } = started);
});

afterEach(async () => {
  await started?.close();
  started = undefined;
});

/** Starts a put of PUT_BYTES of `fill` at `position`, and resolves once the node is copying it on its pool. */
async function putInFlight(segmentId: number, position: number, fill: number): Promise<{ settled: Promise<string>; grant: Buffer }> {
  const payload = Buffer.allocUnsafeSlow(PUT_BYTES).fill(fill);
  const grant = node.segmentKey(segmentId, 'read-write');
  const settled = link.put(grant, position, payload).then(
    () => 'landed',
    (err: unknown) => (err instanceof DataRefusedError ? err.code : String(err)),
  );
  while (node.copiesInFlight(segmentId) === 0) await new Promise((resolve) => setImmediate(resolve));
  return { settled, grant };
}

function allBytes(bytes: Buffer, value: number): boolean {
  return bytes.every((b) => b === value);
}

it('a skip marker over the end of a put in flight is written after the put landed, and no byte of the put lands over it', async () => {
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const { settled, grant } = await putInFlight(segmentId, 0, 0x61);
  const marker = buildTestSkipMarker(4096, 0n, 1);
  node.writeSkipMarker(segmentId, PUT_BYTES - marker.length, marker);
  // The moment the fence returns: the put is all there, then the marker.
  expect(allBytes(node.store.written(segmentId, 0, PUT_BYTES - marker.length), 0x61)).toBe(true);
  expect(node.store.written(segmentId, PUT_BYTES - marker.length, marker.length).equals(marker)).toBe(true);
  expect(await settled).toBe('landed');
  expect(node.store.written(segmentId, PUT_BYTES - marker.length, marker.length).equals(marker)).toBe(true);
  // A put after the fence is refused.
  expect(await putAfter(grant, PUT_BYTES - 2 * marker.length)).toBe('GRANT_REVOKED');
});

it('a seal while a put is in flight takes effect after the put landed; the sealed bytes never change afterwards', async () => {
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const { settled, grant } = await putInFlight(segmentId, 0, 0x62);
  node.seal(segmentId, 0);
  const atSeal = Buffer.from(node.store.written(segmentId, 0, PUT_BYTES));
  expect(allBytes(atSeal, 0x62)).toBe(true);
  expect(await settled).toBe('landed');
  expect(node.store.written(segmentId, 0, PUT_BYTES).equals(atSeal)).toBe(true);
  expect(await putAfter(grant, 0)).toBe('GRANT_REVOKED');
});

it('a free while a put is in flight waits for it: after the free, no byte of the put lands in the memory another segment may get', async () => {
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const memory = node.store.written(segmentId, 0, PUT_BYTES);
  const { settled, grant } = await putInFlight(segmentId, 0, 0x63);
  node.free(segmentId);
  const atFree = Buffer.from(memory);
  expect(await settled).toBe('landed');
  expect(memory.equals(atFree)).toBe(true);
  expect(await putAfter(grant, 0)).toBe('GRANT_REVOKED');
});

it('a commit over a put in flight commits the bytes of the landed put, never bytes that change after it', async () => {
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const { settled, grant } = await putInFlight(segmentId, 0, 0x64);
  node.commit(segmentId, { commitPosition: PUT_BYTES, endOffset: 1n, maxTimestamp: -1n });
  const atCommit = Buffer.from(node.store.written(segmentId, 0, PUT_BYTES));
  expect(allBytes(atCommit, 0x64)).toBe(true);
  expect(await settled).toBe('landed');
  expect(node.store.written(segmentId, 0, PUT_BYTES).equals(atCommit)).toBe(true);
  expect(await putAfter(grant, 0)).toBe('GRANT_REVOKED');
});

/** A put after a fence, with the grant of the put before it: its refusal code, or 'landed'. */
async function putAfter(grant: Buffer, position: number): Promise<string> {
  return link.put(grant, position, Buffer.alloc(PUT_BYTES / 4, 0x7a)).then(
    () => 'landed',
    (err: unknown) => (err instanceof DataRefusedError ? err.code : String(err)),
  );
}
