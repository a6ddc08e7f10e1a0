// The check before a commit takes a large put's batch CRCs from the blocks
// the copying thread hashed (copy-crcs.ts) — but only while those blocks hold
// what was hashed. Every later write into them (a small put on the JS thread,
// a put whose bytes arrive over the socket, another large put, a copy from a
// replica, a skip marker) must make the check read the bytes again, so a
// producer that overwrites a good batch with bad bytes is still refused. The
// client is this process (CMA with itself), through the node's Unix socket.
import { crc32c } from '../addon';
import { DataLink } from '../rdma-client/data-link';
import { checkStoredBatches } from './batch-check';
import type { DataService } from './data-service';
import type { StorageNode } from './storage-node';
import { buildTestBatch, buildTestSkipMarker } from './testing/batches';
import { SocketNode, startSocketNode } from './testing/socket-node';

const KiB = 1024;
const MiB = 1024 * KiB;

let node: StorageNode;
let service: DataService;
let link: DataLink;
let started: SocketNode | undefined;

beforeEach(async () => {
  started = await startSocketNode();
  ({ node, service, link } = started);
});

afterEach(async () => {
  await started?.close();
  started = undefined;
});

/** A segment with one valid batch of `sizeBytes` put at `position` (a large put: copied on the pool, its blocks hashed). */
async function segmentWithBatch(sizeBytes: number, position = 0): Promise<{ segmentId: number; grant: Buffer; batch: Buffer }> {
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const grant = node.segmentKey(segmentId, 'read-write');
  const batch = buildTestBatch({ baseOffset: 0n, recordCount: 10, sizeBytes });
  await link.put(grant, position, batch);
  return { segmentId, grant, batch };
}

