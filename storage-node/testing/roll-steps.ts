// A partition's roll over the broker's commit path (commit-channel.ts): the
// full segment's seal, the next segment's allocation and another
// partition's checked commit, submitted at one moment, share one message
// whichever way it goes (commit socket or gRPC stream), and each is applied
// as the node's own call would apply it; then the new segment's grants. The
// protocol tests run it on both.
import type { SegmentStore, StorageClient, StorageNode } from '..';
import { buildTestBatch } from './batches';
import { putIntoSegment } from './regions';
import { storageRefusal } from './refusal';

export async function expectRollStepsInOneMessage(store: SegmentStore, node: StorageNode, client: StorageClient, via: 'socket' | 'stream'): Promise<void> {
  const full = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
  const other = store.allocate({ topicId: 1, partition: 1, baseOffset: 0n }).segmentId;
  putIntoSegment(store, full, 0, buildTestBatch({ baseOffset: 0n, recordCount: 2, sizeBytes: 400 }));
  putIntoSegment(store, other, 0, buildTestBatch({ baseOffset: 0n, recordCount: 3, sizeBytes: 500 }));
  await client.commitStep(full, { commit: { commitPosition: 400, endOffset: 2n, maxTimestamp: 0n } });
  const before = client.commitStreamStats();
  const [sealed, next, named, committed] = await Promise.all([
    client.seal(full, { finalPosition: 400 }),
    client.allocate({ topicId: 1, partition: 0, baseOffset: 2n }),
    client.allocate({ topicId: 1, partition: 2, baseOffset: 7n, dataCapacityBytes: 100_000, segmentId: 40 }),
    client.commitStep(other, { check: { position: 0, lengthBytes: 500, expected: { baseOffset: 0n, recordCount: 3 }, where: 'test' }, commit: { commitPosition: 500, endOffset: 3n, maxTimestamp: 5n } }),
  ]);
  expect(client.commitStreamStats()).toMatchObject({ messages: before.messages + 1, entries: before.entries + 4, via });
  // Each answer is the segment as the node holds it after the step.
  expect(sealed).toEqual(store.get(full));
  expect(sealed).toMatchObject({ sealed: true, commitPosition: 400, endOffset: 2n });
  expect(next).toEqual(store.get(next.segmentId));
  expect(next).toMatchObject({ topicId: 1, partition: 0, baseOffset: 2n, sealed: false, commitPosition: 0 });
  expect(next.segmentId).not.toBe(full);
  expect(named).toEqual(store.get(40));
  expect(named).toMatchObject({ segmentId: 40, topicId: 1, partition: 2, baseOffset: 7n });
  expect(named.dataCapacityBytes).toBeGreaterThanOrEqual(100_000);
  expect(committed).toMatchObject({ segmentId: other, commitPosition: 500, endOffset: 3n });
  // The node's refusals come back with their codes, and change nothing.
  expect((await storageRefusal(client.allocate({ topicId: 1, partition: 3, baseOffset: 0n, segmentId: 40 }))).message).toMatch(/segment 40 already exists/);
  expect((await storageRefusal(client.seal(999, { finalPosition: 0 }))).code).toBe('UNKNOWN_SEGMENT');
  const mixed = await storageRefusal(client.commitStep(next.segmentId, { seal: { finalPosition: 0 }, commit: { commitPosition: 0, endOffset: 2n, maxTimestamp: 0n } }));
  expect(mixed).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/a step of its own/) });
  expect(store.get(next.segmentId).sealed).toBe(false);
  // The grants a producer and a reader of the new segment get: signed by the node, each for its access only.
  const sent = client.commitStreamStats().messages;
  const [write, read] = await Promise.all([client.segmentKey(next.segmentId, 'read-write'), client.segmentKey(next.segmentId, 'read')]);
  expect(client.commitStreamStats().messages).toBe(sent + 1);
  expect(node.writableRange(write, 0, 100).length).toBe(100);
  expect(() => node.writableRange(read, 0, 100)).toThrow(/read/);
  expect((await storageRefusal(client.segmentKey(999, 'read'))).code).toBe('UNKNOWN_SEGMENT');
  const grantAndSeal = await storageRefusal(client.commitStep(next.segmentId, { grant: 'read', seal: { finalPosition: 0 } }));
  expect(grantAndSeal.message).toMatch(/a grant is a step of its own/);
  expect(client.commitStreamStats().via).toBe(via);
}
