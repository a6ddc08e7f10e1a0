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

it("a connection's verified grants skip the HMAC only for identical bytes: one bit off is refused even right after the genuine grant", () => {
  const { node } = openNode();
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const grant = node.segmentKey(segmentId, 'read-write');
  const verified = node.verifiedGrants();
  expect(node.writableRange(grant, 0, 100, verified).length).toBe(100);
  for (let bit = 0; bit < grant.length * 8; bit++) {
    const altered = Buffer.from(grant);
    altered[bit >> 3] ^= 1 << (bit & 7);
    expect(refusedWith(() => node.writableRange(altered, 0, 100, verified))).toBe('GRANT_INVALID');
    expect(node.writableRange(grant, 0, 100, verified).length).toBe(100);
  }
  expect(node.refusals.invalid).toBe(grant.length * 8);
  // The remembered copy is the node's own: changing the caller's buffer afterwards changes nothing.
  const reused = Buffer.from(grant);
  expect(node.writableRange(reused, 0, 10, verified).length).toBe(10);
  reused.writeBigUInt64LE(BigInt(segmentId + 1), 8);
  expect(refusedWith(() => node.writableRange(reused, 0, 10, verified))).toBe('GRANT_INVALID');
});

it('a verified grant still meets every other check on every request: epoch, access, bounds, commit line, skip fence, seal, free', () => {
  const { node, epoch } = openNode();
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const grant = node.segmentKey(segmentId, 'read-write');
  const read = node.segmentKey(segmentId, 'read');
  const verified = node.verifiedGrants();
  const capacity = node.store.dataRange(segmentId).lengthBytes;
  expect(node.writableRange(grant, 0, 10, verified).length).toBe(10);
  expect(node.readableRange(read, 0, 10, verified).length).toBe(10);
  expect(refusedWith(() => node.writableRange(read, 0, 10, verified))).toBe('ACCESS_DENIED');
  expect(refusedWith(() => node.writableRange(grant, capacity - 5, 10, verified))).toBe('ACCESS_DENIED');
  node.writeSkipMarker(segmentId, 0, buildTestSkipMarker(200, 0n, 1));
  expect(refusedWith(() => node.writableRange(grant, 100, 10, verified))).toBe('GRANT_REVOKED');
  node.commit(segmentId, { commitPosition: 200, endOffset: 1n, maxTimestamp: -1n });
  expect(refusedWith(() => node.writableRange(grant, 0, 200, verified))).toBe('GRANT_REVOKED');
  expect(node.writableRange(grant, 200, 100, verified).length).toBe(100);
  node.seal(segmentId, 300);
  expect(refusedWith(() => node.writableRange(grant, 250, 100, verified))).toBe('GRANT_REVOKED');
  epoch.value = 1n;
  expect(refusedWith(() => node.writableRange(grant, 200, 100, verified))).toBe('GRANT_REVOKED');
  const renewed = node.segmentKey(segmentId, 'read-write');
  expect(node.writableRange(renewed, 200, 100, verified).length).toBe(100);
  node.free(segmentId);
  expect(refusedWith(() => node.writableRange(renewed, 200, 100, verified))).toBe('GRANT_REVOKED');
  expect(refusedWith(() => node.readableRange(read, 0, 10, verified))).toBe('GRANT_REVOKED');
});

it("one node's memory of verified grants vouches for nothing on another node", () => {
  const a = openNode().node;
  const b = openNode().node;
  const { segmentId } = a.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  expect(b.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId).toBe(segmentId);
  const grantOfA = a.segmentKey(segmentId, 'read-write');
  const verifiedOnA = a.verifiedGrants();
  expect(a.writableRange(grantOfA, 0, 10, verifiedOnA).length).toBe(10);
  expect(refusedWith(() => b.writableRange(grantOfA, 0, 10, verifiedOnA))).toBe('GRANT_INVALID');
});

it("a freed segment's view is never handed out again: a segment allocated over the same slots gets its own, and the old grant is refused", () => {
  const { node } = openNode();
  const old = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const oldGrant = node.segmentKey(old.segmentId, 'read-write');
  const verified = node.verifiedGrants();
  const oldView = node.writableRange(oldGrant, 0, 64, verified);
  const where = node.store.dataRange(old.segmentId).regionOffset;
  node.free(old.segmentId);
  const reused = node.allocate({ topicId: 2, partition: 0, baseOffset: 0n });
  expect(node.store.dataRange(reused.segmentId).regionOffset).toBe(where);
  expect(refusedWith(() => node.writableRange(oldGrant, 0, 64, verified))).toBe('GRANT_REVOKED');
  const view = node.writableRange(node.segmentKey(reused.segmentId, 'read-write'), 0, 64, verified);
  view.fill(0x5a);
  // Same memory, another segment: only the new segment's grant reaches it.
  expect(oldView.equals(view)).toBe(true);
  expect(node.store.written(reused.segmentId, 0, 64).every((b) => b === 0x5a)).toBe(true);
});
