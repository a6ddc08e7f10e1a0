// A client in the storage node's own process (rdmq start's gateway) puts and
// gets by a direct call instead of a request on the node's Unix socket: the
// node runs the same grant check and copies on this thread. Its refusals are
// the socket's, and once the node's data service closes (the region is about
// to be unmapped) no put or get goes through. Puts and gets larger than a
// direct call takes (4 MiB), and links told not to use it, keep the socket.
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
  node = new StorageNode(region.open({ regionSizeBytes: 48 * MiB, segmentSizeBytes: 8 * MiB }));
  service = await startDataService(node, '127.0.0.1', 0, () => undefined, path.join(path.dirname(region.path), 'data-socket'));
  link = await DataLink.connect(`127.0.0.1:${service.port}`);
});

afterEach(async () => {
  await link?.close();
  await service?.close();
  closeTestRegions();
});

function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + seed) & 0xff;
  return bytes;
}

/** A new segment with `bytes` put at position 0 through `through` and committed; its grants. */
async function committed(bytes: Buffer, through: DataLink = link): Promise<{ segmentId: number; writeKey: Buffer; readKey: Buffer }> {
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const writeKey = node.segmentKey(segmentId, 'read-write');
  await through.put(writeKey, 0, bytes);
  node.commit(segmentId, { commitPosition: bytes.length, endOffset: 1n, maxTimestamp: -1n });
  return { segmentId, writeKey, readKey: node.segmentKey(segmentId, 'read') };
}

async function refusal(attempt: Promise<void>): Promise<string> {
  const err = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DataRefusedError)) throw new Error(`expected a refusal by the storage node, got ${err === undefined ? 'success' : String(err)}`);
  return err.code;
}

it("puts and reads by a direct call, with no request on the node's socket", async () => {
  const bytes = pattern(MiB + 123, 1);
  expect(link.path).toBe('unix-cma');
  expect(link.readsInProcess).toBe(true);
  const { readKey } = await committed(bytes);
  expect(service.stats()).toMatchObject({ inProcessPuts: 1, peerCopies: 0 });
  // Counted apart from the requests the node served on its socket, as in-process gets are.
  expect(node.served).toEqual({ puts: 0, gets: 0 });
  const got = Buffer.alloc(bytes.length);
  await link.get(readKey, 0, got);
  expect(got.equals(bytes)).toBe(true);
  const tail = Buffer.alloc(1000);
  await link.get(readKey, bytes.length - 1000, tail);
  expect(tail.equals(bytes.subarray(bytes.length - 1000))).toBe(true);
  expect(service.stats()).toMatchObject({ inProcessReads: 2, inProcessPuts: 1, peerCopies: 0 });
});

it('refuses what the socket refuses: a forged grant, a read past the grant, a freed segment', async () => {
  const { segmentId, readKey } = await committed(Buffer.alloc(64 * 1024, 0x61));
  const forged = Buffer.from(readKey);
  forged.writeBigUInt64LE(BigInt(16 * MiB), 24); // the grant's end position
  expect(await refusal(link.get(forged, 0, Buffer.alloc(16)))).toBe('GRANT_INVALID');
  expect(await refusal(link.get(readKey, 8 * MiB - 8, Buffer.alloc(16)))).toBe('ACCESS_DENIED');
  expect(await refusal(link.get(Buffer.alloc(readKey.length, 7), 0, Buffer.alloc(16)))).toBe('GRANT_INVALID');
  node.free(segmentId);
  // Its memory may hold another segment's bytes next: the grant is revoked, not read through.
  expect(await refusal(link.get(readKey, 0, Buffer.alloc(16)))).toBe('GRANT_REVOKED');
  expect(service.stats().inProcessReads).toBe(0);
  expect(service.stats().refused).toBe(4);
});

it('refuses every put the socket refuses, with its code, and the segment keeps its bytes', async () => {
  const onSocket = await DataLink.connect(`127.0.0.1:${service.port}`, { inProcess: false });
  try {
    const kept = Buffer.alloc(64 * 1024, 0x61);
    const { segmentId, writeKey, readKey } = await committed(kept);
    const forged = Buffer.from(writeKey);
    forged.writeBigUInt64LE(BigInt(16 * MiB), 24); // the grant's end position
    const overwrite = Buffer.alloc(64, 0x7a);
    const attacks: [string, Buffer, number][] = [
      ['a read grant', readKey, kept.length],
      ['over committed bytes', writeKey, 0],
      ['past the grant', writeKey, 8 * MiB - 8],
      ['a forged grant', forged, kept.length],
      ['a grant of nothing', Buffer.alloc(writeKey.length, 7), kept.length],
    ];
    for (const [what, grant, position] of attacks) {
      const direct = await refusal(link.put(grant, position, overwrite));
      expect([what, direct]).toEqual([what, await refusal(onSocket.put(grant, position, overwrite))]);
    }
    const got = Buffer.alloc(kept.length);
    await link.get(readKey, 0, got);
    expect(got.equals(kept)).toBe(true);
    node.free(segmentId);
    // Its memory may hold another segment's bytes next: the grant is revoked, not written through.
    expect(await refusal(link.put(writeKey, kept.length, overwrite))).toBe('GRANT_REVOKED');
    expect(service.stats()).toMatchObject({ inProcessPuts: 1, refused: 2 * attacks.length + 1 });
  } finally {
    await onSocket.close();
  }
});

it('puts larger than a direct call takes, and those of a link told not to use it, go on the socket', async () => {
  const large = pattern(4 * MiB + 4096, 2);
  const { readKey } = await committed(large);
  expect(service.stats()).toMatchObject({ inProcessPuts: 0, peerCopies: 1 });
  const got = Buffer.alloc(large.length);
  await link.get(readKey, 0, got);
  expect(got.equals(large)).toBe(true);
  // The get too, in parts the node copies in parallel.
  expect(service.stats().inProcessReads).toBe(0);
  expect(service.stats().peerCopies).toBeGreaterThan(1);

  const onSocket = await DataLink.connect(`127.0.0.1:${service.port}`, { inProcess: false });
  try {
    expect(onSocket.readsInProcess).toBe(false);
    const copiesBefore = service.stats().peerCopies;
    const small = pattern(64 * 1024, 3);
    const second = await committed(small, onSocket);
    const back = Buffer.alloc(small.length);
    await onSocket.get(second.readKey, 0, back);
    expect(back.equals(small)).toBe(true);
    expect(service.stats()).toMatchObject({ inProcessPuts: 0, inProcessReads: 0, peerCopies: copiesBefore + 2 });
  } finally {
    await onSocket.close();
  }
});

it('once the data service closes, no put or read goes through (the region is unmapped next)', async () => {
  const { writeKey, readKey } = await committed(Buffer.alloc(4096, 0x62));
  const got = Buffer.alloc(4096);
  await link.get(readKey, 0, got);
  expect(got.every((b) => b === 0x62)).toBe(true);
  const closing = service.close();
  for (const attempt of [link.get(readKey, 0, Buffer.alloc(4096)), link.put(writeKey, 4096, Buffer.alloc(4096, 0x63))]) {
    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeDefined();
    expect((err as DataRefusedError).code ?? err!.message).toMatch(/CLOSED|closed/);
  }
  await link.close();
  await closing;
});
