// A client in the storage node's own process (rdmq start's gateway) reads by a
// direct call instead of a request on the node's Unix socket: the node runs
// the same grant check and copies on this thread. Its refusals are the
// socket's, and once the node's data service closes (the region is about to
// be unmapped) no read goes through. Puts keep the socket.
import * as path from 'path';
import { DataService, startDataService } from '../storage-node/data-service';
import { StorageNode } from '../storage-node/storage-node';
import { closeTestRegions, testRegion } from '../storage-node/testing/regions';
import { DataLink, DataRefusedError } from './data-link';

const MiB = 1024 * 1024;

let node: StorageNode;
let service: DataService;
let link: DataLink;

beforeEach(async () => {
  const region = testRegion();
  node = new StorageNode(region.open({ regionSizeBytes: 32 * MiB, segmentSizeBytes: 4 * MiB }));
  service = await startDataService(node, '127.0.0.1', 0, () => undefined, path.join(path.dirname(region.path), 'data-socket'));
  link = await DataLink.connect(`127.0.0.1:${service.port}`);
});

afterEach(async () => {
  await link?.close();
  await service?.close();
  closeTestRegions();
});

/** A segment holding `bytes` committed at position 0, put through the link (the socket), and its read grant. */
async function committed(bytes: Buffer): Promise<{ segmentId: number; readKey: Buffer }> {
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  await link.put(node.segmentKey(segmentId, 'read-write'), 0, bytes);
  node.commit(segmentId, { commitPosition: bytes.length, endOffset: 1n, maxTimestamp: -1n });
  return { segmentId, readKey: node.segmentKey(segmentId, 'read') };
}

async function refusal(attempt: Promise<void>): Promise<string> {
  const err = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DataRefusedError)) throw new Error(`expected a refusal by the storage node, got ${err === undefined ? 'success' : String(err)}`);
  return err.code;
}

it("reads the committed bytes by a direct call, with no request on the node's socket", async () => {
  const bytes = Buffer.alloc(MiB + 123);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
  const { readKey } = await committed(bytes);
  expect(link.path).toBe('unix-cma');
  expect(link.readsInProcess).toBe(true);
  const copiesBefore = service.stats().peerCopies;
  const got = Buffer.alloc(bytes.length);
  // Resolved at once: nothing went to the socket to wait for.
  await link.get(readKey, 0, got);
  expect(got.equals(bytes)).toBe(true);
  const tail = Buffer.alloc(1000);
  await link.get(readKey, bytes.length - 1000, tail);
  expect(tail.equals(bytes.subarray(bytes.length - 1000))).toBe(true);
  expect(service.stats().inProcessReads).toBe(2);
  expect(service.stats().peerCopies).toBe(copiesBefore);
});

it('refuses what the socket refuses: a forged grant, a read past the grant, a freed segment', async () => {
  const { segmentId, readKey } = await committed(Buffer.alloc(64 * 1024, 0x61));
  const forged = Buffer.from(readKey);
  forged.writeBigUInt64LE(BigInt(8 * MiB), 24); // the grant's end position
  expect(await refusal(link.get(forged, 0, Buffer.alloc(16)))).toBe('GRANT_INVALID');
  expect(await refusal(link.get(readKey, 4 * MiB - 8, Buffer.alloc(16)))).toBe('ACCESS_DENIED');
  expect(await refusal(link.get(Buffer.alloc(readKey.length, 7), 0, Buffer.alloc(16)))).toBe('GRANT_INVALID');
  node.free(segmentId);
  // Its memory may hold another segment's bytes next: the grant is revoked, not read through.
  expect(await refusal(link.get(readKey, 0, Buffer.alloc(16)))).toBe('GRANT_REVOKED');
  expect(service.stats().inProcessReads).toBe(0);
  expect(service.stats().refused).toBe(4);
});

it('once the data service closes, no read goes through (the region is unmapped next)', async () => {
  const { readKey } = await committed(Buffer.alloc(4096, 0x62));
  const got = Buffer.alloc(4096);
  await link.get(readKey, 0, got);
  expect(got.every((b) => b === 0x62)).toBe(true);
  const closing = service.close();
  const err = await link.get(readKey, 0, Buffer.alloc(4096)).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err).toBeDefined();
  expect((err as DataRefusedError).code ?? err!.message).toMatch(/CLOSED|closed/);
  await link.close();
  await closing;
});