/** The node's check of the batch at `position` (as before a commit): 'ok' or its error. */
function check(segmentId: number, position: number, sizeBytes: number): string {
  try {
    node.verify(segmentId, position, sizeBytes, { baseOffset: 0n, recordCount: 10 }, 'test');
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
}

/** The same check reading every byte. */
function checkByReading(segmentId: number, position: number, sizeBytes: number): string {
  try {
    checkStoredBatches(node.store.written(segmentId, position, sizeBytes), { baseOffset: 0n, recordCount: 10 }, 'test');
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
}

it("takes a large put's batch CRC from the blocks its copy hashed, at any alignment", async () => {
  for (const [size, position] of [
    [4 * MiB, 0],
    [MiB + 123, 4 * KiB - 5],
    [300 * KiB, 777],
  ]) {
    const { segmentId } = await segmentWithBatch(size, position);
    const before = node.copyCrcs!.bytesFromBlocks;
    expect(check(segmentId, position, size)).toBe('ok');
    // All but the partial blocks at either end came from the copy.
    expect(node.copyCrcs!.bytesFromBlocks - before).toBeGreaterThan(size - 3 * 4 * KiB);
    node.free(segmentId);
  }
});

it('a small put over a hashed batch makes the check read it: the overwritten batch is refused', async () => {
  const { segmentId, grant } = await segmentWithBatch(MiB);
  await link.put(grant, 300 * KiB + 7, Buffer.alloc(4 * KiB, 0x42)); // CMA, but under the pool's size: copied on the JS thread
  expect(check(segmentId, 0, MiB)).toMatch(/CRC32C/);
  expect(checkByReading(segmentId, 0, MiB)).toMatch(/CRC32C/);
});

it('a large put over part of a hashed batch: its own blocks count, the partial ones around it are read', async () => {
  const { segmentId, grant, batch } = await segmentWithBatch(4 * MiB);
  // Put the batch's own bytes back over its middle, unaligned: the check still passes, mostly from blocks.
  const from = MiB + 1001;
  await link.put(grant, from, batch.subarray(from, from + MiB));
  const before = node.copyCrcs!.bytesFromBlocks;
  expect(check(segmentId, 0, 4 * MiB)).toBe('ok');
  expect(node.copyCrcs!.bytesFromBlocks - before).toBeGreaterThan(4 * MiB - 4 * 4 * KiB);
  // Now different bytes there: refused.
  await link.put(grant, from, Buffer.alloc(MiB, 0x5a));
  expect(check(segmentId, 0, 4 * MiB)).toMatch(/CRC32C/);
});

it('two large puts into the same bytes at once keep no block CRCs there: whichever lands last, the check matches the bytes', async () => {
  // The first put is 32 MiB (copied as four 8 MiB parts); the second, 256 KiB over the end of the first, is copied
  // while the first's last part still is, and usually lands first. Were its block CRCs kept, the check would take
  // the good bytes' CRCs for the garbage the first put's last part left there.
  const tail = 31 * MiB;
  for (let round = 0; round < 3; round++) {
    const { segmentId, grant, batch } = await segmentWithBatch(32 * MiB);
    const first = Buffer.from(batch);
    first.fill(0x33 + round, tail, tail + 256 * KiB);
    await Promise.all([link.put(grant, 0, first), link.put(grant, tail, batch.subarray(tail, tail + 256 * KiB))]);
    expect(check(segmentId, 0, 32 * MiB)).toBe(checkByReading(segmentId, 0, 32 * MiB));
    node.free(segmentId);
  }
});

it("the store's own writes (a replica's copy, a skip marker) clear the blocks under them", async () => {
  const first = await segmentWithBatch(MiB);
  node.store.writeData(first.segmentId, 512 * KiB, Buffer.alloc(64 * KiB, 0x11));
  expect(check(first.segmentId, 0, MiB)).toMatch(/CRC32C/);

  const second = await segmentWithBatch(MiB);
  node.writeSkipMarker(second.segmentId, 0, buildTestSkipMarker(MiB, 0n, 10));
  // The marker is a valid batch of its own now (a control batch of no records): read, not the old blocks.
  expect(() => node.verify(second.segmentId, 0, MiB, { baseOffset: 0n, recordCount: 0 }, 'test')).not.toThrow();
  expect(check(second.segmentId, 0, MiB)).toMatch(/records were written/);
});

it('a put whose bytes arrive over the socket clears the blocks it lands in', async () => {
  const { segmentId, grant, batch } = await segmentWithBatch(MiB);
  // Not by CMA: the payload travels in the request, in parts, each checked and written on the JS thread.
  const inline = await DataLink.connect(`127.0.0.1:${service.port}`, { inProcess: false, cmaBytesMin: 64 * MiB });
  try {
    const changed = Buffer.from(batch.subarray(600 * KiB, 900 * KiB));
    changed[1000] ^= 0xff;
    await inline.put(grant, 600 * KiB, changed);
  } finally {
    await inline.close();
  }
  expect(check(segmentId, 0, MiB)).toMatch(/CRC32C/);
  expect(crc32c(node.store.written(segmentId, 21, MiB - 21))).not.toBe(batch.readUInt32BE(17));
});

it('keeps blocks only for segments with large puts, and not past their seal', async () => {
  const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
  const grant = node.segmentKey(segmentId, 'read-write');
  await link.put(grant, 0, buildTestBatch({ baseOffset: 0n, recordCount: 10, sizeBytes: 8 * KiB }));
  expect(node.batchCrcs(segmentId, 0)).toBeUndefined();
  await link.put(grant, 8 * KiB, Buffer.alloc(MiB, 1));
  expect(node.batchCrcs(segmentId, 0)).toBeDefined();
  node.seal(segmentId, 8 * KiB + MiB);
  expect(node.batchCrcs(segmentId, 0)).toBeUndefined();
  expect(check(segmentId, 0, 8 * KiB)).toBe('ok');
});

describe('puts by a direct call (a client in the node\'s own process, as rdmq start\'s gateway)', () => {
  let direct: DataLink;
  beforeEach(async () => {
    direct = await DataLink.connect(`127.0.0.1:${service.port}`);
  });
  afterEach(async () => {
    await direct?.close();
  });

  it('are hashed as they are copied, and a later write clears the blocks it touches', async () => {
    const { segmentId } = node.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    const grant = node.segmentKey(segmentId, 'read-write');
    const batch = buildTestBatch({ baseOffset: 0n, recordCount: 10, sizeBytes: MiB + 99 });
    const before = node.copyCrcs!.bytesFromBlocks;
    const directPuts = service.stats().inProcessPuts;
    await direct.put(grant, 4000, batch);
    expect(service.stats().inProcessPuts).toBe(directPuts + 1);
    expect(check(segmentId, 4000, batch.length)).toBe('ok');
    expect(node.copyCrcs!.bytesFromBlocks - before).toBeGreaterThan(MiB - 3 * 4 * KiB);
    await link.put(grant, 4000 + 500 * KiB, Buffer.alloc(4 * KiB, 0x42));
    expect(check(segmentId, 4000, batch.length)).toMatch(/CRC32C/);
  });

  it('into bytes a copy on the pool is still writing keep no block CRCs: the check matches the bytes whichever lands last', async () => {
    const tail = 31 * MiB;
    for (let round = 0; round < 3; round++) {
      const { segmentId, grant, batch } = await segmentWithBatch(32 * MiB);
      const first = Buffer.from(batch);
      first.fill(0x44 + round, tail, tail + 256 * KiB);
      const onPool = link.put(grant, 0, first);
      while (node.copiesInFlight(segmentId) === 0) await new Promise((resolve) => setImmediate(resolve));
      await direct.put(grant, tail, batch.subarray(tail, tail + 256 * KiB)); // now, on this thread, while the pool still copies
      await onPool;
      expect(check(segmentId, 0, 32 * MiB)).toBe(checkByReading(segmentId, 0, 32 * MiB));
      node.free(segmentId);
    }
  });
});
