// The storage node's grant check on its own (no sockets): what each kind of
// grant lets through and what it refuses, including revocation by a newer
// broker leader epoch, a skip marker, a commit, a seal and a free.
import { GrantSigner } from './grant';
import { StorageError } from './storage-error';
import { StorageNode } from './storage-node';
import { buildTestSkipMarker } from './testing/batches';
import { closeTestRegions, testRegion } from './testing/regions';

afterEach(closeTestRegions);

function refusedWith(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof StorageError) return err.code;
    throw err;
  }
  throw new Error('expected a refusal');
}

function openNode(): { node: StorageNode; epoch: { value: bigint } } {
  const epoch = { value: 0n };
  const node = new StorageNode(testRegion().open(), { leaderEpoch: () => epoch.value });
  return { node, epoch };
}

it('a grant carries its segment, access, bounds and epoch, and any changed byte voids it', () => {
  const signer = new GrantSigner();
  const grant = signer.sign({ segmentId: 7, access: 'read', startPosition: 0, endPosition: 4096, leaderEpoch: 3n });
  expect(signer.verify(grant)).toEqual({ segmentId: 7, access: 'read', startPosition: 0, endPosition: 4096, leaderEpoch: 3n });
  for (let i = 0; i < grant.length; i++) {
    const altered = Buffer.from(grant);
    altered[i] ^= 1;
    expect(refusedWith(() => signer.verify(altered))).toBe('GRANT_INVALID');
  }
  // Another node (or this node after a restart) has another secret.
  expect(refusedWith(() => new GrantSigner().verify(grant))).toBe('GRANT_INVALID');
});

it("a newer broker leader epoch voids the grants issued under an older one", () => {
  const { node, epoch } = openNode();
  epoch.value = 4n;
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const grant = node.segmentKey(segmentId, 'read-write');
  expect(node.writableRange(grant, 0, 100).length).toBe(100);
  epoch.value = 5n;
  expect(refusedWith(() => node.writableRange(grant, 0, 100))).toBe('GRANT_REVOKED');
  expect(refusedWith(() => node.readableRange(grant, 0, 100))).toBe('GRANT_REVOKED');
  expect(node.writableRange(node.segmentKey(segmentId, 'read-write'), 0, 100).length).toBe(100);
});

it('a skip marker fences its range against late writes at once; the commit over it keeps it closed; seal and free close the rest', () => {
  const { node } = openNode();
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const grant = node.segmentKey(segmentId, 'read-write');
  const marker = buildTestSkipMarker(200, 0n, 1);
  node.writeSkipMarker(segmentId, 0, marker);
  expect(refusedWith(() => node.writableRange(grant, 100, 10))).toBe('GRANT_REVOKED');
  expect(node.writableRange(grant, 200, 10).length).toBe(10);
  node.commit(segmentId, { commitPosition: 200, endOffset: 1n, maxTimestamp: -1n });
  expect(refusedWith(() => node.writableRange(grant, 0, 200))).toBe('GRANT_REVOKED');
  node.seal(segmentId, 300);
  expect(node.writableRange(grant, 200, 100).length).toBe(100); // a stage granted before the seal may still land below it
  expect(refusedWith(() => node.writableRange(grant, 250, 100))).toBe('GRANT_REVOKED');
  expect(node.readableRange(node.segmentKey(segmentId, 'read'), 0, 200).length).toBe(200);
  node.free(segmentId);
  expect(refusedWith(() => node.readableRange(grant, 0, 10))).toBe('GRANT_REVOKED');
  expect(node.refusals).toEqual({ invalid: 0, denied: 0, revoked: 4 });
});

it('a read grant never writes, and no grant reaches past its bounds', () => {
  const { node } = openNode();
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const read = node.segmentKey(segmentId, 'read');
  const capacity = node.store.dataRange(segmentId).lengthBytes;
  expect(refusedWith(() => node.writableRange(read, 0, 10))).toBe('ACCESS_DENIED');
  expect(refusedWith(() => node.readableRange(read, capacity - 5, 10))).toBe('ACCESS_DENIED');
  expect(refusedWith(() => node.readableRange(read, -1, 10))).toBe('ACCESS_DENIED');
  expect(node.readableRange(read, capacity - 10, 10).length).toBe(10);
});
